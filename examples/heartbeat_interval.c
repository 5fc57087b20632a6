/* The book's first heartbeat ("Heartbeats"): a worker that pulses every
 * interval while it waits for work or to send a result, and a consumer that
 * prints each pulse and result, and gives up after 2 x interval of silence.
 * done closes after 10 s.
 *
 *   heartbeat_interval [speedup]     e.g. 10: 0.1 s pulses, done after 1 s
 *
 * Output, shaped like the book's (about two pulses per result):
 *   pulse
 *   pulse
 *   results 52
 *   ... */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/task.h"
#include "keel/timer.h"

struct work {
  keel_ctx *done;
  keel_heartbeat *heartbeat;
  keel_chan *results;   /* int64_t: the wall time of the work, as time.Time */
  int64_t pulse_interval;
};

static void do_work(void *arg) {
  struct work *w = arg;
  keel_timer *work_gen;   /* workGen := time.Tick(2*pulseInterval) */
  keel_timer_tick(&work_gen, 2 * w->pulse_interval);
  for (;;) {
    int64_t r;
    keel_select_case c = {keel_timer_chan(work_gen), KEEL_SELECT_RECV, &r, 0};
    /* select { <-done; <-pulse: sendPulse(); r := <-workGen } */
    if (keel_heartbeat_select(w->heartbeat, w->done, &c, 1) != 0) break;
    int64_t at = keel_wall_now();
    /* sendResult(r): pulsing while it waits for the consumer */
    if (keel_heartbeat_send_result(w->heartbeat, w->done, w->results, &at) != 0) break;
  }
  keel_timer_free(work_gen);
  keel_chan_close(w->results);          /* defer close(results) */
  keel_heartbeat_close(w->heartbeat);   /* defer close(heartbeat) */
}

int main(int argc, char **argv) {
  long speedup = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
  if (speedup < 1) speedup = 1;
  keel_ctx *done;   /* time.AfterFunc(10*time.Second, func() { close(done) }) */
  keel_ctx_with_timeout(keel_ctx_background(), 10 * KEEL_SECOND / speedup, &done);

  const int64_t timeout = 2 * KEEL_SECOND / speedup;
  struct work w = {.done = done, .pulse_interval = timeout / 2};
  keel_heartbeat_make(&w.heartbeat, w.pulse_interval);
  keel_chan_make(&w.results, sizeof(int64_t), 0);
  keel_task *worker;
  keel_task_spawn(&worker, do_work, &w, NULL);

  keel_chan *heartbeat = keel_heartbeat_chan(w.heartbeat);
  for (;;) {
    int64_t r;
    keel_select_case c[2] = {{heartbeat, KEEL_SELECT_RECV, NULL, 0},
                             {w.results, KEEL_SELECT_RECV, &r, 0}};
    int k = keel_chan_select(c, 2, keel_deadline_in(timeout));   /* time.After(timeout) */
    if (k < 0 || c[k].result == KEEL_ECLOSED) break;
    if (k == 0) {
      printf("pulse\n");
    } else {
      time_t secs = (time_t)(r / KEEL_SECOND);
      struct tm tm;
      gmtime_r(&secs, &tm);
      printf("results %d\n", tm.tm_sec);
    }
  }
  keel_task_join(worker, KEEL_FOREVER, NULL);
  keel_heartbeat_free(w.heartbeat);
  keel_chan_release(w.results);
  keel_ctx_release(done);
  keel_runtime_shutdown();
  return 0;
}
