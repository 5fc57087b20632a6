/* The book's heartbeat tests (Concurrency in Go, ch. 5, "Heartbeats"):
 *   - the deterministic generator test: wait for the first (work-unit) pulse,
 *     then range over the results, with no timeout at all;
 *   - the interval-heartbeat test: select over results, pulses and a timeout
 *     of 2 x interval that pulses keep from firing;
 *   - the book's first worker (pulses every interval, a result every two);
 *   - the unhealthy worker (stops after two iterations without closing):
 *     detected within the timeout, with a keel_err.
 * The workers start after a delay, the book's "goblins"; nothing here
 * synchronises by sleeping. */
#include <stdlib.h>

#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/task.h"
#include "keel/timer.h"
#include "keel_test.h"
#include "keel_test_tasks.h"

static const int nums[] = {0, 1, 2, 3, 5};
enum { NNUMS = 5 };

/* ---- DoWork with a work-unit heartbeat --------------------------------- */

struct gen {
  keel_ctx *ctx;
  keel_heartbeat *hb;
  keel_chan *results;
  int64_t startup_delay;
};

static void gen_task(void *p) {
  struct gen *g = p;
  keel_sleep(g->startup_delay);   /* the goblins */
  for (int i = 0; i < NNUMS; i++) {
    keel_heartbeat_pulse(g->hb);  /* its own statement: no result is lost */
    if (keel_ctx_send(g->ctx, g->results, &nums[i]) != 0) break;
  }
  keel_chan_close(g->results);
  keel_chan_release(g->results);
  keel_heartbeat_free(g->hb);
  keel_ctx_release(g->ctx);
  free(g);
}

static void do_work(keel_ctx *ctx, int64_t delay, keel_chan **heartbeat,
                    keel_chan **results) {
  struct gen *g = calloc(1, sizeof *g);
  g->ctx = keel_ctx_retain(ctx);
  g->startup_delay = delay;
  keel_heartbeat_make(&g->hb, 0);
  keel_chan_make(&g->results, sizeof(int), 0);
  *heartbeat = keel_chan_retain(keel_heartbeat_chan(g->hb));
  *results = keel_chan_retain(g->results);
  keel_task_spawn(NULL, gen_task, g, NULL);
}

KT_TEST(generator_first_pulse_then_range) {
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &ctx), 0);
  keel_chan *heartbeat, *results;
  do_work(ctx, 50 * KEEL_MILLISECOND, &heartbeat, &results);
  KT_CHECK_EQ(keel_chan_recv(heartbeat, NULL, KEEL_FOREVER), 0);   /* <-heartbeat */
  int i = 0, r;
  while (keel_chan_recv(results, &r, KEEL_FOREVER) == 0) {         /* range */
    KT_CHECK(i < NNUMS);
    KT_CHECK_EQ(r, nums[i]);
    i++;
  }
  KT_CHECK_EQ(i, NNUMS);
  keel_ctx_cancel(ctx);
  keel_ctx_release(ctx);
  keel_chan_release(heartbeat);
  keel_chan_release(results);
}

KT_TEST(work_unit_pulse_per_result) {
  /* The book's second listing: one pulse per result when someone listens. */
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &ctx), 0);
  keel_chan *heartbeat, *results;
  do_work(ctx, 0, &heartbeat, &results);
  int got = 0, pulses = 0, r;
  for (;;) {
    keel_select_case c[2] = {{heartbeat, KEEL_SELECT_RECV, NULL, 0},
                             {results, KEEL_SELECT_RECV, &r, 0}};
    int k = keel_chan_select(c, 2, keel_deadline_in(30 * KEEL_SECOND));
    KT_CHECK(k >= 0);
    if (c[k].result == KEEL_ECLOSED) break;
    if (k == 0) pulses++;
    else KT_CHECK_EQ(r, nums[got++]);
  }
  /* The buffer of one keeps a pulse for a late reader: drain it too. */
  while (keel_chan_recv(heartbeat, NULL, keel_deadline_in(30 * KEEL_SECOND)) == 0)
    pulses++;
  KT_CHECK_EQ(got, NNUMS);
  KT_CHECK(pulses >= 1 && pulses <= NNUMS);
  keel_ctx_cancel(ctx);
  keel_ctx_release(ctx);
  keel_chan_release(heartbeat);
  keel_chan_release(results);
}

