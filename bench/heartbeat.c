/* bench/heartbeat.c — the cost of a pulse (Go twin: bench/go/heartbeat).
 *
 *   pulse_cost         CPU time per pulse of workers with interval heartbeats
 *                      that wait to send a result nobody takes (the book's
 *                      sendResult: the wait that must keep pulsing). 500
 *                      workers, 1 ms interval, 1 s; process CPU time (user +
 *                      system, every thread) divided by the pulses sent. In
 *                      Go, each worker runs the book's select loop (done,
 *                      pulse tick, results send) and sends each pulse with a
 *                      non-blocking select; in keel, each worker sits in
 *                      keel_heartbeat_send_result and the heartbeat's timer
 *                      pulses for it (keel/heartbeat.h). ns per pulse.
 *   pulse_select_loop  the book's select loop run hot, once per pulse, with
 *                      the ticker simulated by a non-blocking send on a tick
 *                      channel of capacity 1 (an injected tick source in
 *                      keel): the cost of servicing a pulse the way the book
 *                      does, which is mostly the channels floor's select and
 *                      try-send. keel's own workers do not run this loop. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "bench.h"
#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/task.h"

/* ---- pulse_cost --------------------------------------------------------------- */

enum { WORKERS = 500 };

struct worker {
  keel_ctx *ctx;
  keel_heartbeat *hb;
  keel_chan *results;
  keel_waitgroup *started;
};

static void worker(void *arg) {
  struct worker *w = arg;
  int v = 1;
  keel_waitgroup_done(w->started);
  keel_heartbeat_send_result(w->hb, w->ctx, w->results, &v);   /* until done */
}

static int64_t cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * KEEL_SECOND +
         ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * KEEL_MICROSECOND;
}

static void pulse_cost(int64_t interval, int64_t duration) {
  static struct worker w[WORKERS];
  static keel_task *t[WORKERS];
  keel_ctx *ctx;
  keel_chan *results;
  keel_waitgroup started;
  keel_ctx_with_cancel(keel_ctx_background(), &ctx);
  keel_chan_make(&results, sizeof(int), 0);
  keel_waitgroup_init(&started);
  keel_waitgroup_add(&started, WORKERS);
  for (int i = 0; i < WORKERS; i++) {
    w[i] = (struct worker){.ctx = ctx, .results = results, .started = &started};
    keel_heartbeat_make(&w[i].hb, interval);
    keel_task_spawn(&t[i], worker, &w[i], NULL);
  }
  keel_waitgroup_wait(&started, KEEL_FOREVER, NULL);
  uint64_t p0 = 0, p1 = 0;
  for (int i = 0; i < WORKERS; i++) p0 += keel_heartbeat_pulses(w[i].hb);
  int64_t c0 = cpu_ns();
  keel_sleep(duration);
  int64_t c1 = cpu_ns();
  for (int i = 0; i < WORKERS; i++) p1 += keel_heartbeat_pulses(w[i].hb);
  keel_ctx_cancel(ctx);
  for (int i = 0; i < WORKERS; i++) {
    keel_task_join(t[i], KEEL_FOREVER, NULL);
    keel_heartbeat_free(w[i].hb);
  }
  keel_chan_release(results);
  keel_ctx_release(ctx);
  bench_report("pulse_cost", c1 - c0, (int64_t)(p1 - p0));
}

/* ---- pulse_select_loop ----------------------------------------------------------- */

struct loop {
  long n;
  int64_t elapsed;
};

static void select_loop(void *arg) {
  struct loop *l = arg;
  keel_ctx *ctx;
  keel_chan *tick;
  keel_heartbeat *hb;
  keel_ctx_with_cancel(keel_ctx_background(), &ctx);
  keel_chan_make(&tick, sizeof(int64_t), 1);
  keel_heartbeat_options o = {.tick = tick};
  keel_heartbeat_make_opts(&hb, &o);
  keel_chan *done = keel_ctx_done(ctx);
  int64_t t, r = 0;
  int64_t start = keel_now();
  for (long i = 0; i < l->n; i++) {
    t = i;
    keel_chan_send(tick, &t, KEEL_NOWAIT);   /* the ticker fires */
    keel_select_case c[3] = {{done, KEEL_SELECT_RECV, NULL, 0},
                             {tick, KEEL_SELECT_RECV, &t, 0},
                             {NULL, KEEL_SELECT_SEND, &r, 0}};
    int k = keel_chan_select(c, 3, KEEL_FOREVER);
    if (k == 0) break;
    if (k == 1) keel_heartbeat_pulse(hb);   /* non-blocking; dropped when full */
  }
  l->elapsed = keel_now() - start;
  keel_heartbeat_free(hb);
  keel_chan_release(tick);
  keel_ctx_cancel(ctx);
  keel_ctx_release(ctx);
}

static int64_t run_loop(long n) {
  struct loop l = {.n = n};
  keel_task *t;
  if (keel_task_spawn(&t, select_loop, &l, NULL) != 0) return -1;
  keel_task_join(t, KEEL_FOREVER, NULL);
  return l.elapsed;
}

int main(void) {
  pulse_cost(KEEL_MILLISECOND, KEEL_SECOND);
  const long n = 1000000;
  run_loop(n / 10);   /* warm up */
  bench_report("pulse_select_loop", run_loop(n), n);
  keel_runtime_shutdown();
  return 0;
}
