/* In-process replication: winners, losers, failures, deadlines, hedging,
 * detached reaping, results by pointer, and a concurrent stress. No sleep
 * synchronises anything: losers block on their context until canceled. */
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replicate_test.h"
#include "keel_test_tasks.h"
#include "keel/chan.h"
#include "keel/ctx.h"
#include "keel/replicate.h"
#include "keel/task.h"
#include "runtime/rtimer.h"

#define MS KEEL_MILLISECOND

/* keel_replicate returns once every replica has stopped (its wait group);
 * the runtime then frees each finished task a moment later: the count is
 * awaited, with a bound, so a leaked task fails the test. */
#define SETTLED(base) kt_tasks_settle((base), 10 * KEEL_SECOND)

/* arg: a behaviour. */
enum { ANSWER, STALL, FAIL_UNAVAILABLE, FAIL_LIMIT, FAIL_FATAL };

static keel_err *behave(keel_replica *r) {
  int kind = (int)(intptr_t)r->arg;
  switch (kind) {
    case ANSWER: {
      int v = 100 + (int)r->index;
      if (r->result_size) memcpy(r->result, &v, sizeof v);
      return NULL;
    }
    case STALL: {
      r->intended = 5 * KEEL_SECOND;       /* what it would have taken */
      keel_ctx_sleep(r->ctx, KEEL_HOUR);
      return keel_replica_stopped(r);
    }
    case FAIL_UNAVAILABLE:
      return keel_err_new("test", KEEL_EUNAVAILABLE, "backend down");
    case FAIL_LIMIT:
      return keel_err_new("test", KEEL_ELIMIT, "over quota");
    default:
      return keel_err_new("test", KEEL_EPROTO, "fatal");
  }
}

#define H(kind) {behave, (void *)(intptr_t)(kind), NULL}

static bool fatal_if_proto(const keel_err *e, void *user) {
  (void)user;
  return keel_err_has_code(e, KEEL_EPROTO);
}

KT_TEST(first_success_wins_and_losers_end) {
  size_t base = keel_task_count();
  keel_replicate_handler hs[] = {H(STALL), H(STALL), H(ANSWER), H(STALL)};
  keel_replica_stat st[4];
  keel_replicate_report rep = {.replicas = st};
  keel_replicate_options o = {.result_size = sizeof(int)};
  int v = 0;
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_replicate(NULL, hs, 4, &o, &v, &rep, &err), 0);
  KT_CHECK(err == NULL);
  KT_CHECK_EQ(v, 102);
  KT_CHECK_EQ(rep.winner, 2);
  KT_CHECK_EQ(rep.started, 4);
  KT_CHECK(SETTLED(base));      /* every replica task ended */
  for (int i = 0; i < 4; i++) {
    if (i == 2) {
      KT_CHECK_EQ(st[i].state, KEEL_REPLICA_WON);
      continue;
    }
    KT_CHECK_EQ(st[i].state, KEEL_REPLICA_CANCELED);
    KT_CHECK_EQ(st[i].code, KEEL_ECANCELED);
    KT_CHECK_EQ(st[i].would_take, 5 * KEEL_SECOND);   /* the handler's intent */
    KT_CHECK(st[i].took < 5 * KEEL_SECOND);
  }
}

KT_TEST(all_fail_joins_every_error) {
  keel_replicate_handler hs[] = {H(FAIL_UNAVAILABLE), H(FAIL_LIMIT), H(FAIL_UNAVAILABLE)};
  keel_replicate_report rep = {0};
  keel_err *err = NULL;
  int rc = keel_replicate(NULL, hs, 3, NULL, NULL, &rep, &err);
  KT_CHECK_EQ(rc, KEEL_EFAILED);
  KT_CHECK(err != NULL);
  KT_CHECK(keel_err_has_code(err, KEEL_EUNAVAILABLE));
  KT_CHECK(keel_err_has_code(err, KEEL_ELIMIT));
  KT_CHECK(!keel_err_has_code(err, KEEL_EPROTO));
  KT_CHECK(keel_err_has_module(err, "replicate"));
  KT_CHECK_EQ(rep.failed, 3);
  KT_CHECK_EQ(rep.winner, KEEL_REPLICATE_NONE);
  keel_err_release(err);
}

