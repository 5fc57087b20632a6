/* waiter.c — parking and waking a task or a thread (waiter.h), cancel tokens,
 * and sleeping.
 *
 * A task waiter's protocol lives in its state word, beside the claim
 * reason: PARKED (set by the scheduler once the task's context is saved, by
 * a CAS done on the worker's own stack after the switch) and WOKEN (set by
 * the claim's winner once its hand-over is done: the waiter may return).
 *   - If the winner's wake finds PARKED set (the common case: the waker runs
 *     after the waiter switched out), no one else writes the word any more:
 *     the winner stores WOKEN with a plain release store and makes the task
 *     runnable. One atomic operation per wake, the claim.
 *   - If not, the waiter is still switching out: the winner sets WOKEN with
 *     a fetch-or, and makes the task runnable only if PARKED turned up in
 *     between; otherwise the scheduler's commit sees WOKEN, fails, and
 *     resumes the task at once.
 * So a wake can never be lost, and a task is never made runnable before its
 * context is saved (Go's gopark/goready + casgstatus). A thread waiter never
 * sets PARKED; it futex-waits on its `futex` word, which the winner sets to
 * 1 and wakes.
 *
 * The waker never touches the waiter after the wake's last store or fetch-or
 * (it reads w->task before), because the waiter may return from park and
 * drop it at once; the futex wake of a thread waiter is an address-only
 * system call, harmless if the word's memory has since been reused (futex
 * users tolerate spurious wakeups).
 *
 * Cancel tokens keep their waiters on an intrusive list under a spinlock;
 * firing claims and wakes every waiter under that lock, so a parker that
 * unlinks itself under the lock knows the firer is done with it. */
#include <errno.h>
#include <sched.h>

#include "runtime/internal.h"

/* ---- futex and spinlock helpers -------------------------------------------- */

void keel__futex_wait_until(_Atomic uint32_t *addr, uint32_t val,
                            int64_t deadline) {
  if (deadline == KEEL_FOREVER) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
    return;
  }
  if (deadline < 0) deadline = 0;
  struct timespec ts = {.tv_sec = deadline / KEEL_SECOND,
                        .tv_nsec = deadline % KEEL_SECOND};
  /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET_PRIVATE, val, &ts,
          NULL, FUTEX_BITSET_MATCH_ANY);
}

/* ---- waiters ------------------------------------------------------------------- */

void keel_waiter_init(keel_waiter *w) {
  atomic_store_explicit(&w->state, (uint32_t)KEEL_WAITER_OPEN, memory_order_relaxed);
  atomic_store_explicit(&w->futex, 0, memory_order_relaxed);
  w->task = keel__task_current();
  w->cancel_link[0] = w->cancel_link[1] = NULL;
  w->timer = NULL;
}

void keel_waiter_wake(keel_waiter *w) {
  struct keel_task *t = w->task;
  if (!t) {
    atomic_store_explicit(&w->futex, 1, memory_order_release);
    keel__futex_wake(&w->futex, 1);
    return;
  }
  /* The claim CAS left the line in our cache: this load is cheap. Acquire:
   * it may read the commit's CAS, after which the task's context is saved. */
  uint64_t s = atomic_load_explicit(&w->state, memory_order_acquire);
  if (s & KEEL_WAITER_PARKED) {
    /* Committed and claimed by us: the word is ours alone. */
    atomic_store_explicit(&w->state, s | KEEL_WAITER_WOKEN, memory_order_release);
    keel__task_ready(t);
  } else if (atomic_fetch_or_explicit(&w->state, KEEL_WAITER_WOKEN,
                                      memory_order_acq_rel) & KEEL_WAITER_PARKED) {
    keel__task_ready(t);  /* the commit came between the load and the or */
  }
}

/* The scheduler's commit of a task's park, after its context was saved:
 * sets PARKED unless the wake already came. False: resume the task now. */
bool keel__waiter_commit_park(keel_waiter *w) {
  uint64_t s = atomic_load_explicit(&w->state, memory_order_acquire);
  while (!(s & KEEL_WAITER_WOKEN)) {
    if (atomic_compare_exchange_weak_explicit(&w->state, &s, s | KEEL_WAITER_PARKED,
                                              memory_order_acq_rel,
                                              memory_order_acquire))
      return true;
  }
  return false;
}

static void waiter_timeout(void *arg, int64_t now) {
  (void)now;
  keel_waiter *w = arg;
  if (keel_waiter_claim(w, KEEL_ETIMEDOUT)) keel_waiter_wake(w);
}

/* Links w on c's list, or claims w with c's code when c already fired.
 * Returns true when w was linked (and must be unlinked after the park). */
static bool cancel_link(keel_cancel *c, keel_waiter *w) {
  keel__spin_lock(&c->lock);
  int code = atomic_load_explicit(&c->code, memory_order_acquire);
  if (code != 0) {
    keel__spin_unlock(&c->lock);
    if (keel_waiter_claim(w, code)) keel_waiter_wake(w);
    return false;
  }
  keel_waiter *head = c->waiters;
  w->cancel_link[0] = NULL;
  w->cancel_link[1] = head;
  if (head) head->cancel_link[0] = w;
  c->waiters = w;
  keel__spin_unlock(&c->lock);
  return true;
}

