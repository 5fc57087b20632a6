/* Supervisors of several wards: start order, reverse stop order, the three
 * strategies, restart types, stop timeouts, silence and "stuck" detection,
 * backoff and intensity, from tasks and from plain threads. Events and the
 * wards' own logs are asserted in sequence; nothing waits by sleeping. */
#include <string.h>

#include "wards.h"

#define MS KEEL_MILLISECOND

struct fixture {
  struct tward w[3];
  keel_chan *log, *events;
  keel_steward *s;
  keel_ctx *ctx;
  keel_chan *hb;
  size_t base;
};

static void fixture_start(struct fixture *f, keel_strategy strategy,
                          const keel_restart_type *types, const int *modes,
                          size_t n) {
  memset(f, 0, sizeof *f);
  f->base = keel_task_count();
  keel_chan_make(&f->log, sizeof(int), 256);
  keel_chan_make(&f->events, sizeof(keel_steward_event), 256);
  keel_ward_spec specs[3];
  static const char *names[3] = {"a", "b", "c"};
  for (size_t i = 0; i < n; i++) {
    f->w[i].id = (int)i + 1;
    atomic_init(&f->w[i].mode, modes ? modes[i] : HEALTHY);
    f->w[i].log = f->log;
    keel_chan_make(&f->w[i].poke, sizeof(int), 0);
    specs[i] = (keel_ward_spec){.name = names[i], .start = tward_start,
                                .arg = &f->w[i],
                                .restart = types ? types[i] : KEEL_RESTART_PERMANENT,
                                .timeout = 5 * KEEL_SECOND};
  }
  keel_steward_options o = {.name = "sup", .strategy = strategy,
                            .events = f->events};
  keel_steward_make_group(&f->s, specs, n, &o);
  keel_ctx_with_cancel(keel_ctx_background(), &f->ctx);
  keel_steward_start(f->ctx, 0, f->s, &f->hb);
}

/* Cancels, waits for the steward to end, checks nothing is left running. */
static bool fixture_stop(struct fixture *f, size_t n) {
  keel_ctx_cancel(f->ctx);
  while (keel_chan_recv(f->hb, NULL, keel_deadline_in(EV_WAIT)) == 0) {}
  bool ok = keel_chan_is_closed(f->hb);
  ok = kt_tasks_settle(f->base, 10 * KEEL_SECOND) && ok;
  for (size_t i = 0; i < n; i++) {
    ok = ok && atomic_load(&f->w[i].starts) == atomic_load(&f->w[i].ends);
    keel_chan_release(f->w[i].poke);
  }
  keel_chan_release(f->hb);
  keel_ctx_release(f->ctx);
  keel_steward_release(f->s);
  drain_events(f->events);
  keel_chan_release(f->events);
  keel_chan_release(f->log);
  return ok;
}

static bool log_is(keel_chan *log, const int *want, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int v = next_log(log);
    if (v != want[i]) {
      fprintf(stderr, "  log[%zu]: want %d, got %d\n", i, want[i], v);
      return false;
    }
  }
  return true;
}

static bool started_all(struct fixture *f) {
  static const int order[] = {1, 2, 3};
  return expect_event(f->events, KEEL_STEWARD_STARTED, 0) &&
         expect_event(f->events, KEEL_STEWARD_STARTED, 1) &&
         expect_event(f->events, KEEL_STEWARD_STARTED, 2) &&
         log_is(f->log, order, 3);
}

KT_TEST(start_in_order_stop_in_reverse) {
  struct fixture f;
  fixture_start(&f, KEEL_ONE_FOR_ONE, NULL, NULL, 3);
  KT_CHECK(started_all(&f));
  keel_ctx_cancel(f.ctx);
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STOPPED, 2));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STOPPED, 1));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STOPPED, 0));
  static const int stops[] = {-3, -2, -1};
  KT_CHECK(log_is(f.log, stops, 3));
  KT_CHECK(fixture_stop(&f, 3));
}

