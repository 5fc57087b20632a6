/* keel_runtime_shutdown: waits for tasks, leaves no thread behind, and the
 * runtime starts again on next use (or explicitly, with options). */
#include <dirent.h>
#include <pthread.h>
#include <unistd.h>

#include "rt_test.h"
#include "runtime/rtimer.h"

/* Threads of this process; with keel_only, only the runtime's (named
 * keel-worker, keel-timer, keel-poller, keel-offload). Sanitizers add
 * threads of their own, so the total is only compared in plain builds. */
static int count_threads_of(bool keel_only) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (keel_only) {
      char path[300], comm[64] = "";
      snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
      FILE *f = fopen(path, "r");
      if (f) { if (!fgets(comm, sizeof comm, f)) comm[0] = 0; fclose(f); }
      if (strncmp(comm, "keel-", 5) != 0) continue;
    }
    n++;
  }
  closedir(d);
  return n;
}
static int count_threads(void) {
  return KT_SANITIZED() ? count_threads_of(true) : count_threads_of(false);
}

/* The count once exited threads are gone from /proc. pthread_join returns
 * when the kernel clears the thread's tid (in exit_mm), but its
 * /proc/self/task entry lasts until release_task, later in do_exit; on a
 * loaded machine the exiting thread can be preempted in between (CI saw
 * one keel thread still listed). The kernel offers no event for a thread's
 * reaping before Linux 6.9 (pidfd PIDFD_THREAD), so this polls, bounded:
 * a thread that is really left behind still fails the check after 5 s. */
static int settled(int (*count)(void), int expected) {
  int n = count();
  for (int i = 0; i < 5000 && n > expected; i++) {
    nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    n = count();
  }
  return n;
}
static int count_keel_threads(void) { return count_threads_of(true); }

/* A test's baseline: taken once the previous test's threads are gone. */
static int base_threads(void) {
  settled(count_keel_threads, 0);
  return count_threads();
}

static void small_work(void *arg) {
  keel_waitgroup *wg = arg;
  keel_task_yield();
  keel_sleep(100 * KEEL_MICROSECOND);
  keel_waitgroup_done(wg);
}
static void noop(void *arg) { (void)arg; }
static void fd_touch(void *arg) {
  int *p = arg;
  keel_fd_wait(p[1], KEEL_FD_WRITE, KEEL_FOREVER, NULL);
}

static void use_everything(void) {
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  for (int i = 0; i < 100; i++) {
    keel_waitgroup_add(&wg, 1);
    keel_task_spawn(NULL, small_work, &wg, NULL);
  }
  keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL);
  int p[2];
  if (pipe(p) == 0) {
    keel_task *h;
    keel_task_spawn(&h, fd_touch, p, NULL);
    keel_task_join(h, KEEL_FOREVER, NULL);
    close(p[0]);
    close(p[1]);
  }
  keel_offload(noop, NULL, NULL, KEEL_FOREVER, NULL);
}

KT_TEST(shutdown_and_restart_leave_no_threads) {
  int base = base_threads();
  for (int round = 0; round < 3; round++) {
    use_everything();
    KT_CHECK(count_threads() > base);
    KT_CHECK_EQ(keel_runtime_shutdown(), 0);
    KT_CHECK_EQ(settled(count_threads, base), base);
    KT_CHECK_EQ(settled(count_keel_threads, 0), 0);
    KT_CHECK_EQ(keel_task_count(), 0);
  }
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);  /* stopping a stopped runtime */
}

struct wid { _Atomic int seen[8]; };
static void record_worker(void *arg) {
  (void)arg;
}

KT_TEST(explicit_start_with_options) {
  int base = base_threads();
  keel_runtime_options o = {.workers = 3, .stack_size = 32 << 10};
  KT_CHECK_EQ(keel_runtime_start(&o), 0);
  KT_CHECK_EQ(keel_runtime_start(&o), KEEL_ESTATE);
  KT_CHECK_EQ(count_threads(), base + 3 + 1);  /* workers + timer thread */
  keel_task *h;
  KT_CHECK_EQ(keel_task_spawn(&h, record_worker, NULL, NULL), 0);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(settled(count_threads, base), base);
  keel_runtime_options bad = {.workers = -1};
  KT_CHECK_EQ(keel_runtime_start(&bad), KEEL_EINVAL);
  KT_CHECK_EQ(count_threads(), base);
}

KT_TEST(keel_workers_env) {
  int base = base_threads();
  setenv("KEEL_WORKERS", "2", 1);
  keel_task *h;
  KT_CHECK_EQ(keel_task_spawn(&h, noop, NULL, NULL), 0);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(count_threads(), base + 2 + 1);
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  unsetenv("KEEL_WORKERS");
}

/* Shutdown waits for running tasks to finish. */
static void finisher(void *arg) {
  keel_sleep(5 * KEEL_MILLISECOND);
  atomic_store((_Atomic int *)arg, 1);
}

KT_TEST(shutdown_waits_for_tasks) {
  int base = base_threads();
  _Atomic int done = 0;
  KT_CHECK_EQ(keel_task_spawn(NULL, finisher, &done, NULL), 0);
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(atomic_load(&done), 1);
  KT_CHECK_EQ(settled(count_threads, base), base);
}

static void spawn_after(void *arg) {
  keel_sleep(2 * KEEL_MILLISECOND);
  *(int *)arg = keel_task_spawn(NULL, noop, NULL, NULL);
}

KT_TEST(spawn_during_shutdown_is_eshutdown) {
  int rc = 1;
  KT_CHECK_EQ(keel_task_spawn(NULL, spawn_after, &rc, NULL), 0);
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(rc, KEEL_ESHUTDOWN);
}

KT_MAIN()
