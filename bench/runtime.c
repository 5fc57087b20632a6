/* bench/runtime.c — the runtime floor against Go (bench/go/runtime).
 *
 *   spawn_join          spawn a task and join it, from a task (ns per op)
 *   spawn_1m_park_wall  spawn 1,000,000 tasks that park on a wait group,
 *                       then release them all and wait for them (ns total)
 *   spawn_1m_peak_rss   the process's peak RSS after that (KiB)
 *   spawn_1m_park_wall_warm  the same again in the same process (pools
 *                       warm: no first-touch page faults)
 *
 * The mass spawn uses 16 KiB stacks (keel_task_options.stack_size): a
 * parked task touches one page of it. Go's goroutines start with 2 KiB. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "keel/task.h"

static void noop(void *arg) { (void)arg; }

static void spawn_join_bench(void *arg) {
  (void)arg;
  long n = 2000000;
  keel_task *h;
  for (long i = 0; i < 10000; i++) {  /* warm the pools */
    keel_task_spawn(&h, noop, NULL, NULL);
    keel_task_join(h, KEEL_FOREVER, NULL);
  }
  int64_t t0 = keel_now();
  for (long i = 0; i < n; i++) {
    keel_task_spawn(&h, noop, NULL, NULL);
    keel_task_join(h, KEEL_FOREVER, NULL);
  }
  bench_report("spawn_join", keel_now() - t0, n);
}

static keel_waitgroup started, gate, finished;

static void parked(void *arg) {
  (void)arg;
  keel_waitgroup_done(&started);
  keel_waitgroup_wait(&gate, KEEL_FOREVER, NULL);
  keel_waitgroup_done(&finished);
}

/* One round of the mass spawn; returns its wall time. */
static int64_t mass_round(long n) {
  keel_waitgroup_init(&started);
  keel_waitgroup_init(&gate);
  keel_waitgroup_init(&finished);
  keel_waitgroup_add(&gate, 1);
  keel_waitgroup_add(&started, n);
  keel_waitgroup_add(&finished, n);
  keel_task_options o = {.stack_size = 16 << 10};
  int64_t t0 = keel_now();
  long i;
  for (i = 0; i < n; i++) {
    int rc = keel_task_spawn(NULL, parked, NULL, &o);
    if (rc != 0) {
      fprintf(stderr, "spawn %ld failed: %s\n", i, keel_strerror(rc));
      exit(1);
    }
  }
  keel_waitgroup_wait(&started, KEEL_FOREVER, NULL);
  keel_waitgroup_done(&gate);
  keel_waitgroup_wait(&finished, KEEL_FOREVER, NULL);
  return keel_now() - t0;
}

static void mass_bench(void *arg) {
  (void)arg;
  long n = 1000000;
  bench_report("spawn_1m_park_wall", mass_round(n), 1);
  bench_report_unit("spawn_1m_peak_rss", (double)bench_peak_rss_kib(), "KiB");
  /* Again in the same process: stacks (keel) and goroutines (Go) come from
   * the runtimes' pools, so first-touch page faults are out of the picture. */
  bench_report("spawn_1m_park_wall_warm", mass_round(n), 1);
}

static void run_in_task(keel_task_fn fn) {
  keel_task *h;
  if (keel_task_spawn(&h, fn, NULL, NULL) != 0) exit(1);
  keel_task_join(h, KEEL_FOREVER, NULL);
}

int main(void) {
  run_in_task(spawn_join_bench);
  run_in_task(mass_bench);
  keel_runtime_shutdown();
  return 0;
}
