/* The team harness, with KT_TEST fixed: the shared keel_test.h names its
 * macro parameter `name`, which also rewrites the `.name` member it sets. */
#ifndef KEEL_MODULE_TEST_H
#define KEEL_MODULE_TEST_H

#include "keel_test.h"

#undef KT_TEST
#define KT_TEST(test_)                                                  \
  static void kt_##test_(void);                                         \
  __attribute__((constructor)) static void kt_reg_##test_(void) {       \
    kt_cases[kt_ncases++] = (struct kt_case){#test_, kt_##test_};       \
  }                                                                     \
  static void kt_##test_(void)

/* Waits (polling, bounded) until keel_task_count() drops to want: a task
 * that closed its last channel is still finishing its return for a moment. */
#include "keel/task.h"
static inline bool kt_tasks_settle(size_t want, int64_t limit) {
  int64_t deadline = keel_now() + limit;
  while (keel_task_count() > want) {
    if (keel_now() > deadline) return false;
    keel_sleep(KEEL_MILLISECOND);
  }
  return true;
}

#endif
