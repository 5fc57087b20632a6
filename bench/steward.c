/* bench/steward.c — the steward, measured (Go twin: bench/go/steward, the
 * book's steward).
 *
 *   detection_latency_fraction  a ward pulses three times, half a timeout
 *                               apart, then falls silent (but runs on); the
 *                               time from its last pulse to the start of the
 *                               next ward (detection, halting the silent one,
 *                               starting the next), divided by the timeout
 *                               (20 ms). Median of 30. Unit: fraction.
 *   restart_cost                a ward that ends at once (its task closes its
 *                               heartbeat); the steward notices, halts it and
 *                               starts the next. ns per restart. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/steward.h"
#include "keel/task.h"

/* ---- detection latency ------------------------------------------------------------- */

enum { ROUNDS = 30 };

struct silent_ward {
  int64_t timeout;
  _Atomic int64_t last_pulse;
  int starts;                 /* the steward calls start, one at a time */
  double fractions[ROUNDS];
  int n;
  keel_chan *enough;          /* closed after ROUNDS samples */
};

struct silent_run {
  struct silent_ward *w;
  keel_ctx *ctx;
  keel_heartbeat *hb;
  int64_t interval;
};

static void silent_task(void *arg) {
  struct silent_run *r = arg;
  for (int i = 0; i < 3; i++) {
    if (i > 0 && keel_ctx_sleep(r->ctx, r->interval) != 0) break;
    atomic_store(&r->w->last_pulse, keel_now());
    keel_heartbeat_pulse(r->hb);
  }
  keel_chan_recv(keel_ctx_done(r->ctx), NULL, KEEL_FOREVER);   /* silent from now on */
  keel_heartbeat_free(r->hb);
  keel_ctx_release(r->ctx);
  free(r);
}

static int silent_start(keel_ctx *ctx, int64_t interval, void *arg,
                        keel_chan **heartbeat) {
  struct silent_ward *w = arg;
  int64_t now = keel_now();
  if (w->starts++ > 0 && w->n < ROUNDS) {
    w->fractions[w->n++] = (double)(now - atomic_load(&w->last_pulse)) / (double)w->timeout;
    if (w->n == ROUNDS) keel_chan_close(w->enough);
  }
  struct silent_run *r = calloc(1, sizeof *r);
  if (r == NULL) return KEEL_ENOMEM;
  r->w = w;
  r->interval = interval;
  keel_heartbeat_make(&r->hb, 0);   /* it pulses by hand, then stops */
  r->ctx = keel_ctx_retain(ctx);
  *heartbeat = keel_chan_retain(keel_heartbeat_chan(r->hb));
  return keel_task_spawn(NULL, silent_task, r, NULL);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void detection_latency(int64_t timeout) {
  struct silent_ward w = {.timeout = timeout};
  keel_chan_make(&w.enough, 0, 0);
  keel_steward *s;
  keel_steward_make(&s, timeout, silent_start, &w, NULL);
  keel_ctx *ctx;
  keel_ctx_with_cancel(keel_ctx_background(), &ctx);
  keel_chan *hb;
  keel_steward_start(ctx, KEEL_HOUR, s, &hb);
  keel_chan_recv(w.enough, NULL, KEEL_FOREVER);
  keel_ctx_cancel(ctx);
  while (keel_chan_recv(hb, NULL, KEEL_FOREVER) == 0) {}
  qsort(w.fractions, ROUNDS, sizeof(double), cmp_double);
  double mean = 0;
  for (int i = 0; i < ROUNDS; i++) mean += w.fractions[i] / ROUNDS;
  fprintf(stderr, "detection latency / timeout: min %.4f median %.4f mean %.4f max %.4f\n",
          w.fractions[0], w.fractions[ROUNDS / 2], mean, w.fractions[ROUNDS - 1]);
  bench_report_unit("detection_latency_fraction", w.fractions[ROUNDS / 2], "fraction");
  keel_chan_release(hb);
  keel_ctx_release(ctx);
  keel_steward_release(s);
  keel_chan_release(w.enough);
}

/* ---- restart cost ------------------------------------------------------------------ */

struct quitter {
  long starts, target;
  keel_ctx *ctx;   /* the steward's: canceled once the target is reached */
};

static void quit_task(void *arg) { keel_heartbeat_free(arg); }   /* ends at once */

static int quit_start(keel_ctx *ctx, int64_t interval, void *arg,
                      keel_chan **heartbeat) {
  (void)ctx;
  (void)interval;
  struct quitter *q = arg;
  if (++q->starts == q->target) keel_ctx_cancel(q->ctx);
  keel_heartbeat *hb;
  int rc = keel_heartbeat_make(&hb, 0);
  if (rc < 0) return rc;
  *heartbeat = keel_chan_retain(keel_heartbeat_chan(hb));
  rc = keel_task_spawn(NULL, quit_task, hb, NULL);
  if (rc < 0) {
    keel_chan_release(*heartbeat);
    keel_heartbeat_free(hb);
  }
  return rc;
}

static void restart_cost(long n) {
  struct quitter q = {.target = n};
  keel_ctx_with_cancel(keel_ctx_background(), &q.ctx);
  keel_steward *s;
  keel_steward_make(&s, KEEL_HOUR, quit_start, &q, NULL);
  /* The steward runs on a task, as the Go twin's runs on a goroutine. */
  int64_t start = keel_now();
  keel_chan *hb;
  keel_steward_start(q.ctx, 0, s, &hb);
  while (keel_chan_recv(hb, NULL, KEEL_FOREVER) == 0) {}
  bench_report("restart_cost", keel_now() - start, n);
  keel_chan_release(hb);
  keel_ctx_release(q.ctx);
  keel_steward_release(s);
}

int main(void) {
  detection_latency(20 * KEEL_MILLISECOND);
  restart_cost(200000);
  keel_runtime_shutdown();
  return 0;
}
