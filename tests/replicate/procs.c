/* Process replicas: the first to exit 0 gives its output; the others are
 * stopped; afterwards /proc shows no child of ours (no zombie, nothing
 * running) and our descriptor table is as it was. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replicate_test.h"
#include "keel/ctx.h"
#include "keel/replicate.h"
#include "keel/task.h"

#define MS KEEL_MILLISECOND

/* The runtime opens its own descriptors (poller, timers) on first use; start
 * it before the first count so that only our call's descriptors count. */
static void warm_up(void) {
  static bool done;
  if (done) return;
  done = true;
  keel_err_release(keel_err_new("test", KEEL_EFAILED, "warm-up"));
  const char *t[] = {"true", NULL};
  keel_replicate_cmd cmds[] = {{t, NULL}};
  keel_replicate_output out;
  if (keel_replicate_procs(NULL, cmds, 1, NULL, &out, NULL, NULL) == 0) free(out.data);
}

static int count_fds(void) {
  warm_up();
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;   /* the directory's own descriptor */
}

/* False once process pid is gone, waiting up to 5 s for its exit: a process
 * just sent SIGKILL may still be on its way out (a pidfd turns readable when
 * it has exited, even when it is not our child). */
static bool survives_kill(pid_t pid) {
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return false;  /* ESRCH: already gone */
  struct pollfd p = {.fd = fd, .events = POLLIN};
  bool alive = poll(&p, 1, 5000) == 0;
  close(fd);
  return alive;
}

/* Processes whose parent is us (zombies included), and processes whose
 * command line contains `marker` and that survive (orphans anywhere). */
static int scan_proc(const char *marker, int *marked) {
  DIR *d = opendir("/proc");
  if (!d) return -1;
  int children = 0;
  *marked = 0;
  pid_t me = getpid();
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char path[300], buf[4096];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "re");
    if (f) {
      size_t n = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      buf[n] = '\0';
      char *rp = strrchr(buf, ')');
      int ppid = 0;
      char state = 0;
      if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == me) children++;
    }
    if (!marker) continue;
    snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
    f = fopen(path, "re");
    if (!f) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
      if (buf[i] == '\0') buf[i] = ' ';
    buf[n] = '\0';
    if (strstr(buf, marker) && survives_kill((pid_t)atoi(e->d_name))) (*marked)++;
  }
  closedir(d);
  return children;
}

/* Orphan test helper: this binary, run again with the variable set, starts
 * one replicated child that writes its pid to a file, then blocks until it
 * is killed. */
extern char **environ;
#define HELPER_VAR "KEEL_REPLICATE_ORPHAN_HELPER"
__attribute__((constructor)) static void orphan_helper(void) {
  const char *file = getenv(HELPER_VAR);
  if (!file) return;
  char script[256];
  snprintf(script, sizeof script, "echo $$ > %s.tmp && mv %s.tmp %s && exec sleep 31.75",
           file, file, file);
  const char *argv[] = {"sh", "-c", script, NULL};
  keel_replicate_cmd cmds[] = {{argv, NULL}};
  keel_replicate_output out;
  keel_replicate_procs(NULL, cmds, 1, NULL, &out, NULL, NULL);
  _exit(0);
}

static char proc_state(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *rp = strrchr(buf, ')');
  char st = 0;
  if (!rp || sscanf(rp + 1, " %c", &st) != 1) return 0;
  return st;
}

static int children_now(void) {
  int m;
  return scan_proc(NULL, &m);
}

