/* The steward's decisions, as pure functions of `now`: restart types,
 * restart intensity, exponential backoff with jitter and its reset. */
#include "keel/steward.h"
#include "keel_test.h"
#include "keel_test_tasks.h"

#define MS KEEL_MILLISECOND

KT_TEST(restart_types) {
  KT_CHECK(keel_restart_wanted(KEEL_RESTART_PERMANENT, true));
  KT_CHECK(keel_restart_wanted(KEEL_RESTART_PERMANENT, false));
  KT_CHECK(keel_restart_wanted(KEEL_RESTART_TRANSIENT, true));
  KT_CHECK(!keel_restart_wanted(KEEL_RESTART_TRANSIENT, false));
  KT_CHECK(!keel_restart_wanted(KEEL_RESTART_TEMPORARY, true));
  KT_CHECK(!keel_restart_wanted(KEEL_RESTART_TEMPORARY, false));
}

KT_TEST(intensity_window) {
  keel_intensity *w;
  KT_CHECK_EQ(keel_intensity_make(&w, 3, 1000 * MS), 0);
  /* Three restarts within a second are allowed, the fourth is not. */
  KT_CHECK_EQ(keel_intensity_record(w, 0), 0);
  KT_CHECK_EQ(keel_intensity_record(w, 100 * MS), 0);
  KT_CHECK_EQ(keel_intensity_record(w, 200 * MS), 0);
  KT_CHECK_EQ(keel_intensity_count(w, 200 * MS), 3);
  KT_CHECK_EQ(keel_intensity_record(w, 999 * MS), KEEL_ELIMIT);
  keel_intensity_free(w);

  /* Spread out, restarts never exceed it: the window slides. */
  KT_CHECK_EQ(keel_intensity_make(&w, 3, 1000 * MS), 0);
  for (int i = 0; i < 100; i++)
    KT_CHECK_EQ(keel_intensity_record(w, (int64_t)i * 334 * MS), 0);
  KT_CHECK_EQ(keel_intensity_count(w, 99 * 334 * MS), 3);
  /* The period is half-open: (now - period, now]. */
  KT_CHECK_EQ(keel_intensity_count(w, 99 * 334 * MS + 1000 * MS), 0);
  keel_intensity_free(w);

  /* Zero restarts allowed: the first one gives up. */
  KT_CHECK_EQ(keel_intensity_make(&w, 0, 1000 * MS), 0);
  KT_CHECK_EQ(keel_intensity_record(w, 5), KEEL_ELIMIT);
  keel_intensity_free(w);

  KT_CHECK_EQ(keel_intensity_make(&w, -1, 1000), KEEL_EINVAL);
  KT_CHECK_EQ(keel_intensity_make(&w, 1, 0), KEEL_EINVAL);
  keel_intensity_free(NULL);
}

KT_TEST(intensity_property_matches_brute_force) {
  /* Random restart times against a direct count of the window. */
  uint64_t x = 12345;
  for (int round = 0; round < 200; round++) {
    int max = (int)(x % 5);
    int64_t period = 1 + (int64_t)(x % 1000);
    keel_intensity *w;
    KT_CHECK_EQ(keel_intensity_make(&w, max, period), 0);
    int64_t times[64], now = 0;
    for (int i = 0; i < 64; i++) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      now += (int64_t)((x >> 33) % 400);
      times[i] = now;
      int within = 0;
      for (int j = 0; j <= i; j++) within += times[j] > now - period;
      int want = within > max ? KEEL_ELIMIT : 0;
      KT_CHECK_EQ(keel_intensity_record(w, now), want);
    }
    keel_intensity_free(w);
  }
}

KT_TEST(backoff_grows_caps_and_jitters) {
  keel_backoff none = {0};
  KT_CHECK_EQ(keel_backoff_delay(&none, 5, 123), 0);
  KT_CHECK_EQ(keel_backoff_delay(NULL, 5, 123), 0);

  keel_backoff b = {.initial = 10 * MS, .max = 1000 * MS, .multiplier = 2.0};
  KT_CHECK_EQ(keel_backoff_delay(&b, 0, 0), 10 * MS);
  KT_CHECK_EQ(keel_backoff_delay(&b, 1, 0), 20 * MS);
  KT_CHECK_EQ(keel_backoff_delay(&b, 3, 0), 80 * MS);
  KT_CHECK_EQ(keel_backoff_delay(&b, 7, 0), 1000 * MS);    /* capped */
  KT_CHECK_EQ(keel_backoff_delay(&b, 5000, 0), 1000 * MS); /* no overflow */

  b.multiplier = 0;   /* < 1 means 2 */
  KT_CHECK_EQ(keel_backoff_delay(&b, 2, 0), 40 * MS);

  b.jitter = 0.5;     /* drawn from [d/2, d] */
  uint64_t x = 99;
  for (int i = 0; i < 1000; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t d = keel_backoff_delay(&b, 3, x);
    KT_CHECK(d >= 40 * MS && d <= 80 * MS);
  }
  KT_CHECK_EQ(keel_backoff_delay(&b, 3, 0), 80 * MS);
  KT_CHECK(keel_backoff_delay(&b, 3, UINT64_MAX) <= 40 * MS + 1);
}

KT_TEST(backoff_resets_after_healthy_period) {
  keel_backoff b = {.initial = 10 * MS, .reset_after = 500 * MS};
  KT_CHECK_EQ(keel_backoff_attempt(&b, 4, 0, 499 * MS), 4);
  KT_CHECK_EQ(keel_backoff_attempt(&b, 4, 0, 500 * MS), 0);
  b.reset_after = 0;   /* default: 10 x initial */
  KT_CHECK_EQ(keel_backoff_attempt(&b, 4, 0, 99 * MS), 4);
  KT_CHECK_EQ(keel_backoff_attempt(&b, 4, 0, 100 * MS), 0);
}

KT_TEST(event_names) {
  KT_CHECK_STR(keel_steward_event_name(KEEL_STEWARD_STARTED), "started");
  KT_CHECK_STR(keel_steward_event_name(KEEL_STEWARD_MISSED_HEARTBEAT), "missed heartbeat");
  KT_CHECK_STR(keel_steward_event_name(KEEL_STEWARD_GAVE_UP), "gave up");
  KT_CHECK_STR(keel_steward_event_name((keel_steward_event_kind)99), "unknown");
}

KT_MAIN()
