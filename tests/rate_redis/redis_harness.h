/* A real redis-server for the rate_redis tests: started on a free loopback
 * port with no persistence in a fresh temporary directory, and stopped at the
 * end, also when a test fails (an atexit hook) or the test process dies (the
 * server gets SIGKILL with its parent, PR_SET_PDEATHSIG).
 *
 *   rrh_server s;
 *   if (!rrh_start(&s, 0, NULL)) KT_FAIL("%s", rrh_why);
 *   ... rrh_url(&s) ... rrh_command(&s, "CONFIG SET maxmemory 1mb") ...
 *   rrh_stop(&s);
 *
 * A missing redis-server binary is a failure with a clear message, never a
 * skip: `make check` installs Debian's redis-server. Readiness is the
 * server's own "Ready to accept connections" line, read from its stdout. */
#ifndef KEEL_TEST_REDIS_HARNESS_H
#define KEEL_TEST_REDIS_HARNESS_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

typedef struct rrh_server {
  pid_t pid;
  int port;
  char dir[128];
  char url[160];
  char extra[8][128];   /* the extra arguments, kept for rrh_restart */
  int nextra;
} rrh_server;

static char rrh_why[1024] __attribute__((unused));
/* servers still running and their directories, for the atexit hook */
static pid_t rrh_live[16];
static char rrh_live_dir[16][128];

static inline void rrh_rmdir(const char *dir);

static inline void rrh_kill_all(void) {
  for (int i = 0; i < 16; i++)
    if (rrh_live[i] > 0) {
      kill(rrh_live[i], SIGKILL);
      waitpid(rrh_live[i], NULL, 0);
      rrh_live[i] = 0;
      rrh_rmdir(rrh_live_dir[i]);
    }
}

static inline void rrh_track(pid_t pid, bool on, const char *dir) {
  static bool hooked;
  if (!hooked) {
    atexit(rrh_kill_all);
    hooked = true;
  }
  for (int i = 0; i < 16; i++) {
    if (on && rrh_live[i] == 0) {
      rrh_live[i] = pid;
      snprintf(rrh_live_dir[i], sizeof rrh_live_dir[i], "%s", dir);
      return;
    }
    if (!on && rrh_live[i] == pid) {
      rrh_live[i] = 0;
      return;
    }
  }
}

static inline bool rrh_find_binary(char *out, size_t size) {
  const char *forced = getenv("KEEL_REDIS_SERVER");   /* tests of the harness itself */
  if (forced && *forced) {
    snprintf(out, size, "%s", forced);
    return access(out, X_OK) == 0;
  }
  const char *path = getenv("PATH");
  char buf[4096];
  snprintf(buf, sizeof buf, "%s:/usr/bin:/usr/sbin:/usr/local/bin", path ? path : "");
  for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(out, size, "%s/redis-server", d);
    if (access(out, X_OK) == 0) return true;
  }
  return false;
}

static inline int rrh_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &l)) {
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

static inline int64_t rrh_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Spawns the server on s->port (s->dir exists) and waits for readiness. */
static inline bool rrh_spawn(rrh_server *s) {
  char bin[512];
  if (!rrh_find_binary(bin, sizeof bin)) {
    snprintf(rrh_why, sizeof rrh_why,
             "redis-server is not installed (not found in PATH): the rate_redis tests need "
             "a real Redis; install Debian's redis-server (`make check` does it as root)");
    return false;
  }
  char port[16];
  snprintf(port, sizeof port, "%d", s->port);
  const char *argv[40] = {bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", s->dir, "--daemonize", "no",
                          "--logfile", "", "--protected-mode", "no"};
  int argc = 17;
  for (int i = 0; i < s->nextra; i++) argv[argc++] = s->extra[i];
  argv[argc] = NULL;
  int pfd[2];
  if (pipe(pfd)) return false;
  fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
  fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(pfd[1], 1);
    dup2(pfd[1], 2);
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  close(pfd[1]);
  s->pid = pid;
  rrh_track(pid, true, s->dir);
  char out[8192];
  size_t len = 0;
  int64_t until = rrh_ms() + 15000;
  bool ready = false;
  while (!ready && rrh_ms() < until) {
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    int n = poll(&p, 1, (int)(until - rrh_ms()));
    if (n <= 0) continue;
    ssize_t r = read(pfd[0], out + len, sizeof out - 1 - len);
    if (r <= 0) break;
    len += (size_t)r;
    out[len] = 0;
    if (strstr(out, "Ready to accept connections")) ready = true;
    if (len > sizeof out - 512) {   /* keep the tail */
      memmove(out, out + len - 256, 256);
      len = 256;
    }
  }
  close(pfd[0]);   /* Redis ignores SIGPIPE: later log lines just go nowhere */
  if (!ready) {
    snprintf(rrh_why, sizeof rrh_why, "redis-server on port %d did not become ready: %.700s",
             s->port, out);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    rrh_track(pid, false, NULL);
    return false;
  }
  return true;
}

static inline void rrh_rmdir(const char *dir) {
  if (!dir || !dir[0]) return;
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
      }
    closedir(d);
  }
  rmdir(dir);
}

