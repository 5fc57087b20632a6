/* The book's steward scenarios (Concurrency in Go, ch. 5, "Healing Unhealthy
 * Goroutines"), with time scaled down so the suite stays fast:
 *   - the irresponsible ward (never pulses): restarted once per timeout until
 *     main halts everything; each incarnation halts when replaced;
 *   - the integer-stream ward that fails on a negative value, restarted, the
 *     consumer taking the first six values through a bridge: 1 2 1 2 1 2;
 *   - the stateful variant keeping its place between restarts: stuck on the
 *     negative value, it fails until the steward gives up (intensity), with a
 *     well-formed error; a variant stepping past the bad value resumes. */
#include <stdio.h>
#include <string.h>

#include "keel/stage.h"
#include "wards.h"

#define MS KEEL_MILLISECOND

/* ---- the irresponsible ward ------------------------------------------------ */

struct irresponsible {
  keel_chan *log;   /* 'H' for hello, 'h' for halting */
};

struct irr_run {
  struct irresponsible *w;
  keel_ctx *ctx;
};

static void irr_task(void *p) {
  struct irr_run *r = p;
  keel_chan_recv(keel_ctx_done(r->ctx), NULL, KEEL_FOREVER);   /* <-done */
  int v = 'h';                                                  /* "I am halting." */
  keel_chan_send(r->w->log, &v, KEEL_NOWAIT);
  keel_ctx_release(r->ctx);
  free(r);
}

static int irr_start(keel_ctx *ctx, int64_t interval, void *arg, keel_chan **hb) {
  (void)interval;
  struct irresponsible *w = arg;
  int v = 'H';                                                  /* "Hello, I'm irresponsible!" */
  keel_chan_send(w->log, &v, KEEL_NOWAIT);
  struct irr_run *r = calloc(1, sizeof *r);
  if (r == NULL) return KEEL_ENOMEM;
  r->w = w;
  r->ctx = keel_ctx_retain(ctx);
  int rc = keel_task_spawn(NULL, irr_task, r, NULL);
  if (rc < 0) {
    keel_ctx_release(r->ctx);
    free(r);
    return rc;
  }
  *hb = NULL;   /* the book returns nil: it never pulses */
  return 0;
}

KT_TEST(irresponsible_ward_restarted_every_timeout) {
  const int64_t timeout = (KT_SANITIZED() ? 200 : 100) * MS;
  size_t base = keel_task_count();
  struct irresponsible w;
  keel_chan *events;
  KT_CHECK_EQ(keel_chan_make(&w.log, sizeof(int), 64), 0);
  KT_CHECK_EQ(keel_chan_make(&events, sizeof(keel_steward_event), 64), 0);
  keel_steward_options o = {.name = "steward", .events = events};
  keel_steward *s;
  KT_CHECK_EQ(keel_steward_make(&s, timeout, irr_start, &w, &o), 0);
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &ctx), 0);
  keel_chan *hb;
  KT_CHECK_EQ(keel_steward_start(ctx, timeout, s, &hb), 0);

  keel_steward_event ev = next_event(events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_STARTED);
  int64_t last_start = ev.at;
  for (int round = 2; round <= 3; round++) {
    ev = next_event(events);
    KT_CHECK_EQ(ev.kind, KEEL_STEWARD_MISSED_HEARTBEAT);
    KT_CHECK(ev.err != NULL && keel_err_code(ev.err) == KEEL_ETIMEDOUT);
    KT_CHECK(ev.silence >= timeout);
    KT_CHECK_EQ(ev.at - ev.silence, last_start);   /* silent since its start */
    KT_CHECK(ev.at - last_start >= timeout);
    keel_err_release(ev.err);
    KT_CHECK(expect_event(events, KEEL_STEWARD_STOPPED, 0));
    ev = next_event(events);
    KT_CHECK_EQ(ev.kind, KEEL_STEWARD_RESTARTED);
    KT_CHECK_EQ(ev.incarnation, (uint64_t)round);
    last_start = ev.at;
    keel_err_release(ev.err);
  }
  keel_ctx_cancel(ctx);   /* main: halting steward and ward */
  while (keel_chan_recv(hb, NULL, KEEL_FOREVER) == 0) {}   /* for range heartbeat {} */
  KT_CHECK(expect_event(events, KEEL_STEWARD_STOPPED, 0));
  /* Three hellos, three halts, hello always before its halt. */
  int hellos = 0, halts = 0;
  for (int i = 0; i < 6; i++) {
    int v = next_log(w.log);
    if (v == 'H') hellos++;
    if (v == 'h') halts++;
    KT_CHECK(halts <= hellos);
  }
  KT_CHECK_EQ(hellos, 3);
  KT_CHECK_EQ(halts, 3);
  KT_CHECK(kt_tasks_settle(base, 10 * KEEL_SECOND));   /* nothing leaks */
  KT_CHECK_EQ(keel_steward_restarts(s), 2);
  keel_chan_release(hb);
  keel_ctx_release(ctx);
  keel_steward_release(s);
  drain_events(events);
  keel_chan_release(events);
  keel_chan_release(w.log);
}

