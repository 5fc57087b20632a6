/* base/spin.h — a test-and-test-and-set spinlock on an _Atomic int (0 free,
 * 1 held), for every floor (private). Critical sections guarded by it are a
 * few stores, never a block; it yields the CPU when it spins long (the
 * machine may be oversubscribed; the holder may be descheduled). */
#ifndef KEEL_BASE_SPIN_H
#define KEEL_BASE_SPIN_H

#include <stdatomic.h>
#include <stdbool.h>

static inline bool keel__spin_trylock(_Atomic int *l) {
  return atomic_load_explicit(l, memory_order_relaxed) == 0 &&
         atomic_exchange_explicit(l, 1, memory_order_acquire) == 0;
}

/* The contended path (spin.c): spins, then yields the CPU. */
void keel__spin_lock_slow(_Atomic int *l);

static inline void keel__spin_lock(_Atomic int *l) {
  if (__builtin_expect(keel__spin_trylock(l), 1)) return;
  keel__spin_lock_slow(l);
}

static inline void keel__spin_unlock(_Atomic int *l) {
  atomic_store_explicit(l, 0, memory_order_release);
}

#endif