KT_TEST(non_fatal_failure_starts_the_next_at_once) {
  keel_replicate_handler hs[] = {H(FAIL_UNAVAILABLE), H(FAIL_LIMIT), H(ANSWER), H(ANSWER)};
  keel_replica_stat st[4];
  keel_replicate_report rep = {.replicas = st};
  keel_replicate_options o = {.result_size = sizeof(int), .initial = 1};
  int v = 0;
  KT_CHECK_EQ(keel_replicate(NULL, hs, 4, &o, &v, &rep, NULL), 0);
  KT_CHECK_EQ(v, 102);
  KT_CHECK_EQ(rep.started, 3);          /* the fourth was never needed */
  KT_CHECK_EQ(st[3].state, KEEL_REPLICA_IDLE);
  KT_CHECK_EQ(st[3].start, -1);
  KT_CHECK_EQ(st[0].state, KEEL_REPLICA_FAILED);
  KT_CHECK_EQ(st[0].code, KEEL_EUNAVAILABLE);
}

KT_TEST(fatal_failure_ends_the_call) {
  size_t base = keel_task_count();
  keel_replicate_handler hs[] = {H(STALL), H(FAIL_FATAL), H(ANSWER)};
  keel_replica_stat st[3];
  keel_replicate_report rep = {.replicas = st};
  keel_replicate_options o = {.is_fatal = fatal_if_proto, .initial = 2};
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_replicate(NULL, hs, 3, &o, NULL, &rep, &err), KEEL_EFAILED);
  KT_CHECK(keel_err_has_code(err, KEEL_EPROTO));
  KT_CHECK_EQ(st[0].state, KEEL_REPLICA_CANCELED);
  KT_CHECK_EQ(st[2].state, KEEL_REPLICA_IDLE);   /* not started after a fatal one */
  KT_CHECK(SETTLED(base));
  keel_err_release(err);
}

KT_TEST(deadline_spans_every_attempt) {
  /* Every attempt fails at once except the last, which stalls: the
   * caller's deadline ends the call, with every failure kept. */
  keel_replicate_handler hs[] = {H(FAIL_UNAVAILABLE), H(FAIL_LIMIT), H(STALL)};
  keel_ctx *ctx;
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(), 200 * MS, &ctx), 0);
  keel_replicate_options o = {.initial = 1};
  keel_replicate_report rep = {0};
  keel_err *err = NULL;
  int rc = keel_replicate(ctx, hs, 3, &o, NULL, &rep, &err);
  int64_t took = keel_now() - t0;
  KT_CHECK_EQ(rc, KEEL_EDEADLINE);
  KT_CHECK_EQ(rep.started, 3);
  KT_CHECK(took >= 200 * MS);
  KT_CHECK(keel_err_has_code(err, KEEL_EDEADLINE));
  KT_CHECK(keel_err_has_code(err, KEEL_EUNAVAILABLE));
  KT_CHECK(keel_err_has_code(err, KEEL_ELIMIT));
  keel_err_release(err);
  keel_ctx_cancel(ctx);
  keel_ctx_release(ctx);
}

/* Each attempt takes 30 ms then fails: with a 100 ms deadline only the
 * first few of ten run; the deadline is not per attempt. */
static keel_err *slow_fail(keel_replica *r) {
  int rc = keel_ctx_sleep(r->ctx, 30 * MS);
  return keel_err_new("test", rc ? rc : KEEL_EUNAVAILABLE, "slow failure");
}

/* Ten copies of fn, one after another (failover), under one 100 ms
 * deadline. Returns keel_replicate's code; *token gets keel_ctx_err of the
 * context right after. */
static int failover_ten(keel_err *(*fn)(keel_replica *), keel_replicate_report *rep,
                        int *token) {
  keel_replicate_handler hs[10];
  for (int i = 0; i < 10; i++) hs[i] = (keel_replicate_handler){fn, NULL, NULL};
  keel_ctx *ctx;
  if (keel_ctx_with_timeout(keel_ctx_background(), 100 * MS, &ctx) != 0) return -1;
  keel_replicate_options o = {.initial = 1};
  keel_err *err = NULL;
  int rc = keel_replicate(ctx, hs, 10, &o, NULL, rep, &err);
  *token = keel_ctx_err(ctx);
  keel_err_release(err);
  keel_ctx_release(ctx);
  return rc;
}

KT_TEST(deadline_is_not_per_attempt) {
  keel_replicate_report rep = {0};
  int token;
  KT_CHECK_EQ(failover_ten(slow_fail, &rep, &token), KEEL_EDEADLINE);
  KT_CHECK(rep.started >= 1 && rep.started <= 5);
  KT_CHECK(rep.elapsed < 10 * 30 * MS);
}

