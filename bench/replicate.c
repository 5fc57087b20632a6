/* bench/replicate.c — replicated requests, against bench/go/replicate.
 *
 *   replicate10_instant   keel_replicate to 10 handlers that answer at once
 *                         (each a task with its own context; wait for all):
 *                         ns per call.
 *   first_of_3_overhead   first of 3: two handlers wait until canceled, one
 *                         answers after a 50 us sleep; ns per call beyond the
 *                         winner's own (measured) time.
 * The loops run inside a task, as Go's run in the main goroutine. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "keel/chan.h"
#include "keel/ctx.h"
#include "keel/replicate.h"
#include "keel/task.h"

#define WINNER_SLEEP (50 * KEEL_MICROSECOND)

static keel_err *instant(keel_replica *r) {
  (void)r;
  return NULL;
}

static keel_err *first_of_3(keel_replica *r) {
  if (r->index != 1) {
    /* <-ctx.Done(), as the Go twin */
    keel_chan_recv(keel_ctx_done(r->ctx), NULL, KEEL_FOREVER);
    return keel_replica_stopped(r);
  }
  int64_t start = keel_now();
  if (keel_ctx_sleep(r->ctx, WINNER_SLEEP) != 0) return keel_replica_stopped(r);
  int64_t took = keel_now() - start;
  memcpy(r->result, &took, sizeof took);
  return NULL;
}

static void run(void *arg) {
  (void)arg;
  keel_ctx *bg = keel_ctx_background();
  keel_replicate_handler ten[10];
  for (int i = 0; i < 10; i++) ten[i] = (keel_replicate_handler){instant, NULL, "h"};
  for (int i = 0; i < 10000; i++) keel_replicate(bg, ten, 10, NULL, NULL, NULL, NULL);
  int64_t n = 200000;
  int64_t start = keel_now();
  for (int64_t i = 0; i < n; i++) keel_replicate(bg, ten, 10, NULL, NULL, NULL, NULL);
  bench_report("replicate10_instant", keel_now() - start, n);

  keel_replicate_handler three[3];
  for (int i = 0; i < 3; i++) three[i] = (keel_replicate_handler){first_of_3, NULL, "h"};
  keel_replicate_options o = {.result_size = sizeof(int64_t)};
  n = 5000;
  int64_t over = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t s = keel_now(), took = 0;
    if (keel_replicate(bg, three, 3, &o, &took, NULL, NULL) != 0) {
      fprintf(stderr, "first_of_3 failed\n");
      return;
    }
    over += keel_now() - s - took;
  }
  bench_report("first_of_3_overhead", over, n);
}

int main(void) {
  keel_task *t;
  if (keel_task_spawn(&t, run, NULL, NULL) != 0) return 1;
  keel_task_join(t, KEEL_FOREVER, NULL);
  keel_runtime_shutdown();
  return 0;
}
