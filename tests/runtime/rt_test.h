/* rt_test.h — the runtime tests' include: keel_test.h plus small helpers. */
#ifndef KEEL_RT_TEST_H
#define KEEL_RT_TEST_H

#include "keel_test.h"

#include "keel/task.h"

static inline void rt_wg_done(void *wg) { keel_waitgroup_done((keel_waitgroup *)wg); }

#endif
