/* The token bucket on a fake clock: the book's tables, Go's edge cases, bad
 * arguments, reservations and cancel, setters, and the clock. */
#include <float.h>
#include <math.h>

#include "keel/rate.h"
#include "keel_test.h"

#define S KEEL_SECOND
#define MS KEEL_MILLISECOND
#define T0 (INT64_C(1000) * S)

static keel_rate_limiter *mk(keel_rate_limit r, int64_t b) {
  keel_rate_limiter *l = NULL;
  if (keel_rate_limiter_new(&l, r, b) != 0) return NULL;
  return l;
}

KT_TEST(every_and_per_follow_go_and_the_book) {
  KT_CHECK(keel_rate_limit_is_inf(keel_rate_every(0)));
  KT_CHECK(keel_rate_limit_is_inf(keel_rate_every(-5)));
  KT_CHECK(keel_rate_every(S) == 1.0);
  KT_CHECK(keel_rate_every(500 * MS) == 2.0);
  KT_CHECK(keel_rate_per(2, S) == 2.0);
  KT_CHECK(fabs(keel_rate_per(10, KEEL_MINUTE) - 1.0 / 6) < 1e-15);
  KT_CHECK(keel_rate_per(0, S) == 0);
  KT_CHECK(keel_rate_per(-1, S) == 0);
  KT_CHECK(keel_rate_limit_is_inf(keel_rate_per(3, 2)));   /* 2/3 ns == 0: Inf */
  KT_CHECK(keel_rate_limit_is_inf(KEEL_RATE_INF));
  KT_CHECK(keel_rate_limit_is_inf(DBL_MAX));
  KT_CHECK(!keel_rate_limit_is_inf(1e300));
}

KT_TEST(bad_arguments_are_einval_never_ub) {
  keel_rate_limiter *l = (keel_rate_limiter *)1;
  KT_CHECK_EQ(keel_rate_limiter_new(NULL, 1, 1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_limiter_new(&l, NAN, 1), KEEL_EINVAL);
  KT_CHECK(l == NULL);
  KT_CHECK_EQ(keel_rate_limiter_new(&l, -1, 1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_limiter_new(&l, 1, -1), KEEL_EINVAL);
  KT_CHECK(!keel_rate_allow(NULL));
  KT_CHECK(!keel_rate_allow_n_at(NULL, T0, 1));
  keel_rate_reservation r;
  KT_CHECK_EQ(keel_rate_reserve_n_at(NULL, T0, 1, &r), KEEL_EINVAL);
  KT_CHECK(!keel_rate_reservation_ok(&r));
  KT_CHECK_EQ(keel_rate_reservation_delay_from(&r, T0), KEEL_RATE_INF_DURATION);
  KT_CHECK_EQ(keel_rate_reservation_delay_from(NULL, T0), KEEL_RATE_INF_DURATION);
  keel_rate_reservation_cancel_at(NULL, T0);
  KT_CHECK(keel_rate_tokens_at(NULL, T0) == 0);
  KT_CHECK(keel_rate_limiter_limit(NULL) == 0);
  KT_CHECK_EQ(keel_rate_limiter_burst(NULL), 0);
  KT_CHECK_EQ(keel_rate_set_limit_at(NULL, T0, 1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_wait_n(NULL, NULL, 1), KEEL_EINVAL);
  keel_rate_limiter_free(NULL);

  l = mk(1, 5);
  KT_CHECK(l != NULL);
  KT_CHECK(!keel_rate_allow_n_at(l, T0, -1));
  KT_CHECK_EQ(keel_rate_reserve_n_at(l, T0, -1, &r), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_reserve_n_at(l, T0, 1, NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_set_limit_at(l, T0, NAN), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_set_limit_at(l, T0, -0.5), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_set_burst_at(l, T0, -1), KEEL_EINVAL);
  KT_CHECK(keel_rate_limiter_limit(l) == 1);
  KT_CHECK_EQ(keel_rate_limiter_burst(l), 5);
  KT_CHECK(keel_rate_tokens_at(l, T0) == 5);   /* nothing was taken */
  keel_rate_limiter_free(l);
}

/* The book's third table: depth 5, 0.5 tokens/s: five at once, then one
 * every two seconds. */
KT_TEST(book_table_depth5_half_per_second) {
  keel_rate_limiter *l = mk(0.5, 5);
  for (int i = 0; i < 5; i++) KT_CHECK(keel_rate_allow_n_at(l, T0, 1));
  KT_CHECK(!keel_rate_allow_n_at(l, T0, 1));
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + 1 * S, 1));
  KT_CHECK(keel_rate_tokens_at(l, T0 + 1 * S) == 0.5);
  KT_CHECK(keel_rate_allow_n_at(l, T0 + 2 * S, 1));
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + 3 * S, 1));
  KT_CHECK(keel_rate_allow_n_at(l, T0 + 4 * S, 1));
  keel_rate_limiter_free(l);
}

