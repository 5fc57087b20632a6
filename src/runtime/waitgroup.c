/* waitgroup.c — Go's sync.WaitGroup (keel/task.h).
 *
 * `count` packs two numbers, as Go's WaitGroup.state does: the counter in
 * the high 32 bits, the number of parked waiters in the low 32 bits. The add
 * that brings the counter to zero with no waiters returns without touching
 * the group again, so a waiter that sees zero may free the group at once.
 * With waiters, it takes the lock and claims and wakes each of them; a woken
 * (or timed-out) waiter retakes the lock before returning, so the group is
 * still alive while the waker holds it. Waiter nodes live on the waiters'
 * stacks, on a list under `lock`; a waiter that gives up unlinks itself
 * under the lock and removes itself from the count. */
#include "runtime/internal.h"

typedef struct wg_node {
  keel_waiter w;
  struct wg_node *prev, *next;
} wg_node;

#define WG_ONE ((int64_t)1 << 32)

static int32_t wg_counter(int64_t state) { return (int32_t)(state >> 32); }
static uint32_t wg_waiters(int64_t state) { return (uint32_t)state; }

void keel_waitgroup_init(keel_waitgroup *wg) {
  atomic_store_explicit(&wg->count, 0, memory_order_relaxed);
  atomic_store_explicit(&wg->lock, 0, memory_order_relaxed);
  wg->waiters = NULL;
}

static void wake_all(keel_waitgroup *wg) {
  keel__spin_lock(&wg->lock);
  if (wg_counter(atomic_load_explicit(&wg->count, memory_order_acquire)) == 0) {
    wg_node *n = wg->waiters;
    wg->waiters = NULL;
    int64_t k = 0;
    while (n) {
      wg_node *next = n->next;
      n->prev = n->next = n;  /* detached */
      k++;
      if (keel_waiter_claim(&n->w, 0)) keel_waiter_wake(&n->w);
      n = next;
    }
    atomic_fetch_sub_explicit(&wg->count, k, memory_order_acq_rel);
  }
  keel__spin_unlock(&wg->lock);
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
  keel__spin_lock(&wg->lock);
  int64_t old = atomic_fetch_add_explicit(&wg->count, 1, memory_order_acq_rel);
  if (wg_counter(old) == 0) {
    atomic_fetch_sub_explicit(&wg->count, 1, memory_order_acq_rel);
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
  if (n.prev == &n) {
    r = 0;  /* the counter reached zero (even if a timeout raced the wake) */
  } else {  /* still linked: we gave up */
    if (n.prev) n.prev->next = n.next; else wg->waiters = n.next;
    if (n.next) n.next->prev = n.prev;
    atomic_fetch_sub_explicit(&wg->count, 1, memory_order_acq_rel);
  }
  keel__spin_unlock(&wg->lock);
  return r;
}