/* ---- DoWork with an interval heartbeat ---------------------------------- */

struct igen {
  keel_ctx *ctx;
  keel_heartbeat *hb;
  keel_chan *results;
  int64_t startup_delay;
};

static void igen_task(void *p) {
  struct igen *g = p;
  keel_sleep(g->startup_delay);
  keel_heartbeat_pulse(g->hb);    /* "we entered the loop" */
  for (int i = 0; i < NNUMS; i++)
    if (keel_heartbeat_send_result(g->hb, g->ctx, g->results, &nums[i]) != 0) break;
  keel_chan_close(g->results);
  keel_chan_release(g->results);
  keel_heartbeat_free(g->hb);
  keel_ctx_release(g->ctx);
  free(g);
}

KT_TEST(interval_heartbeat_test) {
  const int64_t timeout = 2 * KEEL_SECOND;   /* generous: the pulses keep it off */
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &ctx), 0);
  struct igen *g = calloc(1, sizeof *g);
  g->ctx = keel_ctx_retain(ctx);
  g->startup_delay = 30 * KEEL_MILLISECOND;
  KT_CHECK_EQ(keel_heartbeat_make(&g->hb, timeout / 2), 0);
  KT_CHECK_EQ(keel_chan_make(&g->results, sizeof(int), 0), 0);
  keel_chan *heartbeat = keel_chan_retain(keel_heartbeat_chan(g->hb));
  keel_chan *results = keel_chan_retain(g->results);
  KT_CHECK_EQ(keel_task_spawn(NULL, igen_task, g, NULL), 0);

  KT_CHECK_EQ(keel_chan_recv(heartbeat, NULL, KEEL_FOREVER), 0);
  keel_watcher w;
  keel_watcher_init(&w, heartbeat, results, timeout, keel_now());
  int i = 0, r;
  for (;;) {
    keel_err *err = NULL;
    int ev = keel_watcher_wait(&w, NULL, &r, &err);
    if (ev == KEEL_ECLOSED) break;
    KT_CHECK(ev == KEEL_WATCH_RESULT || ev == KEEL_WATCH_PULSE);   /* not timed out */
    KT_CHECK(err == NULL);
    if (ev == KEEL_WATCH_RESULT) KT_CHECK_EQ(r, nums[i++]);
  }
  KT_CHECK_EQ(i, NNUMS);
  keel_ctx_cancel(ctx);
  keel_ctx_release(ctx);
  keel_chan_release(heartbeat);
  keel_chan_release(results);
}

/* ---- the book's first worker, and its broken twin ------------------------ */

struct worker {
  keel_ctx *ctx;
  keel_heartbeat *hb;
  keel_chan *results;
  int64_t interval;
  int iterations;   /* < 0: until ctx is done; else stop after that many
                       without closing anything (the book's simulated panic) */
};

static void worker_task(void *p) {
  struct worker *w = p;
  keel_timer *work_gen;
  if (keel_timer_tick(&work_gen, 2 * w->interval) != 0) return;
  for (int i = 0; w->iterations < 0 || i < w->iterations; i++) {
    int64_t r;
    keel_select_case c = {keel_timer_chan(work_gen), KEEL_SELECT_RECV, &r, 0};
    if (keel_heartbeat_select(w->hb, w->ctx, &c, 1) != 0) break;
    if (keel_heartbeat_send_result(w->hb, w->ctx, w->results, &r) != 0) break;
  }
  keel_timer_free(work_gen);
  if (w->iterations < 0) {   /* the healthy one: defer close(...) */
    keel_chan_close(w->results);
    keel_heartbeat_close(w->hb);
  }
}

