/* The keyed limiter: one bucket per key with the options' limit and burst;
 * bounded memory (full buckets dropped without changing any answer,
 * idle_timeout, max_keys); many tasks and threads at once. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "keel/ctx.h"
#include "keel/rate.h"
#include "keel/task.h"
#include "keel_test.h"

#define S KEEL_SECOND
#define T0 (INT64_C(100) * S)

static keel_rate_keyed *mk(keel_rate_limit r, int64_t b, size_t max_keys, int64_t idle) {
  keel_rate_keyed_options o = {.limit = r, .burst = b, .max_keys = max_keys,
                               .idle_timeout = idle};
  keel_rate_keyed *k = NULL;
  keel_rate_keyed_new(&k, &o);
  return k;
}

KT_TEST(bad_arguments) {
  keel_rate_keyed *k = (keel_rate_keyed *)1;
  keel_rate_keyed_options o = {.limit = NAN, .burst = 1};
  KT_CHECK_EQ(keel_rate_keyed_new(&k, &o), KEEL_EINVAL);
  KT_CHECK(k == NULL);
  KT_CHECK_EQ(keel_rate_keyed_new(&k, NULL), KEEL_EINVAL);
  o.limit = 1;
  o.burst = -1;
  KT_CHECK_EQ(keel_rate_keyed_new(&k, &o), KEEL_EINVAL);
  k = mk(1, 1, 0, 0);
  KT_CHECK(k != NULL);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, NULL, 3, T0, 1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "a", 1, T0, -1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(NULL, "a", 1, T0, 1), KEEL_EINVAL);
  KT_CHECK(!keel_rate_keyed_allow(NULL, "a", 1));
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, NULL, 0, T0, 1), 1);   /* empty key */
  keel_rate_keyed_free(k);
  keel_rate_keyed_free(NULL);
}

KT_TEST(each_key_has_its_own_bucket) {
  keel_rate_keyed *k = mk(1, 2, 0, 0);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "alice", 5, T0, 2), 1);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "alice", 5, T0, 1), 0);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "bob", 3, T0, 2), 1);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "ali", 3, T0, 2), 1);   /* a prefix: another key */
  KT_CHECK(keel_rate_keyed_tokens_at(k, "alice", 5, T0 + S) == 1);
  KT_CHECK(keel_rate_keyed_tokens_at(k, "nobody", 6, T0) == 2);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "alice", 5, T0 + S, 1), 1);
  const char *long1 = "tenant-0123456789abcdef/client-42", *long2 = "tenant-0123456789abcdef/client-43";
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, long1, strlen(long1), T0, 2), 1);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, long1, strlen(long1), T0, 1), 0);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, long2, strlen(long2), T0, 2), 1);
  unsigned char bin[4] = {0, 1, 0, 2};
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, bin, 4, T0, 2), 1);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, bin, 4, T0, 1), 0);
  keel_rate_keyed_stats st;
  keel_rate_keyed_stats_get(k, &st);
  KT_CHECK_EQ(st.keys, 6);
  KT_CHECK_EQ(st.created, 6);
  keel_rate_keyed_free(k);
}

/* A key whose bucket refilled is dropped, and dropping it changes nothing:
 * the same sequence of answers as a keyed limiter that never evicts. */
KT_TEST(full_buckets_are_dropped_without_changing_answers) {
  keel_rate_keyed *k = mk(10, 3, 0, 0);
  keel_rate_keyed *ref = mk(10, 3, 1 << 20, 0);
  char key[32];
  int64_t t = T0;
  uint64_t x = 12345;
  for (int i = 0; i < 20000; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    int n = snprintf(key, sizeof key, "k%d", (int)((x >> 33) % 200));
    t += (int64_t)((x >> 20) % 5000000);
    int a = keel_rate_keyed_allow_n_at(k, key, (size_t)n, t, 1);
    int b = keel_rate_keyed_allow_n_at(ref, key, (size_t)n, t, 1);
    if (a != b) KT_FAIL("answer %d differs for %s", i, key);
  }
  keel_rate_keyed_stats st;
  keel_rate_keyed_stats_get(k, &st);
  KT_CHECK(st.evicted > 0);
  KT_CHECK_EQ(st.forced, 0);
  /* Long after: everything is idle and a sweep empties it. */
  keel_rate_keyed_sweep_at(k, t + 10 * S);
  keel_rate_keyed_stats_get(k, &st);
  KT_CHECK_EQ(st.keys, 0);
  keel_rate_keyed_free(k);
  keel_rate_keyed_free(ref);
}