KT_TEST(one_for_one) {
  struct fixture f;
  fixture_start(&f, KEEL_ONE_FOR_ONE, NULL, NULL, 3);
  KT_CHECK(started_all(&f));
  KT_CHECK(poke(&f.w[1], 'f'));
  keel_steward_event ev = next_event(f.events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_EXITED);
  KT_CHECK_EQ(ev.index, 1);
  KT_CHECK(ev.err != NULL && keel_err_has_module(ev.err, "tward"));
  keel_err_release(ev.err);
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_RESTARTED, 1));
  static const int seq[] = {-2, 2};
  KT_CHECK(log_is(f.log, seq, 2));
  KT_CHECK_EQ(atomic_load(&f.w[0].starts), 1);
  KT_CHECK_EQ(atomic_load(&f.w[2].starts), 1);
  KT_CHECK(fixture_stop(&f, 3));
}

KT_TEST(one_for_all) {
  struct fixture f;
  fixture_start(&f, KEEL_ONE_FOR_ALL, NULL, NULL, 3);
  KT_CHECK(started_all(&f));
  KT_CHECK(poke(&f.w[1], 'f'));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_EXITED, 1));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STOPPED, 2));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STOPPED, 0));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_RESTARTED, 0));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_RESTARTED, 1));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_RESTARTED, 2));
  static const int seq[] = {-2, -3, -1, 1, 2, 3};
  KT_CHECK(log_is(f.log, seq, 6));
  KT_CHECK_EQ(keel_steward_restarts(f.s), 1);
  KT_CHECK(fixture_stop(&f, 3));
}

KT_TEST(rest_for_one) {
  struct fixture f;
  fixture_start(&f, KEEL_REST_FOR_ONE, NULL, NULL, 3);
  KT_CHECK(started_all(&f));
  KT_CHECK(poke(&f.w[1], 'f'));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_EXITED, 1));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STOPPED, 2));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_RESTARTED, 1));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_RESTARTED, 2));
  static const int seq[] = {-2, -3, 2, 3};
  KT_CHECK(log_is(f.log, seq, 4));
  KT_CHECK_EQ(atomic_load(&f.w[0].starts), 1);
  KT_CHECK(fixture_stop(&f, 3));
}

KT_TEST(restart_types) {
  static const keel_restart_type types[] = {
      KEEL_RESTART_PERMANENT, KEEL_RESTART_TRANSIENT, KEEL_RESTART_TEMPORARY};
  struct fixture f;
  fixture_start(&f, KEEL_ONE_FOR_ONE, types, NULL, 3);
  KT_CHECK(started_all(&f));
  /* permanent: restarted even after a clean finish */
  KT_CHECK(poke(&f.w[0], 'c'));
  keel_steward_event ev = next_event(f.events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_EXITED);
  KT_CHECK(ev.err == NULL);   /* clean */
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_RESTARTED, 0));
  /* transient: restarted after a failure ... */
  KT_CHECK(poke(&f.w[1], 'f'));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_EXITED, 1));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_RESTARTED, 1));
  /* ... not after a clean finish (here: returning without a word) */
  KT_CHECK(poke(&f.w[1], 'x'));
  ev = next_event(f.events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_EXITED);
  KT_CHECK(ev.err == NULL);
  /* temporary: never restarted, even after a failure */
  KT_CHECK(poke(&f.w[2], 'f'));
  ev = next_event(f.events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_EXITED);
  KT_CHECK_EQ(ev.index, 2);
  KT_CHECK(ev.err != NULL);
  keel_err_release(ev.err);
  /* Only ward a is left: the stop shows it. */
  keel_ctx_cancel(f.ctx);
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STOPPED, 0));
  KT_CHECK_EQ(atomic_load(&f.w[1].starts), 2);
  KT_CHECK_EQ(atomic_load(&f.w[2].starts), 1);
  KT_CHECK(fixture_stop(&f, 3));
}

KT_TEST(steward_ends_when_no_ward_will_run_again) {
  static const keel_restart_type types[] = {KEEL_RESTART_TRANSIENT};
  struct fixture f;
  fixture_start(&f, KEEL_ONE_FOR_ONE, types, NULL, 1);
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STARTED, 0));
  KT_CHECK(poke(&f.w[0], 'c'));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_EXITED, 0));
  /* No cancel: the heartbeat closes by itself. */
  while (keel_chan_recv(f.hb, NULL, keel_deadline_in(EV_WAIT)) == 0) {}
  KT_CHECK(keel_chan_is_closed(f.hb));
  KT_CHECK(keel_steward_err(f.s) == NULL);
  KT_CHECK(fixture_stop(&f, 1));
}

