/* waiter.h — parking a task or a thread, for keel's own modules (not public).
 *
 * Every blocking call in keel is built on this. A waiter belongs to one
 * blocked caller (a task or a plain thread) and lives on its stack. Wakers
 * race to *claim* it, each with a reason; exactly one claim wins, and only
 * the winner wakes the waiter. This is Go's sudog/selectDone arbitration:
 *
 *   waker:   if (keel_waiter_claim(w, reason)) { ...hand over data...; keel_waiter_wake(w); }
 *   waiter:  keel_waiter_init(&w);  ...publish &w in a wait queue...;
 *            int reason = keel_waiter_park(&w, deadline, cancel);
 *            ...unpublish &w (under the queue's lock)...
 *
 * Invariants:
 *   - between a winning claim and its wake, the winner may write into memory
 *     the waiter owns (a receive buffer); the waiter does not return from park
 *     before the wake, so that memory is still live;
 *   - keel_waiter_park returns only when the waiter is quiescent: the winner's
 *     wake has happened, the internal deadline timer is stopped and not
 *     running, and the waiter is off the cancel token's list. The caller may
 *     then reuse or drop the waiter at once;
 *   - a waker running on a task hands the woken task to its own worker's
 *     "run next" slot, so ping-pong between two tasks costs no queue trips.
 *
 * A claim racing with a timeout or a cancel is normal: park returns the
 * winning reason, and data-carrying wakers must claim before writing. */
#ifndef KEEL_RUNTIME_WAITER_H
#define KEEL_RUNTIME_WAITER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "keel/task.h"

#define KEEL_WAITER_OPEN INT32_MIN  /* not claimed yet */

/* The state word: the claim reason in the low 32 bits, and for task waiters
 * two flags above it (waiter.c explains the protocol). */
#define KEEL_WAITER_PARKED (UINT64_C(1) << 32)  /* the task's context is saved */
#define KEEL_WAITER_WOKEN (UINT64_C(1) << 33)   /* the winner's wake is done */
#define KEEL_WAITER_REASON(s) ((int32_t)(uint32_t)(s))

typedef struct keel_waiter {
  _Atomic uint64_t state; /* reason | PARKED | WOKEN */
  /* private (runtime) */
  _Atomic uint32_t futex; /* thread waiters block on this word */
  void *task;             /* the parked task, or NULL for a thread */
  void *cancel_link[2];   /* entry on a cancel token's list */
  void *timer;            /* internal deadline timer storage */
} keel_waiter;

/* Prepares w for the calling task or thread. */
void keel_waiter_init(keel_waiter *w);

/* The claim reason so far: KEEL_WAITER_OPEN until a claim wins. */
static inline int32_t keel_waiter_reason(keel_waiter *w) {
  return KEEL_WAITER_REASON(atomic_load_explicit(&w->state, memory_order_acquire));
}

/* Tries to claim w with reason (any value but KEEL_WAITER_OPEN: the channel
 * module uses case indexes >= 0; the runtime uses KEEL_ETIMEDOUT and cancel
 * codes). True if this caller won; it must then call keel_waiter_wake once.
 * One atomic operation unless the parked flag changes under it. */
static inline bool keel_waiter_claim(keel_waiter *w, int32_t reason) {
  /* First guess: open and parked, the common case, so the CAS is the only
   * access (a load first would fetch the line twice when it is remote). */
  uint64_t s = KEEL_WAITER_PARKED | (uint32_t)KEEL_WAITER_OPEN;
  for (;;) {
    uint64_t claimed = (s & ~(uint64_t)UINT32_MAX) | (uint32_t)reason;
    if (atomic_compare_exchange_weak_explicit(&w->state, &s, claimed,
                                              memory_order_acq_rel,
                                              memory_order_relaxed))
      return true;
    if (KEEL_WAITER_REASON(s) != KEEL_WAITER_OPEN) return false;
  }
}

/* Wakes w; only the winner of the claim calls it. Any thread or task. */
void keel_waiter_wake(keel_waiter *w);

/* Blocks the caller until w is claimed and woken. When the deadline passes
 * first the runtime claims w with KEEL_ETIMEDOUT; when cancel fires first,
 * with its code. Returns the winning reason. If w was already claimed before
 * the call, returns once the wake has been delivered. */
int32_t keel_waiter_park(keel_waiter *w, int64_t deadline,
                         const keel_cancel *cancel);

/* Fires c with code (< 0): the caller holds c->lock (keel__spin_lock) and
 * has seen c unfired under it. For an owner whose own state shares the
 * token's lock (a context node: its child list and its token under one
 * lock, so a cancel takes one lock, not two). Wakes every waiter. */
void keel__cancel_fire_locked(keel_cancel *c, int code);

#endif
