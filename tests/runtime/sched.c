/* Scheduler behaviour: work stuck behind a task that never yields is taken
 * by another worker (sysmon + stealing), tasks spread over the workers, and
 * a spawn storm from tasks and threads completes with every task run once. */
#include <pthread.h>
#include <stdlib.h>

#include "rt_test.h"

static void set_flag(void *arg) { atomic_store((_Atomic int *)arg, 1); }

/* A task spawns a child (it lands in this worker's run-next slot) and then
 * busy-waits for it without yielding: another worker must take the child. */
static void hog(void *arg) {
  _Atomic int flag = 0;
  keel_task *h;
  if (keel_task_spawn(&h, set_flag, &flag, NULL) != 0) return;
  while (!atomic_load(&flag)) { /* no yield: a long computation */ }
  keel_task_join(h, KEEL_FOREVER, NULL);
  atomic_store((_Atomic int *)arg, 1);
}

KT_TEST(work_behind_a_busy_task_is_stolen) {
  keel_runtime_options o = {.workers = 2};
  keel_runtime_shutdown();
  KT_CHECK_EQ(keel_runtime_start(&o), 0);
  for (int i = 0; i < 20; i++) {
    _Atomic int done = 0;
    keel_task *h;
    KT_CHECK_EQ(keel_task_spawn(&h, hog, &done, NULL), 0);
    KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
    KT_CHECK_EQ(atomic_load(&done), 1);
  }
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
}

/* Tasks that block their worker thread in a plain system call (here: a
 * pthread barrier-like spin on other tasks) still let the rest progress
 * when several workers exist: N tasks each wait for all N to arrive. */
static _Atomic int arrived;
static int expected_arrivals;
static void rendezvous(void *arg) {
  (void)arg;
  atomic_fetch_add(&arrived, 1);
  while (atomic_load(&arrived) < expected_arrivals) { /* spin, no yield */ }
}

KT_TEST(all_workers_are_used) {
  keel_runtime_options o = {.workers = 3};
  KT_CHECK_EQ(keel_runtime_start(&o), 0);
  for (int round = 0; round < 10; round++) {
    atomic_store(&arrived, 0);
    expected_arrivals = 3;
    keel_task *h[3];
    for (int i = 0; i < 3; i++) KT_CHECK_EQ(keel_task_spawn(&h[i], rendezvous, NULL, NULL), 0);
    for (int i = 0; i < 3; i++) KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
  }
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
}

static _Atomic long ran;
static void count_run(void *arg) { (void)arg; atomic_fetch_add(&ran, 1); }
static void storm(void *arg) {
  long n = (long)(intptr_t)arg;
  for (long i = 0; i < n; i++) {
    if (keel_task_spawn(NULL, count_run, NULL, NULL) != 0) return;
    if (i % 64 == 0) keel_task_yield();
  }
}
static void *thread_storm(void *arg) { storm(arg); return NULL; }

KT_TEST(spawn_storm_runs_every_task_once) {
  long per = KT_SANITIZED() ? 2000 : 50000;
  atomic_store(&ran, 0);
  keel_task *h[4];
  pthread_t th[2];
  for (int i = 0; i < 4; i++)
    KT_CHECK_EQ(keel_task_spawn(&h[i], storm, (void *)(intptr_t)per, NULL), 0);
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thread_storm, (void *)(intptr_t)per);
  for (int i = 0; i < 4; i++) KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);  /* waits for every task */
  KT_CHECK_EQ(atomic_load(&ran), 6 * per);
}

KT_MAIN()