KT_TEST(silent_ward_is_restarted) {
  struct fixture f;
  memset(&f, 0, sizeof f);
  f.base = keel_task_count();
  keel_chan_make(&f.events, sizeof(keel_steward_event), 64);
  keel_chan_make(&f.log, sizeof(int), 64);
  f.w[0] = (struct tward){.id = 1, .log = f.log};
  keel_chan_make(&f.w[0].poke, sizeof(int), 0);
  const int64_t timeout = (KT_SANITIZED() ? 200 : 100) * MS;
  keel_ward_spec spec = {.name = "quiet", .start = tward_start, .arg = &f.w[0],
                         .timeout = timeout};
  keel_steward_options o = {.events = f.events};
  keel_steward_make_group(&f.s, &spec, 1, &o);
  keel_ctx_with_cancel(keel_ctx_background(), &f.ctx);
  keel_steward_start(f.ctx, 0, f.s, &f.hb);
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STARTED, 0));
  KT_CHECK(poke(&f.w[0], 's'));   /* falls silent but keeps running */
  keel_steward_event ev = next_event(f.events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_MISSED_HEARTBEAT);
  KT_CHECK(ev.silence >= timeout);
  KT_CHECK(ev.err != NULL && strstr(keel_err_message(ev.err), "no pulse") != NULL);
  keel_err_release(ev.err);
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STOPPED, 0));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_RESTARTED, 0));
  static const int seq[] = {1, -1, 1};
  KT_CHECK(log_is(f.log, seq, 3));
  KT_CHECK(fixture_stop(&f, 1));
}

KT_TEST(alive_but_stuck_ward_is_restarted) {
  struct fixture f;
  memset(&f, 0, sizeof f);
  f.base = keel_task_count();
  keel_chan_make(&f.events, sizeof(keel_steward_event), 64);
  f.w[0] = (struct tward){.id = 1};
  /* It pulses (every 10 ms) but never reports progress. */
  keel_ward_spec spec = {.name = "spinner", .start = tward_start, .arg = &f.w[0],
                         .timeout = 5 * KEEL_SECOND, .pulse_interval = 10 * MS,
                         .stuck_after = 150 * MS};
  keel_steward_options o = {.events = f.events};
  keel_steward_make_group(&f.s, &spec, 1, &o);
  keel_ctx_with_cancel(keel_ctx_background(), &f.ctx);
  keel_steward_start(f.ctx, 0, f.s, &f.hb);
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STARTED, 0));
  keel_steward_event ev = next_event(f.events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_MISSED_HEARTBEAT);
  KT_CHECK(ev.err != NULL && strstr(keel_err_message(ev.err), "stuck") != NULL);
  keel_err_release(ev.err);
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STOPPED, 0));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_RESTARTED, 0));
  KT_CHECK(fixture_stop(&f, 1));
}