/* The book's fourth table: a burst of two, then five seconds later a burst of
 * five (the bucket refilled to its depth and no further). */
KT_TEST(book_table_bucket_refills_to_its_depth) {
  keel_rate_limiter *l = mk(1, 5);
  KT_CHECK(keel_rate_allow_n_at(l, T0, 1));
  KT_CHECK(keel_rate_allow_n_at(l, T0, 1));
  KT_CHECK(keel_rate_tokens_at(l, T0 + 1 * S) == 4);
  KT_CHECK(keel_rate_tokens_at(l, T0 + 3 * S) == 5);
  KT_CHECK(keel_rate_tokens_at(l, T0 + 4 * S) == 5);
  for (int i = 0; i < 5; i++) KT_CHECK(keel_rate_allow_n_at(l, T0 + 5 * S, 1));
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + 5 * S, 1));
  keel_rate_limiter_free(l);
}

KT_TEST(starts_full_and_allow_n_takes_n) {
  keel_rate_limiter *l = mk(10, 7);
  KT_CHECK(keel_rate_tokens_at(l, 0) == 7);
  KT_CHECK(keel_rate_tokens_at(l, -5 * S) == 7);
  KT_CHECK(keel_rate_allow_n_at(l, T0, 7));
  KT_CHECK(!keel_rate_allow_n_at(l, T0, 1));
  KT_CHECK(keel_rate_allow_n_at(l, T0, 0));             /* n == 0 always */
  KT_CHECK(keel_rate_allow_n_at(l, T0 + 100 * MS, 1));  /* 10/s */
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + 150 * MS, 1));
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + 10 * S, 8));   /* n > burst */
  keel_rate_limiter_free(l);
}

KT_TEST(burst_zero_refuses_all_but_n_zero) {
  keel_rate_limiter *l = mk(100, 0);
  KT_CHECK(!keel_rate_allow_n_at(l, T0, 1));
  KT_CHECK(keel_rate_allow_n_at(l, T0, 0));
  keel_rate_reservation r;
  KT_CHECK_EQ(keel_rate_reserve_n_at(l, T0, 1, &r), 0);
  KT_CHECK(!r.ok);
  KT_CHECK_EQ(keel_rate_reservation_delay_from(&r, T0), KEEL_RATE_INF_DURATION);
  keel_rate_limiter_free(l);
}

KT_TEST(infinite_limit_allows_everything_even_burst_zero) {
  keel_rate_limiter *l = mk(KEEL_RATE_INF, 0);
  for (int i = 0; i < 1000; i++) KT_CHECK(keel_rate_allow_n_at(l, T0, 1000));
  keel_rate_reservation r;
  KT_CHECK_EQ(keel_rate_reserve_n_at(l, T0, 1 << 30, &r), 0);
  KT_CHECK(r.ok);
  KT_CHECK_EQ(keel_rate_reservation_delay_from(&r, T0), 0);
  keel_rate_reservation_cancel_at(&r, T0);   /* no effect with Inf */
  KT_CHECK(keel_rate_allow_n_at(l, T0, 5));
  keel_rate_limiter_free(l);
}