KT_TEST(first_successful_output_wins) {
  int fds = count_fds();
  const char *slow[] = {"sh", "-c", "sleep 30; echo slow", NULL};
  const char *fast[] = {"sh", "-c", "echo fast; echo line2", NULL};
  const char *bad[] = {"sh", "-c", "exit 3", NULL};
  keel_replicate_cmd cmds[] = {{slow, "slow"}, {fast, "fast"}, {bad, NULL}};
  keel_replica_stat st[3];
  keel_replicate_report rep = {.replicas = st};
  keel_replicate_output out;
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_replicate_procs(NULL, cmds, 3, NULL, &out, &rep, &err), 0);
  KT_CHECK(err == NULL);
  KT_CHECK_EQ(rep.winner, 1);
  KT_CHECK_STR(out.data, "fast\nline2\n");
  KT_CHECK_EQ(out.len, 11);
  free(out.data);
  KT_CHECK_EQ(st[0].state, KEEL_REPLICA_CANCELED);
  KT_CHECK_EQ(st[0].exit_status, 128 + SIGTERM);
  KT_CHECK_EQ(st[1].state, KEEL_REPLICA_WON);
  KT_CHECK_EQ(st[1].exit_status, 0);
  KT_CHECK(st[2].exit_status == 3 || st[2].state == KEEL_REPLICA_CANCELED);
  KT_CHECK_EQ(children_now(), 0);
  KT_CHECK_EQ(count_fds(), fds);
}

KT_TEST(all_fail_joins_their_errors) {
  int fds = count_fds();
  const char *a[] = {"false", NULL};
  const char *b[] = {"sh", "-c", "kill -9 $$", NULL};
  const char *c[] = {"/nonexistent/keel-no-such-program", NULL};
  keel_replicate_cmd cmds[] = {{a, NULL}, {b, "killed"}, {c, "missing"}};
  keel_replica_stat st[3];
  keel_replicate_report rep = {.replicas = st};
  keel_replicate_output out;
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_replicate_procs(NULL, cmds, 3, NULL, &out, &rep, &err), KEEL_EFAILED);
  KT_CHECK(out.data == NULL);
  KT_CHECK(keel_err_has_code(err, KEEL_EFAILED));
  KT_CHECK(keel_err_has_code(err, KEEL_ENOTFOUND));
  KT_CHECK_EQ(st[0].exit_status, 1);
  KT_CHECK_EQ(st[1].exit_status, 128 + 9);
  KT_CHECK_EQ(rep.failed, 3);
  keel_err_release(err);
  KT_CHECK_EQ(children_now(), 0);
  KT_CHECK_EQ(count_fds(), fds);
}

KT_TEST(stubborn_children_are_killed_after_the_grace_period) {
  int fds = count_fds();
  /* The shell and its sleep ignore SIGTERM; the marker finds orphans. The
   * fast one answers only once the stubborn one is ready (a file says so). */
  char ready[64], script1[160], script2[160];
  snprintf(ready, sizeof ready, "/tmp/keel-replicate-ready-%d", (int)getpid());
  unlink(ready);
  snprintf(script1, sizeof script1, "trap '' TERM; : > %s; sleep 31.25; echo late", ready);
  snprintf(script2, sizeof script2,
           "while [ ! -e %s ]; do sleep 0.01; done; echo ok", ready);
  const char *stubborn[] = {"sh", "-c", script1, NULL};
  const char *fast[] = {"sh", "-c", script2, NULL};
  keel_replicate_cmd cmds[] = {{stubborn, "stubborn"}, {fast, "fast"}};
  keel_replicate_proc_options o = {.grace = 100 * MS, .quiet = true};
  keel_replica_stat st[2];
  keel_replicate_report rep = {.replicas = st};
  keel_replicate_output out;
  KT_CHECK_EQ(keel_replicate_procs(NULL, cmds, 2, &o, &out, &rep, NULL), 0);
  KT_CHECK_STR(out.data, "ok\n");
  free(out.data);
  KT_CHECK_EQ(st[0].exit_status, 128 + SIGKILL);
  KT_CHECK(rep.elapsed >= 100 * MS);
  int marked = 0;
  KT_CHECK_EQ(scan_proc("sleep 31.25", &marked), 0);
  KT_CHECK_EQ(marked, 0);                     /* the grandchild died too */
  KT_CHECK_EQ(count_fds(), fds);
  unlink(ready);
}

