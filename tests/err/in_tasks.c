/* Errors made inside keel tasks (examples/err_in_tasks, which links the
 * runtime; this module does not): each error records the id of the task that
 * made it, and its stack, captured on the task's own stack, runs from the
 * failing function down to the runtime's task entry. */
#include "err_test.h"

KT_TEST(errors_know_their_task) {
  struct et_run r;
  KT_CHECK(et_run_example("err_in_tasks", &r));
  KT_CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
  int jobs = 0;
  for (const char *p = r.out; (p = strstr(p, "job ")) != NULL; p++) {
    int index;
    unsigned long long seen, recorded;
    if (sscanf(p, "job %d: task %llu, error made in task %llu", &index, &seen, &recorded) != 3)
      continue;
    KT_CHECK(seen != 0);
    KT_CHECK_EQ(recorded, seen);
    const char *stack = strstr(p, "stack: ");
    KT_CHECK(stack != NULL);
    KT_CHECK(strncmp(stack, "stack: fail_in_task worker", 26) == 0);
    jobs++;
  }
  KT_CHECK_EQ(jobs, 4);
}

KT_MAIN()
