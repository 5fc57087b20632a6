/* lock.h — the channel lock: a futex mutex whose unlock is a plain store.
 *
 * Channel critical sections are a copy and a few pointer moves, so the lock
 * is taken and released on every channel operation: its locked instructions
 * are most of what a send or a receive costs (a locked instruction costs
 * ~15-20 ns on some machines, as much as the rest of a send). Lock is one
 * compare-and-swap; unlock, in the "fenced" mode, is a store and a load:
 *
 *   unlock:  state = 0;  if (sleepers) wake one
 *   sleep:   sleepers++;  membarrier();  until CAS(state 0 -> 1): futex wait
 *
 * Between the unlocker's store and its load there is no fence, so on its own
 * the load could miss a sleeper that just registered while that sleeper
 * still sees the lock held (store-load reordering). The sleeper's
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) runs a full barrier on every
 * CPU running one of our threads, which closes that window: either the
 * unlocker's load sees the sleeper, or the sleeper sees state == 0 (an
 * asymmetric Dekker, as liburcu and folly use). The barrier costs a few us,
 * only on the way to sleep, which a futex wait costs anyway.
 *
 * Where membarrier cannot be registered (old kernels, some emulators) the
 * lock runs in the classic mode instead, Drepper's "mutex 3": state 2 means
 * "locked, maybe with sleepers" and unlock is an exchange. The mode is
 * chosen once, before main (lock.c), and never changes. */
#ifndef KEEL_CHAN_LOCK_H
#define KEEL_CHAN_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct chan_lock {
  _Atomic uint32_t state;     /* 0 free, 1 locked; 2 locked with sleepers (classic mode) */
  _Atomic uint32_t sleepers;  /* lockers registered to sleep (fenced mode) */
} chan_lock;

/* True when unlock is the plain store (set before main, then read-only). */
extern bool keel__chan_lock_fenced;

void chan_lock_slow(chan_lock *l);
void chan_unlock_wake(chan_lock *l);

static inline void chan_lock_init(chan_lock *l) {
  atomic_init(&l->state, 0);
  atomic_init(&l->sleepers, 0);
}

static inline void chan_lock_acquire(chan_lock *l) {
  uint32_t expected = 0;
  if (__builtin_expect(atomic_compare_exchange_strong_explicit(
                           &l->state, &expected, 1, memory_order_acquire,
                           memory_order_relaxed),
                       1))
    return;
  chan_lock_slow(l);
}

static inline void chan_lock_release(chan_lock *l) {
  if (__builtin_expect(keel__chan_lock_fenced, 1)) {
    atomic_store_explicit(&l->state, 0, memory_order_release);
    /* Only the compiler is kept from hoisting the load above the store; the
     * CPU may, and a sleeper's membarrier makes up for it (see above). */
    atomic_signal_fence(memory_order_seq_cst);
    if (__builtin_expect(atomic_load_explicit(&l->sleepers, memory_order_relaxed) == 0, 1))
      return;
    chan_unlock_wake(l);
    return;
  }
  if (__builtin_expect(atomic_exchange_explicit(&l->state, 0, memory_order_release) != 2, 1))
    return;
  chan_unlock_wake(l);
}

#endif
