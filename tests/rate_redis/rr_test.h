/* The rate_redis tests' common include: keel_test.h, with KT_TEST redefined
 * because keel_test.h's version names its parameter `name`, which also
 * replaces the struct member `.name` (the lead owns keel_test.h; the chan
 * tests work around it the same way). */
#ifndef KEEL_RR_TEST_H
#define KEEL_RR_TEST_H

#include "keel_test.h"

#undef KT_TEST
#define KT_TEST(test_)                                                  \
  static void kt_##test_(void);                                         \
  __attribute__((constructor)) static void kt_reg_##test_(void) {       \
    kt_cases[kt_ncases++] = (struct kt_case){#test_, kt_##test_};       \
  }                                                                     \
  static void kt_##test_(void)

#endif
