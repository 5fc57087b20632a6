/* tour: Heartbeats */
/* Heartbeats in four short scenes (Concurrency in Go, ch. 5):
 *   1. a work-unit heartbeat makes a test deterministic: wait for the first
 *      pulse, then read every result, no timeout needed;
 *   2. an interval heartbeat: a worker busy on a slow job keeps pulsing while
 *      it waits, so its watcher knows the silence is expected;
 *   3. progress in the pulses tells "alive and working" from "alive but
 *      stuck" (a livelock): pulses come, but the count of finished units
 *      does not move;
 *   4. a worker that dies without a word is noticed within 2 x interval.
 * Every wait of a worker goes through a keel_heartbeat helper, so every
 * wait also services the pulse; nobody listening never blocks a worker. */
#include <stdio.h>

#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/task.h"

#define MS KEEL_MILLISECOND

/* ---- 1. the deterministic generator test --------------------------------- */

struct generator {
  keel_ctx *ctx;
  keel_heartbeat *hb;
  keel_chan *results;
};

static void generate(void *arg) {
  struct generator *g = arg;
  static const int nums[] = {0, 1, 2, 3, 5};
  keel_sleep(100 * MS);   /* a slow start: CPU load, disk, network, goblins */
  for (int i = 0; i < 5; i++) {
    keel_heartbeat_pulse(g->hb);   /* "I am starting a unit" */
    if (keel_ctx_send(g->ctx, g->results, &nums[i]) != 0) break;
  }
  keel_chan_close(g->results);
  keel_heartbeat_close(g->hb);
}

static void scene_generator(void) {
  printf("1. a generator that starts slowly, tested without a timeout\n");
  struct generator g;
  keel_ctx_with_cancel(keel_ctx_background(), &g.ctx);
  keel_heartbeat_make(&g.hb, 0);
  keel_chan_make(&g.results, sizeof(int), 0);
  keel_task *t;
  keel_task_spawn(&t, generate, &g, NULL);
  keel_chan_recv(keel_heartbeat_chan(g.hb), NULL, KEEL_FOREVER);   /* <-heartbeat */
  printf("   first pulse: the worker has begun\n   results:");
  int r;
  while (keel_chan_recv(g.results, &r, KEEL_FOREVER) == 0) printf(" %d", r);
  printf("\n");
  keel_task_join(t, KEEL_FOREVER, NULL);
  keel_heartbeat_free(g.hb);
  keel_chan_release(g.results);
  keel_ctx_cancel(g.ctx);
  keel_ctx_release(g.ctx);
}

/* ---- 2. pulses while waiting ------------------------------------------------- */

struct slow_job {
  keel_ctx *ctx;
  keel_heartbeat *hb;
  keel_chan *results;
  bool finish_units;   /* scene 3: does the worker make progress? */
};

static void slow_job(void *arg) {
  struct slow_job *j = arg;
  /* 400 ms of work that can be interleaved with pulses */
  keel_heartbeat_sleep(j->hb, j->ctx, 400 * MS);
  int answer = 42;
  keel_heartbeat_send_result(j->hb, j->ctx, j->results, &answer);
}

static void scene_interval(void) {
  printf("2. a slow job, watched through its pulses (every 50 ms)\n");
  struct slow_job j = {0};
  keel_ctx_with_cancel(keel_ctx_background(), &j.ctx);
  keel_heartbeat_make(&j.hb, 50 * MS);
  keel_chan_make(&j.results, sizeof(int), 0);
  keel_task *t;
  keel_task_spawn(&t, slow_job, &j, NULL);
  keel_watcher w;   /* generous here (8 x interval): a tour must not flake */
  keel_watcher_init(&w, keel_heartbeat_chan(j.hb), j.results, 100 * MS * 4, keel_now());
  for (;;) {
    int r;
    int ev = keel_watcher_wait(&w, NULL, &r, NULL);
    if (ev == KEEL_WATCH_PULSE && w.pulses <= 3) printf("   pulse: still working\n");
    if (ev == KEEL_WATCH_PULSE && w.pulses == 4) printf("   ...\n");
    if (ev == KEEL_WATCH_RESULT) {
      printf("   result: %d, after %s pulses of patience\n", r,
             w.pulses >= 4 ? "several" : "a few");
      break;
    }
    if (ev != KEEL_WATCH_PULSE) {
      printf("   unexpected: %s\n", keel_strerror(ev));
      break;
    }
  }
  keel_ctx_cancel(j.ctx);
  keel_task_join(t, KEEL_FOREVER, NULL);
  keel_heartbeat_free(j.hb);
  keel_chan_release(j.results);
  keel_ctx_release(j.ctx);
}

