/* The rate_redis tests' common include. */
#ifndef KEEL_RR_TEST_H
#define KEEL_RR_TEST_H

#include "keel_test.h"

/* Under TSan, the errors module's first stack capture (libunwind's lazy
 * init, which calls unw_backtrace) leaves a per-thread cache whose destructor
 * crashes TSan when that thread exits. If the first keel_err is made on a
 * keel worker, runtime shutdown crashes (src/err/stack.c, reported to the
 * lead). Making one error on the main thread first keeps the cache there. */
#include "keel/err.h"
__attribute__((constructor)) static void rr_first_error_on_main_thread(void) {
  keel_err_release(keel_err_new("test", 0, "libunwind initialised on the main thread"));
}

#endif
