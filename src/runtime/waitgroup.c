/* waitgroup.c — Go's sync.WaitGroup (keel/task.h).
 *
 * count is changed with atomics; waiters sit on a list (nodes on their own
 * stacks) under `lock`. A waiter checks count == 0 under the lock after
 * linking itself; the add that brings count to zero takes the lock after
 * its decrement and wakes everyone linked. Either the waiter sees zero or
 * the waker sees the waiter: no lost wakeup. A waiter that gives up
 * (deadline, cancel) unlinks itself under the lock, and the waker claims and
 * wakes under the lock, so nobody touches a node after its owner returned. */
#include "runtime/internal.h"

typedef struct wg_node {
  keel_waiter w;
  struct wg_node *prev, *next;
} wg_node;

void keel_waitgroup_init(keel_waitgroup *wg) {
  atomic_store_explicit(&wg->count, 0, memory_order_relaxed);
  atomic_store_explicit(&wg->lock, 0, memory_order_relaxed);
  wg->waiters = NULL;
}

static void wake_all(keel_waitgroup *wg) {
  keel__spin_lock(&wg->lock);
  if (atomic_load_explicit(&wg->count, memory_order_acquire) == 0) {
    wg_node *n = wg->waiters;
    wg->waiters = NULL;
    while (n) {
      wg_node *next = n->next;
      n->prev = n->next = n;  /* detached */
      if (keel_waiter_claim(&n->w, 0)) keel_waiter_wake(&n->w);
      n = next;
    }
  }
  keel__spin_unlock(&wg->lock);
}

int keel_waitgroup_add(keel_waitgroup *wg, int64_t delta) {
  if (!wg) return KEEL_EINVAL;
  int64_t old = atomic_fetch_add_explicit(&wg->count, delta, memory_order_acq_rel);
  int64_t now = old + delta;
  if (now < 0) {
    atomic_fetch_sub_explicit(&wg->count, delta, memory_order_acq_rel);
    return KEEL_EINVAL;
  }
  if (now == 0 && delta != 0) wake_all(wg);
  return 0;
}

int keel_waitgroup_done(keel_waitgroup *wg) { return keel_waitgroup_add(wg, -1); }

int keel_waitgroup_wait(keel_waitgroup *wg, int64_t deadline,
                        const keel_cancel *cancel) {
  if (!wg) return KEEL_EINVAL;
  if (atomic_load_explicit(&wg->count, memory_order_acquire) == 0) return 0;
  wg_node n;
  keel_waiter_init(&n.w);
  keel__spin_lock(&wg->lock);
  if (atomic_load_explicit(&wg->count, memory_order_acquire) == 0) {
    keel__spin_unlock(&wg->lock);
    return 0;
  }
  n.prev = NULL;
  n.next = wg->waiters;
  if (n.next) n.next->prev = &n;
  wg->waiters = &n;
  keel__spin_unlock(&wg->lock);
  int32_t r = keel_waiter_park(&n.w, deadline, cancel);
  keel__spin_lock(&wg->lock);
  if (n.prev != &n) {
    if (n.prev) n.prev->next = n.next; else wg->waiters = n.next;
    if (n.next) n.next->prev = n.prev;
  }
  keel__spin_unlock(&wg->lock);
  return r == 0 ? 0 : r;
}
