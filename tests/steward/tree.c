/* Stewards of stewards: a steward is started like any ward, so stewards nest.
 *   - halting the root halts every steward and ward below it, in reverse
 *     start order, and no task is left behind;
 *   - a child steward that gives up reports its error to its parent, which
 *     treats it as a failed ward (restart or give up in turn): escalation;
 *   - stress: many wards failing and restarting many times, then a halt. */
#include <string.h>

#include "wards.h"

#define MS KEEL_MILLISECOND

KT_TEST(halting_the_root_halts_the_tree) {
  size_t base = keel_task_count();
  keel_chan *log;
  keel_chan_make(&log, sizeof(int), 64);
  struct tward w[4];
  keel_steward *inner[2];
  for (int i = 0; i < 4; i++) {
    w[i] = (struct tward){.id = i + 1, .log = log};
  }
  for (int k = 0; k < 2; k++) {
    keel_ward_spec specs[2] = {
        {.name = "w1", .start = tward_start, .arg = &w[2 * k], .timeout = 5 * KEEL_SECOND},
        {.name = "w2", .start = tward_start, .arg = &w[2 * k + 1], .timeout = 5 * KEEL_SECOND}};
    KT_CHECK_EQ(keel_steward_make_group(&inner[k], specs, 2, NULL), 0);
  }
  keel_ward_spec top[2] = {
      {.name = "left", .start = keel_steward_start, .arg = inner[0], .timeout = 5 * KEEL_SECOND},
      {.name = "right", .start = keel_steward_start, .arg = inner[1], .timeout = 5 * KEEL_SECOND}};
  keel_steward *root;
  KT_CHECK_EQ(keel_steward_make_group(&root, top, 2, NULL), 0);
  keel_ctx *ctx;
  keel_ctx_with_cancel(keel_ctx_background(), &ctx);
  keel_chan *hb;
  KT_CHECK_EQ(keel_steward_start(ctx, 0, root, &hb), 0);
  for (int i = 1; i <= 4; i++) KT_CHECK_EQ(next_log(log), i);   /* depth-first, in order */
  keel_ctx_cancel(ctx);
  while (keel_chan_recv(hb, NULL, keel_deadline_in(EV_WAIT)) == 0) {}
  /* Every ward ended before the root's heartbeat closed: the root waited for
   * each child steward, which waited for its wards. */
  for (int i = 0; i < 4; i++) KT_CHECK_EQ(atomic_load(&w[i].ends), 1);
  int ends[4];
  for (int i = 0; i < 4; i++) ends[i] = next_log(log);
  /* Reverse order within each steward; the right subtree stops first. */
  KT_CHECK_EQ(ends[0], -4);
  KT_CHECK_EQ(ends[1], -3);
  KT_CHECK_EQ(ends[2], -2);
  KT_CHECK_EQ(ends[3], -1);
  KT_CHECK(kt_tasks_settle(base, 10 * KEEL_SECOND));
  keel_chan_release(hb);
  keel_ctx_release(ctx);
  keel_steward_release(root);
  keel_steward_release(inner[0]);
  keel_steward_release(inner[1]);
  keel_chan_release(log);
}

