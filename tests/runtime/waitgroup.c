/* Wait groups under stress: waiters (tasks and plain threads) with
 * deadlines and cancels that race the release, a group freed by its only
 * waiter while the done() that released it is still returning, and the
 * group's reuse after every round (no waiter left counted). */
#include <pthread.h>

#include "rt_test.h"

typedef struct round {
  keel_waitgroup wg;      /* the group under test */
  keel_waitgroup out;     /* counts the waiters that returned */
  keel_cancel cancel;
  int64_t deadline;
  _Atomic int zero, timedout, canceled, other;
} round_t;

typedef struct waiter_arg {
  round_t *r;
  int kind;               /* 0 forever, 1 deadline, 2 cancel */
} waiter_arg;

static void wait_once(waiter_arg *a) {
  round_t *r = a->r;
  int rc = keel_waitgroup_wait(&r->wg, a->kind == 1 ? r->deadline : KEEL_FOREVER,
                               a->kind == 2 ? &r->cancel : NULL);
  if (rc == 0) atomic_fetch_add(&r->zero, 1);
  else if (rc == KEEL_ETIMEDOUT && a->kind == 1) atomic_fetch_add(&r->timedout, 1);
  else if (rc == KEEL_ECANCELED && a->kind == 2) atomic_fetch_add(&r->canceled, 1);
  else atomic_fetch_add(&r->other, 1);
  keel_waitgroup_done(&r->out);
}

static void task_waiter(void *arg) { wait_once(arg); }
static void *thread_waiter(void *arg) { wait_once(arg); return NULL; }
static void fire(void *arg) { keel_cancel_fire(arg, KEEL_ECANCELED); }

KT_TEST(waiters_racing_release_with_deadlines_and_cancels) {
  enum { TASKS = 60, THREADS = 3 };
  int rounds = KT_SANITIZED() ? 20 : 300;
  static round_t r;
  waiter_arg args[TASKS + THREADS];
  keel_waitgroup_init(&r.wg);
  for (int k = 0; k < rounds; k++) {
    keel_waitgroup_init(&r.out);
    keel_cancel_init(&r.cancel);
    atomic_store(&r.zero, 0);
    atomic_store(&r.timedout, 0);
    atomic_store(&r.canceled, 0);
    atomic_store(&r.other, 0);
    /* Deadlines land around the release (a few microseconds either way). */
    r.deadline = keel_now() + (k % 7) * 10 * KEEL_MICROSECOND;
    KT_CHECK_EQ(keel_waitgroup_add(&r.wg, 1), 0);
    KT_CHECK_EQ(keel_waitgroup_add(&r.out, TASKS + THREADS), 0);
    pthread_t th[THREADS];
    for (int i = 0; i < TASKS + THREADS; i++) {
      args[i].r = &r;
      args[i].kind = i % 3;
      if (i < TASKS) KT_CHECK_EQ(keel_task_spawn(NULL, task_waiter, &args[i], NULL), 0);
      else KT_CHECK_EQ(pthread_create(&th[i - TASKS], NULL, thread_waiter, &args[i]), 0);
    }
    keel_task *firer = NULL;
    if (k % 2) KT_CHECK_EQ(keel_task_spawn(&firer, fire, &r.cancel, NULL), 0);
    else keel_cancel_fire(&r.cancel, KEEL_ECANCELED);
    KT_CHECK_EQ(keel_waitgroup_done(&r.wg), 0);
    KT_CHECK_EQ(keel_waitgroup_wait(&r.out, KEEL_FOREVER, NULL), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    if (firer) KT_CHECK_EQ(keel_task_join(firer, KEEL_FOREVER, NULL), 0);
    KT_CHECK_EQ(atomic_load(&r.other), 0);
    KT_CHECK_EQ(atomic_load(&r.zero) + atomic_load(&r.timedout) + atomic_load(&r.canceled),
                TASKS + THREADS);
    KT_CHECK(atomic_load(&r.zero) >= (TASKS + THREADS) / 3);  /* the forever ones */
    /* Nobody is left counted as waiting: the group is reusable. */
    KT_CHECK_EQ(keel_waitgroup_add(&r.wg, 1), 0);
    KT_CHECK_EQ(keel_waitgroup_wait(&r.wg, KEEL_NOWAIT, NULL), KEEL_ETIMEDOUT);
    KT_CHECK_EQ(keel_waitgroup_done(&r.wg), 0);
    KT_CHECK_EQ(keel_waitgroup_wait(&r.wg, KEEL_NOWAIT, NULL), 0);
    KT_CHECK_EQ(r.wg.count, 0);
  }
}

/* The group lives on its waiter's stack and dies when that task returns,
 * while the done() that released it may still be running. */
typedef struct local_arg { keel_waitgroup *wg; } local_arg;
static void release(void *arg) { keel_waitgroup_done(((local_arg *)arg)->wg); }
static void owner(void *arg) {
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  local_arg a = {&wg};
  keel_task_spawn(NULL, release, &a, NULL);
  int rc = keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL);
  if (rc != 0) atomic_fetch_add((_Atomic int *)arg, 1);
  /* Scribble over the frame the group lived in. */
  volatile char junk[256];
  for (int i = 0; i < 256; i++) junk[i] = (char)i;
  (void)junk[0];
}

KT_TEST(group_freed_by_its_waiter_at_once) {
  static _Atomic int bad;
  int n = KT_SANITIZED() ? 1024 : 20000;
  keel_task *h[64];
  for (int i = 0; i < n; i += 64) {
    for (int j = 0; j < 64; j++) KT_CHECK_EQ(keel_task_spawn(&h[j], owner, (void *)&bad, NULL), 0);
    for (int j = 0; j < 64; j++) KT_CHECK_EQ(keel_task_join(h[j], KEEL_FOREVER, NULL), 0);
  }
  KT_CHECK_EQ(atomic_load(&bad), 0);
}

/* Many waiters released at once all return 0 and the count is clean. */
static void wait_forever(void *arg) {
  round_t *r = arg;
  if (keel_waitgroup_wait(&r->wg, KEEL_FOREVER, NULL) == 0) atomic_fetch_add(&r->zero, 1);
  keel_waitgroup_done(&r->out);
}

KT_TEST(mass_release) {
  static round_t r;
  int n = KT_SANITIZED() ? 2000 : 50000;
  keel_waitgroup_init(&r.wg);
  keel_waitgroup_init(&r.out);
  atomic_store(&r.zero, 0);
  keel_waitgroup_add(&r.wg, 1);
  keel_waitgroup_add(&r.out, n);
  keel_task_options o = {.stack_size = 16 << 10};
  for (int i = 0; i < n; i++) KT_CHECK_EQ(keel_task_spawn(NULL, wait_forever, &r, &o), 0);
  KT_CHECK_EQ(keel_waitgroup_done(&r.wg), 0);
  KT_CHECK_EQ(keel_waitgroup_wait(&r.out, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&r.zero), n);
  KT_CHECK_EQ(r.wg.count, 0);
}

KT_MAIN()
