/* The book's unhealthy worker ("Heartbeats"): the worker stops after two
 * iterations (a simulated panic) without closing its channels; the consumer
 * notices within 2 x interval because the pulses stop, instead of hanging.
 * Here the consumer is a keel_watcher, which also says why, as a keel_err.
 *
 *   heartbeat_unhealthy [speedup]
 *
 * Output, shaped like the book's:
 *   pulse
 *   pulse
 *   results 41.523       (the book's listing shows them too, interleaved)
 *   worker goroutine is not healthy!
 *   (heartbeat: worker unhealthy: no pulse or result for 2000 ms ...) */
#include <stdio.h>
#include <stdlib.h>

#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/task.h"
#include "keel/timer.h"

struct work {
  keel_ctx *done;
  keel_heartbeat *heartbeat;
  keel_chan *results;
  int64_t pulse_interval;
};

static void do_work(void *arg) {
  struct work *w = arg;
  keel_timer *work_gen;
  keel_timer_tick(&work_gen, 2 * w->pulse_interval);
  for (int i = 0; i < 2; i++) {   /* the simulated panic: only two iterations */
    int64_t r;
    keel_select_case c = {keel_timer_chan(work_gen), KEEL_SELECT_RECV, &r, 0};
    if (keel_heartbeat_select(w->heartbeat, w->done, &c, 1) != 0) break;
    int64_t at = keel_wall_now();   /* the result: a time, as in the book */
    if (keel_heartbeat_send_result(w->heartbeat, w->done, w->results, &at) != 0) break;
  }
  keel_timer_free(work_gen);
  /* no close of either channel: the consumer must notice the silence */
}

int main(int argc, char **argv) {
  long speedup = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
  if (speedup < 1) speedup = 1;
  keel_ctx *done;
  keel_ctx_with_timeout(keel_ctx_background(), 10 * KEEL_SECOND / speedup, &done);

  const int64_t timeout = 2 * KEEL_SECOND / speedup;
  struct work w = {.done = done, .pulse_interval = timeout / 2};
  keel_heartbeat_make(&w.heartbeat, w.pulse_interval);
  keel_chan_make(&w.results, sizeof(int64_t), 0);
  keel_task *worker;
  keel_task_spawn(&worker, do_work, &w, NULL);

  keel_watcher watch;
  keel_watcher_init(&watch, keel_heartbeat_chan(w.heartbeat), w.results, timeout,
                    keel_now());
  for (;;) {
    int64_t r;
    keel_err *why = NULL;
    int ev = keel_watcher_wait(&watch, done, &r, &why);
    if (ev == KEEL_WATCH_PULSE) {
      printf("pulse\n");
    } else if (ev == KEEL_WATCH_RESULT) {
      printf("results %lld.%03lld\n", (long long)(r / KEEL_SECOND % 60),
             (long long)(r / KEEL_MILLISECOND % 1000));
    } else if (ev == KEEL_WATCH_UNHEALTHY || ev == KEEL_WATCH_STUCK) {
      printf("worker goroutine is not healthy!\n(%s: %s)\n", keel_err_module(why),
             keel_err_message(why));
      keel_err_release(why);
      break;
    } else {
      break;
    }
  }
  keel_ctx_cancel(done);
  keel_task_join(worker, KEEL_FOREVER, NULL);
  keel_heartbeat_free(w.heartbeat);
  keel_chan_release(w.results);
  keel_ctx_release(done);
  keel_runtime_shutdown();
  return 0;
}
