/* tour: Healing unhealthy tasks */
/* Stewards and supervisors in four short scenes (Concurrency in Go, ch. 5,
 * then Erlang/OTP):
 *   1. the book's irresponsible ward never pulses; its steward restarts it
 *      every timeout (300 ms) until main halts everything;
 *   2. the book's integer stream fails on a negative value and is restarted;
 *      a bridge gives the consumer one stream across the restarts;
 *   3. a supervisor of three wards, one_for_all: one fails, all are stopped
 *      (last started first) and started again (in order);
 *   4. a steward whose ward fails too often gives up, stops, and hands its
 *      error to its own steward, which gives up in turn: escalation.
 * Times are printed relative to the start of each scene, rounded to 0.1 s. */
#include <stdio.h>
#include <stdlib.h>

#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/stage.h"
#include "keel/steward.h"
#include "keel/task.h"

#define MS KEEL_MILLISECOND

static int64_t scene_start;

static void say(const char *who, const char *what) {
  int64_t tenths = (keel_now() - scene_start + 50 * MS) / (100 * MS);
  printf("   %lld.%llds %s: %s\n", (long long)(tenths / 10), (long long)(tenths % 10),
         who, what);
  fflush(stdout);
}

/* ---- 1. the irresponsible ward ------------------------------------------------ */

struct irresponsible {
  keel_ctx *ctx;
  keel_chan *heartbeat;   /* never pulsed; closed when halted, so the steward
                             waits for "I am halting" before starting anew */
};

static void irresponsible(void *arg) {
  struct irresponsible *w = arg;
  keel_chan_recv(keel_ctx_done(w->ctx), NULL, KEEL_FOREVER);
  say("ward", "I am halting.");
  keel_chan_close(w->heartbeat);
  keel_chan_release(w->heartbeat);
  keel_ctx_release(w->ctx);
  free(w);
}

static int start_irresponsible(keel_ctx *ctx, int64_t interval, void *arg,
                               keel_chan **heartbeat) {
  (void)interval;
  (void)arg;
  say("ward", "Hello, I'm irresponsible!");
  struct irresponsible *w = calloc(1, sizeof *w);
  if (w == NULL) return KEEL_ENOMEM;
  keel_chan_make(&w->heartbeat, sizeof(keel_pulse), 1);
  w->ctx = keel_ctx_retain(ctx);
  *heartbeat = keel_chan_retain(w->heartbeat);
  return keel_task_spawn(NULL, irresponsible, w, NULL);
}

static void speak(const keel_steward_event *ev, void *arg) {
  (void)arg;
  if (ev->kind == KEEL_STEWARD_MISSED_HEARTBEAT) say("steward", "ward unhealthy; restarting");
}

static void scene_irresponsible(void) {
  printf("1. a ward that never pulses (timeout 300 ms; main halts at 0.7 s)\n");
  scene_start = keel_now();
  keel_steward_options o = {.on_event = speak};
  keel_steward *s;
  keel_steward_make(&s, 300 * MS, start_irresponsible, NULL, &o);
  keel_ctx *done;
  keel_ctx_with_timeout(keel_ctx_background(), 700 * MS, &done);
  keel_chan *heartbeat;
  keel_steward_start(done, 300 * MS, s, &heartbeat);
  while (keel_chan_recv(heartbeat, NULL, KEEL_FOREVER) == 0) {}
  say("main", "Done");
  keel_chan_release(heartbeat);
  keel_ctx_release(done);
  keel_steward_release(s);
}

/* ---- 2. the integer stream ------------------------------------------------------ */

struct int_ward {
  keel_chan *streams;
};

struct int_run {
  keel_chan *streams, *out;
  keel_ctx *ctx;
  keel_heartbeat *hb;
};

