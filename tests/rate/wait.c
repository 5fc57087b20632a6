/* wait with contexts, from tasks and threads: immediate failures (n > burst,
 * canceled, a wait past the deadline) take nothing; a wait canceled midway
 * gives its tokens back; waits really pace the caller; multi waits. Tests
 * learn that a caller is blocked by watching the bucket go into debt (a
 * reservation was made), never by sleeping. */
#include <math.h>
#include <pthread.h>
#include <sched.h>

#include "keel/ctx.h"
#include "keel/rate.h"
#include "keel/task.h"
#include "keel_test.h"

#define MS KEEL_MILLISECOND

KT_TEST(wait_fails_at_once_without_taking_tokens) {
  keel_rate_limiter *l;
  KT_CHECK_EQ(keel_rate_limiter_new(&l, 1, 3), 0);
  keel_ctx *bg = keel_ctx_background();
  KT_CHECK_EQ(keel_rate_wait_n(l, bg, 4), KEEL_ELIMIT);      /* n > burst */
  KT_CHECK_EQ(keel_rate_wait_n(l, NULL, 1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_wait_n(l, bg, -1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_wait_n(l, bg, 3), 0);                /* full: no wait */
  keel_ctx *c;
  KT_CHECK_EQ(keel_ctx_with_cancel(bg, &c), 0);
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_rate_wait(l, c), KEEL_ECANCELED);
  keel_ctx_release(c);
  /* The next token is ~1 s away; a 300 ms deadline cannot make it. A wait
   * that slept instead of failing at once would take the whole 300 ms. */
  double before = keel_rate_tokens(l);
  KT_CHECK_EQ(keel_ctx_with_timeout(bg, 300 * MS, &c), 0);
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_rate_wait(l, c), KEEL_EDEADLINE);
  KT_CHECK(keel_now() - t0 < 300 * MS);                      /* at once */
  KT_CHECK(keel_rate_tokens(l) >= before);                   /* nothing taken */
  keel_ctx_cancel(c);
  keel_ctx_release(c);
  /* Infinite limit: n above the burst is fine. */
  KT_CHECK_EQ(keel_rate_set_limit(l, KEEL_RATE_INF), 0);
  KT_CHECK_EQ(keel_rate_wait_n(l, bg, 100), 0);
  /* Zero limit with its burst spent: never. */
  KT_CHECK_EQ(keel_rate_set_limit(l, 0), 0);
  KT_CHECK_EQ(keel_rate_set_burst(l, 0), 0);
  KT_CHECK_EQ(keel_rate_wait(l, bg), KEEL_ELIMIT);
  keel_rate_limiter_free(l);
}

typedef struct waiter_arg {
  keel_rate_limiter *l;
  keel_ctx *ctx;
  int rc;
  keel_waitgroup *wg;
} waiter_arg;

static void waiter_task(void *p) {
  waiter_arg *a = p;
  a->rc = keel_rate_wait(a->l, a->ctx);
  keel_waitgroup_done(a->wg);
}
static void *waiter_thread(void *p) {
  waiter_arg *a = p;
  a->rc = keel_rate_wait(a->l, a->ctx);
  keel_waitgroup_done(a->wg);
  return NULL;
}

/* Blocks (task or thread) on a bucket a token short with 10 s to go, then
 * cancels: the wait returns ECANCELED and the token is given back. */
static int cancel_midway(bool use_task) {
  keel_rate_limiter *l;
  if (keel_rate_limiter_new(&l, 0.1, 1)) return -1;
  keel_ctx *bg = keel_ctx_background(), *c;
  keel_rate_allow(l);                                  /* empty: next in 10 s */
  if (keel_ctx_with_cancel(bg, &c)) return -1;
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  waiter_arg a = {l, c, 1, &wg};
  pthread_t th;
  if (use_task) keel_task_spawn(NULL, waiter_task, &a, NULL);
  else pthread_create(&th, NULL, waiter_thread, &a);
  int64_t give_up = keel_now() + 30 * KEEL_SECOND;
  while (keel_rate_tokens(l) > -0.5 && keel_now() < give_up) sched_yield();
  double in_debt = keel_rate_tokens(l);
  keel_ctx_cancel(c);
  keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL);
  if (!use_task) pthread_join(th, NULL);
  double after = keel_rate_tokens(l);
  int rc = 0;
  if (!(in_debt < -0.5)) rc = 1;                       /* it did reserve */
  if (a.rc != KEEL_ECANCELED) rc = 2;
  if (!(after > -0.1)) rc = 3;                          /* the token came back */
  keel_ctx_release(c);
  keel_rate_limiter_free(l);
  return rc;
}

KT_TEST(cancel_while_waiting_gives_tokens_back_task) { KT_CHECK_EQ(cancel_midway(true), 0); }
KT_TEST(cancel_while_waiting_gives_tokens_back_thread) { KT_CHECK_EQ(cancel_midway(false), 0); }

KT_TEST(waits_pace_the_caller) {
  keel_rate_limiter *l;
  KT_CHECK_EQ(keel_rate_limiter_new(&l, keel_rate_every(10 * MS), 1), 0);
  keel_ctx *bg = keel_ctx_background();
  int64_t t0 = keel_now();
  for (int i = 0; i < 6; i++) KT_CHECK_EQ(keel_rate_wait(l, bg), 0);
  KT_CHECK(keel_now() - t0 >= 49 * MS);   /* 5 intervals at least */
  keel_rate_limiter_free(l);
}

KT_TEST(multi_wait_waits_for_the_longest_not_the_sum) {
  keel_rate_limiter *a, *b;
  KT_CHECK_EQ(keel_rate_limiter_new(&a, keel_rate_every(20 * MS), 1), 0);
  KT_CHECK_EQ(keel_rate_limiter_new(&b, keel_rate_every(10 * MS), 1), 0);
  keel_rate_any m1[] = {keel_rate_any_limiter(b), keel_rate_any_limiter(a)};
  keel_rate_multi *m;
  KT_CHECK_EQ(keel_rate_multi_new(&m, m1, 2), 0);
  keel_ctx *bg = keel_ctx_background();
  int64_t t0 = keel_now();
  for (int i = 0; i < 5; i++) KT_CHECK_EQ(keel_rate_multi_wait(m, bg), 0);
  int64_t took = keel_now() - t0;
  KT_CHECK(took >= 79 * MS);                /* 4 x 20 ms */
  KT_CHECK(keel_rate_tokens(a) < 0.5);
  keel_ctx *c;
  KT_CHECK_EQ(keel_ctx_with_timeout(bg, 1 * MS, &c), 0);
  KT_CHECK_EQ(keel_rate_multi_wait(m, c), KEEL_EDEADLINE);
  keel_ctx_cancel(c);
  keel_ctx_release(c);
  keel_rate_multi_free(m);
  keel_rate_limiter_free(a);
  keel_rate_limiter_free(b);
}

KT_TEST(shutdown) { KT_CHECK_EQ(keel_runtime_shutdown(), 0); }

KT_MAIN()