KT_TEST(context_deadline_stops_every_child) {
  int fds = count_fds();
  const char *s1[] = {"sleep", "30", NULL};
  const char *s2[] = {"sh", "-c", "sleep 30", NULL};
  keel_replicate_cmd cmds[] = {{s1, NULL}, {s2, NULL}};
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(), 50 * MS, &ctx), 0);
  keel_replicate_output out;
  keel_replicate_report rep = {0};
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_replicate_procs(ctx, cmds, 2, NULL, &out, &rep, &err), KEEL_EDEADLINE);
  KT_CHECK(keel_err_has_code(err, KEEL_EDEADLINE));
  KT_CHECK(rep.elapsed < 10 * KEEL_SECOND);
  keel_err_release(err);
  keel_ctx_release(ctx);
  KT_CHECK_EQ(children_now(), 0);
  KT_CHECK_EQ(count_fds(), fds);
}

KT_TEST(too_much_output_fails_that_child) {
  const char *loud[] = {"yes", NULL};
  const char *quiet[] = {"sh", "-c", "exit 4", NULL};
  keel_replicate_cmd cmds[] = {{loud, NULL}, {quiet, NULL}};
  keel_replicate_proc_options o = {.max_output = 4096};
  keel_replicate_output out;
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_replicate_procs(NULL, cmds, 2, &o, &out, NULL, &err), KEEL_EFAILED);
  KT_CHECK(keel_err_has_code(err, KEEL_ELIMIT));
  keel_err_release(err);
  KT_CHECK_EQ(children_now(), 0);
}

KT_TEST(children_inherit_only_stdio) {
  /* A descriptor someone opened without O_CLOEXEC must not reach the
   * child: ls of its own fd directory sees 0, 1, 2 and ls's directory. */
  int careless = open("/dev/null", O_RDONLY);
  KT_CHECK(careless > 2);
  const char *ls[] = {"sh", "-c", "ls /proc/self/fd | wc -l", NULL};
  keel_replicate_cmd cmds[] = {{ls, NULL}};
  keel_replicate_output out;
  int rc = keel_replicate_procs(NULL, cmds, 1, NULL, &out, NULL, NULL);
  close(careless);
  KT_CHECK_EQ(rc, 0);
  KT_CHECK_EQ(atoi(out.data), 4);
  free(out.data);
}

KT_TEST(large_output_is_read_whole) {
  /* 300 KB: more than a pipe holds, so reading must keep up */
  const char *big[] = {"sh", "-c", "yes abcdefghi | head -c 300000", NULL};
  keel_replicate_cmd cmds[] = {{big, NULL}};
  keel_replicate_output out;
  KT_CHECK_EQ(keel_replicate_procs(NULL, cmds, 1, NULL, &out, NULL, NULL), 0);
  KT_CHECK_EQ(out.len, 300000);
  KT_CHECK(out.data && strncmp(out.data, "abcdefghi\n", 10) == 0);
  free(out.data);
}

KT_TEST(many_rounds_leak_nothing) {
  int fds = count_fds();
  int rounds = KT_SANITIZED() ? 5 : 20;
  for (int i = 0; i < rounds; i++) {
    const char *a[] = {"sleep", "30", NULL};
    const char *b[] = {"echo", "x", NULL};
    const char *c[] = {"false", NULL};
    keel_replicate_cmd cmds[] = {{a, NULL}, {b, NULL}, {c, NULL}};
    keel_replicate_output out;
    KT_CHECK_EQ(keel_replicate_procs(NULL, cmds, 3, NULL, &out, NULL, NULL), 0);
    KT_CHECK_STR(out.data, "x\n");
    free(out.data);
  }
  KT_CHECK_EQ(children_now(), 0);
  KT_CHECK_EQ(count_fds(), fds);
}

