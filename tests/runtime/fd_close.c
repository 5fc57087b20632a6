/* keel_fd_close: waiters (tasks and threads) on the closed fd wake with
 * KEEL_ECLOSED, a wait racing the close ends at once (KEEL_ECLOSED or
 * KEEL_EINVAL, never a hang), the fd number's next owner works, and bad
 * fds are refused. */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "rt_test.h"

struct fdw { int fd; int rc; };
static void fd_waiter(void *arg) {
  struct fdw *f = arg;
  f->rc = keel_fd_wait(f->fd, KEEL_FD_READ, KEEL_FOREVER, NULL);
}
static void *fd_waiter_thread(void *arg) { fd_waiter(arg); return NULL; }

KT_TEST(bad_fds) {
  KT_CHECK_EQ(keel_fd_close(-1), KEEL_EINVAL);
  int p[2];
  KT_CHECK_EQ(pipe(p), 0);
  KT_CHECK_EQ(keel_fd_close(p[0]), 0);
  KT_CHECK_EQ(keel_fd_close(p[0]), KEEL_EINVAL);   /* closed already */
  KT_CHECK_EQ(keel_fd_close(p[1]), 0);
  KT_CHECK(fcntl(p[1], F_GETFD) < 0);
}

/* One round: waiters parked (as far as `park_ns` of waiting tells) on a
 * pipe, then keel_fd_close. *closed: how many saw KEEL_ECLOSED. */
static void close_round(int64_t park_ns, int *closed) {
  enum { TASKS = 6, THREADS = 2 };
  int p[2];
  KT_CHECK_EQ(pipe(p), 0);
  struct fdw f[TASKS + THREADS];
  keel_task *h[TASKS];
  pthread_t th[THREADS];
  for (int i = 0; i < TASKS + THREADS; i++) f[i] = (struct fdw){p[0], 1};
  for (int i = 0; i < TASKS; i++) KT_CHECK_EQ(keel_task_spawn(&h[i], fd_waiter, &f[i], NULL), 0);
  for (int i = 0; i < THREADS; i++)
    pthread_create(&th[i], NULL, fd_waiter_thread, &f[TASKS + i]);
  /* Nothing to read: no waiter can return before the close. */
  KT_CHECK_EQ(keel_task_join(h[0], keel_deadline_in(park_ns), NULL), KEEL_ETIMEDOUT);
  KT_CHECK_EQ(keel_fd_close(p[0]), 0);
  for (int i = 0; i < TASKS; i++) KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  /* A waiter still on its way in when the close ran sees a bad fd instead. */
  close(p[1]);
  for (int i = 0; i < TASKS + THREADS; i++) {
    KT_CHECK(f[i].rc == KEEL_ECLOSED || f[i].rc == KEEL_EINVAL);
    *closed += f[i].rc == KEEL_ECLOSED;
  }
}

KT_TEST(parked_waiters_wake_with_eclosed) {
  /* Whether a waiter had parked is only known by waiting: a slow machine
   * (an emulator, a loaded CI) gets longer rounds until one had. */
  int closed = 0;
  for (int64_t wait = 2 * KEEL_MILLISECOND; !closed && !kt_failed_now && wait <= KEEL_SECOND;
       wait *= 2)
    close_round(wait, &closed);
  KT_CHECK(closed >= 1);
  /* The number's next owner is a clean fd: readiness works on it. */
  int q[2];
  KT_CHECK_EQ(pipe(q), 0);
  KT_CHECK_EQ(write(q[1], "x", 1), 1);
  KT_CHECK(keel_fd_wait(q[0], KEEL_FD_READ, KEEL_FOREVER, NULL) & KEEL_FD_READ);
  keel_fd_close(q[0]);
  keel_fd_close(q[1]);
}

/* Close races with waits starting: every wait ends, none hangs. */
KT_TEST(close_racing_waits_never_hangs) {
  int rounds = KT_SANITIZED() ? 200 : 2000;
  for (int r = 0; r < rounds; r++) {
    int p[2];
    KT_CHECK_EQ(pipe(p), 0);
    struct fdw f[3] = {{p[0], 1}, {p[0], 1}, {p[0], 1}};
    keel_task *h[3];
    for (int i = 0; i < 3; i++) KT_CHECK_EQ(keel_task_spawn(&h[i], fd_waiter, &f[i], NULL), 0);
    KT_CHECK_EQ(keel_fd_close(p[0]), 0);
    for (int i = 0; i < 3; i++) {
      KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
      KT_CHECK(f[i].rc == KEEL_ECLOSED || f[i].rc == KEEL_EINVAL);
    }
    close(p[1]);
  }
  keel_runtime_shutdown();
}

KT_MAIN()