/* ---- the integer stream ---------------------------------------------------- */

struct intstream {
  keel_chan *streams;   /* channel of keel_chan*: the bridge's input */
  const int *list;
  size_t n;
  bool stateful;        /* keep the place between restarts (intList = intList[1:]) */
  bool step_past_bad;   /* with stateful: move past the bad value before failing */
  size_t pos;           /* only one incarnation runs at a time: no lock needed */
  _Atomic int negatives;
};

struct int_run {
  struct intstream *w;
  keel_ctx *ctx;
  keel_heartbeat *hb;
  keel_chan *out;
};

static void int_task(void *p) {
  struct int_run *r = p;
  struct intstream *w = r->w;
  keel_chan *give = keel_chan_retain(r->out);   /* one reference for the bridge */
  if (keel_ctx_send(r->ctx, w->streams, &give) != 0) {
    keel_chan_release(give);
    goto out;
  }
  for (size_t i = 0;; i++) {
    size_t at = w->stateful ? w->pos : i % w->n;
    if (at >= w->n) {
      keel_ward_exit(r->ctx, NULL);   /* the list is done: a clean finish */
      break;
    }
    int v = w->list[at];
    if (v < 0) {
      atomic_fetch_add(&w->negatives, 1);
      if (w->step_past_bad) w->pos++;
      keel_ward_exit(r->ctx, keel_err_new("intstream", KEEL_EFAILED,
                                          "negative value: %d", v));
      break;
    }
    if (keel_heartbeat_send_result(r->hb, r->ctx, r->out, &v) != 0) break;
    if (w->stateful) w->pos++;
  }
out:
  keel_chan_close(r->out);   /* defer close(intStream) */
  keel_chan_release(r->out);
  keel_heartbeat_free(r->hb);
  keel_ctx_release(r->ctx);
  free(r);
}

static int int_start(keel_ctx *ctx, int64_t interval, void *arg, keel_chan **hb) {
  struct int_run *r = calloc(1, sizeof *r);
  if (r == NULL) return KEEL_ENOMEM;
  r->w = arg;
  int rc = keel_heartbeat_make(&r->hb, interval);
  if (rc == 0) rc = keel_chan_make(&r->out, sizeof(int), 0);
  if (rc == 0) {
    r->ctx = keel_ctx_retain(ctx);
    *hb = keel_chan_retain(keel_heartbeat_chan(r->hb));
    rc = keel_task_spawn(NULL, int_task, r, NULL);
    if (rc < 0) {
      keel_chan_release(*hb);
      keel_ctx_release(r->ctx);
    }
  }
  if (rc < 0) {
    keel_chan_release(r->out);
    keel_heartbeat_free(r->hb);
    free(r);
  }
  return rc;
}

static const int book_list[] = {1, 2, -1, 3, 4, 5};

