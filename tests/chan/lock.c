/* The channel lock (src/chan/lock.h) in both of its modes: the fenced one,
 * whose unlock is a plain store and whose sleepers rely on membarrier, and
 * the classic exchange one. Each test sets the mode itself while no lock is
 * in use, runs, and puts the mode chosen at start back.
 *
 * Sleeping is forced, not hoped for: a holder keeps the lock until every
 * other thread has registered to sleep (fenced: `sleepers`; classic: state
 * 2), then lets go; each must still get the lock, once, in turn. The
 * stress runs more threads than cores, so holders are preempted and
 * lockers fall asleep on their own, and checks that no two critical
 * sections ever overlapped. */
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "keel_test.h"

#include "chan_test_util.h"

enum { WAITERS = 3, STRESS_THREADS = 6 };

static chan_lock lock;
static long counter;          /* guarded by `lock` */
static int owner;             /* guarded by `lock`: 0 when nobody is inside */
static _Atomic long overlaps;
static _Atomic int started;
static long iterations;

static void set_mode(bool fenced) {
  keel__chan_lock_fenced = fenced;
  chan_lock_init(&lock);
  counter = 0;
  owner = 0;
  atomic_store(&overlaps, 0);
  atomic_store(&started, 0);
}

static void *take_once(void *arg) {
  (void)arg;
  atomic_fetch_add(&started, 1);
  chan_lock_acquire(&lock);
  counter++;
  chan_lock_release(&lock);
  return NULL;
}

/* Waits (bounded) until `n` lockers are asleep or about to be. */
static bool wait_for_sleepers(bool fenced, unsigned n) {
  int64_t give_up = keel_deadline_in(30 * KEEL_SECOND);
  for (;;) {
    bool all = fenced ? atomic_load(&lock.sleepers) == n : atomic_load(&lock.state) == 2;
    if (all && atomic_load(&started) == (int)n) return true;
    if (keel_now() > give_up) return false;
    sched_yield();
  }
}

static void sleepers_are_woken(bool fenced) {
  bool saved = keel__chan_lock_fenced;
  set_mode(fenced);
  chan_lock_acquire(&lock);
  pthread_t t[WAITERS];
  for (int i = 0; i < WAITERS; i++) pthread_create(&t[i], NULL, take_once, NULL);
  bool asleep = wait_for_sleepers(fenced, WAITERS);
  chan_lock_release(&lock);
  /* A lost wake-up shows as a waiter still asleep after 30 s. */
  struct timespec give_up;
  clock_gettime(CLOCK_REALTIME, &give_up);
  give_up.tv_sec += 30;
  int stuck = 0;
  for (int i = 0; i < WAITERS; i++) stuck += pthread_timedjoin_np(t[i], NULL, &give_up) != 0;
  if (stuck) {   /* fail now: a stuck thread still holds on to the lock */
    fprintf(stderr, "  %d waiter(s) never woken (%s mode)\nFAIL\n", stuck,
            fenced ? "fenced" : "classic");
    _exit(1);
  }
  KT_CHECK(asleep);
  KT_CHECK_EQ(counter, WAITERS);
  KT_CHECK_EQ(atomic_load(&lock.state), 0u);
  KT_CHECK_EQ(atomic_load(&lock.sleepers), 0u);
  keel__chan_lock_fenced = saved;
}

static void *hammer(void *arg) {
  int me = (int)(intptr_t)arg;
  for (long i = 0; i < iterations; i++) {
    chan_lock_acquire(&lock);
    if (owner != 0) atomic_fetch_add(&overlaps, 1);
    owner = me;
    counter++;
    if (owner != me) atomic_fetch_add(&overlaps, 1);
    owner = 0;
    chan_lock_release(&lock);
  }
  return NULL;
}

static void stress(bool fenced) {
  bool saved = keel__chan_lock_fenced;
  set_mode(fenced);
  iterations = KT_SANITIZED() ? 20000 : 400000;
  pthread_t t[STRESS_THREADS];
  for (int i = 0; i < STRESS_THREADS; i++)
    pthread_create(&t[i], NULL, hammer, (void *)(intptr_t)(i + 1));
  for (int i = 0; i < STRESS_THREADS; i++) pthread_join(t[i], NULL);
  KT_CHECK_EQ(counter, STRESS_THREADS * iterations);
  KT_CHECK_EQ(atomic_load(&overlaps), 0);
  KT_CHECK_EQ(atomic_load(&lock.sleepers), 0u);
  keel__chan_lock_fenced = saved;
}

KT_TEST(fenced_mode_is_chosen_where_membarrier_works) {
  long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  bool usable = cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
  const char *env = getenv("KEEL_CHAN_LOCK");
  if (env && env[0] == 'c') usable = false;
  KT_CHECK_EQ(keel__chan_lock_fenced, usable);
}

KT_TEST(fenced_sleepers_are_woken) { sleepers_are_woken(true); }
KT_TEST(classic_sleepers_are_woken) { sleepers_are_woken(false); }
KT_TEST(fenced_excludes_under_preemption) { stress(true); }
KT_TEST(classic_excludes_under_preemption) { stress(false); }

KT_MAIN()
