/* Errors across threads: one error shared by many threads (retain/release
 * races, concurrent symbolization through the shared cache, concurrent
 * encode/format/lookups), and many threads making, wrapping, joining and
 * handling errors at once. TSan checks the races; the counts check that
 * nothing was lost. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "err_test.h"

#define THREADS 4

static keel_err *shared;
static _Atomic long checks_failed;

__attribute__((noinline)) static keel_err *make_shared(void) {
  keel_err *low = keel_err_new("low", KEEL_ETIMEDOUT, "low");
  keel_err_set_string(low, "k", "v");
  return keel_err_wrap(low, "mid", "friendly", "mid");
}

static void *use_shared(void *arg) {
  int rounds = *(int *)arg;
  for (int i = 0; i < rounds; i++) {
    keel_err *mine = keel_err_retain(shared);
    keel_err *w = keel_err_wrap(mine, "top", NULL, "top %d", i);   /* shares the chain */
    if (!keel_err_has_code(w, KEEL_ETIMEDOUT) || !keel_err_has_module(w, "low"))
      checks_failed++;
    if (i % 16 == 0) {
      char *s = keel_err_format(w);
      char *j = NULL;
      size_t len;
      if (!s || keel_err_encode(w, &j, &len) != 0) checks_failed++;
      free(s);
      free(j);
      if (keel_err_stack_hash(shared) == 0) checks_failed++;
    }
    keel_err_release(w);
  }
  return NULL;
}

KT_TEST(one_error_shared_by_many_threads) {
  shared = make_shared();
  int rounds = KT_SANITIZED() ? 500 : 5000;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, use_shared, &rounds);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  KT_CHECK_EQ(checks_failed, 0);
  KT_CHECK_STR(keel_err_message(keel_err_inner(shared)), "low");
  keel_err_release(shared);   /* the last reference: ASan proves it is freed */
}

struct lines {
  long count;
};

static void count_line(void *arg, const char *line, size_t len) {
  struct lines *l = arg;
  keel_err *e = NULL;
  /* called under the log lock: decoding here also proves lines are whole */
  if (keel_err_decode(line, len, &e, NULL, NULL, 0) != 0) checks_failed++;
  keel_err_release(e);
  l->count++;   /* the sink is called under the log lock: no data race */
}

static void *make_many(void *arg) {
  int rounds = *(int *)arg;
  for (int i = 0; i < rounds; i++) {
    keel_err *parts[3];
    for (int k = 0; k < 3; k++) parts[k] = keel_err_new("replica", k, "replica %d", k);
    keel_err *j = keel_err_wrap(keel_err_join(parts, 3), "top", NULL, "all failed");
    if (keel_err_joined_count(keel_err_inner(j)) != 3) checks_failed++;
    if (i % 8 == 0) keel_err_handle(j, "top", NULL, NULL);
    keel_err_release(j);
  }
  return NULL;
}

KT_TEST(many_threads_make_and_handle_errors) {
  struct lines l = {0};
  keel_err_set_log_sink(count_line, &l);
  int rounds = KT_SANITIZED() ? 400 : 4000;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, make_many, &rounds);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  keel_err_set_log_fd(2);
  KT_CHECK_EQ(checks_failed, 0);
  KT_CHECK_EQ(l.count, THREADS * ((rounds + 7) / 8));
}

/* ---- fork while other threads log and symbolize ------------------------------ */

/* The module's allocations come from a lock-free bump arena in this test
 * (free is a no-op): the child of a fork must not depend on the malloc of a
 * sanitizer runtime, whose allocator locks are not all fork-safe (clang 14's
 * ASan deadlocks a child now and then), only on the errors module's own
 * locks, which this test is about. Each block keeps its size before it, for
 * realloc. */
#define ARENA_BYTES (64u << 20)
static _Alignas(16) unsigned char arena[ARENA_BYTES];
static _Atomic size_t arena_used;

static void *arena_alloc(size_t n) {
  size_t need = ((n + 15) & ~(size_t)15) + 16;
  size_t at = atomic_fetch_add(&arena_used, need);
  if (at + need > ARENA_BYTES) return NULL;
  *(size_t *)(arena + at) = n;
  return arena + at + 16;
}
static void *arena_realloc(void *p, size_t n) {
  void *q = arena_alloc(n);
  if (q && p) {
    size_t old = *(size_t *)((unsigned char *)p - 16);
    memcpy(q, p, old < n ? old : n);
  }
  return q;
}
static void arena_free(void *p) { (void)p; }
static const keel_err_allocator bump = {arena_alloc, arena_realloc, arena_free};

static _Atomic int stop_logging;

static void format_in_sink(void *arg, const char *line, size_t len) {
  (void)arg;
  (void)line;
  (void)len;
  keel_err *e = keel_err_new("sink", 0, "made under the log lock");
  (void)keel_err_format(e);   /* symbol lock inside the log lock; arena memory */
  keel_err_release(e);
}

static void *keep_logging(void *arg) {
  (void)arg;
  while (!stop_logging && arena_used < ARENA_BYTES / 2) {
    keel_err *e = keel_err_new("bg", 0, "background");
    keel_err_handle(e, "bg", NULL, NULL);
    keel_err_release(e);
  }
  return NULL;
}

KT_TEST(fork_while_logging_does_not_deadlock_the_child) {
  keel_err_set_allocator(&bump);
  keel_err_set_log_sink(format_in_sink, NULL);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, keep_logging, NULL);
  int forks = KT_SANITIZED() ? 10 : 40, ok = 0;
  for (int i = 0; i < forks; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(20);   /* a deadlocked child dies of SIGALRM instead of hanging */
      keel_err *e = keel_err_new("child", 0, "in the child");
      keel_err_handle(e, "child", NULL, NULL);
      char *s = keel_err_format(e);
      _exit(s && keel_err_pid(e) == getpid() ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    bool good = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!good)
      fprintf(stderr, "  child %d: %s %d\n", i, WIFEXITED(status) ? "exit" : "signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    ok += good;
  }
  stop_logging = 1;
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  keel_err_set_log_fd(2);
  keel_err_set_allocator(NULL);
  KT_CHECK_EQ(ok, forks);
}

KT_MAIN()
