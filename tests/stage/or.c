/* or: the output closes when any input is done, or the context is. */
#include "stage_test.h"

KT_TEST(closes_when_any_input_closes) {
  size_t base = keel_task_count();
  keel_chan *in[100];
  for (int i = 0; i < 100; i++) KT_CHECK_EQ(keel_chan_make(&in[i], 0, 0), 0);
  keel_chan *out;
  KT_CHECK_EQ(keel_stage_or(keel_ctx_background(), in, 100, &out), 0);
  KT_CHECK_EQ(keel_chan_elem_size(out), 0);
  KT_CHECK_EQ(keel_chan_recv(out, NULL, KEEL_NOWAIT), KEEL_EAGAIN);
  keel_chan_close(in[73]);
  KT_CHECK_EQ(keel_chan_recv(out, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  for (int i = 0; i < 100; i++) keel_chan_release(in[i]);
  keel_chan_release(out);
}

KT_TEST(a_value_counts_as_done) {
  size_t base = keel_task_count();
  keel_chan *in[2];
  KT_CHECK_EQ(keel_chan_make(&in[0], sizeof(int), 1), 0);
  KT_CHECK_EQ(keel_chan_make(&in[1], 0, 0), 0);
  keel_chan *out;
  KT_CHECK_EQ(keel_stage_or(keel_ctx_background(), in, 2, &out), 0);
  int v = 1;
  keel_chan_send(in[0], &v, KEEL_FOREVER);
  KT_CHECK_EQ(keel_chan_recv(out, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(in[0]);
  keel_chan_release(in[1]);
  keel_chan_release(out);
}

KT_TEST(early_cancel_closes_it) {
  size_t base = keel_task_count();
  keel_ctx *ctx = st_cancelable();
  keel_chan *in[3], *out, *none;
  for (int i = 0; i < 3; i++) KT_CHECK_EQ(keel_chan_make(&in[i], 0, 0), 0);
  KT_CHECK_EQ(keel_stage_or(ctx, in, 3, &out), 0);
  KT_CHECK_EQ(keel_stage_or(ctx, NULL, 0, &none), 0);   /* only ctx closes it */
  KT_CHECK_EQ(keel_task_count(), base + 2);
  keel_ctx_cancel(ctx);
  KT_CHECK_EQ(keel_chan_recv(out, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  KT_CHECK_EQ(keel_chan_recv(none, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  for (int i = 0; i < 3; i++) keel_chan_release(in[i]);
  keel_chan_release(out);
  keel_chan_release(none);
  keel_ctx_release(ctx);
}

KT_TEST(nested_ors) {
  /* or(or(a, b), or(c, d)): the book's steward uses or(wardDone, done) */
  size_t base = keel_task_count();
  keel_chan *leaf[4], *mid[2], *top;
  for (int i = 0; i < 4; i++) KT_CHECK_EQ(keel_chan_make(&leaf[i], 0, 0), 0);
  KT_CHECK_EQ(keel_stage_or(keel_ctx_background(), leaf, 2, &mid[0]), 0);
  KT_CHECK_EQ(keel_stage_or(keel_ctx_background(), leaf + 2, 2, &mid[1]), 0);
  KT_CHECK_EQ(keel_stage_or(keel_ctx_background(), mid, 2, &top), 0);
  keel_chan_close(leaf[1]);
  KT_CHECK_EQ(keel_chan_recv(top, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  keel_chan_close(leaf[2]);   /* the other branch's task ends too */
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  for (int i = 0; i < 4; i++) keel_chan_release(leaf[i]);
  keel_chan_release(mid[0]);
  keel_chan_release(mid[1]);
  keel_chan_release(top);
}

KT_TEST(bad_arguments) {
  keel_chan *in[1] = {NULL}, *out = NULL;
  KT_CHECK_EQ(keel_stage_or(NULL, in, 0, &out), KEEL_EINVAL);
  KT_CHECK_EQ(keel_stage_or(keel_ctx_background(), in, 1, &out), KEEL_EINVAL);
  KT_CHECK_EQ(keel_stage_or(keel_ctx_background(), NULL, 2, &out), KEEL_EINVAL);
  KT_CHECK_EQ(keel_stage_or(keel_ctx_background(), in, 0, NULL), KEEL_EINVAL);
  KT_CHECK(out == NULL);
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
