/* Stress: many workers with interval heartbeats (1 ms, phase-aligned timers)
 * and many watchers at once; some workers are canceled halfway. Every result
 * arrives in order, no watcher calls a live worker unhealthy, pulses come
 * while workers wait, and every task ends. */
#include <stdlib.h>

#include "keel_test.h"
#include "keel_test_tasks.h"
#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/task.h"

enum { RESULTS = 50 };

struct pair {
  keel_ctx *ctx;
  keel_heartbeat *hb;
  keel_chan *results;
  int id;
  int got;          /* results the watcher saw, in order */
  int bad;          /* out-of-order results or unhealthy verdicts */
  bool cancel_half;
  keel_waitgroup *wg;
};

static void worker(void *arg) {
  struct pair *p = arg;
  for (int i = 0; i < RESULTS; i++) {
    if (i % 7 == 0 && keel_heartbeat_sleep(p->hb, p->ctx, KEEL_MILLISECOND) != 0) break;
    if (keel_heartbeat_send_result(p->hb, p->ctx, p->results, &i) != 0) break;
    keel_heartbeat_add_progress(p->hb, 1);
  }
  keel_chan_close(p->results);
  keel_heartbeat_close(p->hb);
  keel_waitgroup_done(p->wg);
}

static void watcher(void *arg) {
  struct pair *p = arg;
  keel_watcher w;
  keel_watcher_init(&w, keel_heartbeat_chan(p->hb), p->results, 30 * KEEL_SECOND,
                    keel_now());
  for (;;) {
    int r;
    int ev = keel_watcher_wait(&w, NULL, &r, NULL);
    if (ev == KEEL_WATCH_RESULT) {
      if (r != p->got) p->bad++;
      p->got++;
      if (p->cancel_half && p->got == RESULTS / 2) keel_ctx_cancel(p->ctx);
    } else if (ev != KEEL_WATCH_PULSE) {
      if (ev != KEEL_ECLOSED) p->bad++;
      break;
    }
  }
  keel_waitgroup_done(p->wg);
}

KT_TEST(many_workers_and_watchers) {
  const int n = KT_SANITIZED() ? 50 : 400;
  size_t base = keel_task_count();
  struct pair *pairs = calloc((size_t)n, sizeof *pairs);
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 2 * n);
  for (int i = 0; i < n; i++) {
    struct pair *p = &pairs[i];
    p->id = i;
    p->wg = &wg;
    p->cancel_half = i % 5 == 0;
    KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &p->ctx), 0);
    KT_CHECK_EQ(keel_heartbeat_make(&p->hb, KEEL_MILLISECOND), 0);
    KT_CHECK_EQ(keel_chan_make(&p->results, sizeof(int), 0), 0);
    KT_CHECK_EQ(keel_task_spawn(NULL, worker, p, NULL), 0);
    KT_CHECK_EQ(keel_task_spawn(NULL, watcher, p, NULL), 0);
  }
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, keel_deadline_in(120 * KEEL_SECOND), NULL), 0);
  uint64_t pulses = 0;
  for (int i = 0; i < n; i++) {
    struct pair *p = &pairs[i];
    KT_CHECK_EQ(p->bad, 0);
    if (p->cancel_half)
      KT_CHECK(p->got >= RESULTS / 2 && p->got <= RESULTS / 2 + 1);
    else
      KT_CHECK_EQ(p->got, RESULTS);
    KT_CHECK_EQ(keel_heartbeat_progress(p->hb), (uint64_t)p->got);
    pulses += keel_heartbeat_pulses(p->hb);
  }
  KT_CHECK(pulses > 0);   /* the 1 ms waits pulsed */
  for (int i = 0; i < n; i++) {
    keel_heartbeat_free(pairs[i].hb);
    keel_chan_release(pairs[i].results);
    keel_ctx_release(pairs[i].ctx);
  }
  free(pairs);
  KT_CHECK(kt_tasks_settle(base, 10 * KEEL_SECOND));
}

KT_MAIN()