/* The deadline has passed but the timer thread has not canceled the
 * context's token yet (a host that deschedules its vCPU delays it by
 * milliseconds; here an rtimer callback that blocks holds it). A replica
 * whose ctx call failed with KEEL_EDEADLINE must end the call as the
 * deadline would, not count as an ordinary failure that starts the next
 * replica at once, down the whole list: the ctx call ends the context. */
struct timer_stall { keel_rtimer t; _Atomic int entered, release; };
static void timer_stall_cb(void *arg, int64_t now) {
  (void)now;
  struct timer_stall *st = arg;
  atomic_store(&st->entered, 1);
  while (!atomic_load(&st->release)) sched_yield();
}
/* Busy for 30 ms, then a failure; past the deadline, the failure is that
 * of keel_ctx_sleep, which returns KEEL_EDEADLINE at once (no timer needed)
 * while the context's token is still live. */
static keel_err *busy_then_fail(keel_replica *r) {
  int64_t until = keel_now() + 30 * MS, d;
  while (keel_now() < until) keel_task_yield();
  int rc = keel_ctx_deadline(r->ctx, &d) && keel_now() >= d ? keel_ctx_sleep(r->ctx, KEEL_SECOND) : 0;
  return keel_err_new("test", rc ? rc : KEEL_EUNAVAILABLE, "busy failure");
}

KT_TEST(deadline_ends_the_call_before_its_timer_fires) {
  struct timer_stall st = {0};
  keel_rtimer_init(&st.t, timer_stall_cb, &st);
  KT_CHECK_EQ(keel_rtimer_start(&st.t, keel_now(), 0), 0);
  while (!atomic_load(&st.entered)) sched_yield();
  keel_replicate_report rep = {0};
  int token;
  int rc = failover_ten(busy_then_fail, &rep, &token);
  atomic_store(&st.release, 1);   /* before any check: a failure must not hang */
  keel_rtimer_stop(&st.t);
  KT_CHECK_EQ(rc, KEEL_EDEADLINE);
  KT_CHECK_EQ(token, KEEL_EDEADLINE);   /* ended by the sleep: the timer was held */
  KT_CHECK(rep.started >= 1 && rep.started <= 4);   /* at 0, 30, 60, 90 ms */
}

KT_TEST(caller_cancel_stops_everything) {
  size_t base = keel_task_count();
  keel_replicate_handler hs[] = {H(STALL), H(STALL)};
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &ctx), 0);
  keel_ctx_cancel(ctx);
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_replicate(ctx, hs, 2, NULL, NULL, NULL, &err), KEEL_ECANCELED);
  KT_CHECK(keel_err_has_code(err, KEEL_ECANCELED));
  KT_CHECK(SETTLED(base));
  keel_err_release(err);
  keel_ctx_release(ctx);
}

KT_TEST(hedge_waits_for_its_delay) {
  keel_hedge *h;
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.delay = 30 * MS}), 0);
  keel_replicate_handler hs[] = {H(STALL), H(ANSWER)};
  keel_replica_stat st[2];
  keel_replicate_report rep = {.replicas = st};
  keel_replicate_options o = {.result_size = sizeof(int), .hedge = h};
  int v = 0;
  KT_CHECK_EQ(keel_replicate(NULL, hs, 2, &o, &v, &rep, NULL), 0);
  KT_CHECK_EQ(v, 101);
  KT_CHECK_EQ(rep.hedges, 1);
  KT_CHECK(st[1].hedge);
  KT_CHECK(st[1].start >= 30 * MS);     /* never before the delay */
  KT_CHECK_EQ(st[0].state, KEEL_REPLICA_CANCELED);
  /* the primary's censored latency taught the histogram */
  KT_CHECK_EQ(keel_hedge_samples_at(h, keel_now()), 1);
  keel_hedge_free(h);
}

KT_TEST(fast_primary_sends_no_hedge) {
  keel_hedge *h;
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.delay = KEEL_HOUR}), 0);
  keel_replicate_handler hs[] = {H(ANSWER), H(ANSWER)};
  keel_replica_stat st[2];
  keel_replicate_report rep = {.replicas = st};
  KT_CHECK_EQ(keel_replicate(NULL, hs, 2, &(keel_replicate_options){.hedge = h}, NULL, &rep, NULL), 0);
  KT_CHECK_EQ(rep.started, 1);
  KT_CHECK_EQ(rep.hedges, 0);
  KT_CHECK_EQ(st[1].state, KEEL_REPLICA_IDLE);
  keel_hedge_free(h);
}

