/* keel_test_tasks.h — "no task left behind" checks for tests that link the
 * runtime. A detached task that has closed its last channel is still
 * returning for a moment, so a count is awaited (bounded), not read once. */
#ifndef KEEL_TEST_TASKS_H
#define KEEL_TEST_TASKS_H

#include <stdbool.h>

#include "keel/task.h"
#include "keel/time.h"

/* True once keel_task_count() is at most want; false after limit ns. */
static inline bool kt_tasks_settle(size_t want, int64_t limit) {
  int64_t deadline = keel_deadline_in(limit);
  while (keel_task_count() > want) {
    if (keel_now() > deadline) return false;
    keel_sleep(50 * KEEL_MICROSECOND);
  }
  return true;
}

#endif