KT_TEST(children_die_with_their_parent) {
  /* A process running keel_replicate_procs is killed outright: its child
   * must not live on (PR_SET_PDEATHSIG), even though nobody stops it. */
  char file[96];
  snprintf(file, sizeof file, "/tmp/keel-replicate-orphan-%d", (int)getpid());
  unlink(file);
  setenv(HELPER_VAR, file, 1);
  pid_t helper;
  char *const argv[] = {"replicate-orphan-helper", NULL};
  int rc = posix_spawn(&helper, "/proc/self/exe", NULL, NULL, argv, environ);
  unsetenv(HELPER_VAR);
  KT_CHECK_EQ(rc, 0);
  /* the grandchild writes its pid once it runs (bounded wait, no guess) */
  pid_t child = 0;
  int64_t until = keel_deadline_in(20 * KEEL_SECOND);
  while (keel_now() < until) {
    FILE *f = fopen(file, "re");
    if (f) {
      int v = 0;
      if (fscanf(f, "%d", &v) == 1) child = v;
      fclose(f);
      if (child > 0) break;
    }
    keel_sleep(KEEL_MILLISECOND);
  }
  unlink(file);
  KT_CHECK(child > 0);
  KT_CHECK(proc_state(child) != 0 && proc_state(child) != 'Z');   /* running */
  kill(helper, SIGKILL);
  int st;
  KT_CHECK_EQ(waitpid(helper, &st, 0), helper);
  until = keel_deadline_in(20 * KEEL_SECOND);
  while (keel_now() < until) {
    char s = proc_state(child);
    if (s == 0 || s == 'Z') break;      /* gone, or dead awaiting init */
    keel_sleep(KEEL_MILLISECOND);
  }
  char s = proc_state(child);
  KT_CHECK(s == 0 || s == 'Z');
}

/* Several tasks replicate processes at once: every call gets its own
 * winner's output, and nothing is left behind. */
struct proc_worker { keel_waitgroup *wg; int id; int bad; };

static void proc_worker_main(void *p) {
  struct proc_worker *w = p;
  int rounds = KT_SANITIZED() ? 3 : 8;
  for (int i = 0; i < rounds; i++) {
    char script[64];
    snprintf(script, sizeof script, "echo %d-%d", w->id, i);
    const char *a[] = {"sleep", "30", NULL};
    const char *b[] = {"sh", "-c", script, NULL};
    const char *c[] = {"sh", "-c", "exit 1", NULL};
    keel_replicate_cmd cmds[] = {{a, NULL}, {b, NULL}, {c, NULL}};
    keel_replicate_output out;
    char want[64];
    snprintf(want, sizeof want, "%d-%d\n", w->id, i);
    if (keel_replicate_procs(NULL, cmds, 3, NULL, &out, NULL, NULL) != 0) {
      w->bad++;
      continue;
    }
    if (strcmp(out.data, want) != 0) w->bad++;
    free(out.data);
  }
  keel_waitgroup_done(w->wg);
}

KT_TEST(concurrent_calls_from_tasks) {
  int fds = count_fds();
  enum { W = 4 };
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, W);
  struct proc_worker ws[W];
  for (int i = 0; i < W; i++) {
    ws[i] = (struct proc_worker){&wg, i, 0};
    KT_CHECK_EQ(keel_task_spawn(NULL, proc_worker_main, &ws[i], NULL), 0);
  }
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL), 0);
  for (int i = 0; i < W; i++) KT_CHECK_EQ(ws[i].bad, 0);
  KT_CHECK_EQ(children_now(), 0);
  KT_CHECK_EQ(count_fds(), fds);
}

KT_TEST(bad_arguments) {
  keel_replicate_output out;
  KT_CHECK_EQ(keel_replicate_procs(NULL, NULL, 1, NULL, &out, NULL, NULL), KEEL_EINVAL);
  const char *none[] = {NULL};
  keel_replicate_cmd cmds[] = {{none, NULL}};
  KT_CHECK_EQ(keel_replicate_procs(NULL, cmds, 1, NULL, &out, NULL, NULL), KEEL_EINVAL);
}

KT_MAIN()
