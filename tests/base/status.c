/* The floor-0 pieces: status names and texts, deadline arithmetic, and the
 * umbrella header compiling on its own. */
#include "keel.h"
#include "keel_test.h"

KT_TEST(every_code_has_its_own_name_and_text) {
  for (int code = 0; code >= KEEL_EFAILED; code--) {
    KT_CHECK(strcmp(keel_status_name(code), "KEEL_UNKNOWN") != 0);
    KT_CHECK(strcmp(keel_strerror(code), "unknown keel status code") != 0);
    for (int other = code - 1; other >= KEEL_EFAILED; other--)
      KT_CHECK(strcmp(keel_status_name(code), keel_status_name(other)) != 0);
  }
  KT_CHECK_STR(keel_status_name(KEEL_ETIMEDOUT), "KEEL_ETIMEDOUT");
  KT_CHECK_STR(keel_status_name(12345), "KEEL_UNKNOWN");
  KT_CHECK_STR(keel_strerror(-999), "unknown keel status code");
}

KT_TEST(deadlines_saturate_instead_of_wrapping) {
  KT_CHECK_EQ(keel_deadline_in(INT64_MAX), KEEL_FOREVER);
  KT_CHECK(keel_deadline_in(INT64_MIN) < keel_now());
  int64_t now = keel_now();
  KT_CHECK(keel_deadline_in(-KEEL_SECOND) < now);
  KT_CHECK(keel_deadline_in(KEEL_SECOND) > now);
  KT_CHECK_EQ(keel_until(KEEL_FOREVER, now), KEEL_FOREVER);
  KT_CHECK_EQ(keel_until(now - 5, now), 0);
  KT_CHECK_EQ(keel_until(KEEL_NOWAIT, now), 0);
  KT_CHECK_EQ(keel_until(now + 7, now), 7);
  KT_CHECK_EQ(keel_until(INT64_MAX - 1, -10), KEEL_FOREVER);
}

KT_TEST(clocks_move_forward) {
  int64_t a = keel_now(), b = keel_now();
  KT_CHECK(b >= a);
  KT_CHECK(keel_wall_now() > INT64_C(1600000000) * KEEL_SECOND);
}

KT_MAIN()