KT_TEST(stop_timeout_bounds_a_stubborn_ward) {
  struct fixture f;
  memset(&f, 0, sizeof f);
  f.base = keel_task_count();
  keel_chan_make(&f.events, sizeof(keel_steward_event), 64);
  keel_chan_make(&f.log, sizeof(int), 64);
  f.w[0] = (struct tward){.id = 1, .log = f.log, .linger = 400 * MS};
  f.w[1] = (struct tward){.id = 2, .log = f.log, .linger = 30 * MS};
  atomic_init(&f.w[0].mode, STUBBORN);
  atomic_init(&f.w[1].mode, STUBBORN);
  keel_ward_spec specs[2] = {
      {.name = "slow", .start = tward_start, .arg = &f.w[0],
       .timeout = 5 * KEEL_SECOND, .stop_timeout = 20 * MS},
      {.name = "fine", .start = tward_start, .arg = &f.w[1],
       .timeout = 5 * KEEL_SECOND, .stop_timeout = 5 * KEEL_SECOND}};
  keel_steward_options o = {.events = f.events};
  keel_steward_make_group(&f.s, specs, 2, &o);
  keel_ctx_with_cancel(keel_ctx_background(), &f.ctx);
  keel_steward_start(f.ctx, 0, f.s, &f.hb);
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STARTED, 0));
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STARTED, 1));
  keel_ctx_cancel(f.ctx);
  /* "fine" lingers 30 ms within its 5 s: stopped without error, and its end
   * is logged before the steward turns to "slow". */
  keel_steward_event ev = next_event(f.events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_STOPPED);
  KT_CHECK_EQ(ev.index, 1);
  KT_CHECK(ev.err == NULL);
  KT_CHECK_EQ(next_log(f.log), 1);
  KT_CHECK_EQ(next_log(f.log), 2);
  KT_CHECK_EQ(next_log(f.log), -2);
  /* "slow" lingers 400 ms past its 20 ms: stopped with a timeout error. */
  ev = next_event(f.events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_STOPPED);
  KT_CHECK_EQ(ev.index, 0);
  KT_CHECK(ev.err != NULL && keel_err_code(ev.err) == KEEL_ETIMEDOUT);
  keel_err_release(ev.err);
  KT_CHECK(fixture_stop(&f, 2));   /* it still ends, later: no leak */
}

static uint64_t fixed_random(void *arg) { return *(uint64_t *)arg; }

KT_TEST(backoff_between_restarts) {
  struct fixture f;
  memset(&f, 0, sizeof f);
  f.base = keel_task_count();
  keel_chan_make(&f.events, sizeof(keel_steward_event), 64);
  f.w[0] = (struct tward){.id = 1};
  atomic_init(&f.w[0].mode, FAIL);
  keel_ward_spec spec = {.name = "flaky", .start = tward_start, .arg = &f.w[0],
                         .timeout = 5 * KEEL_SECOND};
  uint64_t half = UINT64_MAX / 2 + 1;   /* u = 0.5 */
  keel_steward_options o = {
      .events = f.events,
      .backoff = {.initial = 10 * MS, .max = 40 * MS, .multiplier = 2,
                  .jitter = 0.5, .reset_after = 10 * KEEL_SECOND},
      .random = fixed_random, .random_arg = &half};
  keel_steward_make_group(&f.s, &spec, 1, &o);
  keel_ctx_with_cancel(keel_ctx_background(), &f.ctx);
  keel_steward_start(f.ctx, 0, f.s, &f.hb);
  KT_CHECK(expect_event(f.events, KEEL_STEWARD_STARTED, 0));
  /* 10, 20, 40, 40 ms, each less a quarter (jitter 0.5 x u 0.5). */
  static const int64_t want[] = {7500 * KEEL_MICROSECOND, 15 * MS, 30 * MS, 30 * MS};
  for (int i = 0; i < 4; i++) {
    keel_steward_event ev = next_event(f.events);
    KT_CHECK_EQ(ev.kind, KEEL_STEWARD_EXITED);
    int64_t failed_at = ev.at;
    keel_err_release(ev.err);
    ev = next_event(f.events);
    KT_CHECK_EQ(ev.kind, KEEL_STEWARD_RESTARTED);
    KT_CHECK_EQ(ev.delay, want[i]);
    KT_CHECK(ev.at - failed_at >= want[i]);
    KT_CHECK(ev.err != NULL);   /* why: the failure */
    keel_err_release(ev.err);
  }
  KT_CHECK(fixture_stop(&f, 1));
}

struct run_args {
  keel_steward *s;
  keel_ctx *ctx;
  keel_err *err;
  int rc;
};

