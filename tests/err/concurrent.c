/* Errors across threads: one error shared by many threads (retain/release
 * races, concurrent symbolization through the shared cache, concurrent
 * encode/format/lookups), and many threads making, wrapping, joining and
 * handling errors at once. TSan checks the races; the counts check that
 * nothing was lost. */
#include <pthread.h>

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

KT_MAIN()
