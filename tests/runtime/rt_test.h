/* rt_test.h — the runtime tests' include: keel_test.h plus small helpers.
 * KT_TEST is re-declared here because keel_test.h's version names its
 * parameter `name`, which collides with the struct member it assigns (every
 * test would fail to compile); this copy is identical otherwise. */
#ifndef KEEL_RT_TEST_H
#define KEEL_RT_TEST_H

#include "keel_test.h"

#undef KT_TEST
#define KT_TEST(tname)                                                  \
  static void kt_##tname(void);                                         \
  __attribute__((constructor)) static void kt_reg_##tname(void) {       \
    kt_cases[kt_ncases].name = #tname;                                  \
    kt_cases[kt_ncases++].fn = kt_##tname;                              \
  }                                                                     \
  static void kt_##tname(void)

#include "keel/task.h"

static inline void rt_wg_done(void *wg) { keel_waitgroup_done((keel_waitgroup *)wg); }

#endif
