/* The book's integer-stream ward ("Healing Unhealthy Goroutines"): a ward
 * generating 1, 2, -1, 3, 4, 5 that fails on the negative value; a steward
 * with a 1 ms timeout restarts it; a bridge gives the consumer one stream
 * across the ward's incarnations, and the consumer takes the first six.
 *
 *   steward_intstream              the book: Received 1 2 1 2 1 2
 *   steward_intstream --stateful   the ward keeps its place between restarts
 *                                  (intList = intList[1:]); stuck on -1, it
 *                                  fails until the steward gives up (more
 *                                  than 3 restarts in a second) and says why.
 *
 * Output, shaped like the book's:
 *   Received: 1
 *   23:25:33 negative value: -1
 *   Received: 2
 *   23:25:33 steward: ward unhealthy; restarting
 *   Received: 1
 *   ... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/stage.h"
#include "keel/steward.h"
#include "keel/task.h"

/* log.Printf with log.Ltime | log.LUTC */
static void logln(const char *msg) {
  time_t secs = (time_t)(keel_wall_now() / KEEL_SECOND);
  struct tm tm;
  gmtime_r(&secs, &tm);
  printf("%02d:%02d:%02d %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, msg);
  fflush(stdout);
}

/* An error and what it wraps or joins, one line each, indented. */
static void print_err(const keel_err *e, int depth) {
  for (; e != NULL; e = keel_err_inner(e), depth++) {
    printf("%*s%s%s\n", 2 * depth, "", depth ? "because: " : "", keel_err_message(e));
    for (size_t i = 0; i < keel_err_joined_count(e); i++)
      print_err(keel_err_joined(e, i), depth + 1);
  }
}

/* doWorkFn's closure: the values, the bridge's input, and (stateful) the place. */
struct int_ward {
  keel_chan *int_chan_stream;   /* chan (<-chan interface{}): keel_chan* elements */
  const int *list;
  size_t n;
  bool stateful;
  size_t place;                 /* one incarnation at a time: no lock needed */
};

struct incarnation {
  struct int_ward *w;
  keel_ctx *ctx;
  keel_heartbeat *hb;
  keel_chan *int_stream;
};

static void ward_task(void *arg) {
  struct incarnation *r = arg;
  struct int_ward *w = r->w;
  keel_chan *give = keel_chan_retain(r->int_stream);   /* intChanStream <- intStream */
  if (keel_ctx_send(r->ctx, w->int_chan_stream, &give) != 0) {
    keel_chan_release(give);
    goto out;
  }
  for (size_t i = 0;; i++) {
    size_t at = w->stateful ? w->place : i % w->n;   /* for { range intList } */
    if (at >= w->n) break;
    int v = w->list[at];
    if (v < 0) {
      char msg[64];
      snprintf(msg, sizeof msg, "negative value: %d", v);
      logln(msg);
      keel_ward_exit(r->ctx, keel_err_new("intstream", KEEL_EFAILED,
                                          "negative value: %d", v));
      break;
    }
    if (keel_heartbeat_send_result(r->hb, r->ctx, r->int_stream, &v) != 0) break;
    if (w->stateful) w->place++;
  }
out:
  keel_chan_close(r->int_stream);   /* defer close(intStream) */
  keel_chan_release(r->int_stream);
  keel_heartbeat_free(r->hb);
  keel_ctx_release(r->ctx);
  free(r);
}

static int do_work(keel_ctx *ctx, int64_t pulse_interval, void *arg,
                   keel_chan **heartbeat) {
  struct incarnation *r = calloc(1, sizeof *r);
  if (r == NULL) return KEEL_ENOMEM;
  r->w = arg;
  int rc = keel_heartbeat_make(&r->hb, pulse_interval);
  if (rc == 0) rc = keel_chan_make(&r->int_stream, sizeof(int), 0);
  if (rc == 0) {
    r->ctx = keel_ctx_retain(ctx);
    *heartbeat = keel_chan_retain(keel_heartbeat_chan(r->hb));
    rc = keel_task_spawn(NULL, ward_task, r, NULL);
    if (rc < 0) {
      keel_chan_release(*heartbeat);
      keel_ctx_release(r->ctx);
    }
  }
  if (rc < 0) {
    keel_chan_release(r->int_stream);
    keel_heartbeat_free(r->hb);
    free(r);
  }
  return rc;
}

static void on_event(const keel_steward_event *ev, void *arg) {
  (void)arg;
  if (ev->kind == KEEL_STEWARD_RESTARTED) logln("steward: ward unhealthy; restarting");
  if (ev->kind == KEEL_STEWARD_GAVE_UP) logln("steward: ward unhealthy; giving up");
}

int main(int argc, char **argv) {
  bool stateful = argc > 1 && strcmp(argv[1], "--stateful") == 0;
  static const int values[] = {1, 2, -1, 3, 4, 5};

  keel_ctx *done;
  keel_ctx_with_cancel(keel_ctx_background(), &done);   /* defer close(done) */

  /* doWork, intStream := doWorkFn(done, 1, 2, -1, 3, 4, 5) */
  struct int_ward w = {.list = values, .n = 6, .stateful = stateful};
  keel_chan_make(&w.int_chan_stream, sizeof(keel_chan *), 0);
  keel_chan *int_stream;
  keel_stage_bridge(done, w.int_chan_stream, sizeof(int), &int_stream);

  /* doWorkWithSteward := newSteward(1*time.Millisecond, doWork) */
  keel_steward_options opts = {.name = "steward", .on_event = on_event};
  if (stateful) {   /* give up past 3 restarts within a second */
    opts.max_restarts = 3;
    opts.period = KEEL_SECOND;
  }
  keel_steward *steward;
  keel_steward_make(&steward, KEEL_MILLISECOND, do_work, &w, &opts);
  keel_chan *heartbeat;   /* doWorkWithSteward(done, 1*time.Hour) */
  keel_steward_start(done, KEEL_HOUR, steward, &heartbeat);

  /* for intVal := range take(done, intStream, 6) */
  keel_chan *six;
  keel_stage_take(done, int_stream, sizeof(int), 6, &six);
  keel_chan *beat = heartbeat;
  for (;;) {
    int v;
    keel_select_case c[2] = {{six, KEEL_SELECT_RECV, &v, 0},
                             {beat, KEEL_SELECT_RECV, NULL, 0}};
    int k = keel_chan_select(c, 2, KEEL_FOREVER);
    if (k == 1) {   /* the steward ended: it gave up; end the stream too */
      if (c[1].result == KEEL_ECLOSED) {
        keel_chan_close(w.int_chan_stream);
        beat = NULL;
      }
      continue;
    }
    if (k < 0 || c[0].result == KEEL_ECLOSED) break;
    printf("Received: %d\n", v);
    fflush(stdout);
  }
  keel_err *why = keel_steward_err(steward);
  if (why != NULL) {
    print_err(why, 0);
    keel_err_release(why);
  }

  keel_ctx_cancel(done);
  while (keel_chan_recv(heartbeat, NULL, KEEL_FOREVER) == 0) {}
  keel_chan_release(heartbeat);
  keel_chan_release(six);
  keel_chan_release(int_stream);
  keel_chan_release(w.int_chan_stream);
  keel_steward_release(steward);
  keel_ctx_release(done);
  keel_runtime_shutdown();
  return 0;
}