KT_TEST(interval_worker_two_pulses_per_result) {
  const int64_t interval = (KT_SANITIZED() ? 40 : 20) * KEEL_MILLISECOND;
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &ctx), 0);
  struct worker w = {.ctx = ctx, .interval = interval, .iterations = -1};
  KT_CHECK_EQ(keel_heartbeat_make(&w.hb, interval), 0);
  KT_CHECK_EQ(keel_chan_make(&w.results, sizeof(int64_t), 0), 0);
  keel_task *t;
  KT_CHECK_EQ(keel_task_spawn(&t, worker_task, &w, NULL), 0);
  keel_watcher watch;
  /* 10 x interval instead of the book's 2 x: a loaded 2-core box is slow. */
  keel_watcher_init(&watch, keel_heartbeat_chan(w.hb), w.results, 10 * interval,
                    keel_now());
  int results = 0, pulses = 0;
  while (results < 4) {
    int64_t r;
    keel_err *err = NULL;
    int ev = keel_watcher_wait(&watch, NULL, &r, &err);
    KT_CHECK(err == NULL);
    KT_CHECK(ev == KEEL_WATCH_RESULT || ev == KEEL_WATCH_PULSE);
    if (ev == KEEL_WATCH_RESULT) {
      results++;
      KT_CHECK(r > 0 && r <= keel_now());   /* the tick's time, as the book */
    } else {
      pulses++;
    }
  }
  /* About two pulses per result; at least one came while it waited. */
  KT_CHECK(pulses >= 2);
  keel_ctx_cancel(ctx);
  KT_CHECK_EQ(keel_task_join(t, keel_deadline_in(10 * KEEL_SECOND), NULL), 0);
  keel_pulse p;
  while (keel_chan_recv(keel_heartbeat_chan(w.hb), &p, KEEL_NOWAIT) == 0) {}
  KT_CHECK_EQ(keel_chan_recv(keel_heartbeat_chan(w.hb), &p, KEEL_NOWAIT), KEEL_ECLOSED);
  KT_CHECK_EQ(keel_chan_recv(w.results, NULL, KEEL_NOWAIT), KEEL_ECLOSED);
  keel_heartbeat_free(w.hb);
  keel_chan_release(w.results);
  keel_ctx_release(ctx);
}

KT_TEST(unhealthy_worker_detected) {
  const int64_t interval = (KT_SANITIZED() ? 40 : 20) * KEEL_MILLISECOND;
  const int64_t timeout = 2 * interval;   /* the book's coupling */
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &ctx), 0);
  struct worker w = {.ctx = ctx, .interval = interval, .iterations = 2};
  KT_CHECK_EQ(keel_heartbeat_make(&w.hb, interval), 0);
  KT_CHECK_EQ(keel_chan_make(&w.results, sizeof(int64_t), 0), 0);
  keel_task *t;
  KT_CHECK_EQ(keel_task_spawn(&t, worker_task, &w, NULL), 0);
  keel_watcher watch;
  keel_watcher_init(&watch, keel_heartbeat_chan(w.hb), w.results, timeout, keel_now());
  keel_err *err = NULL;
  int ev, events = 0;
  int64_t r;
  /* A loaded machine may stall the healthy part past 2 x interval once; what
   * must hold is that the silence after its stop is always caught. */
  while ((ev = keel_watcher_wait(&watch, NULL, &r, &err)) == KEEL_WATCH_PULSE ||
         ev == KEEL_WATCH_RESULT)
    events++;
  KT_CHECK_EQ(ev, KEEL_WATCH_UNHEALTHY);
  KT_CHECK(err != NULL);
  KT_CHECK_EQ(keel_err_code(err), KEEL_ETIMEDOUT);
  KT_CHECK(keel_err_has_module(err, "heartbeat"));
  KT_CHECK(keel_now() - watch.last_sign >= timeout);
  keel_err_release(err);
  keel_ctx_cancel(ctx);
  KT_CHECK_EQ(keel_task_join(t, keel_deadline_in(10 * KEEL_SECOND), NULL), 0);
  keel_heartbeat_free(w.hb);
  keel_chan_release(w.results);
  keel_ctx_release(ctx);
  (void)events;
}

KT_MAIN()
