/* The book's irresponsible ward ("Healing Unhealthy Goroutines"): a ward that
 * never pulses, watched by a steward with a 4 s timeout. The steward restarts
 * it every 4 seconds until main halts everything at 9 seconds.
 *
 *   steward_irresponsible [speedup]   e.g. 10: 0.4 s timeout, halt at 0.9 s
 *
 * Output, shaped like the book's (UTC time of day; milliseconds when sped up):
 *   18:28:07 ward: Hello, I'm irresponsible!
 *   18:28:11 steward: ward unhealthy; restarting
 *   18:28:11 ward: Hello, I'm irresponsible!
 *   18:28:11 ward: I am halting.
 *   ...
 *   18:28:16 main: halting steward and ward.
 *   18:28:16 ward: I am halting.
 *   18:28:16 Done */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "keel/ctx.h"
#include "keel/steward.h"
#include "keel/task.h"

static long speedup = 1;

/* log.Println with log.Ltime | log.LUTC */
static void logln(const char *msg) {
  int64_t now = keel_wall_now();
  time_t secs = (time_t)(now / KEEL_SECOND);
  struct tm tm;
  gmtime_r(&secs, &tm);
  if (speedup > 1)
    printf("%02d:%02d:%02d.%03d %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
           (int)(now % KEEL_SECOND / KEEL_MILLISECOND), msg);
  else
    printf("%02d:%02d:%02d %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, msg);
  fflush(stdout);
}

/* ---- the ward: it does nothing but wait to be halted ---------------------- */

static void halting(void *arg) {
  keel_ctx *ctx = arg;
  keel_chan_recv(keel_ctx_done(ctx), NULL, KEEL_FOREVER);   /* <-done */
  logln("ward: I am halting.");
  keel_ctx_release(ctx);
}

static int do_work(keel_ctx *ctx, int64_t pulse_interval, void *arg,
                   keel_chan **heartbeat) {
  (void)pulse_interval;
  (void)arg;
  logln("ward: Hello, I'm irresponsible!");
  int rc = keel_task_spawn(NULL, halting, keel_ctx_retain(ctx), NULL);
  if (rc < 0) {
    keel_ctx_release(ctx);
    return rc;
  }
  *heartbeat = NULL;   /* return nil: no pulses, ever */
  return 0;
}

/* ---- the steward's voice ---------------------------------------------------- */

static void on_event(const keel_steward_event *ev, void *arg) {
  (void)arg;
  if (ev->kind == KEEL_STEWARD_MISSED_HEARTBEAT)
    logln("steward: ward unhealthy; restarting");
}

/* ---- main -------------------------------------------------------------------- */

static void halt_later(void *arg) {
  keel_ctx *done = arg;
  keel_sleep(9 * KEEL_SECOND / speedup);   /* time.AfterFunc(9*time.Second, ...) */
  logln("main: halting steward and ward.");
  keel_ctx_cancel(done);
  keel_ctx_release(done);
}

int main(int argc, char **argv) {
  if (argc > 1) speedup = strtol(argv[1], NULL, 10);
  if (speedup < 1) speedup = 1;
  const int64_t timeout = 4 * KEEL_SECOND / speedup;

  keel_steward_options opts = {.name = "steward", .on_event = on_event};
  keel_steward *steward;   /* doWorkWithSteward := newSteward(4*time.Second, doWork) */
  if (keel_steward_make(&steward, timeout, do_work, NULL, &opts) != 0) return 1;

  keel_ctx *done;
  keel_ctx_with_cancel(keel_ctx_background(), &done);
  keel_task_spawn(NULL, halt_later, keel_ctx_retain(done), NULL);

  keel_chan *heartbeat;   /* for range doWorkWithSteward(done, 4*time.Second) {} */
  if (keel_steward_start(done, timeout, steward, &heartbeat) != 0) return 1;
  while (keel_chan_recv(heartbeat, NULL, KEEL_FOREVER) == 0) {}
  logln("Done");

  keel_chan_release(heartbeat);
  keel_ctx_release(done);
  keel_steward_release(steward);
  keel_runtime_shutdown();
  return 0;
}
