/* A throwaway redis-server for the rate_redis examples, the tour and the
 * benchmark: a free loopback port, no persistence, a temporary directory,
 * stopped by demo_redis_stop (and killed with its parent if that dies first).
 * Real deployments point keel at their own Redis with a URL instead. */
#ifndef KEEL_EXAMPLE_RATE_REDIS_SERVER_H
#define KEEL_EXAMPLE_RATE_REDIS_SERVER_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct demo_redis {
  pid_t pid;
  int port;
  char dir[64];
  char url[96];
} demo_redis;

static inline bool demo_redis_find(char *out, size_t size) {
  const char *dirs[] = {"/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", NULL};
  for (int i = 0; dirs[i]; i++) {
    snprintf(out, size, "%s/redis-server", dirs[i]);
    if (access(out, X_OK) == 0) return true;
  }
  return false;
}

/* Starts redis-server; false (with a reason on stderr unless quiet) if it is
 * not installed or does not come up. */
static inline bool demo_redis_start(demo_redis *r, bool quiet) {
  char bin[256];
  memset(r, 0, sizeof *r);
  if (!demo_redis_find(bin, sizeof bin)) {
    if (!quiet) fprintf(stderr, "redis-server is not installed\n");
    return false;
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  bind(fd, (struct sockaddr *)&a, sizeof a);
  getsockname(fd, (struct sockaddr *)&a, &l);
  close(fd);
  r->port = ntohs(a.sin_port);
  snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d", r->port);
  snprintf(r->dir, sizeof r->dir, "/tmp/keel-demo-redis-XXXXXX");
  if (!mkdtemp(r->dir)) return false;
  char port[16];
  snprintf(port, sizeof port, "%d", r->port);
  int p[2];
  if (pipe(p)) return false;
  pid_t parent = getpid();
  r->pid = fork();
  if (r->pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    execl(bin, bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
          "--dir", r->dir, "--logfile", "", (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  char buf[4096];
  size_t len = 0;
  bool ready = false;
  while (!ready) {
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    if (poll(&pf, 1, 10000) <= 0) break;
    ssize_t n = read(p[0], buf + len, sizeof buf - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
    buf[len] = 0;
    ready = strstr(buf, "Ready to accept connections") != NULL;
    if (len > sizeof buf - 256) {
      memmove(buf, buf + len - 128, 128);
      len = 128;
    }
  }
  close(p[0]);   /* Redis ignores SIGPIPE */
  if (!ready) {
    if (!quiet) fprintf(stderr, "redis-server did not start\n");
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    rmdir(r->dir);
    return false;
  }
  return true;
}

static inline void demo_redis_stop(demo_redis *r) {
  if (r->pid > 0) {
    kill(r->pid, SIGTERM);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
  }
  char f[128];
  snprintf(f, sizeof f, "%s/dump.rdb", r->dir);
  unlink(f);
  rmdir(r->dir);
}

#endif