KT_TEST(zero_limit_spends_the_burst_itself) {
  keel_rate_limiter *l = mk(0, 3);
  KT_CHECK(keel_rate_allow_n_at(l, T0, 2));
  KT_CHECK_EQ(keel_rate_limiter_burst(l), 1);
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + 100 * S, 2));
  KT_CHECK(keel_rate_allow_n_at(l, T0 + 100 * S, 1));
  KT_CHECK_EQ(keel_rate_limiter_burst(l), 0);
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + 10000 * S, 1));
  /* Go: raising the limit later starts from an empty bucket. */
  KT_CHECK_EQ(keel_rate_set_limit_at(l, T0 + 10000 * S, 1), 0);
  KT_CHECK_EQ(keel_rate_set_burst_at(l, T0 + 10000 * S, 5), 0);
  KT_CHECK(keel_rate_tokens_at(l, T0 + 10000 * S) == 0);
  KT_CHECK(keel_rate_tokens_at(l, T0 + 10002 * S) == 2);
  keel_rate_limiter_free(l);
}

KT_TEST(earlier_clock_reading_does_not_refill) {
  keel_rate_limiter *l = mk(1, 3);
  KT_CHECK(keel_rate_allow_n_at(l, T0 + 10 * S, 3));
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + 5 * S, 1));       /* back in time */
  KT_CHECK(keel_rate_tokens_at(l, T0 + 5 * S) == 0);
  /* Go moves last back to the earlier reading when it acts there. */
  KT_CHECK_EQ(keel_rate_set_burst_at(l, T0 + 5 * S, 3), 0);
  KT_CHECK(keel_rate_tokens_at(l, T0 + 7 * S) == 2);
  keel_rate_limiter_free(l);
}

KT_TEST(very_small_limits_never_jam_open) {
  keel_rate_limiter *l = mk(1, 1);
  KT_CHECK(keel_rate_allow_n_at(l, T0, 1));
  KT_CHECK_EQ(keel_rate_set_limit_at(l, T0, 1e-300), 0);
  /* The wait (1e309 s) overflows int64: it is infinite, never negative. */
  for (int64_t dt = 0; dt < 290; dt += 7)
    KT_CHECK(!keel_rate_allow_n_at(l, T0 + dt * KEEL_HOUR * 24 * 365, 1));
  keel_rate_reservation r;
  KT_CHECK_EQ(keel_rate_reserve_n_within_at(l, T0, 1, INT64_MAX - 1, &r), 0);
  KT_CHECK(!r.ok);
  KT_CHECK_EQ(keel_rate_reserve_n_at(l, T0, 1, &r), 0);
  KT_CHECK(r.ok);                                        /* Go: ok, never due */
  KT_CHECK_EQ(r.time_to_act, INT64_MAX);
  KT_CHECK_EQ(keel_rate_reservation_delay_from(&r, T0), INT64_MAX - T0);
  keel_rate_limiter_free(l);
  /* Go's zero Time is 292 years back: a limit that small starts below full. */
  l = mk(1e-10, 1);
  KT_CHECK(!keel_rate_allow_n_at(l, T0, 1));
  KT_CHECK(keel_rate_tokens_at(l, T0) < 1);
  keel_rate_limiter_free(l);
  l = mk(1e-9, 1);
  KT_CHECK(keel_rate_allow_n_at(l, T0, 1));
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + KEEL_HOUR * 24 * 365, 1));
  keel_rate_limiter_free(l);
}

KT_TEST(very_large_limits_round_sub_nanosecond_waits_away) {
  keel_rate_limiter *l = mk(1e300, 3);
  KT_CHECK(keel_rate_allow_n_at(l, T0, 3));
  KT_CHECK(keel_rate_allow_n_at(l, T0, 3));   /* debt of 3e-300 s: 0 ns */
  KT_CHECK(keel_rate_tokens_at(l, T0 + 1) == 3);
  KT_CHECK(keel_rate_tokens_at(l, INT64_MAX) == 3);
  keel_rate_limiter_free(l);
  l = mk(1e9, 2);   /* one per ns */
  KT_CHECK(keel_rate_allow_n_at(l, T0, 2));
  KT_CHECK(!keel_rate_allow_n_at(l, T0, 2));
  KT_CHECK(keel_rate_allow_n_at(l, T0 + 2, 2));
  keel_rate_limiter_free(l);
}