KT_TEST(hedge_budget_is_respected) {
  keel_hedge *h;
  /* a budget that earns almost nothing: only the burst of 1 */
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.delay = 0, .budget = 1e-9,
                                                       .budget_burst = 1}), 0);
  keel_replicate_handler hs[] = {H(STALL), H(ANSWER)};
  keel_replicate_options o = {.hedge = h};
  keel_replicate_report rep = {0};
  KT_CHECK_EQ(keel_replicate(NULL, hs, 2, &o, NULL, &rep, NULL), 0);
  KT_CHECK_EQ(rep.winner, 1);
  /* budget spent: the stalled primary is alone until the deadline */
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(), 30 * MS, &ctx), 0);
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_replicate(ctx, hs, 2, &o, NULL, &rep, &err), KEEL_EDEADLINE);
  KT_CHECK_EQ(rep.started, 1);
  KT_CHECK_EQ(rep.hedges, 0);
  keel_hedge_stats s;
  keel_hedge_stats_get(h, &s);
  KT_CHECK_EQ(s.requests, 2);
  KT_CHECK_EQ(s.hedges, 1);
  KT_CHECK_EQ(s.denied, 1);
  keel_err_release(err);
  keel_ctx_release(ctx);
  keel_hedge_free(h);
}

KT_TEST(adaptive_policy_waits_for_samples) {
  keel_hedge *h;
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.percentile = 0.95,
                                                       .min_samples = 10}), 0);
  keel_replicate_handler hs[] = {H(STALL), H(ANSWER)};
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(), 20 * MS, &ctx), 0);
  keel_replicate_report rep = {0};
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_replicate(ctx, hs, 2, &(keel_replicate_options){.hedge = h},
                             NULL, &rep, &err), KEEL_EDEADLINE);
  KT_CHECK_EQ(rep.started, 1);         /* no samples: no hedge */
  keel_err_release(err);
  keel_ctx_release(ctx);
  /* with samples (1 ms each), the hedge goes out after about p95 */
  for (int i = 0; i < 10; i++) keel_hedge_record(h, MS);
  keel_replica_stat st[2];
  rep.replicas = st;
  KT_CHECK_EQ(keel_replicate(NULL, hs, 2, &(keel_replicate_options){.hedge = h},
                             NULL, &rep, NULL), 0);
  KT_CHECK_EQ(rep.winner, 1);
  KT_CHECK(st[1].start >= MS);
  keel_hedge_free(h);
}

/* Detached: return with the winner, reap the losers in the background. */
struct reaped { keel_chan *done; _Atomic int calls; keel_replicate_report rep; int states[3]; };

static void on_reaped(const keel_replicate_report *rep, void *user) {
  struct reaped *r = user;
  r->rep = *rep;
  for (int i = 0; i < 3; i++) r->states[i] = rep->replicas[i].state;
  atomic_fetch_add(&r->calls, 1);
  keel_chan_close(r->done);
}

KT_TEST(detached_call_returns_at_once_and_reaps_later) {
  size_t base = keel_task_count();
  struct reaped r = {0};
  KT_CHECK_EQ(keel_chan_make(&r.done, 0, 0), 0);
  keel_replicate_handler hs[] = {H(STALL), H(ANSWER), H(STALL)};
  keel_replica_stat st[3];
  keel_replicate_report rep = {.replicas = st};
  keel_replicate_options o = {.result_size = sizeof(int), .detach = true,
                              .on_reaped = on_reaped, .user = &r};
  int v = 0;
  KT_CHECK_EQ(keel_replicate(NULL, hs, 3, &o, &v, &rep, NULL), 0);
  KT_CHECK_EQ(v, 101);
  KT_CHECK_EQ(rep.winner, 1);
  KT_CHECK_EQ(st[1].state, KEEL_REPLICA_WON);
  KT_CHECK(keel_chan_recv(r.done, NULL, keel_deadline_in(10 * KEEL_SECOND)) == KEEL_ECLOSED);
  KT_CHECK_EQ(atomic_load(&r.calls), 1);
  KT_CHECK_EQ(r.rep.winner, 1);
  KT_CHECK_EQ(r.states[0], KEEL_REPLICA_CANCELED);
  KT_CHECK_EQ(r.states[2], KEEL_REPLICA_CANCELED);
  /* the reaper task itself ends right after on_reaped returns */
  KT_CHECK(SETTLED(base));
  keel_chan_release(r.done);
}

