/* repeat and repeat_fn: generators that stop with their context. */
#include "stage_test.h"

typedef struct big { long a[8]; } big;

KT_TEST(repeat_cycles_large_elements) {
  size_t base = keel_task_count();
  keel_ctx *ctx = st_cancelable();
  big vals[2];
  for (int i = 0; i < 2; i++)
    for (int k = 0; k < 8; k++) vals[i].a[k] = i * 100 + k;
  keel_chan *out;
  KT_CHECK_EQ(keel_stage_repeat(ctx, vals, 2, sizeof(big), &out), 0);
  vals[0].a[0] = -1;   /* the values were copied */
  for (int i = 0; i < 10; i++) {
    big b;
    KT_CHECK_EQ(keel_chan_recv(out, &b, KEEL_FOREVER), 0);
    KT_CHECK_EQ(b.a[0], (i % 2) * 100);
    KT_CHECK_EQ(b.a[7], (i % 2) * 100 + 7);
  }
  keel_ctx_cancel(ctx);
  KT_CHECK(st_drain(out) <= 1);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(out);
  keel_ctx_release(ctx);
}

static int count_to_five(void *arg, void *elem) {
  int *n = arg;
  if (*n >= 5) return 1;
  *(int *)elem = (*n)++;
  return 0;
}

static int forever(void *arg, void *elem) {
  (void)arg;
  *(int *)elem = 42;
  return 0;
}

KT_TEST(repeat_fn_until_the_function_stops) {
  size_t base = keel_task_count();
  int n = 0;
  keel_chan *out;
  KT_CHECK_EQ(keel_stage_repeat_fn(keel_ctx_background(), count_to_five, &n,
                                   sizeof(int), &out), 0);
  for (int i = 0; i < 5; i++) {
    int v = -1;
    KT_CHECK_EQ(keel_chan_recv(out, &v, KEEL_FOREVER), 0);
    KT_CHECK_EQ(v, i);
  }
  KT_CHECK_EQ(keel_chan_recv(out, NULL, KEEL_FOREVER), KEEL_ECLOSED);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(out);
}

KT_TEST(repeat_fn_until_canceled) {
  size_t base = keel_task_count();
  keel_ctx *ctx = st_cancelable();
  keel_chan *out;
  KT_CHECK_EQ(keel_stage_repeat_fn(ctx, forever, NULL, sizeof(int), &out), 0);
  int v = 0;
  KT_CHECK_EQ(keel_chan_recv(out, &v, KEEL_FOREVER), 0);
  KT_CHECK_EQ(v, 42);
  keel_ctx_cancel(ctx);
  KT_CHECK(st_drain(out) <= 1);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(out);
  keel_ctx_release(ctx);
}

KT_TEST(bad_arguments) {
  keel_chan *out = NULL;
  int v = 0;
  KT_CHECK_EQ(keel_stage_repeat(keel_ctx_background(), &v, 0, sizeof v, &out), KEEL_EINVAL);
  KT_CHECK_EQ(keel_stage_repeat(keel_ctx_background(), NULL, 1, sizeof v, &out), KEEL_EINVAL);
  KT_CHECK_EQ(keel_stage_repeat_fn(keel_ctx_background(), NULL, NULL, 4, &out), KEEL_EINVAL);
  KT_CHECK(out == NULL);
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