/* ---- 3. working or stuck? ---------------------------------------------------- */

static void spinner(void *arg) {
  struct slow_job *j = arg;
  int done_units = 0;
  /* Units of 5 ms; the stuck one stops finishing them after three. */
  while (keel_heartbeat_sleep(j->hb, j->ctx, 5 * MS) == 0)
    if (j->finish_units || done_units < 3) {
      keel_heartbeat_add_progress(j->hb, 1);
      done_units++;
    }
}

static void scene_progress(bool working) {
  struct slow_job j = {.finish_units = working};
  keel_ctx_with_cancel(keel_ctx_background(), &j.ctx);
  keel_heartbeat_make(&j.hb, 10 * MS);
  keel_task *t;
  keel_task_spawn(&t, spinner, &j, NULL);
  keel_watcher w;
  keel_watcher_init(&w, keel_heartbeat_chan(j.hb), NULL, KEEL_SECOND, keel_now());
  w.stuck_after = 150 * MS;
  int ev = KEEL_WATCH_PULSE;
  keel_err *why = NULL;
  for (int i = 0; i < 40 && ev == KEEL_WATCH_PULSE; i++)   /* ~400 ms of pulses */
    ev = keel_watcher_wait(&w, NULL, NULL, &why);
  if (ev == KEEL_WATCH_PULSE)
    printf("   %s worker: alive and working (progress keeps moving)\n",
           working ? "a busy" : "the other");
  else if (ev == KEEL_WATCH_STUCK)
    printf("   %s worker: alive but stuck, progress stays at %llu\n",
           working ? "a busy" : "a spinning", (unsigned long long)w.progress);
  keel_err_release(why);
  keel_ctx_cancel(j.ctx);
  keel_task_join(t, KEEL_FOREVER, NULL);
  keel_heartbeat_free(j.hb);
  keel_ctx_release(j.ctx);
}

/* ---- 4. a worker that dies silently ------------------------------------------ */

static void dies(void *arg) {
  struct slow_job *j = arg;
  keel_heartbeat_sleep(j->hb, j->ctx, 120 * MS);   /* pulses for a while ... */
  /* ... then returns without closing anything: the book's simulated panic */
}

static void scene_unhealthy(void) {
  printf("4. a worker that stops without a word (pulse every 50 ms)\n");
  struct slow_job j = {0};
  keel_ctx_with_cancel(keel_ctx_background(), &j.ctx);
  keel_heartbeat_make(&j.hb, 50 * MS);
  keel_task *t;
  keel_task_spawn(&t, dies, &j, NULL);
  keel_watcher w;
  keel_watcher_init(&w, keel_heartbeat_chan(j.hb), NULL, 100 * MS, keel_now());
  keel_err *why = NULL;
  int ev;
  while ((ev = keel_watcher_wait(&w, NULL, NULL, &why)) == KEEL_WATCH_PULSE) {}
  if (ev == KEEL_WATCH_UNHEALTHY)
    printf("   worker is not healthy! (no pulse within 2 x interval; a keel_err "
           "of module \"%s\" says so)\n", keel_err_module(why));
  keel_err_release(why);
  keel_task_join(t, KEEL_FOREVER, NULL);
  keel_heartbeat_free(j.hb);
  keel_ctx_release(j.ctx);
}

int main(void) {
  scene_generator();
  scene_interval();
  printf("3. progress in the pulses: working or stuck?\n");
  scene_progress(true);
  scene_progress(false);
  scene_unhealthy();
  keel_runtime_shutdown();
  return 0;
}