/* Results by pointer: the winner's passes to the caller; the others are
 * discarded through opts.discard. */
static _Atomic int discarded;
static keel_err *make_string(keel_replica *r) {
  char *s = malloc(32);
  if (!s) return keel_err_new("test", KEEL_ENOMEM, "no memory");
  snprintf(s, 32, "answer %zu", r->index);
  memcpy(r->result, &s, sizeof s);
  return NULL;
}
static void discard_string(void *result, void *user) {
  (void)user;
  char *s;
  memcpy(&s, result, sizeof s);
  free(s);
  atomic_fetch_add(&discarded, 1);
}

KT_TEST(results_by_pointer_have_one_owner) {
  keel_replicate_handler hs[4];
  for (int i = 0; i < 4; i++) hs[i] = (keel_replicate_handler){make_string, NULL, NULL};
  for (int round = 0; round < 50; round++) {
    atomic_store(&discarded, 0);
    keel_replicate_report rep = {0};
    keel_replicate_options o = {.result_size = sizeof(char *), .discard = discard_string};
    char *s = NULL;
    KT_CHECK_EQ(keel_replicate(NULL, hs, 4, &o, &s, &rep, NULL), 0);
    KT_CHECK(s != NULL);
    char want[32];
    snprintf(want, sizeof want, "answer %zu", rep.winner);
    KT_CHECK_STR(s, want);
    free(s);
    /* every other replica either lost (discarded) or was canceled first */
    KT_CHECK(atomic_load(&discarded) <= 3);
  }
}

KT_TEST(stopped_sentinel_carries_the_context_code) {
  keel_ctx *c, *d;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &c), 0);
  KT_CHECK_EQ(keel_ctx_with_deadline(keel_ctx_background(), keel_now() - 1, &d), 0);
  keel_ctx_cancel(c);
  keel_replica r1 = {.ctx = c}, r2 = {.ctx = d};
  keel_err *e1 = keel_replica_stopped(&r1), *e2 = keel_replica_stopped(&r2);
  keel_err *e3 = keel_replica_stopped(&r1);
  KT_CHECK_EQ(keel_err_code(e1), KEEL_ECANCELED);
  KT_CHECK_EQ(keel_err_code(e2), KEEL_EDEADLINE);
  KT_CHECK(e1 == e3);                    /* one shared sentinel */
  keel_err_release(e1);
  keel_err_release(e2);
  keel_err_release(e3);
  keel_ctx_release(c);
  keel_ctx_release(d);
}

