/* waitgroup.c — Go's sync.WaitGroup (keel/task.h).
 *
 * `count` packs two numbers, as Go's WaitGroup.state does: the counter in
 * the high 32 bits, the number of parked waiters in the low 32 bits. The add
 * that brings the counter to zero with no waiters returns without touching
 * the group again, so a waiter that sees zero may free the group at once.
 *
 * Waiter nodes live on the waiters' stacks, on a list under `lock`. The lock
 * word is bit 0 (held) and an epoch in the other bits. The add that releases
 * the waiters takes the whole list under the lock (detaching it, removing
 * the waiters from the count and bumping the epoch), unlocks, and only then
 * claims and wakes the nodes one by one: it never touches the group again,
 * and it reads a node's `next` before waking it (a woken waiter returns at
 * once, without the lock, so a million woken tasks run while the rest are
 * still being woken). A waiter that gives up (deadline, cancel) retakes the
 * lock: if the epoch is the one it linked under, it is still on the live
 * list and unlinks itself; else its node is on a list a waker took, and it
 * waits until that waker has passed it (`released`) before returning 0. */
#include <sched.h>

#include "runtime/internal.h"

typedef struct wg_node {
  keel_waiter w;
  struct wg_node *prev, *next;
  int epoch;                   /* the lock word (unlocked) it was linked under */
  _Atomic uint32_t released;   /* a waker that lost the claim is done with us */
} wg_node;

#define WG_ONE ((int64_t)1 << 32)

static int32_t wg_counter(int64_t state) { return (int32_t)(state >> 32); }
static uint32_t wg_waiters(int64_t state) { return (uint32_t)state; }

/* Takes the lock; returns the lock word as it was (bit 0 clear). */
static int wg_lock(keel_waitgroup *wg) {
  for (unsigned spins = 0;; spins++) {
    int v = atomic_load_explicit(&wg->lock, memory_order_relaxed);
    if (!(v & 1) && atomic_compare_exchange_weak_explicit(
                        &wg->lock, &v, v | 1, memory_order_acquire,
                        memory_order_relaxed))
      return v;
    if (spins < 64) keel__cpu_relax(); else sched_yield();
  }
}

static void wg_unlock(keel_waitgroup *wg, int v) {
  atomic_store_explicit(&wg->lock, v & ~1, memory_order_release);
}

static int wg_next_epoch(int v) {
  return (int)(((unsigned)v + 2u) & 0x7FFFFFFEu);
}

void keel_waitgroup_init(keel_waitgroup *wg) {
  atomic_store_explicit(&wg->count, 0, memory_order_relaxed);
  atomic_store_explicit(&wg->lock, 0, memory_order_relaxed);
  wg->waiters = NULL;
}

static void wake_all(keel_waitgroup *wg) {
  int v = wg_lock(wg);
  wg_node *n = NULL;
  int64_t state = atomic_load_explicit(&wg->count, memory_order_acquire);
  if (wg_counter(state) == 0 && wg_waiters(state) != 0) {
    n = wg->waiters;
    wg->waiters = NULL;
    atomic_fetch_sub_explicit(&wg->count, (int64_t)wg_waiters(state),
                              memory_order_acq_rel);
    v = wg_next_epoch(v);
  }
  wg_unlock(wg, v);
  /* The group may be freed from here on: only the detached nodes are used. */
  while (n) {
    wg_node *next = n->next;
    /* Each node is on its own task's stack page: start fetching the next
     * one before the claim (a locked instruction) holds back later loads. */
    if (next) __builtin_prefetch(next);
    if (keel_waiter_claim(&n->w, 0)) {
      keel_waiter_wake(&n->w);
    } else {
      /* It timed out or was canceled and waits for us to pass. */
      bool thread = n->w.task == NULL;
      atomic_store_explicit(&n->released, 1, memory_order_release);
      if (thread) keel__futex_wake(&n->released, 1);
    }
    n = next;
  }
}

int keel_waitgroup_add(keel_waitgroup *wg, int64_t delta) {
  if (!wg) return KEEL_EINVAL;
  if (delta > INT32_MAX || delta < -(int64_t)INT32_MAX) return KEEL_EOVERFLOW;
  int64_t d = delta * WG_ONE;
  int64_t old = atomic_fetch_add_explicit(&wg->count, d, memory_order_acq_rel);
  int64_t v = (int64_t)wg_counter(old) + delta;
  if (v < 0 || v > INT32_MAX) {
    atomic_fetch_sub_explicit(&wg->count, d, memory_order_acq_rel);
    return v < 0 ? KEEL_EINVAL : KEEL_EOVERFLOW;
  }
  if (v == 0 && delta != 0 && wg_waiters(old) != 0) wake_all(wg);
  return 0;
}

int keel_waitgroup_done(keel_waitgroup *wg) { return keel_waitgroup_add(wg, -1); }

int keel_waitgroup_wait(keel_waitgroup *wg, int64_t deadline,
                        const keel_cancel *cancel) {
  if (!wg) return KEEL_EINVAL;
  if (wg_counter(atomic_load_explicit(&wg->count, memory_order_acquire)) == 0) return 0;
  wg_node n;
  keel_waiter_init(&n.w);
  atomic_store_explicit(&n.released, 0, memory_order_relaxed);
  int v = wg_lock(wg);
  int64_t old = atomic_fetch_add_explicit(&wg->count, 1, memory_order_acq_rel);
  if (wg_counter(old) == 0) {
    atomic_fetch_sub_explicit(&wg->count, 1, memory_order_acq_rel);
    wg_unlock(wg, v);
    return 0;
  }
  n.epoch = v;
  n.prev = NULL;
  n.next = wg->waiters;
  if (n.next) n.next->prev = &n;
  wg->waiters = &n;
  wg_unlock(wg, v);
  int32_t r = keel_waiter_park(&n.w, deadline, cancel);
  if (r == 0) return 0;  /* a waker claimed us: it is done with our node */
  v = wg_lock(wg);
  if (v == n.epoch) {  /* still on the live list: we gave up */
    if (n.prev) n.prev->next = n.next; else wg->waiters = n.next;
    if (n.next) n.next->prev = n.prev;
    atomic_fetch_sub_explicit(&wg->count, 1, memory_order_acq_rel);
    wg_unlock(wg, v);
    return r;
  }
  wg_unlock(wg, v);
  /* The counter reached zero and a waker took our node (even if a timeout
   * raced its claim): wait until it has passed us, then report success. */
  while (atomic_load_explicit(&n.released, memory_order_acquire) == 0) {
    if (n.w.task) keel_task_yield();
    else keel__futex_wait_until(&n.released, 0, KEEL_FOREVER);
  }
  return 0;
}
