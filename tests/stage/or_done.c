/* or_done: forwards until the input closes or the context is done. */
#include "stage_test.h"

KT_TEST(forwards_everything_then_closes) {
  size_t base = keel_task_count();
  keel_chan *in = st_ints(0, 100), *out;
  KT_CHECK_EQ(keel_stage_or_done(keel_ctx_background(), in, sizeof(int), &out), 0);
  for (int i = 0; i < 100; i++) {
    int v = -1;
    KT_CHECK_EQ(keel_chan_recv(out, &v, KEEL_FOREVER), 0);
    KT_CHECK_EQ(v, i);
  }
  KT_CHECK_EQ(keel_chan_recv(out, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(in);
  keel_chan_release(out);
}

KT_TEST(early_cancel_stops_reading) {
  size_t base = keel_task_count();
  keel_ctx *ctx = st_cancelable();
  keel_chan *in, *out;
  KT_CHECK_EQ(keel_chan_make(&in, sizeof(int), 0), 0);   /* nobody sends */
  KT_CHECK_EQ(keel_stage_or_done(ctx, in, sizeof(int), &out), 0);
  keel_ctx_cancel(ctx);
  KT_CHECK_EQ(st_drain(out), 0);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(in);
  keel_chan_release(out);
  keel_ctx_release(ctx);
}

KT_TEST(cancel_while_blocked_sending) {
  size_t base = keel_task_count();
  keel_ctx *ctx = st_cancelable();
  keel_chan *in = st_ints(0, 10), *out;
  KT_CHECK_EQ(keel_stage_or_done(ctx, in, sizeof(int), &out), 0);
  int v;
  KT_CHECK_EQ(keel_chan_recv(out, &v, KEEL_FOREVER), 0);   /* then stop reading */
  keel_ctx_cancel(ctx);
  KT_CHECK(st_drain(out) <= 1);   /* at most a value already handed over */
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  KT_CHECK(keel_chan_len(in) >= 8);
  keel_chan_release(in);
  keel_chan_release(out);
  keel_ctx_release(ctx);
}

typedef struct producer { keel_chan *ch; int n; } producer;
static void produce_then_close(void *arg) {
  producer *p = arg;
  for (int i = 0; i < p->n; i++) keel_chan_send(p->ch, &i, KEEL_FOREVER);
  keel_chan_close(p->ch);
}

KT_TEST(upstream_close_mid_stream) {
  size_t base = keel_task_count();
  keel_chan *in, *out;
  KT_CHECK_EQ(keel_chan_make(&in, sizeof(int), 0), 0);
  producer p = {in, 5};
  KT_CHECK_EQ(keel_task_spawn(NULL, produce_then_close, &p, NULL), 0);
  KT_CHECK_EQ(keel_stage_or_done(keel_ctx_background(), in, sizeof(int), &out), 0);
  KT_CHECK_EQ(st_drain(out), 5);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(in);
  keel_chan_release(out);
}

KT_TEST(deadline_ends_it) {
  size_t base = keel_task_count();
  keel_ctx *ctx;
  KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(), 5 * KEEL_MILLISECOND, &ctx), 0);
  keel_chan *in, *out;
  KT_CHECK_EQ(keel_chan_make(&in, sizeof(int), 0), 0);
  KT_CHECK_EQ(keel_stage_or_done(ctx, in, sizeof(int), &out), 0);
  keel_ctx_release(ctx);   /* the stage holds its own reference */
  KT_CHECK_EQ(st_drain(out), 0);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(in);
  keel_chan_release(out);
}

KT_TEST(bad_arguments) {
  keel_chan *in, *out = NULL;
  KT_CHECK_EQ(keel_chan_make(&in, 8, 0), 0);
  KT_CHECK_EQ(keel_stage_or_done(keel_ctx_background(), in, 4, &out), KEEL_EINVAL);
  KT_CHECK_EQ(keel_stage_or_done(NULL, in, 8, &out), KEEL_EINVAL);
  KT_CHECK_EQ(keel_stage_or_done(keel_ctx_background(), NULL, 8, &out), KEEL_EINVAL);
  KT_CHECK(out == NULL);
  keel_chan_release(in);
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