KT_TEST(bad_arguments) {
  keel_replicate_handler hs[] = {H(ANSWER)};
  keel_err *err = (keel_err *)1;
  KT_CHECK_EQ(keel_replicate(NULL, NULL, 1, NULL, NULL, NULL, &err), KEEL_EINVAL);
  KT_CHECK(err == NULL);
  KT_CHECK_EQ(keel_replicate(NULL, hs, 0, NULL, NULL, NULL, NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_replicate(NULL, hs, 1, &(keel_replicate_options){.result_size = 4},
                             NULL, NULL, NULL), KEEL_EINVAL);
  keel_replicate_handler nofn[] = {{NULL, NULL, NULL}};
  KT_CHECK_EQ(keel_replicate(NULL, nofn, 1, NULL, NULL, NULL, NULL), KEEL_EINVAL);
}

/* Stress: many tasks replicate at once over random behaviours; every call
 * ends with a consistent report and no task is left behind. */
struct stress { keel_waitgroup *wg; unsigned seed; _Atomic int *bad; keel_hedge *hedge; };

static void stress_task(void *p) {
  struct stress *s = p;
  int rounds = KT_SANITIZED() ? 20 : 100;
  for (int round = 0; round < rounds; round++) {
    size_t n = 1 + rand_r(&s->seed) % 5;
    keel_replicate_handler hs[5];
    bool any_answer = false;
    for (size_t i = 0; i < n; i++) {
      int kind = (int)(rand_r(&s->seed) % 3);    /* ANSWER, STALL, FAIL */
      if (kind == 2) kind = FAIL_UNAVAILABLE;
      if (kind == ANSWER) any_answer = true;
      hs[i] = (keel_replicate_handler){behave, (void *)(intptr_t)kind, NULL};
    }
    keel_ctx *ctx;
    keel_ctx_with_timeout(keel_ctx_background(), 20 * MS, &ctx);
    keel_replicate_options o = {.result_size = sizeof(int),
                                .initial = rand_r(&s->seed) % 3,
                                .hedge = rand_r(&s->seed) % 2 ? s->hedge : NULL,
                                .detach = rand_r(&s->seed) % 4 == 0,
                                .spread = rand_r(&s->seed) % 2 == 0};
    keel_replica_stat st[5];
    keel_replicate_report rep = {.replicas = st};
    keel_err *err = NULL;
    int v = 0;
    int rc = keel_replicate(ctx, hs, n, &o, &v, &rep, &err);
    if (rc == 0) {
      if (err || rep.winner >= n || v != 100 + (int)rep.winner ||
          (int)(intptr_t)hs[rep.winner].arg != ANSWER)
        atomic_fetch_add(s->bad, 1);
    } else {
      if (!err || rep.winner != KEEL_REPLICATE_NONE) atomic_fetch_add(s->bad, 1);
      /* an answer was available and nothing slowed it: only a deadline or
       * an unstarted answerer explains a failure */
      if (any_answer && rc == KEEL_EFAILED && o.initial == 0 && !o.hedge)
        atomic_fetch_add(s->bad, 1);
    }
    keel_err_release(err);
    keel_ctx_release(ctx);
  }
  keel_waitgroup_done(s->wg);
}

KT_TEST(stress_concurrent_calls) {
  size_t base = keel_task_count();
  keel_hedge *h;
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.delay = MS, .budget = 0.5,
                                                       .max_copies = 3}), 0);
  enum { T = 16 };
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  _Atomic int bad = 0;
  struct stress s[T];
  keel_waitgroup_add(&wg, T);
  for (int i = 0; i < T; i++) {
    s[i] = (struct stress){&wg, (unsigned)i * 7919u + 1, &bad, h};
    KT_CHECK_EQ(keel_task_spawn(NULL, stress_task, &s[i], NULL), 0);
  }
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&bad), 0);
  /* detached calls reap in the background */
  KT_CHECK(SETTLED(base));
  keel_hedge_free(h);
}

/* The default start is a chain (each replica spawns the next); spread
 * starts every replica from the caller. Both start all of them, whatever
 * blocks, and end every task; a list too long for the caller's stack block
 * takes the heap path. */
static void check_many(bool spread, size_t n) {
  size_t base = keel_task_count();
  keel_replicate_handler *hs = calloc(n, sizeof *hs);
  keel_replica_stat *st = calloc(n, sizeof *st);
  KT_CHECK(hs && st);
  if (!hs || !st) {
    free(hs);
    free(st);
    return;
  }
  /* every replica blocks until canceled, except the last, which answers:
   * the chain must go past every blocked one */
  for (size_t i = 0; i < n; i++) hs[i] = (keel_replicate_handler)H(STALL);
  hs[n - 1] = (keel_replicate_handler)H(ANSWER);
  keel_replicate_report rep = {.replicas = st};
  keel_replicate_options o = {.result_size = sizeof(int), .spread = spread};
  int v = 0;
  KT_CHECK_EQ(keel_replicate(NULL, hs, n, &o, &v, &rep, NULL), 0);
  KT_CHECK_EQ(v, 100 + (int)(n - 1));
  KT_CHECK_EQ(rep.winner, n - 1);
  KT_CHECK_EQ(rep.started, n);
  for (size_t i = 0; i + 1 < n; i++) {
    KT_CHECK_EQ(st[i].state, KEEL_REPLICA_CANCELED);
    KT_CHECK(st[i].start >= 0);
  }
  KT_CHECK(SETTLED(base));
  /* and all answering at once: one winner, the others lost */
  for (size_t i = 0; i < n; i++) hs[i] = (keel_replicate_handler)H(ANSWER);
  KT_CHECK_EQ(keel_replicate(NULL, hs, n, &o, &v, &rep, NULL), 0);
  KT_CHECK(rep.winner < n);
  KT_CHECK_EQ(v, 100 + (int)rep.winner);
  size_t won = 0, lost = 0;
  for (size_t i = 0; i < n; i++) {
    won += st[i].state == KEEL_REPLICA_WON;
    lost += st[i].state == KEEL_REPLICA_LOST;
  }
  KT_CHECK_EQ(won, 1);
  KT_CHECK_EQ(lost, n - 1);
  KT_CHECK(SETTLED(base));
  free(hs);
  free(st);
}

