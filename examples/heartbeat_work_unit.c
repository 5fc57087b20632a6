/* The book's work-unit heartbeat ("Heartbeats"): a pulse before every unit
 * of work, on a channel with a buffer of one, in its own statement so that a
 * consumer not ready for the result gets the pulse and no result is lost.
 * Each pulse also carries progress: the number of units finished so far.
 *
 * Output, shaped like the book's (one pulse per result):
 *   pulse (0 done)
 *   results 1
 *   pulse (1 done)
 *   results 7
 *   ... */
#include <stdio.h>
#include <stdlib.h>

#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/task.h"

struct work {
  keel_ctx *done;
  keel_heartbeat *heartbeat;
  keel_chan *work_stream;
};

static void do_work(void *arg) {
  struct work *w = arg;
  unsigned seed = 7;
  for (int i = 0; i < 10; i++) {
    keel_heartbeat_pulse(w->heartbeat);   /* select { heartbeat <- ...: default: } */
    int v = rand_r(&seed) % 10;           /* rand.Intn(10) */
    if (keel_ctx_send(w->done, w->work_stream, &v) != 0) break;
    keel_heartbeat_add_progress(w->heartbeat, 1);
  }
  keel_chan_close(w->work_stream);        /* defer close(workStream) */
  keel_heartbeat_close(w->heartbeat);     /* defer close(heartbeatStream) */
}

int main(void) {
  keel_ctx *done;
  keel_ctx_with_cancel(keel_ctx_background(), &done);   /* defer close(done) */
  struct work w = {.done = done};
  keel_heartbeat_make(&w.heartbeat, 0);   /* 0: work-unit pulses, buffer of one */
  keel_chan_make(&w.work_stream, sizeof(int), 0);
  keel_task *worker;
  keel_task_spawn(&worker, do_work, &w, NULL);

  for (;;) {
    keel_pulse p;
    int r;
    keel_select_case c[2] = {{keel_heartbeat_chan(w.heartbeat), KEEL_SELECT_RECV, &p, 0},
                             {w.work_stream, KEEL_SELECT_RECV, &r, 0}};
    int k = keel_chan_select(c, 2, KEEL_FOREVER);
    if (k < 0 || c[k].result == KEEL_ECLOSED) break;
    if (k == 0)
      printf("pulse (%llu done)\n", (unsigned long long)p.progress);
    else
      printf("results %d\n", r);
  }
  keel_ctx_cancel(done);
  keel_task_join(worker, KEEL_FOREVER, NULL);
  keel_heartbeat_free(w.heartbeat);
  keel_chan_release(w.work_stream);
  keel_ctx_release(done);
  keel_runtime_shutdown();
  return 0;
}
