/* lock.c — the slow paths of the channel lock, and the choice of its mode
 * (lock.h explains both modes).
 *
 * The spin phase is short: a channel's critical section is a copy and a
 * few pointer moves. After it a locker sleeps on the futex of `state`:
 *   - fenced mode: registered in `sleepers` (and made visible to every
 *     unlocker by membarrier) for as long as it waits, so each unlock in
 *     that time wakes one sleeper;
 *   - classic mode: by setting state 2, so that the unlock's exchange sees
 *     it; a woken sleeper re-takes the lock in state 2 so later unlocks keep
 *     waking. */
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/relax.h"
#include "chan/lock.h"

/* Up to SPINS tries, each after 1, 2, 4, then 8 pauses: backing off keeps
 * the spinners' reads from stealing the line the holder is about to write
 * (~240 pauses, 10-20 us, before sleeping). */
enum { SPINS = 32, MAX_PAUSES_LOG2 = 3 };

bool keel__chan_lock_fenced;

static long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

/* Before main: no lock is in use yet and no other thread runs, so the mode
 * is fixed before any unlock reads it. KEEL_CHAN_LOCK=classic forces the
 * classic mode (for comparison and tests). */
__attribute__((constructor)) static void choose_mode(void) {
  const char *env = getenv("KEEL_CHAN_LOCK");
  if (env && env[0] == 'c') return;
  long cmds = membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return;
  if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) return;
  /* The barrier itself must work too (qemu-user may accept the
   * registration and refuse the command). */
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) return;
  keel__chan_lock_fenced = true;
}

static bool spin_acquire(chan_lock *l) {
  for (int i = 0; i < SPINS; i++) {
    for (int k = 0; k < (1 << (i < MAX_PAUSES_LOG2 ? i : MAX_PAUSES_LOG2)); k++)
      keel__cpu_relax();
    uint32_t expected = 0;
    if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_weak_explicit(&l->state, &expected, 1,
                                              memory_order_acquire,
                                              memory_order_relaxed))
      return true;
  }
  return false;
}

static void futex_wait(_Atomic uint32_t *word, uint32_t value, const struct timespec *timeout) {
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, timeout, NULL, 0);
}

static void sleep_fenced(chan_lock *l) {
  atomic_fetch_add_explicit(&l->sleepers, 1, memory_order_seq_cst);
  /* If the barrier fails after all (a forked child whose registration was
   * dropped, say), a sleeper may miss its wake-up: it then polls every ms
   * instead of waiting for one. */
  static const struct timespec poll = {0, 1000000};
  const struct timespec *timeout = membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 ? NULL : &poll;
  for (;;) {
    uint32_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(&l->state, &expected, 1,
                                                memory_order_acquire,
                                                memory_order_relaxed))
      break;
    futex_wait(&l->state, 1, timeout);
  }
  atomic_fetch_sub_explicit(&l->sleepers, 1, memory_order_relaxed);
}

void chan_lock_slow(chan_lock *l) {
  if (spin_acquire(l)) return;
  if (keel__chan_lock_fenced) {
    sleep_fenced(l);
    return;
  }
  while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
    futex_wait(&l->state, 2, NULL);
}

void chan_unlock_wake(chan_lock *l) {
  syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