KT_TEST(intensity_gives_up_run_from_a_thread) {
  size_t base = keel_task_count();
  struct tward w = {.id = 1};
  atomic_init(&w.mode, FAIL);
  keel_chan *events;
  keel_chan_make(&events, sizeof(keel_steward_event), 64);
  keel_ward_spec spec = {.name = "doomed", .start = tward_start, .arg = &w,
                         .timeout = 5 * KEEL_SECOND};
  keel_steward_options o = {.name = "strict", .events = events,
                            .max_restarts = 2, .period = 60 * KEEL_SECOND};
  keel_steward *s;
  KT_CHECK_EQ(keel_steward_make_group(&s, &spec, 1, &o), 0);
  keel_ctx *ctx;
  keel_ctx_with_cancel(keel_ctx_background(), &ctx);
  keel_err *err = NULL;
  /* Blocking run on this plain thread. */
  KT_CHECK_EQ(keel_steward_run(s, ctx, 0, NULL, &err), KEEL_ELIMIT);
  KT_CHECK(err != NULL);
  KT_CHECK(keel_err_has_code(err, KEEL_ELIMIT));
  KT_CHECK_STR(keel_err_module(err), "steward");
  KT_CHECK(keel_err_has_module(err, "tward"));
  KT_CHECK(keel_err_has_code(err, KEEL_EFAILED));
  keel_err *kept = keel_steward_err(s);
  KT_CHECK(kept == err);
  keel_err_release(kept);
  keel_err_release(err);
  KT_CHECK_EQ(atomic_load(&w.starts), 3);
  KT_CHECK(expect_event(events, KEEL_STEWARD_STARTED, 0));
  for (int i = 0; i < 2; i++) {
    KT_CHECK(expect_event(events, KEEL_STEWARD_EXITED, 0));
    KT_CHECK(expect_event(events, KEEL_STEWARD_RESTARTED, 0));
  }
  KT_CHECK(expect_event(events, KEEL_STEWARD_EXITED, 0));
  keel_steward_event ev = next_event(events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_GAVE_UP);
  KT_CHECK(ev.ward == NULL && ev.err != NULL);
  keel_err_release(ev.err);
  KT_CHECK(kt_tasks_settle(base, 10 * KEEL_SECOND));
  keel_ctx_cancel(ctx);
  keel_ctx_release(ctx);
  keel_steward_release(s);
  drain_events(events);
  keel_chan_release(events);
}

KT_TEST(steward_pulses_with_its_wards_progress) {
  size_t base = keel_task_count();
  struct tward w = {.id = 1};
  keel_ward_spec spec = {.name = "busy", .start = tward_start, .arg = &w,
                         .timeout = 5 * KEEL_SECOND, .pulse_interval = 5 * MS};
  keel_steward *s;
  KT_CHECK_EQ(keel_steward_make_group(&s, &spec, 1, NULL), 0);
  keel_ctx *ctx;
  keel_ctx_with_cancel(keel_ctx_background(), &ctx);
  keel_chan *hb;
  KT_CHECK_EQ(keel_steward_start(ctx, 5 * MS, s, &hb), 0);
  /* The steward pulses while it watches; its progress counts its ward's
   * pulses, so it moves. */
  keel_pulse first, p;
  KT_CHECK_EQ(keel_chan_recv(hb, &first, keel_deadline_in(EV_WAIT)), 0);
  do {
    KT_CHECK_EQ(keel_chan_recv(hb, &p, keel_deadline_in(EV_WAIT)), 0);
  } while (p.progress <= first.progress);
  KT_CHECK(p.seq > first.seq);
  keel_ctx_cancel(ctx);
  while (keel_chan_recv(hb, NULL, keel_deadline_in(EV_WAIT)) == 0) {}
  KT_CHECK(kt_tasks_settle(base, 10 * KEEL_SECOND));
  keel_chan_release(hb);
  keel_ctx_release(ctx);
  keel_steward_release(s);
}

static int failing_start(keel_ctx *ctx, int64_t interval, void *arg,
                         keel_chan **heartbeat) {
  (void)ctx;
  (void)interval;
  (void)heartbeat;
  atomic_fetch_add((_Atomic int *)arg, 1);
  return KEEL_ENOMEM;   /* as a start that ran out of memory would */
}