KT_TEST(extreme_times_saturate) {
  keel_rate_limiter *l = mk(1, 2);
  KT_CHECK(!keel_rate_allow_n_at(l, INT64_MIN + 1, 2));   /* 1 ns after "never" */
  KT_CHECK(keel_rate_allow_n_at(l, INT64_MIN / 2, 2));
  KT_CHECK(keel_rate_allow_n_at(l, INT64_MAX, 2));
  keel_rate_reservation r;
  KT_CHECK_EQ(keel_rate_reserve_n_at(l, INT64_MAX, 2, &r), 0);
  KT_CHECK(r.ok);
  KT_CHECK_EQ(r.time_to_act, INT64_MAX);
  KT_CHECK(!keel_rate_allow_n_at(l, 0, 0));   /* in debt: even n == 0 waits (Go) */
  keel_rate_limiter_free(l);
}

KT_TEST(reserve_reports_delay_and_goes_into_debt) {
  keel_rate_limiter *l = mk(10, 2);   /* one per 100 ms */
  keel_rate_reservation a, b, c;
  KT_CHECK_EQ(keel_rate_reserve_n_at(l, T0, 2, &a), 0);
  KT_CHECK(a.ok);
  KT_CHECK_EQ(keel_rate_reservation_delay_from(&a, T0), 0);
  KT_CHECK_EQ(keel_rate_reserve_n_at(l, T0, 2, &b), 0);
  KT_CHECK(b.ok);
  KT_CHECK_EQ(keel_rate_reservation_delay_from(&b, T0), 200 * MS);
  KT_CHECK_EQ(keel_rate_reservation_delay_from(&b, T0 + 150 * MS), 50 * MS);
  KT_CHECK_EQ(keel_rate_reservation_delay_from(&b, T0 + 250 * MS), 0);
  KT_CHECK(keel_rate_tokens_at(l, T0) == -2);
  KT_CHECK_EQ(keel_rate_reserve_n_at(l, T0, 1, &c), 0);
  KT_CHECK_EQ(c.time_to_act, T0 + 300 * MS);
  /* Not within 250 ms: refused, and nothing taken. */
  KT_CHECK_EQ(keel_rate_reserve_n_within_at(l, T0, 1, 250 * MS, &c), 0);
  KT_CHECK(!c.ok);
  KT_CHECK(keel_rate_tokens_at(l, T0) == -3);
  keel_rate_limiter_free(l);
}

KT_TEST(cancel_gives_tokens_back_as_go_does) {
  keel_rate_limiter *l = mk(10, 2);
  keel_rate_reservation a, b, c;
  keel_rate_reserve_n_at(l, T0, 2, &a);          /* act at T0, tokens 0 */
  keel_rate_reserve_n_at(l, T0, 2, &b);          /* act at T0+200ms, tokens -2 */
  keel_rate_reservation_cancel_at(&b, T0);       /* the last one: all back */
  KT_CHECK(keel_rate_tokens_at(l, T0) == 0);
  keel_rate_reserve_n_at(l, T0, 1, &c);          /* lastEvent wound back: */
  KT_CHECK_EQ(c.time_to_act, T0 + 100 * MS);     /* due at 100 ms, not 300 */
  keel_rate_limiter_free(l);

  /* Canceling an earlier reservation restores only what later ones did not
   * build on: b (2 tokens) then c (1 token, 100 ms after b) -> cancel b gives
   * back 2 - 1 = 1. */
  l = mk(10, 2);
  keel_rate_reserve_n_at(l, T0, 2, &a);
  keel_rate_reserve_n_at(l, T0, 2, &b);          /* T0+200ms */
  keel_rate_reserve_n_at(l, T0, 1, &c);          /* T0+300ms, tokens -3 */
  keel_rate_reservation_cancel_at(&b, T0);
  KT_CHECK(fabs(keel_rate_tokens_at(l, T0) - -2.0) < 1e-12);
  /* Canceling after the time to act does nothing. */
  keel_rate_reservation_cancel_at(&c, T0 + 400 * MS);
  KT_CHECK(fabs(keel_rate_tokens_at(l, T0 + 400 * MS) - 2.0) < 1e-9);
  /* Canceling a refused reservation does nothing. */
  keel_rate_reservation bad;
  keel_rate_reserve_n_at(l, T0 + 400 * MS, 3, &bad);
  KT_CHECK(!bad.ok);
  keel_rate_reservation_cancel_at(&bad, T0 + 400 * MS);
  KT_CHECK(fabs(keel_rate_tokens_at(l, T0 + 400 * MS) - 2.0) < 1e-9);
  keel_rate_limiter_free(l);
}

