/* procs.c — replicated requests across processes.
 *
 * One call runs N children and watches them all from one loop: every
 * child's stdout pipe and pidfd sit in one epoll set, and the loop waits on
 * that set's descriptor with keel_fd_wait, so no worker thread ever blocks.
 *
 * Invariants:
 *   - every descriptor this file opens is O_CLOEXEC (a concurrent fork and
 *     exec elsewhere inherits none) and is closed before the call returns;
 *     a child closes every descriptor above 2 before exec;
 *   - a child is reaped (waitpid) exactly once, and the call returns only
 *     when every child it forked has been reaped: no zombie;
 *   - a child runs in its own process group (pgid == pid) with
 *     PR_SET_PDEATHSIG(SIGKILL), so stopping it reaches its own children and
 *     it cannot outlive this process: no orphan;
 *   - signals go to a child's group only while the child is unreaped, so its
 *     pid (the group's id) cannot have been reused;
 *   - the first child to exit 0 with its output complete wins; once there
 *     is a winner (or the caller's context ended) the rest get SIGTERM, and
 *     SIGKILL when the grace period runs out. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keel/ctx.h"
#include "keel/replicate.h"
#include "keel/task.h"
#include "replicate/replicate_internal.h"

extern char **environ;

#define POLL_FALLBACK (5 * KEEL_MILLISECOND)   /* no pidfd: poll waitpid */

struct child {
  const char *name;
  char *path;            /* resolved program, owned */
  pid_t pid;             /* 0 when never forked */
  int pidfd, out;        /* -1 when closed */
  char *buf;
  size_t len, cap;
  bool reaped, too_big, signaled;
  int status;            /* wait status once reaped */
  int state;
  keel_err *err;
  int64_t started, ended;
};

/* Finds prog in PATH as execvp would; NULL when it is not there. */
static char *resolve(const char *prog) {
  if (strchr(prog, '/')) return access(prog, X_OK) == 0 ? strdup(prog) : NULL;
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  size_t plen = strlen(prog);
  while (*path) {
    const char *end = strchr(path, ':');
    size_t dlen = end ? (size_t)(end - path) : strlen(path);
    char *cand = malloc(dlen + plen + 3);
    if (!cand) return NULL;
    if (dlen == 0) snprintf(cand, dlen + plen + 3, "./%s", prog);
    else snprintf(cand, dlen + plen + 3, "%.*s/%s", (int)dlen, path, prog);
    if (access(cand, X_OK) == 0) return cand;
    free(cand);
    if (!end) break;
    path = end + 1;
  }
  return NULL;
}

/* Runs in the forked child: only async-signal-safe calls until exec. */
static void child_exec(const struct child *ch, char *const *argv, int devnull,
                       int out_w, bool quiet, pid_t parent) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
  setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
  if (dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0) _exit(127);
  if (quiet && dup2(devnull, 2) < 0) _exit(127);
  /* Whatever another part of the program opened without O_CLOEXEC, the
   * child inherits nothing but 0, 1 and 2. */
  if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
    for (int fd = 3; fd < 1024; fd++) close(fd);
  execve(ch->path, argv, environ);
  _exit(127);
}

static void close_fd(int epfd, int *fd) {
  if (*fd < 0) return;
  epoll_ctl(epfd, EPOLL_CTL_DEL, *fd, NULL);
  close(*fd);
  *fd = -1;
}

static void child_fail(struct child *ch, int code, const char *fmt, const char *what) {
  ch->state = KEEL_REPLICA_FAILED;
  ch->err = keel_err_new("replicate", code, fmt, ch->name, what);
}

static void start_child(struct child *ch, const keel_replicate_cmd *cmd,
                        int epfd, int devnull, size_t index, bool quiet) {
  ch->started = keel_now();
  if (!ch->path) {
    child_fail(ch, KEEL_ENOTFOUND, "%s: program %s not found", cmd->argv[0]);
    return;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    child_fail(ch, KEEL_ESYS, "%s: pipe: %s", strerror(errno));
    return;
  }
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) child_exec(ch, (char *const *)cmd->argv, devnull, fds[1], quiet, parent);
  int fork_errno = errno;
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    child_fail(ch, KEEL_ESYS, "%s: fork: %s", strerror(fork_errno));
    return;
  }
  setpgid(pid, pid);   /* also in the child: whichever runs first */
  ch->pid = pid;
  ch->out = fds[0];
  ch->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (ch->pidfd >= 0) fcntl(ch->pidfd, F_SETFD, FD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  ev.data.u64 = index * 2;
  epoll_ctl(epfd, EPOLL_CTL_ADD, ch->out, &ev);
  if (ch->pidfd >= 0) {
    ev.data.u64 = index * 2 + 1;
    epoll_ctl(epfd, EPOLL_CTL_ADD, ch->pidfd, &ev);
  }
}

