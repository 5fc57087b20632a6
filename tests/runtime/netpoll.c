/* keel_fd_wait on pipes, from tasks and from threads: readiness, deadline,
 * cancel, both directions, bad arguments, many tasks on many pipes. */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "rt_test.h"

struct fdw { int fd; unsigned ev; int64_t deadline; keel_cancel *c; int rc; };
static void fd_waiter(void *arg) {
  struct fdw *f = arg;
  f->rc = keel_fd_wait(f->fd, f->ev, f->deadline, f->c);
}
static void *fd_waiter_thread(void *arg) { fd_waiter(arg); return NULL; }

KT_TEST(bad_arguments) {
  KT_CHECK_EQ(keel_fd_wait(-1, KEEL_FD_READ, KEEL_FOREVER, NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_fd_wait(0, 0, KEEL_FOREVER, NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_fd_wait(0, 8, KEEL_FOREVER, NULL), KEEL_EINVAL);
  int p[2];
  KT_CHECK_EQ(pipe(p), 0);
  close(p[0]);
  close(p[1]);
  KT_CHECK_EQ(keel_fd_wait(p[0], KEEL_FD_READ, KEEL_FOREVER, NULL), KEEL_EINVAL);
}

KT_TEST(pipe_readable_from_task_and_thread) {
  for (int mode = 0; mode < 2; mode++) {
    int p[2];
    KT_CHECK_EQ(pipe(p), 0);
    struct fdw f = {.fd = p[0], .ev = KEEL_FD_READ, .deadline = KEEL_FOREVER};
    keel_task *h = NULL;
    pthread_t th;
    if (mode == 0) KT_CHECK_EQ(keel_task_spawn(&h, fd_waiter, &f, NULL), 0);
    else pthread_create(&th, NULL, fd_waiter_thread, &f);
    /* Not ready: a join with a short deadline times out. */
    if (h) KT_CHECK_EQ(keel_task_join(h, keel_deadline_in(KEEL_MILLISECOND), NULL), KEEL_ETIMEDOUT);
    KT_CHECK_EQ(write(p[1], "x", 1), 1);
    if (h) KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
    else pthread_join(th, NULL);
    KT_CHECK(f.rc > 0 && (f.rc & KEEL_FD_READ));
    /* Already readable: returns at once. */
    KT_CHECK(keel_fd_wait(p[0], KEEL_FD_READ, KEEL_NOWAIT, NULL) & KEEL_FD_READ);
    /* Writable end of an empty pipe is writable. */
    KT_CHECK(keel_fd_wait(p[1], KEEL_FD_WRITE, KEEL_FOREVER, NULL) & KEEL_FD_WRITE);
    close(p[0]);
    close(p[1]);
  }
}

KT_TEST(deadline_and_cancel_from_task_and_thread) {
  for (int mode = 0; mode < 2; mode++) {
    int p[2];
    KT_CHECK_EQ(pipe(p), 0);
    struct fdw f = {.fd = p[0], .ev = KEEL_FD_READ,
                    .deadline = keel_deadline_in(2 * KEEL_MILLISECOND)};
    keel_task *h = NULL;
    pthread_t th;
    if (mode == 0) KT_CHECK_EQ(keel_task_spawn(&h, fd_waiter, &f, NULL), 0);
    else pthread_create(&th, NULL, fd_waiter_thread, &f);
    if (h) KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
    else pthread_join(th, NULL);
    KT_CHECK_EQ(f.rc, KEEL_ETIMEDOUT);
    KT_CHECK(keel_now() >= f.deadline);

    keel_cancel c;
    keel_cancel_init(&c);
    struct fdw g = {.fd = p[0], .ev = KEEL_FD_READ, .deadline = KEEL_FOREVER, .c = &c};
    h = NULL;
    if (mode == 0) KT_CHECK_EQ(keel_task_spawn(&h, fd_waiter, &g, NULL), 0);
    else pthread_create(&th, NULL, fd_waiter_thread, &g);
    if (h) KT_CHECK_EQ(keel_task_join(h, keel_deadline_in(KEEL_MILLISECOND), NULL), KEEL_ETIMEDOUT);
    keel_cancel_fire(&c, KEEL_ECANCELED);
    if (h) KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
    else pthread_join(th, NULL);
    KT_CHECK_EQ(g.rc, KEEL_ECANCELED);
    /* The pipe still works for the next waiter after a canceled one. */
    KT_CHECK_EQ(write(p[1], "y", 1), 1);
    KT_CHECK(keel_fd_wait(p[0], KEEL_FD_READ, KEEL_FOREVER, NULL) & KEEL_FD_READ);
    close(p[0]);
    close(p[1]);
  }
}

/* A reader and a writer parked on the same socket at once: each is woken
 * by its own event. */
#include <sys/socket.h>
KT_TEST(reader_and_writer_on_one_fd) {
  int sv[2];
  KT_CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  /* Fill the send buffer so the writer has to wait. */
  char junk[4096] = {0};
  while (write(sv[0], junk, sizeof junk) > 0) {}
  struct fdw r = {.fd = sv[0], .ev = KEEL_FD_READ, .deadline = KEEL_FOREVER};
  struct fdw w = {.fd = sv[0], .ev = KEEL_FD_WRITE, .deadline = KEEL_FOREVER};
  keel_task *hr, *hw;
  KT_CHECK_EQ(keel_task_spawn(&hr, fd_waiter, &r, NULL), 0);
  KT_CHECK_EQ(keel_task_spawn(&hw, fd_waiter, &w, NULL), 0);
  KT_CHECK_EQ(keel_task_join(hr, keel_deadline_in(KEEL_MILLISECOND), NULL), KEEL_ETIMEDOUT);
  KT_CHECK_EQ(keel_task_join(hw, keel_deadline_in(KEEL_MILLISECOND), NULL), KEEL_ETIMEDOUT);
  /* Make sv[0] readable: the reader wakes, the writer still waits. */
  KT_CHECK_EQ(write(sv[1], "r", 1), 1);
  KT_CHECK_EQ(keel_task_join(hr, KEEL_FOREVER, NULL), 0);
  KT_CHECK(r.rc & KEEL_FD_READ);
  KT_CHECK_EQ(keel_task_join(hw, keel_deadline_in(KEEL_MILLISECOND), NULL), KEEL_ETIMEDOUT);
  /* Drain the peer: sv[0] becomes writable, the writer wakes. */
  char buf[65536];
  while (read(sv[1], buf, sizeof buf) > 0) {}
  KT_CHECK_EQ(keel_task_join(hw, KEEL_FOREVER, NULL), 0);
  KT_CHECK(w.rc & KEEL_FD_WRITE);
  close(sv[0]);
  close(sv[1]);
}

KT_TEST(hangup_reports_both) {
  int p[2];
  KT_CHECK_EQ(pipe(p), 0);
  close(p[1]);
  int r = keel_fd_wait(p[0], KEEL_FD_READ, KEEL_FOREVER, NULL);
  KT_CHECK(r & KEEL_FD_READ);
  close(p[0]);
}

/* A chain of tasks passing a byte through pipes, each blocking in fd_wait:
 * many tasks waiting on fds while only two workers run. */
struct link { int in, out; _Atomic int *done; };
static void relay(void *arg) {
  struct link *l = arg;
  char b;
  for (;;) {
    int r = keel_fd_wait(l->in, KEEL_FD_READ, KEEL_FOREVER, NULL);
    if (r < 0) return;
    if (read(l->in, &b, 1) == 1) break;
  }
  if (write(l->out, &b, 1) != 1) return;
  atomic_fetch_add(l->done, 1);
}

KT_TEST(relay_through_many_pipes) {
  int n = KT_SANITIZED() ? 50 : 200;
  int (*p)[2] = calloc((size_t)n + 1, sizeof *p);
  struct link *links = calloc((size_t)n, sizeof *links);
  keel_task **h = calloc((size_t)n, sizeof *h);
  _Atomic int done = 0;
  for (int i = 0; i <= n; i++) {
    KT_CHECK_EQ(pipe(p[i]), 0);
    fcntl(p[i][0], F_SETFL, O_NONBLOCK);
  }
  for (int i = 0; i < n; i++) {
    links[i] = (struct link){.in = p[i][0], .out = p[i + 1][1], .done = &done};
    KT_CHECK_EQ(keel_task_spawn(&h[i], relay, &links[i], NULL), 0);
  }
  KT_CHECK_EQ(write(p[0][1], "z", 1), 1);
  char b = 0;
  KT_CHECK(keel_fd_wait(p[n][0], KEEL_FD_READ, KEEL_FOREVER, NULL) > 0);
  KT_CHECK_EQ(read(p[n][0], &b, 1), 1);
  KT_CHECK_EQ(b, 'z');
  for (int i = 0; i < n; i++) KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&done), n);
  for (int i = 0; i <= n; i++) { close(p[i][0]); close(p[i][1]); }
  free(p); free(links); free(h);
}

KT_MAIN()