KT_TEST(set_limit_and_burst_bring_the_bucket_up_to_date_first) {
  keel_rate_limiter *l = mk(1, 10);
  KT_CHECK(keel_rate_allow_n_at(l, T0, 10));
  KT_CHECK_EQ(keel_rate_set_limit_at(l, T0 + 2 * S, 4), 0);   /* 2 tokens at 1/s */
  KT_CHECK(keel_rate_limiter_limit(l) == 4);
  KT_CHECK(keel_rate_tokens_at(l, T0 + 3 * S) == 6);          /* then 4/s */
  KT_CHECK_EQ(keel_rate_set_burst_at(l, T0 + 3 * S, 3), 0);
  KT_CHECK_EQ(keel_rate_limiter_burst(l), 3);
  KT_CHECK(keel_rate_tokens_at(l, T0 + 3 * S) == 3);
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + 3 * S, 4));
  KT_CHECK(keel_rate_allow_n_at(l, T0 + 3 * S, 3));
  KT_CHECK_EQ(keel_rate_set_limit_at(l, T0 + 3 * S, KEEL_RATE_INF), 0);
  KT_CHECK(keel_rate_allow_n_at(l, T0 + 3 * S, 100));
  KT_CHECK_EQ(keel_rate_set_limit_at(l, T0 + 3 * S, 1), 0);
  KT_CHECK(!keel_rate_allow_n_at(l, T0 + 3 * S, 1));
  KT_CHECK(keel_rate_allow_n_at(l, T0 + 4 * S, 1));
  keel_rate_limiter_free(l);
}

KT_TEST(tokens_at_does_not_change_the_limiter) {
  keel_rate_limiter *l = mk(2, 4);
  KT_CHECK(keel_rate_allow_n_at(l, T0, 4));
  KT_CHECK(keel_rate_tokens_at(l, T0 + 1 * S) == 2);
  KT_CHECK(keel_rate_tokens_at(l, T0 - 1 * S) == 0);
  KT_CHECK(keel_rate_tokens_at(l, T0 + 1 * S) == 2);
  keel_rate_limiter_free(l);
}

/* Days between uses move the packed state's base (the slow path). */
KT_TEST(uses_days_apart_stay_exact) {
  keel_rate_limiter *l = mk(0.001, 2);
  int64_t t = T0;
  for (int i = 0; i < 50; i++) {
    KT_CHECK(keel_rate_allow_n_at(l, t, 2));
    KT_CHECK(!keel_rate_allow_n_at(l, t + 1 * S, 1));
    t += 3 * 24 * KEEL_HOUR;
  }
  keel_rate_limiter_free(l);
}

KT_TEST(allow_now_never_moves_the_bucket_back) {
  keel_rate_limiter *l = mk(1000, 1000);
  int64_t prev = INT64_MIN, stamp = 0;
  for (int i = 0; i < 100000; i++) {
    if (keel_rate_allow_stamped(l, 1, &stamp)) {
      KT_CHECK(stamp >= prev);
      prev = stamp;
    }
  }
  keel_rate_limiter_free(l);
}

KT_TEST(rate_clock_tracks_keel_now) {
  int64_t start = keel_now(), last = keel_rate_now(), worst = 0;
  int64_t runs = 0;
  while (keel_now() - start < 30 * MS) {
    int64_t a = keel_now(), r = keel_rate_now(), b = keel_now();
    if (r < a - 20 * KEEL_MICROSECOND || r > b + 20 * KEEL_MICROSECOND) {
      KT_FAIL("rate clock %lld outside [%lld, %lld]", (long long)r, (long long)a,
              (long long)b);
    }
    if (last - r > worst) worst = last - r;
    last = r;
    runs++;
  }
  KT_CHECK(worst < 20 * KEEL_MICROSECOND);   /* no real step backwards */
  KT_CHECK(runs > 100);
}

KT_MAIN()
