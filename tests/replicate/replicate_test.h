/* The replicate tests' include of keel_test.h. Its KT_TEST names its
 * parameter `name`, which also replaces the `.name` member in the macro's
 * body, so no test using it compiles; this is the same macro with a
 * parameter that cannot collide (harmless once the harness is fixed). */
#ifndef KEEL_REPLICATE_TEST_H
#define KEEL_REPLICATE_TEST_H

#include "keel_test.h"

#undef KT_TEST
#define KT_TEST(test_)                                                  \
  static void kt_##test_(void);                                         \
  __attribute__((constructor)) static void kt_reg_##test_(void) {       \
    kt_cases[kt_ncases++] = (struct kt_case){#test_, kt_##test_};       \
  }                                                                     \
  static void kt_##test_(void)

/* The first keel_err_new initialises libunwind (stack capture), which TSan
 * sees racing when two threads do it at once (reported to the errors
 * module). Make the first error before any test starts tasks. */
#include "keel/err.h"
__attribute__((constructor)) static void replicate_test_warm_errors(void) {
  keel_err_release(keel_err_new("test", 0, "warm-up"));
}

#endif
