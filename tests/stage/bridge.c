/* bridge: a channel of channels read as one channel. */
#include "stage_test.h"

KT_TEST(streams_in_order_then_close) {
  size_t base = keel_task_count();
  keel_chan *streams, *out;
  KT_CHECK_EQ(keel_chan_make(&streams, sizeof(keel_chan *), 4), 0);
  KT_CHECK_EQ(keel_stage_bridge(keel_ctx_background(), streams, sizeof(int), &out), 0);
  for (int s = 0; s < 4; s++) {
    keel_chan *inner = st_ints(s * 10, 3);   /* its reference goes to the bridge */
    KT_CHECK_EQ(keel_chan_send(streams, &inner, KEEL_FOREVER), 0);
  }
  keel_chan_close(streams);
  int want[12] = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32};
  for (int i = 0; i < 12; i++) {
    int v = -1;
    KT_CHECK_EQ(keel_chan_recv(out, &v, KEEL_FOREVER), 0);
    KT_CHECK_EQ(v, want[i]);
  }
  KT_CHECK_EQ(keel_chan_recv(out, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(streams);
  keel_chan_release(out);
}

typedef struct feeder { keel_chan *streams; int n; } feeder;
static void feed_streams(void *arg) {
  feeder *f = arg;
  for (int s = 0; s < f->n; s++) {
    keel_chan *inner;
    if (keel_chan_make(&inner, sizeof(int), 0)) abort();
    keel_chan_retain(inner);   /* one for the bridge, one to write with */
    keel_chan_send(f->streams, &inner, KEEL_FOREVER);
    for (int i = 0; i < 100; i++) keel_chan_send(inner, &i, KEEL_FOREVER);
    keel_chan_close(inner);
    keel_chan_release(inner);
  }
  keel_chan_close(f->streams);
}

KT_TEST(live_streams_from_a_producer) {
  size_t base = keel_task_count();
  keel_chan *streams, *out;
  KT_CHECK_EQ(keel_chan_make(&streams, sizeof(keel_chan *), 0), 0);
  feeder f = {streams, 20};
  KT_CHECK_EQ(keel_task_spawn(NULL, feed_streams, &f, NULL), 0);
  KT_CHECK_EQ(keel_stage_bridge(keel_ctx_background(), streams, sizeof(int), &out), 0);
  int next = 0;
  size_t n = 0;
  int v;
  while (keel_chan_recv(out, &v, KEEL_FOREVER) == 0) {
    KT_CHECK_EQ(v, next);
    next = (next + 1) % 100;
    n++;
  }
  KT_CHECK_EQ(n, 2000);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(streams);
  keel_chan_release(out);
}

KT_TEST(early_cancel_releases_pending_streams) {
  size_t base = keel_task_count();
  keel_ctx *ctx = st_cancelable();
  keel_chan *streams, *out, *stuck;
  KT_CHECK_EQ(keel_chan_make(&streams, sizeof(keel_chan *), 8), 0);
  KT_CHECK_EQ(keel_chan_make(&stuck, sizeof(int), 0), 0);   /* never written */
  keel_chan *first = keel_chan_retain(stuck);
  keel_chan_send(streams, &first, KEEL_FOREVER);
  for (int s = 0; s < 5; s++) {   /* buffered behind the stuck one */
    keel_chan *inner = st_ints(0, 2);
    keel_chan_send(streams, &inner, KEEL_FOREVER);
  }
  KT_CHECK_EQ(keel_stage_bridge(ctx, streams, sizeof(int), &out), 0);
  keel_ctx_cancel(ctx);
  KT_CHECK_EQ(st_drain(out), 0);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  KT_CHECK_EQ(keel_chan_len(streams), 0);   /* taken out and released: ASan
                                               would report them otherwise */
  keel_chan_release(stuck);
  keel_chan_release(streams);
  keel_chan_release(out);
  keel_ctx_release(ctx);
}

KT_TEST(upstream_close_with_no_streams) {
  size_t base = keel_task_count();
  keel_chan *streams, *out;
  KT_CHECK_EQ(keel_chan_make(&streams, sizeof(keel_chan *), 0), 0);
  KT_CHECK_EQ(keel_stage_bridge(keel_ctx_background(), streams, sizeof(int), &out), 0);
  keel_chan_close(streams);
  KT_CHECK_EQ(st_drain(out), 0);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(streams);
  keel_chan_release(out);
}

KT_TEST(a_stream_of_the_wrong_size_is_skipped) {
  keel_chan *streams, *out, *odd, *good = st_ints(5, 1);
  KT_CHECK_EQ(keel_chan_make(&streams, sizeof(keel_chan *), 2), 0);
  KT_CHECK_EQ(keel_chan_make(&odd, sizeof(double), 1), 0);
  double d = 1.5;
  keel_chan_send(odd, &d, KEEL_FOREVER);
  keel_chan_close(odd);
  keel_chan_send(streams, &odd, KEEL_FOREVER);
  keel_chan_send(streams, &good, KEEL_FOREVER);
  keel_chan_close(streams);
  KT_CHECK_EQ(keel_stage_bridge(keel_ctx_background(), streams, sizeof(int), &out), 0);
  int v = 0;
  KT_CHECK_EQ(keel_chan_recv(out, &v, KEEL_FOREVER), 0);
  KT_CHECK_EQ(v, 5);
  KT_CHECK_EQ(keel_chan_recv(out, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  keel_chan_release(streams);
  keel_chan_release(out);
}

KT_TEST(bad_arguments) {
  keel_chan *ints, *out = NULL;
  KT_CHECK_EQ(keel_chan_make(&ints, sizeof(int), 0), 0);
  KT_CHECK_EQ(keel_stage_bridge(keel_ctx_background(), ints, 4, &out), KEEL_EINVAL);
  KT_CHECK_EQ(keel_stage_bridge(keel_ctx_background(), NULL, 4, &out), KEEL_EINVAL);
  KT_CHECK(out == NULL);
  keel_chan_release(ints);
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