KT_TEST(chain_and_spread_start_every_replica) {
  check_many(false, 4);
  check_many(true, 4);
  check_many(false, 64);     /* beyond the on-stack block */
  check_many(true, 64);
}

/* Full replication waits quietly (one wake when the last replica ends):
 * the caller's deadline still ends it, and stalled replicas are canceled. */
KT_TEST(quiet_call_ends_at_the_callers_deadline) {
  size_t base = keel_task_count();
  keel_replicate_handler hs[] = {H(STALL), H(FAIL_UNAVAILABLE), H(STALL)};
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(), 20 * MS, &ctx), 0);
  keel_replica_stat st[3];
  keel_replicate_report rep = {.replicas = st};
  keel_err *err = NULL;
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_replicate(ctx, hs, 3, NULL, NULL, &rep, &err), KEEL_EDEADLINE);
  KT_CHECK(keel_now() - t0 >= 20 * MS);
  KT_CHECK(keel_err_has_code(err, KEEL_EDEADLINE));
  KT_CHECK(keel_err_has_code(err, KEEL_EUNAVAILABLE));   /* the failure so far */
  KT_CHECK_EQ(rep.winner, KEEL_REPLICATE_NONE);
  KT_CHECK_EQ(st[0].state, KEEL_REPLICA_CANCELED);
  KT_CHECK_EQ(st[0].code, KEEL_EDEADLINE);
  KT_CHECK_EQ(st[1].state, KEEL_REPLICA_FAILED);
  KT_CHECK_EQ(rep.failed, 1);
  KT_CHECK(SETTLED(base));
  keel_err_release(err);
  keel_ctx_release(ctx);
}

/* A handler that ignores its context and answers after the caller's
 * context ended answers too late: it does not win. */
struct late { keel_ctx *ctx; keel_chan *gate; };

static keel_err *deaf(keel_replica *r) {
  struct late *l = r->arg;
  keel_chan_recv(l->gate, NULL, KEEL_FOREVER);      /* ignores r->ctx */
  return NULL;
}

static void cancel_then_open(void *p) {
  struct late *l = p;
  keel_ctx_cancel(l->ctx);
  keel_chan_close(l->gate);
}

KT_TEST(success_after_the_callers_context_ended_does_not_win) {
  struct late l;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &l.ctx), 0);
  KT_CHECK_EQ(keel_chan_make(&l.gate, 0, 0), 0);
  keel_replicate_handler hs[] = {{deaf, &l, "deaf"}, {deaf, &l, "deaf too"}};
  keel_replica_stat st[2];
  keel_replicate_report rep = {.replicas = st};
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_task_spawn(NULL, cancel_then_open, &l, NULL), 0);
  KT_CHECK_EQ(keel_replicate(l.ctx, hs, 2, NULL, NULL, &rep, &err), KEEL_ECANCELED);
  KT_CHECK(keel_err_has_code(err, KEEL_ECANCELED));
  KT_CHECK_EQ(rep.winner, KEEL_REPLICATE_NONE);
  KT_CHECK_EQ(st[0].state, KEEL_REPLICA_LOST);
  KT_CHECK_EQ(st[1].state, KEEL_REPLICA_LOST);
  keel_err_release(err);
  keel_chan_release(l.gate);
  keel_ctx_release(l.ctx);
}

/* Unnamed handlers are "#<index>". */
static keel_err *echo_name(keel_replica *r) {
  snprintf(r->result, r->result_size, "%s", r->name);
  return r->index == 12 ? NULL : keel_err_new("test", KEEL_EUNAVAILABLE, "no");
}

KT_TEST(unnamed_handlers_are_numbered) {
  keel_replicate_handler hs[13];
  for (int i = 0; i < 13; i++) hs[i] = (keel_replicate_handler){echo_name, NULL, NULL};
  char name[16] = "";
  keel_replicate_options o = {.result_size = sizeof name};
  KT_CHECK_EQ(keel_replicate(NULL, hs, 13, &o, name, NULL, NULL), 0);
  KT_CHECK_STR(name, "#12");
}

KT_MAIN()
