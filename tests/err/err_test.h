/* Shared helpers of the errors module's tests: an allocator that fails on
 * demand, and running the built programs. */
#ifndef KEEL_ERR_TEST_H
#define KEEL_ERR_TEST_H

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keel_test.h"
#include "keel/err.h"

extern char **environ;

/* -1: never fail; n: allocation calls after the n-th fail. */
static long et_fail_after = -1;
static long et_alloc_calls;

static inline void *et_alloc(size_t n) {
  if (et_fail_after >= 0 && et_alloc_calls++ >= et_fail_after) return NULL;
  return malloc(n);
}
static inline void *et_realloc(void *p, size_t n) {
  if (et_fail_after >= 0 && et_alloc_calls++ >= et_fail_after) return NULL;
  return realloc(p, n);
}

static inline void fail_from(long n) {
  static const keel_err_allocator failing = {et_alloc, et_realloc, free};
  et_fail_after = n;
  et_alloc_calls = 0;
  keel_err_set_allocator(&failing);
}

static inline void stop_failing(void) {
  et_fail_after = -1;
  keel_err_set_allocator(NULL);
}

/* Reads a whole file (NUL-terminated, malloc'd) or NULL. */
static inline char *et_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *p = malloc(cap);
  for (;;) {
    if (n + 1024 + 1 > cap) p = realloc(p, cap *= 2);
    size_t r = fread(p + n, 1, 1024, f);
    if (r == 0) break;
    n += r;
  }
  fclose(f);
  p[n] = 0;
  if (len) *len = n;
  return p;
}

/* Runs $KEEL_BUILD_DIR/examples/<name>, capturing stdout and stderr. */
struct et_run {
  char out[4096], err[65536];
  int status;
};

static inline void et_drain(int fd, char *buf, size_t cap) {
  size_t n = 0;
  ssize_t k;
  while (n + 1 < cap && (k = read(fd, buf + n, cap - 1 - n)) > 0) n += (size_t)k;
  buf[n] = 0;
}

/* Runs the example; stdout and stderr go to temporary files (no pipe
 * deadlock whatever their sizes). */
static inline bool et_run_example(const char *name, struct et_run *r) {
  const char *build = getenv("KEEL_BUILD_DIR");
  if (!build) return false;
  char path[1024], out_path[] = "/tmp/keel_book_out_XXXXXX",
                   err_path[] = "/tmp/keel_book_err_XXXXXX";
  snprintf(path, sizeof path, "%s/examples/%s", build, name);
  int out = mkstemp(out_path), err = mkstemp(err_path);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  char *argv[] = {path, NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc == 0) waitpid(pid, &r->status, 0);
  lseek(out, 0, SEEK_SET);
  lseek(err, 0, SEEK_SET);
  et_drain(out, r->out, sizeof r->out);
  et_drain(err, r->err, sizeof r->err);
  close(out);
  close(err);
  unlink(out_path);
  unlink(err_path);
  return rc == 0;
}

#endif
