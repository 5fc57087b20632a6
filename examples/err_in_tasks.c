/* Errors made inside keel tasks: each carries the task's id, and its stack is
 * captured on the task's own stack (libunwind walks the runtime's task
 * stacks by their call-frame information). Four tasks fail; main joins them
 * and prints, for each, the task id it saw, the id the error recorded and the
 * symbolized stack down to the task's entry. tests/err/book_example.c runs it
 * and checks the ids and frames. */
#include <inttypes.h>
#include <stdio.h>

#include "keel/err.h"
#include "keel/task.h"

#define TASKS 4

struct job {
  int index;
  uint64_t seen_task;
  keel_err *err;
};

__attribute__((noinline)) static keel_err *fail_in_task(int index) {
  keel_err *e = keel_err_new("worker", KEEL_EFAILED, "task job %d failed", index);
  keel_err_set_int(e, "job", index);
  return e;
}

static void worker(void *arg) {
  struct job *j = arg;
  j->seen_task = keel_task_id();
  j->err = fail_in_task(j->index);
}

int main(void) {
  struct job jobs[TASKS];
  keel_task *tasks[TASKS];
  for (int i = 0; i < TASKS; i++) {
    jobs[i] = (struct job){.index = i};
    if (keel_task_spawn(&tasks[i], worker, &jobs[i], NULL) != 0) {
      fprintf(stderr, "cannot spawn a task\n");
      return 1;
    }
  }
  for (int i = 0; i < TASKS; i++) keel_task_join(tasks[i], KEEL_FOREVER, NULL);
  for (int i = 0; i < TASKS; i++) {
    keel_err *e = jobs[i].err;
    printf("job %d: task %" PRIu64 ", error made in task %" PRIu64 ": %s\n", i,
           jobs[i].seen_task, keel_err_task(e), keel_err_message(e));
    keel_err_frame f[16];
    size_t n = keel_err_stack(e, f, 16);
    printf("  stack:");
    for (size_t k = 0; k < n; k++) printf(" %s", f[k].function ? f[k].function : "??");
    printf("\n");
    keel_err_release(e);
  }
  keel_runtime_shutdown();
  return 0;
}
