/* The hedge policy on a fake clock: delay, min samples, budget, max copies. */
#include <math.h>
#include <stdlib.h>

#include "replicate_test.h"
#include "keel/replicate.h"

#define MS KEEL_MILLISECOND

KT_TEST(fixed_delay_needs_no_samples) {
  keel_hedge *h;
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.delay = 7 * MS}), 0);
  KT_CHECK_EQ(keel_hedge_delay_at(h, 123), 7 * MS);
  KT_CHECK_EQ(keel_hedge_max_copies(h), 2);
  keel_hedge_free(h);
}

KT_TEST(adaptive_delay_is_the_percentile_after_min_samples) {
  keel_hedge *h;
  keel_hedge_options o = {.percentile = 0.95, .min_samples = 100, .window = 10 * KEEL_SECOND};
  KT_CHECK_EQ(keel_hedge_new(&h, &o), 0);
  int64_t now = 50 * KEEL_SECOND;
  KT_CHECK_EQ(keel_hedge_delay_at(h, now), KEEL_FOREVER);
  /* 99 samples: still no hedge */
  for (int i = 1; i <= 99; i++) keel_hedge_record_at(h, now, i * MS);
  KT_CHECK_EQ(keel_hedge_samples_at(h, now), 99);
  KT_CHECK_EQ(keel_hedge_delay_at(h, now), KEEL_FOREVER);
  keel_hedge_record_at(h, now, 100 * MS);
  /* 1..100 ms: p95 is 95 ms (rounded up by at most 6.25%) */
  int64_t d = keel_hedge_delay_at(h, now);
  KT_CHECK(d >= 95 * MS);
  KT_CHECK(d <= 101 * MS);
  /* the histogram forgets: two windows later, no samples, no hedge */
  KT_CHECK_EQ(keel_hedge_delay_at(h, now + 20 * KEEL_SECOND), KEEL_FOREVER);
  /* new, faster latencies take over */
  int64_t later = now + 20 * KEEL_SECOND;
  for (int i = 0; i < 200; i++) keel_hedge_record_at(h, later, (1 + i % 10) * MS);
  d = keel_hedge_delay_at(h, later);
  KT_CHECK(d >= 10 * MS && d <= 11 * MS);
  keel_hedge_stats st;
  keel_hedge_stats_get(h, &st);
  KT_CHECK_EQ(st.samples, 300);
  keel_hedge_free(h);
}

KT_TEST(budget_caps_hedges_per_request) {
  keel_hedge *h;
  keel_hedge_options o = {.delay = 0, .budget = 0.05, .budget_burst = 5};
  KT_CHECK_EQ(keel_hedge_new(&h, &o), 0);
  /* every request wants a hedge: only 5% (+ the burst) may go */
  int64_t now = KEEL_SECOND;
  int hedges = 0;
  for (int i = 0; i < 10000; i++) {
    keel_hedge_begin_at(h, now);
    if (keel_hedge_allow_at(h, now)) hedges++;
  }
  KT_CHECK(hedges <= 500 + 5);
  KT_CHECK(hedges >= 500 - 1);
  /* the wall clock does not refill it: only requests do */
  int extra = 0;
  for (int i = 0; i < 100; i++)
    if (keel_hedge_allow_at(h, now + (int64_t)i * KEEL_HOUR)) extra++;
  KT_CHECK_EQ(extra, 0);
  /* 100 more requests earn about five more hedges */
  for (int i = 0; i < 100; i++) keel_hedge_begin_at(h, now);
  int more = 0;
  while (keel_hedge_allow_at(h, now)) more++;
  KT_CHECK(more >= 4 && more <= 6);
  keel_hedge_stats st;
  keel_hedge_stats_get(h, &st);
  KT_CHECK_EQ(st.requests, 10100);
  KT_CHECK_EQ(st.hedges, (uint64_t)(hedges + more));
  KT_CHECK(st.denied > 9000);
  keel_hedge_free(h);
}

KT_TEST(budget_saves_up_to_the_burst) {
  keel_hedge *h;
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.budget = 0.1, .budget_burst = 3}), 0);
  for (int i = 0; i < 1000; i++) keel_hedge_begin_at(h, 0);   /* quiet period */
  int n = 0;
  while (keel_hedge_allow_at(h, 0)) n++;
  KT_CHECK_EQ(n, 3);
  keel_hedge_free(h);
}

KT_TEST(infinite_budget_always_allows) {
  keel_hedge *h;
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.budget = INFINITY, .max_copies = 3}), 0);
  for (int i = 0; i < 1000; i++) KT_CHECK(keel_hedge_allow_at(h, 0));
  KT_CHECK_EQ(keel_hedge_max_copies(h), 3);
  keel_hedge_free(h);
}

/* Property: for random budgets, bursts and request/hedge interleavings, at
 * every prefix hedges <= budget * requests + burst, and a request that
 * found tokens was never refused (the bucket is not stingier than it says). */
KT_TEST(property_budget_bound_holds_at_every_prefix) {
  unsigned seed = 12345;
  for (int trial = 0; trial < 200; trial++) {
    double budget = 0.01 + (rand_r(&seed) % 300) / 1000.0;   /* 1%..31% */
    int64_t burst = 1 + rand_r(&seed) % 20;
    keel_hedge *h;
    KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.budget = budget,
                                                         .budget_burst = burst}), 0);
    uint64_t requests = 0, hedges = 0;
    int64_t now = 0;
    for (int step = 0; step < 2000; step++) {
      now += rand_r(&seed) % 1000;
      if (rand_r(&seed) % 3) {
        keel_hedge_begin_at(h, now);
        requests++;
      } else if (keel_hedge_allow_at(h, now)) {
        hedges++;
      }
      /* small slack for floating-point token arithmetic */
      KT_CHECK((double)hedges <= budget * (double)requests + (double)burst + 1e-6);
    }
    /* and it is not stingy: after enough requests a hedge is available */
    for (int i = 0; i < (int)(1.0 / budget) + 2; i++) keel_hedge_begin_at(h, now);
    KT_CHECK(keel_hedge_allow_at(h, now));
    keel_hedge_free(h);
  }
}

KT_TEST(bad_options_are_refused) {
  keel_hedge *h = NULL;
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.percentile = 1.0}), KEEL_EINVAL);
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.percentile = -0.1}), KEEL_EINVAL);
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.delay = -1}), KEEL_EINVAL);
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.budget = -0.5}), KEEL_EINVAL);
  KT_CHECK_EQ(keel_hedge_new(&h, &(keel_hedge_options){.budget = NAN}), KEEL_EINVAL);
  KT_CHECK_EQ(keel_hedge_new(NULL, NULL), KEEL_EINVAL);
  KT_CHECK(h == NULL);
  KT_CHECK_EQ(keel_hedge_new(&h, NULL), 0);
  KT_CHECK_EQ(keel_hedge_delay_at(h, 0), 0);
  keel_hedge_free(h);
  keel_hedge_free(NULL);
}

KT_MAIN()