KT_TEST(a_child_steward_that_gives_up_escalates) {
  size_t base = keel_task_count();
  struct tward w = {.id = 1};
  atomic_init(&w.mode, FAIL);
  keel_chan *inner_events, *root_events;
  keel_chan_make(&inner_events, sizeof(keel_steward_event), 128);
  keel_chan_make(&root_events, sizeof(keel_steward_event), 128);
  keel_ward_spec leaf = {.name = "leaf", .start = tward_start, .arg = &w,
                         .timeout = 5 * KEEL_SECOND};
  keel_steward_options io = {.name = "inner", .max_restarts = 1,
                             .period = 60 * KEEL_SECOND, .events = inner_events};
  keel_steward *inner;
  KT_CHECK_EQ(keel_steward_make_group(&inner, &leaf, 1, &io), 0);
  keel_ward_spec mid = {.name = "inner", .start = keel_steward_start, .arg = inner,
                        .timeout = 5 * KEEL_SECOND};
  keel_steward_options ro = {.name = "root", .max_restarts = 2,
                             .period = 60 * KEEL_SECOND, .events = root_events};
  keel_steward *root;
  KT_CHECK_EQ(keel_steward_make_group(&root, &mid, 1, &ro), 0);
  keel_ctx *ctx;
  keel_ctx_with_cancel(keel_ctx_background(), &ctx);
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_steward_run(root, ctx, 0, NULL, &err), KEEL_ELIMIT);
  /* The root gave up after its child steward gave up three times; each of
   * those gave up after its leaf failed twice. */
  KT_CHECK(err != NULL);
  KT_CHECK(strstr(keel_err_message(err), "root") != NULL);
  KT_CHECK(keel_err_has_module(err, "tward"));   /* the leaf's own error, kept */
  KT_CHECK(keel_err_has_code(err, KEEL_ELIMIT));
  KT_CHECK_EQ(atomic_load(&w.starts), 6);
  KT_CHECK_EQ(keel_steward_restarts(root), 2);
  /* The root saw its child exit with the child's give-up error. */
  KT_CHECK(expect_event(root_events, KEEL_STEWARD_STARTED, 0));
  keel_steward_event ev = next_event(root_events);
  KT_CHECK_EQ(ev.kind, KEEL_STEWARD_EXITED);
  KT_CHECK(ev.err != NULL && strstr(keel_err_message(ev.err), "inner gave up") != NULL);
  keel_err_release(ev.err);
  int gave_up = 0;
  keel_steward_event iev;
  while (keel_chan_recv(inner_events, &iev, KEEL_NOWAIT) == 0) {
    gave_up += iev.kind == KEEL_STEWARD_GAVE_UP;
    keel_err_release(iev.err);
  }
  KT_CHECK_EQ(gave_up, 3);
  keel_err_release(err);
  KT_CHECK(kt_tasks_settle(base, 10 * KEEL_SECOND));
  keel_ctx_cancel(ctx);
  keel_ctx_release(ctx);
  keel_steward_release(root);
  keel_steward_release(inner);
  drain_events(root_events);
  keel_chan_release(root_events);
  keel_chan_release(inner_events);
}

/* Counts restarts; signals `reached` once the target is hit. */
struct counter {
  _Atomic int restarts;
  int target;
  keel_chan *reached;
};

static void count_event(const keel_steward_event *ev, void *arg) {
  struct counter *c = arg;
  if (ev->kind == KEEL_STEWARD_RESTARTED &&
      atomic_fetch_add(&c->restarts, 1) + 1 == c->target)
    keel_chan_close(c->reached);
}

KT_TEST(stress_many_restarts_then_halt) {
  size_t base = keel_task_count();
  enum { N = 8 };
  struct tward w[N];
  keel_ward_spec specs[N];
  for (int i = 0; i < N; i++) {
    w[i] = (struct tward){.id = i + 1};
    atomic_init(&w[i].mode, i % 2 ? FAIL : FINISH);
    specs[i] = (keel_ward_spec){.name = "w", .start = tward_start, .arg = &w[i],
                                .timeout = 5 * KEEL_SECOND};
  }
  struct counter c = {.target = KT_SANITIZED() ? 300 : 3000};
  keel_chan_make(&c.reached, 0, 0);
  keel_steward_options o = {.on_event = count_event, .event_arg = &c,
                            .strategy = KEEL_REST_FOR_ONE};
  keel_steward *s;
  KT_CHECK_EQ(keel_steward_make_group(&s, specs, N, &o), 0);
  keel_ctx *ctx;
  keel_ctx_with_cancel(keel_ctx_background(), &ctx);
  keel_chan *hb;
  KT_CHECK_EQ(keel_steward_start(ctx, MS, s, &hb), 0);
  KT_CHECK_EQ(keel_chan_recv(c.reached, NULL, keel_deadline_in(60 * KEEL_SECOND)),
              KEEL_ECLOSED);
  keel_ctx_cancel(ctx);
  while (keel_chan_recv(hb, NULL, keel_deadline_in(EV_WAIT)) == 0) {}
  KT_CHECK(keel_chan_is_closed(hb));
  KT_CHECK(kt_tasks_settle(base, 10 * KEEL_SECOND));
  for (int i = 0; i < N; i++)
    KT_CHECK_EQ(atomic_load(&w[i].starts), atomic_load(&w[i].ends));
  KT_CHECK(atomic_load(&c.restarts) >= c.target);
  KT_CHECK(keel_steward_restarts(s) > 0);
  keel_chan_release(hb);
  keel_ctx_release(ctx);
  keel_steward_release(s);
  keel_chan_release(c.reached);
}

KT_MAIN()
