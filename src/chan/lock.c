/* lock.c — the slow paths of the channel lock (chan_internal.h).
 *
 * State 2 means "someone may sleep on the futex": an unlock that sees it
 * wakes one sleeper, which re-takes the lock in state 2 so that later
 * unlocks keep waking. The spin phase is short; a channel's critical
 * section is a copy and a few pointer moves. */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/relax.h"
#include "chan/chan_internal.h"

enum { SPINS = 64 };

void chan_lock_slow(chan_lock *l) {
  for (int i = 0; i < SPINS; i++) {
    keel__cpu_relax();
    uint32_t expected = 0;
    if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_weak_explicit(&l->state, &expected, 1,
                                              memory_order_acquire,
                                              memory_order_relaxed))
      return;
  }
  while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
    syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
}

void chan_unlock_slow(chan_lock *l) {
  syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
