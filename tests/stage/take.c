/* take(n) over repeat, the book's favourite pair. */
#include "stage_test.h"

KT_TEST(takes_n_from_a_repeat) {
  size_t base = keel_task_count();
  keel_ctx *ctx = st_cancelable();
  int vals[3] = {1, 2, 3};
  keel_chan *rep, *out;
  KT_CHECK_EQ(keel_stage_repeat(ctx, vals, 3, sizeof(int), &rep), 0);
  KT_CHECK_EQ(keel_stage_take(ctx, rep, sizeof(int), 7, &out), 0);
  int want[7] = {1, 2, 3, 1, 2, 3, 1};
  for (int i = 0; i < 7; i++) {
    int v = 0;
    KT_CHECK_EQ(keel_chan_recv(out, &v, KEEL_FOREVER), 0);
    KT_CHECK_EQ(v, want[i]);
  }
  KT_CHECK_EQ(keel_chan_recv(out, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  keel_ctx_cancel(ctx);   /* the repeat runs until its context ends */
  /* At most one value more: the repeat may have checked its context just
   * before the cancel and then find our receive waiting (in Go's select both
   * cases would be ready too); after that send it sees the cancel. */
  KT_CHECK(st_drain(rep) <= 1);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(rep);
  keel_chan_release(out);
  keel_ctx_release(ctx);
}

KT_TEST(take_zero_and_take_more_than_there_is) {
  size_t base = keel_task_count();
  keel_chan *in = st_ints(0, 3), *zero, *more;
  KT_CHECK_EQ(keel_stage_take(keel_ctx_background(), in, sizeof(int), 0, &zero), 0);
  KT_CHECK_EQ(st_drain(zero), 0);
  KT_CHECK_EQ(keel_stage_take(keel_ctx_background(), in, sizeof(int), 10, &more), 0);
  KT_CHECK_EQ(st_drain(more), 3);   /* upstream closed first */
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(in);
  keel_chan_release(zero);
  keel_chan_release(more);
}

KT_TEST(early_cancel) {
  size_t base = keel_task_count();
  keel_ctx *ctx = st_cancelable();
  keel_chan *in, *out;
  KT_CHECK_EQ(keel_chan_make(&in, sizeof(int), 0), 0);
  KT_CHECK_EQ(keel_stage_take(ctx, in, sizeof(int), 5, &out), 0);
  keel_ctx_cancel(ctx);
  KT_CHECK_EQ(st_drain(out), 0);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(in);
  keel_chan_release(out);
  keel_ctx_release(ctx);
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
