/* The concurrency limiter: never more than N in flight, from tasks and
 * threads at once; acquire waits with a context; release without acquire is
 * refused. */
#include <pthread.h>
#include <stdatomic.h>

#include "keel/ctx.h"
#include "keel/rate.h"
#include "keel/task.h"
#include "keel_test.h"

KT_TEST(basics_and_bad_arguments) {
  keel_rate_concurrency *c = (keel_rate_concurrency *)1;
  KT_CHECK_EQ(keel_rate_concurrency_new(&c, 0), KEEL_EINVAL);
  KT_CHECK(c == NULL);
  KT_CHECK_EQ(keel_rate_concurrency_new(NULL, 1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_concurrency_acquire(NULL, keel_ctx_background()), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_concurrency_release(NULL), KEEL_EINVAL);
  KT_CHECK(!keel_rate_concurrency_try_acquire(NULL));
  KT_CHECK_EQ(keel_rate_concurrency_new(&c, 2), 0);
  KT_CHECK_EQ(keel_rate_concurrency_max(c), 2);
  KT_CHECK_EQ(keel_rate_concurrency_release(c), KEEL_ESTATE);
  KT_CHECK_EQ(keel_rate_concurrency_acquire(c, keel_ctx_background()), 0);
  KT_CHECK(keel_rate_concurrency_try_acquire(c));
  KT_CHECK(!keel_rate_concurrency_try_acquire(c));
  KT_CHECK_EQ(keel_rate_concurrency_in_flight(c), 2);
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(), KEEL_MILLISECOND, &ctx), 0);
  KT_CHECK_EQ(keel_rate_concurrency_acquire(c, ctx), KEEL_EDEADLINE);
  keel_ctx_release(ctx);
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &ctx), 0);
  keel_ctx_cancel(ctx);
  KT_CHECK_EQ(keel_rate_concurrency_acquire(c, ctx), KEEL_ECANCELED);
  keel_ctx_release(ctx);
  KT_CHECK_EQ(keel_rate_concurrency_release(c), 0);
  KT_CHECK_EQ(keel_rate_concurrency_release(c), 0);
  KT_CHECK_EQ(keel_rate_concurrency_in_flight(c), 0);
  keel_rate_concurrency_free(c);
}

typedef struct shared {
  keel_rate_concurrency *c;
  _Atomic int in_flight, max_seen;
  int rounds;
  _Atomic int errors;
  keel_waitgroup wg;
} shared;

static void work(shared *s) {
  for (int i = 0; i < s->rounds; i++) {
    if (keel_rate_concurrency_acquire(s->c, keel_ctx_background()) != 0) {
      atomic_fetch_add(&s->errors, 1);
      continue;
    }
    int now = atomic_fetch_add(&s->in_flight, 1) + 1;
    int m = atomic_load(&s->max_seen);
    while (now > m && !atomic_compare_exchange_weak(&s->max_seen, &m, now)) {
    }
    keel_task_yield();
    atomic_fetch_sub(&s->in_flight, 1);
    if (keel_rate_concurrency_release(s->c) != 0) atomic_fetch_add(&s->errors, 1);
  }
}
static void task_main(void *p) {
  work(p);
  keel_waitgroup_done(&((shared *)p)->wg);
}
static void *thread_main(void *p) {
  work(p);
  keel_waitgroup_done(&((shared *)p)->wg);
  return NULL;
}

KT_TEST(never_more_than_n_in_flight) {
  shared s = {0};
  KT_CHECK_EQ(keel_rate_concurrency_new(&s.c, 3), 0);
  s.rounds = KT_SANITIZED() ? 300 : 3000;
  keel_waitgroup_init(&s.wg);
  keel_waitgroup_add(&s.wg, 12);
  pthread_t th[4];
  for (int i = 0; i < 8; i++) keel_task_spawn(NULL, task_main, &s, NULL);
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, thread_main, &s);
  keel_waitgroup_wait(&s.wg, KEEL_FOREVER, NULL);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  KT_CHECK_EQ(atomic_load(&s.errors), 0);
  KT_CHECK(atomic_load(&s.max_seen) <= 3);
  KT_CHECK(atomic_load(&s.max_seen) >= 1);
  KT_CHECK_EQ(keel_rate_concurrency_in_flight(s.c), 0);
  keel_rate_concurrency_free(s.c);
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
}

KT_MAIN()