/* Starts a server; port 0 picks a free one. extra: NULL-terminated extra
 * arguments ("--requirepass", "secret", NULL), or NULL. */
static inline bool rrh_start(rrh_server *s, int port, const char *const *extra) {
  memset(s, 0, sizeof *s);
  for (int i = 0; extra && extra[i] && i < 8; i++) {
    snprintf(s->extra[i], sizeof s->extra[i], "%s", extra[i]);
    s->nextra++;
  }
  snprintf(s->dir, sizeof s->dir, "/tmp/keel-redis-XXXXXX");
  if (!mkdtemp(s->dir)) {
    snprintf(rrh_why, sizeof rrh_why, "mkdtemp: %s", strerror(errno));
    return false;
  }
  for (int attempt = 0; attempt < 5; attempt++) {
    s->port = port ? port : rrh_free_port();
    snprintf(s->url, sizeof s->url, "redis://127.0.0.1:%d", s->port);
    if (rrh_spawn(s)) return true;
    if (port || strstr(rrh_why, "not installed")) break;
  }
  rrh_rmdir(s->dir);
  return false;
}

/* Kills the server at once (SIGKILL), as a crash would. */
static inline void rrh_kill(rrh_server *s) {
  if (s->pid > 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    rrh_track(s->pid, false, NULL);
  }
  s->pid = 0;
}

/* Starts it again on the same port with the same arguments. */
static inline bool rrh_restart(rrh_server *s) {
  rrh_kill(s);
  for (int attempt = 0; attempt < 50; attempt++) {
    if (rrh_spawn(s)) return true;
    struct timespec d = {0, 50 * 1000000};   /* the port may linger a moment */
    nanosleep(&d, NULL);
  }
  return false;
}

static inline void rrh_stop(rrh_server *s) {
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    int64_t until = rrh_ms() + 5000;
    while (waitpid(s->pid, NULL, WNOHANG) == 0) {
      if (rrh_ms() > until) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        break;
      }
      struct timespec d = {0, 5 * 1000000};
      nanosleep(&d, NULL);
    }
    rrh_track(s->pid, false, NULL);
  }
  s->pid = 0;
  if (s->dir[0]) rrh_rmdir(s->dir);
  s->dir[0] = 0;
}

/* A blocking side connection for the test's own commands (setup, faults). */
static inline redisContext *rrh_connect(const rrh_server *s, const char *password) {
  struct timeval tv = {5, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return NULL;
  }
  redisSetTimeout(c, tv);
  if (password) {
    redisReply *r = redisCommand(c, "AUTH %s", password);
    if (r) freeReplyObject(r);
  }
  return c;
}

/* Runs one command on a fresh side connection; the reply (free it with
 * freeReplyObject) or NULL. */
static inline redisReply *rrh_command(const rrh_server *s, const char *fmt, ...) {
  redisContext *c = rrh_connect(s, NULL);
  if (!c) return NULL;
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  redisFree(c);
  return r;
}

#endif
