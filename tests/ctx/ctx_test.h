/* The contexts tests' common include: keel_test.h with KT_TEST redefined.
 * keel_test.h's KT_TEST names its parameter `name`, which also replaces the
 * `.name` member in its body; same macro with a parameter that cannot
 * collide (harmless once the harness is fixed). */
#ifndef KEEL_CTX_TEST_H
#define KEEL_CTX_TEST_H

#include "keel_test.h"

#undef KT_TEST
#define KT_TEST(test_)                                                  \
  static void kt_##test_(void);                                         \
  __attribute__((constructor)) static void kt_reg_##test_(void) {        \
    kt_cases[kt_ncases++] = (struct kt_case){#test_, kt_##test_};       \
  }                                                                     \
  static void kt_##test_(void)

#endif