static void int_stream(void *arg) {
  struct int_run *r = arg;
  static const int values[] = {1, 2, -1, 3, 4, 5};
  keel_chan *give = keel_chan_retain(r->out);
  if (keel_ctx_send(r->ctx, r->streams, &give) != 0) keel_chan_release(give);
  else
    for (int i = 0;; i = (i + 1) % 6) {
      if (values[i] < 0) {
        keel_ward_exit(r->ctx, keel_err_new("intstream", KEEL_EFAILED,
                                            "negative value: %d", values[i]));
        break;
      }
      if (keel_heartbeat_send_result(r->hb, r->ctx, r->out, &values[i]) != 0) break;
    }
  keel_chan_close(r->out);
  keel_chan_release(r->out);
  keel_heartbeat_free(r->hb);
  keel_ctx_release(r->ctx);
  free(r);
}

static int start_int_stream(keel_ctx *ctx, int64_t interval, void *arg,
                            keel_chan **heartbeat) {
  struct int_ward *w = arg;
  struct int_run *r = calloc(1, sizeof *r);
  if (r == NULL) return KEEL_ENOMEM;
  r->streams = w->streams;
  keel_heartbeat_make(&r->hb, interval);
  keel_chan_make(&r->out, sizeof(int), 0);
  r->ctx = keel_ctx_retain(ctx);
  *heartbeat = keel_chan_retain(keel_heartbeat_chan(r->hb));
  return keel_task_spawn(NULL, int_stream, r, NULL);
}

static void scene_int_stream(void) {
  printf("2. a stream of 1, 2, -1, ... whose ward fails on -1, through a bridge\n");
  keel_ctx *done;
  keel_ctx_with_cancel(keel_ctx_background(), &done);
  struct int_ward w;
  keel_chan_make(&w.streams, sizeof(keel_chan *), 0);
  keel_chan *stream, *six;
  keel_stage_bridge(done, w.streams, sizeof(int), &stream);
  keel_stage_take(done, stream, sizeof(int), 6, &six);
  keel_steward *s;
  keel_steward_make(&s, KEEL_SECOND, start_int_stream, &w, NULL);
  keel_chan *heartbeat;
  keel_steward_start(done, KEEL_HOUR, s, &heartbeat);
  printf("   Received:");
  int v;
  while (keel_chan_recv(six, &v, KEEL_FOREVER) == 0) printf(" %d", v);
  printf("   (each 1 after the first comes from a restarted ward)\n");
  keel_ctx_cancel(done);
  while (keel_chan_recv(heartbeat, NULL, KEEL_FOREVER) == 0) {}
  keel_chan_release(heartbeat);
  keel_chan_release(six);
  keel_chan_release(stream);
  keel_chan_release(w.streams);
  keel_steward_release(s);
  keel_ctx_release(done);
}

/* ---- 3. a supervisor, one_for_all -------------------------------------------------- */

struct service {
  keel_chan *control;   /* 1: fail now; 0: a ping, answered by taking it */
};

struct service_run {
  struct service *svc;
  keel_ctx *ctx;
  keel_heartbeat *hb;
};

static void service(void *arg) {
  struct service_run *r = arg;
  int cmd;
  while (keel_heartbeat_recv(r->hb, r->ctx, r->svc->control, &cmd) == 0) {
    if (cmd == 1) {
      keel_ward_exit(r->ctx, keel_err_new("service", KEEL_EUNAVAILABLE,
                                          "lost its connection"));
      break;
    }
  }
  keel_heartbeat_free(r->hb);
  keel_ctx_release(r->ctx);
  free(r);
}

static int start_service(keel_ctx *ctx, int64_t interval, void *arg,
                         keel_chan **heartbeat) {
  struct service_run *r = calloc(1, sizeof *r);
  if (r == NULL) return KEEL_ENOMEM;
  r->svc = arg;
  keel_heartbeat_make(&r->hb, interval);
  r->ctx = keel_ctx_retain(ctx);
  *heartbeat = keel_chan_retain(keel_heartbeat_chan(r->hb));
  return keel_task_spawn(NULL, service, r, NULL);
}

static void narrate(const keel_steward_event *ev, void *arg) {
  (void)arg;
  char line[160];
  if (ev->err != NULL)
    snprintf(line, sizeof line, "%s %s (%s%s)", ev->ward ? ev->ward : "",
             keel_steward_event_name(ev->kind),
             ev->kind == KEEL_STEWARD_RESTARTED ? "why: " : "", keel_err_message(ev->err));
  else
    snprintf(line, sizeof line, "%s %s", ev->ward ? ev->ward : "",
             keel_steward_event_name(ev->kind));
  say(ev->steward, line);
}

