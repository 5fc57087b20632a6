/* Shared helpers for the rate tests. keel_test.h's KT_TEST names its
 * parameter `name`, which also replaces the `.name` field it assigns; this
 * redefinition (as other modules' test headers do) avoids that. */
#ifndef KEEL_RATE_TEST_H
#define KEEL_RATE_TEST_H

#include "keel_test.h"

#undef KT_TEST
#define KT_TEST(test_)                                                  \
  static void kt_##test_(void);                                         \
  __attribute__((constructor)) static void kt_reg_##test_(void) {       \
    kt_cases[kt_ncases++] = (struct kt_case){#test_, kt_##test_};       \
  }                                                                     \
  static void kt_##test_(void)

#endif