KT_TEST(failed_start_counts_as_a_failure) {
  _Atomic int calls = 0;
  keel_chan *events;
  keel_chan_make(&events, sizeof(keel_steward_event), 64);
  keel_ward_spec spec = {.name = "nomem", .start = failing_start, .arg = &calls,
                         .timeout = KEEL_SECOND};
  keel_steward_options o = {.events = events, .max_restarts = 1, .period = KEEL_MINUTE};
  keel_steward *s;
  KT_CHECK_EQ(keel_steward_make_group(&s, &spec, 1, &o), 0);
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_steward_run(s, keel_ctx_background(), 0, NULL, &err), KEEL_ELIMIT);
  KT_CHECK_EQ(atomic_load(&calls), 2);
  KT_CHECK(keel_err_has_code(err, KEEL_ENOMEM));
  keel_err_release(err);
  keel_steward_event ev = next_event(events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_EXITED);
  KT_CHECK(ev.err != NULL && keel_err_code(ev.err) == KEEL_ENOMEM);
  keel_err_release(ev.err);
  drain_events(events);
  keel_chan_release(events);
  keel_steward_release(s);
}

static const char value_key = 0;

static int value_start(keel_ctx *ctx, int64_t interval, void *arg,
                       keel_chan **heartbeat) {
  (void)interval;
  (void)heartbeat;
  *(void **)arg = keel_ctx_value(ctx, &value_key);
  keel_ward_exit(ctx, NULL);
  return 0;
}

KT_TEST(wards_see_the_stewards_values) {
  keel_ctx *ctx;
  int payload = 7;
  KT_CHECK_EQ(keel_ctx_with_value(keel_ctx_background(), &value_key, &payload, &ctx), 0);
  void *seen = NULL;
  keel_ward_spec spec = {.name = "v", .start = value_start, .arg = &seen,
                         .restart = KEEL_RESTART_TRANSIENT};
  keel_steward *s;
  KT_CHECK_EQ(keel_steward_make_group(&s, &spec, 1, NULL), 0);
  KT_CHECK_EQ(keel_steward_run(s, ctx, 0, NULL, NULL), 0);   /* ends: finished */
  KT_CHECK(seen == &payload);
  keel_steward_release(s);
  keel_ctx_release(ctx);
}

KT_TEST(a_full_event_channel_drops_without_blocking) {
  size_t base = keel_task_count();
  struct tward w = {.id = 1};
  atomic_init(&w.mode, FAIL);
  keel_chan *events;
  keel_chan_make(&events, sizeof(keel_steward_event), 1);
  keel_ward_spec spec = {.name = "f", .start = tward_start, .arg = &w};
  keel_steward_options o = {.events = events, .max_restarts = 20, .period = KEEL_MINUTE};
  keel_steward *s;
  KT_CHECK_EQ(keel_steward_make_group(&s, &spec, 1, &o), 0);
  /* ~44 events into a buffer of one: the steward never blocks on them, and
   * the dropped events' errors are released (ASan would see a leak). */
  KT_CHECK_EQ(keel_steward_run(s, keel_ctx_background(), 0, NULL, NULL), KEEL_ELIMIT);
  KT_CHECK_EQ(keel_chan_len(events), 1);
  KT_CHECK(kt_tasks_settle(base, 10 * KEEL_SECOND));
  drain_events(events);
  keel_chan_release(events);
  keel_steward_release(s);
}

KT_TEST(bad_arguments) {
  keel_steward *s;
  keel_ward_spec spec = {.start = tward_start};
  KT_CHECK_EQ(keel_steward_make(&s, 0, tward_start, NULL, NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_steward_make(&s, 10, NULL, NULL, NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_steward_make_group(&s, &spec, 0, NULL), KEEL_EINVAL);
  spec.timeout = -1;
  KT_CHECK_EQ(keel_steward_make_group(&s, &spec, 1, NULL), KEEL_EINVAL);
  spec.timeout = 0;
  keel_steward_options o = {.strategy = (keel_strategy)7};
  KT_CHECK_EQ(keel_steward_make_group(&s, &spec, 1, &o), KEEL_EINVAL);
  KT_CHECK_EQ(keel_steward_start(NULL, 0, NULL, NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_ward_exit(keel_ctx_background(), NULL), KEEL_ENOTFOUND);
  keel_steward_release(NULL);
}

KT_MAIN()
