/* The hedge policy's latency histogram: buckets, quantiles, forgetting. */
#include <stdlib.h>

#include "replicate_test.h"
#include "keel/time.h"
#include "replicate/latency_hist.h"

static keel_latency_hist h;

KT_TEST(buckets_are_monotonic_and_tight) {
  int prev = -1;
  for (int64_t v = 0; v < 5000000; v += 1 + v / 50) {
    int b = keel_latency_hist_bucket(v);
    KT_CHECK(b >= prev);
    KT_CHECK(b < KEEL_HIST_BUCKETS);
    int64_t up = keel_latency_hist_upper(b);
    KT_CHECK(up >= v);
    KT_CHECK((double)up <= (double)v * 1.0625 + 1);   /* <= 6.25% wide */
    prev = b;
  }
  KT_CHECK_EQ(keel_latency_hist_bucket(-5), 0);
  KT_CHECK(keel_latency_hist_bucket(INT64_MAX) == KEEL_HIST_BUCKETS - 1);
  KT_CHECK(keel_latency_hist_upper(KEEL_HIST_BUCKETS - 1) == INT64_MAX);
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

KT_TEST(quantiles_match_the_sorted_samples) {
  keel_latency_hist_init(&h, KEEL_SECOND);
  enum { N = 20000 };
  static int64_t v[N];
  srand(7);
  for (int i = 0; i < N; i++) {
    /* a heavy tail: mostly 1-10 ms, 2% 100-1000 ms */
    v[i] = rand() % 50 == 0 ? (100 + rand() % 900) * KEEL_MILLISECOND
                            : (1 + rand() % 10) * KEEL_MILLISECOND + rand() % 1000;
    keel_latency_hist_record(&h, 0, v[i]);
  }
  qsort(v, N, sizeof v[0], cmp64);
  const double ps[] = {0.5, 0.9, 0.95, 0.99, 0.999, 1.0};
  for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
    int64_t exact = v[(size_t)(ps[i] * N + 0.999999) - 1];
    int64_t q = keel_latency_hist_quantile(&h, 0, ps[i]);
    KT_CHECK(q >= exact);
    KT_CHECK((double)q <= (double)exact * 1.07);
  }
  KT_CHECK_EQ(keel_latency_hist_count(&h, 0), N);
}

KT_TEST(old_samples_are_forgotten) {
  const int64_t W = 10 * KEEL_SECOND;
  keel_latency_hist_init(&h, W);
  int64_t t = 1000 * KEEL_SECOND;
  for (int i = 0; i < 100; i++) keel_latency_hist_record(&h, t, 500 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_latency_hist_count(&h, t), 100);
  /* one window later the old samples are still remembered (prev) */
  for (int i = 0; i < 100; i++) keel_latency_hist_record(&h, t + W, 5 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_latency_hist_count(&h, t + W), 200);
  KT_CHECK(keel_latency_hist_quantile(&h, t + W, 0.9) >= 500 * KEEL_MILLISECOND);
  /* two windows later only the newer ones remain */
  KT_CHECK_EQ(keel_latency_hist_count(&h, t + 2 * W), 100);
  int64_t p90 = keel_latency_hist_quantile(&h, t + 2 * W, 0.9);
  KT_CHECK(p90 >= 5 * KEEL_MILLISECOND && p90 < 6 * KEEL_MILLISECOND);
  /* a long silence forgets everything */
  KT_CHECK_EQ(keel_latency_hist_count(&h, t + 10 * W), 0);
  KT_CHECK_EQ(keel_latency_hist_quantile(&h, t + 10 * W, 0.5), -1);
  /* time running backwards rotates nothing */
  keel_latency_hist_record(&h, t + 10 * W, 1);
  KT_CHECK_EQ(keel_latency_hist_count(&h, t), 1);
}

KT_TEST(cache_follows_new_data) {
  keel_latency_hist_init(&h, KEEL_SECOND);
  for (int i = 0; i < 10; i++) keel_latency_hist_record(&h, 0, 1000);
  KT_CHECK(keel_latency_hist_quantile(&h, 0, 0.5) < 1100);
  /* few samples: every new one counts */
  for (int i = 0; i < 30; i++) keel_latency_hist_record(&h, 0, 1000000);
  KT_CHECK(keel_latency_hist_quantile(&h, 0, 0.5) >= 1000000);
}

KT_MAIN()
