/* The watcher: its verdicts on a fake clock (pure), and live: unhealthy vs
 * "alive but stuck" vs "alive and working", told apart by progress. */
#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/task.h"
#include "keel_test.h"
#include "keel_test_tasks.h"

#define MS KEEL_MILLISECOND

KT_TEST(verdicts_on_a_fake_clock) {
  keel_watcher w;
  keel_watcher_init(&w, NULL, NULL, 100 * MS, 1000 * MS);
  KT_CHECK_EQ(keel_watcher_deadline(&w), 1100 * MS);
  KT_CHECK_EQ(keel_watcher_verdict(&w, 1099 * MS), KEEL_WATCH_HEALTHY);
  KT_CHECK_EQ(keel_watcher_verdict(&w, 1100 * MS), KEEL_WATCH_UNHEALTHY);
  keel_pulse p = {.seq = 1, .progress = 0, .at = 1050 * MS};
  keel_watcher_note_pulse(&w, &p, 1050 * MS);   /* a pulse restarts the clock */
  KT_CHECK_EQ(keel_watcher_verdict(&w, 1100 * MS), KEEL_WATCH_HEALTHY);
  KT_CHECK_EQ(keel_watcher_deadline(&w), 1150 * MS);
  keel_watcher_note_result(&w, 1140 * MS);      /* so does a result */
  KT_CHECK_EQ(keel_watcher_deadline(&w), 1240 * MS);
  KT_CHECK_EQ(w.pulses, 1);
  KT_CHECK_EQ(w.results_seen, 1);
}

KT_TEST(stuck_on_a_fake_clock) {
  keel_watcher w;
  keel_watcher_init(&w, NULL, NULL, 100 * MS, 0);
  w.stuck_after = 300 * MS;
  /* Pulses keep coming every 50 ms but progress stays at 7 after 100 ms. */
  int64_t t = 0;
  uint64_t prog = 0;
  for (int i = 1; i <= 20; i++) {
    t += 50 * MS;
    if (t <= 100 * MS) prog += 7;
    keel_pulse p = {.seq = (uint64_t)i, .progress = prog, .at = t};
    keel_watcher_note_pulse(&w, &p, t);
    int v = keel_watcher_verdict(&w, t);
    if (t < 100 * MS + 300 * MS) KT_CHECK_EQ(v, KEEL_WATCH_HEALTHY);
    else KT_CHECK_EQ(v, KEEL_WATCH_STUCK);
  }
  KT_CHECK_EQ(w.progress, 14);
  KT_CHECK_EQ(w.progress_at, 100 * MS);
  /* Silence beats stuck: no pulse for the timeout is unhealthy. */
  KT_CHECK_EQ(keel_watcher_verdict(&w, t + 100 * MS), KEEL_WATCH_UNHEALTHY);
}

/* A worker that pulses on its own ticker; "working" adds progress per unit,
 * "stuck" spins without finishing anything (a livelock). */
struct spinner {
  keel_ctx *ctx;
  keel_heartbeat *hb;
  bool working;
};

static void spin_task(void *p) {
  struct spinner *s = p;
  while (keel_heartbeat_sleep(s->hb, s->ctx, 2 * MS) == 0)
    if (s->working) keel_heartbeat_add_progress(s->hb, 1);
}

static int watch_spinner(bool working, keel_err **err) {
  const int64_t interval = (KT_SANITIZED() ? 10 : 5) * MS;
  keel_ctx *ctx;
  keel_ctx_with_cancel(keel_ctx_background(), &ctx);
  struct spinner s = {.ctx = ctx, .working = working};
  keel_heartbeat_make(&s.hb, interval);
  keel_task *t;
  keel_task_spawn(&t, spin_task, &s, NULL);
  keel_watcher w;
  /* Generous silence timeout; stuck after 40 intervals without progress. */
  keel_watcher_init(&w, keel_heartbeat_chan(s.hb), NULL, 2 * KEEL_SECOND, keel_now());
  w.stuck_after = 40 * interval;
  int ev = 0;
  for (int i = 0; i < 80; i++) {   /* 80 pulses: twice the stuck window */
    ev = keel_watcher_wait(&w, NULL, NULL, err);
    if (ev != KEEL_WATCH_PULSE) break;
  }
  keel_ctx_cancel(ctx);
  keel_task_join(t, keel_deadline_in(10 * KEEL_SECOND), NULL);
  keel_heartbeat_free(s.hb);
  keel_ctx_release(ctx);
  return ev;
}

KT_TEST(alive_and_working_is_healthy) {
  keel_err *err = NULL;
  KT_CHECK_EQ(watch_spinner(true, &err), KEEL_WATCH_PULSE);
  KT_CHECK(err == NULL);
}

KT_TEST(alive_but_stuck_is_reported) {
  keel_err *err = NULL;
  KT_CHECK_EQ(watch_spinner(false, &err), KEEL_WATCH_STUCK);
  KT_CHECK(err != NULL);
  KT_CHECK_EQ(keel_err_code(err), KEEL_ETIMEDOUT);
  keel_err_release(err);
}

KT_TEST(watcher_sees_close_and_cancel) {
  keel_heartbeat *hb;
  KT_CHECK_EQ(keel_heartbeat_make(&hb, 0), 0);
  keel_watcher w;
  keel_watcher_init(&w, keel_heartbeat_chan(hb), NULL, KEEL_SECOND, keel_now());
  KT_CHECK_EQ(keel_heartbeat_pulse(hb), 0);
  KT_CHECK_EQ(keel_watcher_wait(&w, NULL, NULL, NULL), KEEL_WATCH_PULSE);
  KT_CHECK_EQ(w.last_pulse.seq, 1);
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &ctx), 0);
  keel_ctx_cancel(ctx);
  KT_CHECK_EQ(keel_watcher_wait(&w, ctx, NULL, NULL), KEEL_ECANCELED);
  keel_heartbeat_close(hb);
  KT_CHECK_EQ(keel_watcher_wait(&w, NULL, NULL, NULL), KEEL_ECLOSED);
  keel_watcher_init(&w, NULL, NULL, KEEL_SECOND, keel_now());
  KT_CHECK_EQ(keel_watcher_wait(&w, NULL, NULL, NULL), KEEL_EINVAL);
  keel_ctx_release(ctx);
  keel_heartbeat_free(hb);
}

KT_MAIN()