static int run_intstream(struct intstream *w, keel_steward_options *o,
                         keel_restart_type type, size_t take, int *got,
                         keel_err **gave_up) {
  keel_ctx *ctx;
  keel_ctx_with_cancel(keel_ctx_background(), &ctx);
  keel_chan_make(&w->streams, sizeof(keel_chan *), 0);
  keel_chan *bridged, *firsts;
  keel_stage_bridge(ctx, w->streams, sizeof(int), &bridged);
  keel_stage_take(ctx, bridged, sizeof(int), take, &firsts);
  keel_steward *s;
  /* The book uses 1 ms; failures are reported here, so a roomier timeout
   * keeps a loaded machine from restarting a healthy ward. */
  keel_ward_spec spec = {.name = "intstream", .start = int_start, .arg = w,
                        .restart = type, .timeout = 2 * KEEL_SECOND};
  keel_steward_make_group(&s, &spec, 1, o);
  keel_chan *hb;
  keel_steward_start(ctx, KEEL_HOUR, s, &hb);
  /* Read the stream; when the steward ends (its heartbeat closes), close the
   * bridge's input so the stream ends once drained. */
  int n = 0;
  keel_chan *beat = hb;
  for (;;) {
    int v;
    keel_select_case c[2] = {{firsts, KEEL_SELECT_RECV, &v, 0},
                             {beat, KEEL_SELECT_RECV, NULL, 0}};
    int k = keel_chan_select(c, 2, keel_deadline_in(EV_WAIT));
    if (k < 0) break;
    if (k == 1) {
      if (c[1].result == KEEL_ECLOSED) {
        keel_chan_close(w->streams);
        beat = NULL;
      }
      continue;
    }
    if (c[0].result == KEEL_ECLOSED) break;
    got[n++] = v;
  }
  if (gave_up != NULL) *gave_up = keel_steward_err(s);
  keel_ctx_cancel(ctx);
  while (keel_chan_recv(hb, NULL, keel_deadline_in(EV_WAIT)) == 0) {}
  keel_chan_release(hb);
  keel_chan_release(firsts);
  keel_chan_release(bridged);
  keel_chan_release(w->streams);
  keel_steward_release(s);
  keel_ctx_release(ctx);
  return n;
}

KT_TEST(intstream_through_a_bridge) {
  size_t base = keel_task_count();
  struct intstream w = {.list = book_list, .n = 6};
  int got[16];
  KT_CHECK_EQ(run_intstream(&w, NULL, KEEL_RESTART_PERMANENT, 6, got, NULL), 6);
  const int want[6] = {1, 2, 1, 2, 1, 2};   /* the book's output */
  for (int i = 0; i < 6; i++) KT_CHECK_EQ(got[i], want[i]);
  KT_CHECK(atomic_load(&w.negatives) >= 2);
  KT_CHECK(kt_tasks_settle(base, 10 * KEEL_SECOND));
}

KT_TEST(stateful_ward_stuck_on_bad_value_gives_up) {
  size_t base = keel_task_count();
  struct intstream w = {.list = book_list, .n = 6, .stateful = true};
  keel_steward_options o = {.name = "intsteward", .max_restarts = 3,
                            .period = 60 * KEEL_SECOND};
  int got[16];
  keel_err *err = NULL;
  /* It keeps its place: 1 2, then fails on -1 forever; after 3 restarts
   * within the period the steward gives up, the stream ends, and the error
   * names both the steward and the ward's own failure. */
  KT_CHECK_EQ(run_intstream(&w, &o, KEEL_RESTART_PERMANENT, 6, got, &err), 2);
  KT_CHECK_EQ(got[0], 1);
  KT_CHECK_EQ(got[1], 2);
  KT_CHECK_EQ(atomic_load(&w.negatives), 4);
  KT_CHECK(err != NULL);
  KT_CHECK_STR(keel_err_module(err), "steward");
  KT_CHECK(keel_err_has_module(err, "intstream"));
  KT_CHECK(keel_err_has_code(err, KEEL_EFAILED));
  KT_CHECK(strstr(keel_err_message(err), "gave up") != NULL);
  keel_err_release(err);
  KT_CHECK(kt_tasks_settle(base, 10 * KEEL_SECOND));
}

KT_TEST(stateful_ward_resumes_where_it_stopped) {
  struct intstream w = {.list = book_list, .n = 6, .stateful = true,
                        .step_past_bad = true};
  int got[16];
  KT_CHECK_EQ(run_intstream(&w, NULL, KEEL_RESTART_TRANSIENT, 5, got, NULL), 5);
  const int want[5] = {1, 2, 3, 4, 5};   /* no duplicates across the restart */
  for (int i = 0; i < 5; i++) KT_CHECK_EQ(got[i], want[i]);
}

KT_MAIN()