/* A waiter detached by keel_cancel_fire has both links pointing to itself. */
void keel__cancel_unlink(keel_cancel *c, keel_waiter *w) {
  keel__spin_lock(&c->lock);
  if (w->cancel_link[0] != (void *)w) {
    keel_waiter *prev = w->cancel_link[0], *next = w->cancel_link[1];
    if (prev) prev->cancel_link[1] = next; else c->waiters = next;
    if (next) next->cancel_link[0] = prev;
  }
  w->cancel_link[0] = w->cancel_link[1] = NULL;
  keel__spin_unlock(&c->lock);
}

int32_t keel_waiter_park(keel_waiter *w, int64_t deadline,
                         const keel_cancel *cancel) {
  keel_cancel *c = (keel_cancel *)cancel;
  bool linked = false, timer_armed = false;
  keel_rtimer tm;
  struct keel_task *self = w->task;

  if (c) linked = cancel_link(c, w);
  if (deadline != KEEL_FOREVER &&
      keel_waiter_reason(w) == KEEL_WAITER_OPEN) {
    if (deadline <= keel_now()) {
      if (keel_waiter_claim(w, KEEL_ETIMEDOUT)) keel_waiter_wake(w);
    } else if (self) {
      keel_rtimer_init(&tm, waiter_timeout, w);
      w->timer = &tm;
      if (keel_rtimer_start(&tm, deadline, 0) == 0) {
        timer_armed = true;
      } else if (keel_waiter_claim(w, KEEL_ETIMEDOUT)) {
        /* No timer (out of memory): a deadline we cannot watch is reported
         * as passed rather than silently ignored. */
        keel_waiter_wake(w);
      }
    }
  }

  if (self) {
    /* The switch commits the park (sets PARKED) on the scheduler's stack;
     * if the wake came first the commit fails and we are resumed at once. */
    while (!(atomic_load_explicit(&w->state, memory_order_acquire) & KEEL_WAITER_WOKEN))
      keel__task_switch_out(KEEL_POST_PARK, w);
  } else {
    while (atomic_load_explicit(&w->futex, memory_order_acquire) != 1) {
      keel__futex_wait_until(&w->futex, 0, deadline);
      if (deadline != KEEL_FOREVER &&
          atomic_load_explicit(&w->futex, memory_order_acquire) != 1 &&
          keel_now() >= deadline && keel_waiter_claim(w, KEEL_ETIMEDOUT))
        keel_waiter_wake(w);
    }
  }

  if (timer_armed) keel_rtimer_stop(&tm);
  w->timer = NULL;
  if (linked) keel__cancel_unlink(c, w);
  return keel_waiter_reason(w);
}

/* ---- cancel tokens ------------------------------------------------------------- */

void keel_cancel_init(keel_cancel *c) {
  atomic_store_explicit(&c->code, 0, memory_order_relaxed);
  atomic_store_explicit(&c->lock, 0, memory_order_relaxed);
  c->waiters = NULL;
}

/* code is written only here, under the lock, so the lock alone decides which
 * fire wins: one locked instruction per fire, not a CAS and then the lock
 * (the release store pairs with keel_cancel_code's acquire). */
bool keel_cancel_fire(keel_cancel *c, int code) {
  if (!c || code >= 0) return false;
  if (atomic_load_explicit(&c->code, memory_order_acquire) != 0) return false;
  keel__spin_lock(&c->lock);
  bool fired = atomic_load_explicit(&c->code, memory_order_relaxed) == 0;
  if (fired) keel__cancel_fire_locked(c, code);
  keel__spin_unlock(&c->lock);
  return fired;
}

void keel__cancel_fire_locked(keel_cancel *c, int code) {
  atomic_store_explicit(&c->code, code, memory_order_release);
  keel_waiter *w = c->waiters;
  c->waiters = NULL;
  while (w) {
    keel_waiter *next = w->cancel_link[1];
    w->cancel_link[0] = w->cancel_link[1] = (void *)w;  /* detached */
    if (keel_waiter_claim(w, code)) keel_waiter_wake(w);
    w = next;
  }
}

void keel_cancel_destroy(keel_cancel *c) {
  (void)c;  /* nothing is allocated; the caller guarantees no waiters */
}

/* ---- sleeping -------------------------------------------------------------------- */

int keel_sleep_until(int64_t deadline, const keel_cancel *cancel) {
  int code = keel_cancel_code(cancel);
  if (code) return code;
  if (deadline <= keel_now()) return 0;
  keel_waiter w;
  keel_waiter_init(&w);
  int32_t r = keel_waiter_park(&w, deadline, cancel);
  return r == KEEL_ETIMEDOUT ? 0 : r;
}

int keel_sleep(int64_t duration) {
  if (duration <= 0) return 0;
  return keel_sleep_until(keel_deadline_in(duration), NULL);
}