KT_TEST(max_keys_bounds_memory) {
  keel_rate_keyed *k = mk(0.001, 1, 100, 0);   /* buckets refill slowly */
  char key[32];
  for (int i = 0; i < 10000; i++) {
    int n = snprintf(key, sizeof key, "client-%d", i);
    KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, key, (size_t)n, T0, 1), 1);
  }
  keel_rate_keyed_stats st;
  keel_rate_keyed_stats_get(k, &st);
  KT_CHECK(st.keys <= 100);
  KT_CHECK_EQ(st.created, 10000);
  KT_CHECK(st.forced >= 9900);
  keel_rate_keyed_free(k);
}

KT_TEST(idle_timeout_drops_keys) {
  keel_rate_keyed *k = mk(0.001, 1, 0, 60 * S);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "a", 1, T0, 1), 1);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "b", 1, T0, 1), 1);
  KT_CHECK_EQ(keel_rate_keyed_sweep_at(k, T0 + 30 * S), 0);
  KT_CHECK_EQ(keel_rate_keyed_sweep_at(k, T0 + 61 * S), 2);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "a", 1, T0 + 61 * S, 1), 1);  /* fresh */
  keel_rate_keyed_free(k);
  /* Zero limit: a key that spent its burst is never idle (it would revive). */
  k = mk(0, 1, 0, 0);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "z", 1, T0, 1), 1);
  KT_CHECK_EQ(keel_rate_keyed_sweep_at(k, T0 + 1000 * S), 0);
  KT_CHECK_EQ(keel_rate_keyed_allow_n_at(k, "z", 1, T0 + 1000 * S, 1), 0);
  keel_rate_keyed_free(k);
}

typedef struct hammer_arg {
  keel_rate_keyed *k;
  int id, rounds;
  long admitted;
  keel_waitgroup *wg;
} hammer_arg;

static void hammer(hammer_arg *a) {
  char key[32];
  for (int i = 0; i < a->rounds; i++) {
    int n = snprintf(key, sizeof key, "key-%d", (i * 7 + a->id) % 500);
    if (keel_rate_keyed_allow(a->k, key, (size_t)n)) a->admitted++;
    if (i % 1000 == 0) {
      keel_ctx *c;
      if (keel_ctx_with_timeout(keel_ctx_background(), KEEL_MILLISECOND, &c) == 0) {
        keel_rate_keyed_wait_n(a->k, key, (size_t)n, c, 1);
        keel_ctx_cancel(c);
        keel_ctx_release(c);
      }
    }
  }
}
static void task_main(void *p) {
  hammer(p);
  keel_waitgroup_done(((hammer_arg *)p)->wg);
}
static void *thread_main(void *p) {
  hammer(p);
  keel_waitgroup_done(((hammer_arg *)p)->wg);
  return NULL;
}

KT_TEST(many_tasks_and_threads_at_once) {
  keel_rate_keyed *k = mk(1000, 5, 300, 0);
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  hammer_arg a[10];
  int rounds = KT_SANITIZED() ? 3000 : 30000;
  keel_waitgroup_add(&wg, 10);
  pthread_t th[3];
  for (int i = 0; i < 10; i++) a[i] = (hammer_arg){k, i, rounds, 0, &wg};
  for (int i = 0; i < 7; i++) keel_task_spawn(NULL, task_main, &a[i], NULL);
  for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, thread_main, &a[7 + i]);
  keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  long total = 0;
  for (int i = 0; i < 10; i++) total += a[i].admitted;
  KT_CHECK(total >= 500 * 5 / 2);
  keel_rate_keyed_stats st;
  keel_rate_keyed_stats_get(k, &st);
  KT_CHECK(st.keys <= 300);
  keel_rate_keyed_free(k);
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
}

KT_MAIN()
