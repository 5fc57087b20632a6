/* The replicate tests' common include. */
#ifndef KEEL_REPLICATE_TEST_H
#define KEEL_REPLICATE_TEST_H

#include "keel_test.h"

/* The first keel_err_new initialises libunwind (stack capture), which TSan
 * sees racing when two threads do it at once (reported to the errors
 * module). Make the first error before any test starts tasks. */
#include "keel/err.h"
__attribute__((constructor)) static void replicate_test_warm_errors(void) {
  keel_err_release(keel_err_new("test", 0, "warm-up"));
}

#endif
