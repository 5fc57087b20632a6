/* keel_offload: the caller parks while a helper thread runs blocking code;
 * deadline and cancel return at once, and cleanup runs after fn on the
 * helper when the caller gave up. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "rt_test.h"

struct blocker { int fd; _Atomic int ran; _Atomic int cleaned; keel_waitgroup *cleanup_wg; };

static void blocking_read(void *arg) {
  struct blocker *b = arg;
  char c;
  ssize_t r = read(b->fd, &c, 1);  /* a plain blocking read() */
  (void)r;
  atomic_store(&b->ran, 1);
}
static void cleanup(void *arg) {
  struct blocker *b = arg;
  atomic_store(&b->cleaned, 1);
  keel_waitgroup_done(b->cleanup_wg);
}
static void add_one(void *arg) { atomic_fetch_add((_Atomic int *)arg, 1); }

KT_TEST(offload_runs_and_returns) {
  _Atomic int n = 0;
  KT_CHECK_EQ(keel_offload(NULL, NULL, NULL, KEEL_FOREVER, NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_offload(add_one, &n, NULL, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&n), 1);
}

struct off_args { keel_task_fn fn; void *arg; keel_task_fn cleanup; int64_t deadline; keel_cancel *c; int rc; };
static void offload_in_task(void *arg) {
  struct off_args *a = arg;
  a->rc = keel_offload(a->fn, a->arg, a->cleanup, a->deadline, a->c);
}

/* Many tasks each offload a blocking read; the workers stay free (a task
 * that never blocks still runs). */
KT_TEST(offloaded_reads_do_not_block_workers) {
  enum { N = 8 };
  int p[N][2];
  struct blocker b[N];
  struct off_args a[N];
  keel_task *h[N];
  for (int i = 0; i < N; i++) {
    KT_CHECK_EQ(pipe(p[i]), 0);
    b[i] = (struct blocker){.fd = p[i][0]};
    a[i] = (struct off_args){.fn = blocking_read, .arg = &b[i], .deadline = KEEL_FOREVER};
    KT_CHECK_EQ(keel_task_spawn(&h[i], offload_in_task, &a[i], NULL), 0);
  }
  _Atomic int n = 0;
  keel_task *other;
  KT_CHECK_EQ(keel_task_spawn(&other, add_one, &n, NULL), 0);
  KT_CHECK_EQ(keel_task_join(other, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&n), 1);
  for (int i = 0; i < N; i++) KT_CHECK_EQ(write(p[i][1], "x", 1), 1);
  for (int i = 0; i < N; i++) {
    KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
    KT_CHECK_EQ(a[i].rc, 0);
    KT_CHECK_EQ(atomic_load(&b[i].ran), 1);
    close(p[i][0]);
    close(p[i][1]);
  }
}

KT_TEST(cancel_and_deadline_return_early_then_cleanup_runs) {
  for (int mode = 0; mode < 4; mode++) {  /* task/thread x cancel/deadline */
    int p[2];
    KT_CHECK_EQ(pipe(p), 0);
    keel_waitgroup wg;
    keel_waitgroup_init(&wg);
    keel_waitgroup_add(&wg, 1);
    struct blocker *b = calloc(1, sizeof *b);
    b->fd = p[0];
    b->cleanup_wg = &wg;
    keel_cancel c;
    keel_cancel_init(&c);
    bool use_cancel = mode & 1;
    struct off_args a = {.fn = blocking_read, .arg = b, .cleanup = cleanup,
                         .deadline = use_cancel ? KEEL_FOREVER : keel_deadline_in(2 * KEEL_MILLISECOND),
                         .c = use_cancel ? &c : NULL};
    if (use_cancel) keel_cancel_fire(&c, KEEL_ECANCELED);  /* early cancel */
    if (mode & 2) {
      keel_task *h;
      KT_CHECK_EQ(keel_task_spawn(&h, offload_in_task, &a, NULL), 0);
      KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
    } else {
      offload_in_task(&a);
    }
    KT_CHECK_EQ(a.rc, use_cancel ? KEEL_ECANCELED : KEEL_ETIMEDOUT);
    /* fn is still blocked in read(); release it, then cleanup must run. */
    KT_CHECK_EQ(write(p[1], "x", 1), 1);
    KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL), 0);
    KT_CHECK_EQ(atomic_load(&b->ran), 1);
    KT_CHECK_EQ(atomic_load(&b->cleaned), 1);
    free(b);
    close(p[0]);
    close(p[1]);
  }
}

KT_TEST(no_cleanup_when_fn_completes) {
  _Atomic int n = 0;
  struct blocker dummy = {0};
  (void)dummy;
  KT_CHECK_EQ(keel_offload(add_one, &n, add_one, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&n), 1);  /* cleanup (another add) did not run */
}

KT_MAIN()
