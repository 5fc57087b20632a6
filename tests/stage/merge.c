/* merge: fan-in of N; every value exactly once, each input's order kept. */
#include "stage_test.h"

enum { N = 8, PER = 1000 };

typedef struct producer { keel_chan *ch; int id; } producer;
static void produce(void *arg) {
  producer *p = arg;
  for (int i = 0; i < PER; i++) {
    int v = p->id * PER + i;
    keel_chan_send(p->ch, &v, KEEL_FOREVER);
  }
  keel_chan_close(p->ch);
}

KT_TEST(fan_in_of_eight_producers) {
  size_t base = keel_task_count();
  keel_chan *in[N], *out;
  producer p[N];
  for (int i = 0; i < N; i++) {
    KT_CHECK_EQ(keel_chan_make(&in[i], sizeof(int), i % 2 ? 16 : 0), 0);
    p[i] = (producer){in[i], i};
    KT_CHECK_EQ(keel_task_spawn(NULL, produce, &p[i], NULL), 0);
  }
  KT_CHECK_EQ(keel_stage_merge(keel_ctx_background(), in, N, sizeof(int), &out), 0);
  int next[N] = {0};
  static unsigned char seen[N * PER];
  memset(seen, 0, sizeof seen);
  int v, total = 0;
  while (keel_chan_recv(out, &v, KEEL_FOREVER) == 0) {
    KT_CHECK(v >= 0 && v < N * PER);
    KT_CHECK_EQ(seen[v], 0);
    seen[v] = 1;
    KT_CHECK_EQ(v % PER, next[v / PER]);   /* per-input order */
    next[v / PER]++;
    total++;
  }
  KT_CHECK_EQ(total, N * PER);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  for (int i = 0; i < N; i++) keel_chan_release(in[i]);
  keel_chan_release(out);
}

KT_TEST(no_inputs_closes_at_once) {
  keel_chan *out;
  KT_CHECK_EQ(keel_stage_merge(keel_ctx_background(), NULL, 0, sizeof(int), &out), 0);
  KT_CHECK_EQ(st_drain(out), 0);
  keel_chan_release(out);
}

KT_TEST(early_cancel) {
  size_t base = keel_task_count();
  keel_ctx *ctx = st_cancelable();
  keel_chan *in[3], *out;
  for (int i = 0; i < 3; i++) KT_CHECK_EQ(keel_chan_make(&in[i], sizeof(int), 0), 0);
  KT_CHECK_EQ(keel_stage_merge(ctx, in, 3, sizeof(int), &out), 0);
  keel_ctx_cancel(ctx);
  KT_CHECK_EQ(st_drain(out), 0);
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  for (int i = 0; i < 3; i++) keel_chan_release(in[i]);
  keel_chan_release(out);
  keel_ctx_release(ctx);
}

KT_TEST(upstream_closes_one_by_one) {
  keel_chan *in[3] = {st_ints(0, 2), st_ints(10, 0), st_ints(20, 3)}, *out;
  KT_CHECK_EQ(keel_stage_merge(keel_ctx_background(), in, 3, sizeof(int), &out), 0);
  KT_CHECK_EQ(st_drain(out), 5);
  for (int i = 0; i < 3; i++) keel_chan_release(in[i]);
  keel_chan_release(out);
}

KT_TEST(bad_arguments) {
  keel_chan *a, *b, *out = NULL;
  KT_CHECK_EQ(keel_chan_make(&a, 4, 0), 0);
  KT_CHECK_EQ(keel_chan_make(&b, 8, 0), 0);
  keel_chan *mixed[2] = {a, b};
  KT_CHECK_EQ(keel_stage_merge(keel_ctx_background(), mixed, 2, 4, &out), KEEL_EINVAL);
  KT_CHECK(out == NULL);
  keel_chan_release(a);
  keel_chan_release(b);
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
