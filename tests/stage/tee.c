/* tee: both outputs see every value, in order. */
#include "stage_test.h"

typedef struct reader { keel_chan *ch; int n; long sum; bool ordered; } reader;
static void read_all(void *arg) {
  reader *r = arg;
  int v, last = -1;
  r->ordered = true;
  while (keel_chan_recv(r->ch, &v, KEEL_FOREVER) == 0) {
    if (v != last + 1) r->ordered = false;
    last = v;
    r->n++;
    r->sum += v;
  }
}

KT_TEST(both_outputs_get_everything) {
  size_t base = keel_task_count();
  keel_chan *in = st_ints(0, 1000), *o1, *o2;
  KT_CHECK_EQ(keel_stage_tee(keel_ctx_background(), in, sizeof(int), &o1, &o2), 0);
  reader r1 = {o1, 0, 0, false}, r2 = {o2, 0, 0, false};
  keel_task *t1, *t2;
  KT_CHECK_EQ(keel_task_spawn(&t1, read_all, &r1, NULL), 0);
  KT_CHECK_EQ(keel_task_spawn(&t2, read_all, &r2, NULL), 0);
  KT_CHECK_EQ(keel_task_join(t1, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(keel_task_join(t2, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(r1.n, 1000);
  KT_CHECK_EQ(r2.n, 1000);
  KT_CHECK_EQ(r1.sum, 999 * 1000 / 2);
  KT_CHECK(r1.ordered && r2.ordered);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(in);
  keel_chan_release(o1);
  keel_chan_release(o2);
}

KT_TEST(either_reader_may_go_first) {
  keel_chan *in = st_ints(7, 2), *o1, *o2;
  KT_CHECK_EQ(keel_stage_tee(keel_ctx_background(), in, sizeof(int), &o1, &o2), 0);
  int v = 0;
  KT_CHECK_EQ(keel_chan_recv(o2, &v, KEEL_FOREVER), 0);   /* out2 first */
  KT_CHECK_EQ(v, 7);
  KT_CHECK_EQ(keel_chan_recv(o1, &v, KEEL_FOREVER), 0);
  KT_CHECK_EQ(v, 7);
  KT_CHECK_EQ(keel_chan_recv(o1, &v, KEEL_FOREVER), 0);
  KT_CHECK_EQ(v, 8);
  KT_CHECK_EQ(keel_chan_recv(o2, &v, KEEL_FOREVER), 0);
  KT_CHECK_EQ(v, 8);
  KT_CHECK_EQ(keel_chan_recv(o1, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  KT_CHECK_EQ(keel_chan_recv(o2, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  keel_chan_release(in);
  keel_chan_release(o1);
  keel_chan_release(o2);
}

KT_TEST(early_cancel_with_one_reader_gone) {
  size_t base = keel_task_count();
  keel_ctx *ctx = st_cancelable();
  keel_chan *in = st_ints(0, 10), *o1, *o2;
  KT_CHECK_EQ(keel_stage_tee(ctx, in, sizeof(int), &o1, &o2), 0);
  int v;
  KT_CHECK_EQ(keel_chan_recv(o1, &v, KEEL_FOREVER), 0);   /* o2 never read */
  keel_ctx_cancel(ctx);
  KT_CHECK_EQ(st_drain(o1), 0);
  KT_CHECK(st_drain(o2) <= 1);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(in);
  keel_chan_release(o1);
  keel_chan_release(o2);
  keel_ctx_release(ctx);
}

KT_TEST(upstream_close) {
  keel_chan *in = st_ints(0, 0), *o1, *o2;
  KT_CHECK_EQ(keel_stage_tee(keel_ctx_background(), in, sizeof(int), &o1, &o2), 0);
  KT_CHECK_EQ(st_drain(o1), 0);
  KT_CHECK_EQ(st_drain(o2), 0);
  keel_chan_release(in);
  keel_chan_release(o1);
  keel_chan_release(o2);
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