static void stop_child(struct child *ch, int sig) {
  if (ch->pid <= 0 || ch->reaped) return;
  if (kill(-ch->pid, sig) != 0) kill(ch->pid, sig);
  ch->signaled = true;
}

/* Reads what the pipe holds now; closes it at EOF or when over the limit. */
static void drain(struct child *ch, int epfd, size_t max_output) {
  while (ch->out >= 0) {
    if (ch->cap - ch->len < 4096) {
      size_t ncap = ch->cap ? ch->cap * 2 : 8192;
      char *nb = realloc(ch->buf, ncap);
      if (!nb) {
        ch->too_big = true;   /* out of memory counts as too much output */
        close_fd(epfd, &ch->out);
        stop_child(ch, SIGKILL);
        return;
      }
      ch->buf = nb;
      ch->cap = ncap;
    }
    ssize_t r = read(ch->out, ch->buf + ch->len, ch->cap - ch->len - 1);
    if (r > 0) {
      ch->len += (size_t)r;
      if (ch->len > max_output) {
        ch->too_big = true;
        close_fd(epfd, &ch->out);
        stop_child(ch, SIGKILL);
      }
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return;
    close_fd(epfd, &ch->out);   /* EOF or error */
  }
}

static bool try_reap(struct child *ch, int epfd) {
  if (ch->pid <= 0 || ch->reaped) return false;
  int st = 0;
  pid_t r;
  do r = waitpid(ch->pid, &st, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  /* r < 0 (ECHILD: someone set SIGCHLD to SIG_IGN) also means it is gone */
  ch->reaped = true;
  ch->status = r > 0 ? st : -1;
  ch->ended = keel_now();
  close_fd(epfd, &ch->pidfd);
  return true;
}

static int exit_status(const struct child *ch) {
  if (ch->status < 0) return -1;
  if (WIFEXITED(ch->status)) return WEXITSTATUS(ch->status);
  if (WIFSIGNALED(ch->status)) return 128 + WTERMSIG(ch->status);
  return -1;
}

int keel_replicate_procs(keel_ctx *ctx, const keel_replicate_cmd *cmds,
                         size_t n, const keel_replicate_proc_options *opts,
                         keel_replicate_output *out,
                         keel_replicate_report *report, keel_err **err) {
  if (err) *err = NULL;
  if (out) {
    out->data = NULL;
    out->len = 0;
  }
  if (!cmds || n == 0 || n > 4096) return KEEL_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!cmds[i].argv || !cmds[i].argv[0]) return KEEL_EINVAL;
  keel_replicate_proc_options o = {0};
  if (opts) o = *opts;
  if (o.grace <= 0) o.grace = KEEL_SECOND;
  if (o.max_output == 0) o.max_output = (size_t)1 << 20;
  if (!ctx) ctx = keel_ctx_background();

  struct child *ch = calloc(n, sizeof *ch);
  if (!ch) return KEEL_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    ch[i].name = cmds[i].name ? cmds[i].name : cmds[i].argv[0];
    ch[i].pidfd = ch[i].out = -1;
    ch[i].path = resolve(cmds[i].argv[0]);
  }
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (epfd < 0 || devnull < 0) {
    if (epfd >= 0) close(epfd);
    if (devnull >= 0) close(devnull);
    for (size_t i = 0; i < n; i++) free(ch[i].path);
    free(ch);
    return KEEL_ESYS;
  }

  int64_t start = keel_now();
  for (size_t i = 0; i < n; i++) start_child(&ch[i], &cmds[i], epfd, devnull, i, o.quiet);

  size_t winner = KEEL_REPLICATE_NONE;
  int ctx_code = 0;
  bool stopping = false, killed = false;
  int64_t kill_at = KEEL_FOREVER;
  const keel_cancel *cancel = keel_ctx_cancel_token(ctx);

  for (;;) {
    /* Classify children that are done: reaped and their pipe closed. */
    size_t live = 0;
    bool polling = false;
    for (size_t i = 0; i < n; i++) {
      struct child *c = &ch[i];
      if (c->pid <= 0) continue;
      if (!c->reaped) {
        live++;
        if (c->pidfd < 0) polling = true;
        continue;
      }
      if (c->out >= 0) drain(c, epfd, o.max_output);
      /* A grandchild may hold the pipe open: the child's exit is the end. */
      close_fd(epfd, &c->out);
      if (c->state) continue;
      int es = exit_status(c);
      if (es == 0 && !c->too_big && winner == KEEL_REPLICATE_NONE && !stopping) {
        c->state = KEEL_REPLICA_WON;
        winner = i;
      } else if (c->too_big) {
        c->state = KEEL_REPLICA_FAILED;
        c->err = keel_err_new("replicate", KEEL_ELIMIT, "%s: more than %zu bytes of output",
                              c->name, o.max_output);
      } else if (stopping && c->signaled) {
        c->state = KEEL_REPLICA_CANCELED;
        c->err = NULL;   /* stopped by us: nothing to report */
      } else if (es == 0) {
        c->state = KEEL_REPLICA_LOST;
      } else {
        c->state = KEEL_REPLICA_FAILED;
        if (WIFSIGNALED(c->status))
          c->err = keel_err_new("replicate", KEEL_EFAILED, "%s: killed by signal %d",
                                c->name, WTERMSIG(c->status));
        else
          c->err = keel_err_new("replicate", KEEL_EFAILED, "%s: exit status %d",
                                c->name, es);
      }
    }
    if (live == 0) break;
    if (!stopping && winner == KEEL_REPLICATE_NONE && keel_ctx_err(ctx)) {
      ctx_code = keel_ctx_err(ctx);
    }
    if (!stopping && (winner != KEEL_REPLICATE_NONE || ctx_code)) {
      stopping = true;
      kill_at = keel_deadline_in(o.grace);
      for (size_t i = 0; i < n; i++) stop_child(&ch[i], SIGTERM);
    }
    if (stopping && !killed && keel_now() >= kill_at) {
      killed = true;
      for (size_t i = 0; i < n; i++) stop_child(&ch[i], SIGKILL);
    }

    int64_t deadline = stopping && !killed ? kill_at : KEEL_FOREVER;
    if (polling) {
      int64_t p = keel_deadline_in(POLL_FALLBACK);
      if (p < deadline) deadline = p;
    }
    int r = keel_fd_wait(epfd, KEEL_FD_READ, deadline, stopping ? NULL : cancel);
    if (r < 0 && r != KEEL_ETIMEDOUT && !keel_cancel_code(cancel)) {
      keel_sleep(POLL_FALLBACK);   /* the poller refused: degrade to polling */
    }
    struct epoll_event evs[64];
    int k;
    while ((k = epoll_wait(epfd, evs, 64, 0)) > 0) {
      for (int j = 0; j < k; j++) {
        struct child *c = &ch[evs[j].data.u64 / 2];
        if (evs[j].data.u64 % 2 == 0) drain(c, epfd, o.max_output);
        else try_reap(c, epfd);
      }
    }
    for (size_t i = 0; i < n; i++)
      if (ch[i].pidfd < 0) try_reap(&ch[i], epfd);
  }

  int64_t now = keel_now();
  size_t started = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    started++;
    if (ch[i].state == KEEL_REPLICA_FAILED) failed++;
  }
  if (report) {
    report->winner = winner;
    report->started = started;
    report->hedges = 0;
    report->failed = failed;
    report->elapsed = now - start;
    if (report->replicas) {
      for (size_t i = 0; i < n; i++) {
        keel_replica_stat *st = &report->replicas[i];
        memset(st, 0, sizeof *st);
        st->state = ch[i].state;
        st->start = ch[i].started - start;
        st->took = st->would_take = (ch[i].ended ? ch[i].ended : ch[i].started) - ch[i].started;
        st->code = ch[i].err ? keel_err_code(ch[i].err)
                   : ch[i].state == KEEL_REPLICA_CANCELED ? KEEL_ECANCELED : 0;
        st->exit_status = ch[i].reaped ? exit_status(&ch[i]) : -1;
      }
    }
  }

  int rc = 0;
  if (winner != KEEL_REPLICATE_NONE) {
    if (out) {
      struct child *w = &ch[winner];
      if (!w->buf) w->buf = malloc(1);
      if (w->buf) {
        w->buf[w->len] = '\0';
        out->data = w->buf;
        out->len = w->len;
        w->buf = NULL;
      } else {
        rc = KEEL_ENOMEM;
      }
    }
  } else {
    rc = ctx_code ? ctx_code : KEEL_EFAILED;
  }
  if (rc != 0 && err) {
    keel_err **fails = malloc(n * sizeof *fails);
    size_t k = 0;
    if (fails)
      for (size_t i = 0; i < n; i++)
        if (ch[i].state == KEEL_REPLICA_FAILED && ch[i].err) {
          fails[k++] = ch[i].err;
          ch[i].err = NULL;
        }
    *err = rc == KEEL_ENOMEM
               ? keel_err_new("replicate", KEEL_ENOMEM, "no memory for the winner's output")
               : keel_replicate_make_error(fails, k, started, n,
                                           rc == KEEL_EFAILED ? 0 : rc, NULL);
    if (rc == KEEL_ENOMEM)
      for (size_t i = 0; i < k; i++) keel_err_release(fails[i]);
    free(fails);
  }
  for (size_t i = 0; i < n; i++) {
    keel_err_release(ch[i].err);
    free(ch[i].buf);
    free(ch[i].path);
  }
  close(epfd);
  close(devnull);
  free(ch);
  return rc;
}