static void scene_supervisor(void) {
  printf("3. a supervisor of db, cache and web, one_for_all; web fails\n");
  scene_start = keel_now();
  struct service svc[3];
  keel_ward_spec specs[3];
  static const char *names[3] = {"db", "cache", "web"};
  for (int i = 0; i < 3; i++) {
    keel_chan_make(&svc[i].control, sizeof(int), 0);
    specs[i] = (keel_ward_spec){.name = names[i], .start = start_service,
                                .arg = &svc[i], .timeout = KEEL_SECOND};
  }
  keel_steward_options o = {.name = "sup", .strategy = KEEL_ONE_FOR_ALL,
                            .on_event = narrate};
  keel_steward *s;
  keel_steward_make_group(&s, specs, 3, &o);
  keel_ctx *done;
  keel_ctx_with_cancel(keel_ctx_background(), &done);
  keel_chan *heartbeat;
  keel_steward_start(done, 0, s, &heartbeat);   /* returns once all three started */
  int fail = 1, ping = 0;
  keel_chan_send(svc[2].control, &fail, KEEL_FOREVER);   /* web: fail */
  /* Wait until web runs again: it takes a ping once restarted. */
  keel_chan_send(svc[2].control, &ping, KEEL_FOREVER);
  keel_ctx_cancel(done);   /* and then the supervisor stops */
  while (keel_chan_recv(heartbeat, NULL, KEEL_FOREVER) == 0) {}
  keel_chan_release(heartbeat);
  keel_ctx_release(done);
  keel_steward_release(s);
  for (int i = 0; i < 3; i++) keel_chan_release(svc[i].control);
}

/* ---- 4. escalation ------------------------------------------------------------------ */

static void print_err(const keel_err *e, int depth) {
  for (; e != NULL; e = keel_err_inner(e), depth++) {
    printf("   %*s%s\n", 2 * depth, "", keel_err_message(e));
    for (size_t i = 0; i < keel_err_joined_count(e); i++)
      print_err(keel_err_joined(e, i), depth + 1);
  }
}

static int start_broken(keel_ctx *ctx, int64_t interval, void *arg,
                        keel_chan **heartbeat) {
  (void)interval;
  (void)heartbeat;
  ++*(int *)arg;   /* starts, counted (only the steward calls this) */
  keel_ward_exit(ctx, keel_err_new("disk", KEEL_ESYS, "disk full"));
  return 0;
}

static void scene_escalation(void) {
  printf("4. a ward that always fails: its steward gives up, then its parent\n");
  keel_steward_options io = {.name = "writer-steward", .max_restarts = 2,
                             .period = 10 * KEEL_SECOND,
                             .backoff = {.initial = 10 * MS, .jitter = 0.2}};
  int starts = 0;
  keel_ward_spec leaf = {.name = "writer", .start = start_broken, .arg = &starts,
                         .timeout = KEEL_SECOND};
  keel_steward *inner;
  keel_steward_make_group(&inner, &leaf, 1, &io);
  keel_steward_options ro = {.name = "root", .max_restarts = 1, .period = 10 * KEEL_SECOND};
  keel_ward_spec mid = {.name = "writer-steward", .start = keel_steward_start,
                        .arg = inner, .timeout = KEEL_SECOND};
  keel_steward *root;
  keel_steward_make_group(&root, &mid, 1, &ro);
  keel_err *why = NULL;
  int rc = keel_steward_run(root, keel_ctx_background(), 0, NULL, &why);
  printf("   root ended: %s; the writer was started %d times in all; why:\n",
         keel_status_name(rc), starts);
  print_err(why, 0);
  keel_err_release(why);
  keel_steward_release(root);
  keel_steward_release(inner);
}

int main(void) {
  scene_irresponsible();
  scene_int_stream();
  scene_supervisor();
  scene_escalation();
  keel_runtime_shutdown();
  return 0;
}
