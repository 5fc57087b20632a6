/* select.c — keel_chan_select, Go's selectgo in three passes.
 *
 *   0. Look without locks at every case, and pick one uniformly among
 *      those that seem ready (reservoir sampling: the m-th seemingly ready
 *      case replaces the pick with probability 1/m, so with one ready case no
 *      random number is drawn); lock its channel alone and try it. Most
 *      selects with a ready case end here, with one lock taken instead of one
 *      per case and no shuffle.
 *   1. With every case's channel locked (in address order, each channel once),
 *      look at the cases in a uniformly random order (a Fisher-Yates shuffle)
 *      and perform the first that can proceed, so the choice among ready
 *      cases is uniform here too.
 *   2. None can: queue one entry per case, all pointing at one waiter, unlock
 *      and park. The first waker to claim the waiter (keel_waiter_claim with
 *      the case index) wins; it performs its side of the case under its
 *      channel's lock (copies the value, sets the result) and dequeues that
 *      entry. A deadline is a claim by the runtime with KEEL_ETIMEDOUT.
 *   3. Woken: lock again and dequeue the losers, which wakers that lost the
 *      claim may already have dropped (chan_entry.queued tells).
 *
 * A value moves only under the lock of its channel and only by the claim's
 * winner, so none is lost or duplicated, also under a concurrent close (which
 * claims like any waker). Up to SELECT_STACK_CASES cases use scratch space on
 * the stack; more take one allocation. */
#include <stdlib.h>

#include "chan/chan_internal.h"

enum { SELECT_STACK_CASES = 8, SELECT_MAX_CASES = 65536 };

/* ---- a cheap per-thread PRNG (wyrand) ---------------------------------------- */

static _Thread_local uint64_t rng_state;

/* The state is loaded once per select and stored back before any park (a
 * task may resume on another thread, whose slot the compiler must not reuse). */
static inline uint64_t rng_load(void) {
  uint64_t s = rng_state;
  if (__builtin_expect(s == 0, 0))
    s = (uint64_t)(uintptr_t)&rng_state ^ (uint64_t)keel_now() ^ 0x9E3779B97F4A7C15ull;
  return s;
}

static inline uint32_t rng_next(uint64_t *state) {
  uint64_t s = *state += 0xA0761D6478BD642Full;
  __uint128_t m = (__uint128_t)s * (s ^ 0xE7037ED1A0B428DBull);
  return (uint32_t)((uint64_t)(m >> 64) ^ (uint64_t)m);
}

/* Uniform in [0, n) (Lemire's multiply-shift; the bias is below n / 2^32). */
static inline uint32_t rng_below(uint64_t *state, uint32_t n) {
  return (uint32_t)(((uint64_t)rng_next(state) * n) >> 32);
}

/* ---- locking every case's channel -------------------------------------------- */

static int chan_addr_cmp(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (keel_chan *const *)a, y = (uintptr_t) * (keel_chan *const *)b;
  return x < y ? -1 : x > y;
}

/* Sorts chans[0..n) by address and drops duplicates; returns the new count. */
static size_t sort_unique(keel_chan **chans, size_t n) {
  if (n <= SELECT_STACK_CASES) {
    for (size_t i = 1; i < n; i++) {
      keel_chan *v = chans[i];
      size_t j = i;
      while (j > 0 && (uintptr_t)chans[j - 1] > (uintptr_t)v) {
        chans[j] = chans[j - 1];
        j--;
      }
      chans[j] = v;
    }
  } else {
    qsort(chans, n, sizeof *chans, chan_addr_cmp);
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (m == 0 || chans[m - 1] != chans[i]) chans[m++] = chans[i];
  return m;
}

static void lock_all(keel_chan **order, size_t n) {
  for (size_t i = 0; i < n; i++) chan_lock_acquire(&order[i]->lock);
}

static void unlock_all(keel_chan **order, size_t n) {
  for (size_t i = n; i-- > 0;) chan_lock_release(&order[i]->lock);
}

/* ---- select -------------------------------------------------------------------- */

/* Tries case sc under its (held) channel lock. True if it proceeded; then
 * *result is its result and *wake the entry to wake after unlocking. */
static bool try_case(keel_select_case *sc, int *result, chan_entry **wake) {
  keel_chan *c = sc->chan;
  bool done;
  if (sc->op == KEEL_SELECT_RECV) {
    *wake = chan_recv_locked(c, sc->elem, &done);
    if (done) { *result = 0; return true; }
    if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
      if (sc->elem && c->elem_size) memset(sc->elem, 0, c->elem_size);
      *result = KEEL_ECLOSED;
      return true;
    }
    return false;
  }
  if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
    *wake = NULL;
    *result = KEEL_ECLOSED;
    return true;
  }
  *wake = chan_send_locked(c, sc->elem, &done);
  if (done) { *result = 0; return true; }
  return false;
}

/* A hint, read without the lock: may be stale either way. */
static inline bool case_looks_ready(const keel_select_case *sc) {
  keel_chan *c = sc->chan;
  if (atomic_load_explicit(&c->closed, memory_order_relaxed)) return true;
  size_t n = atomic_load_explicit(&c->count, memory_order_relaxed);
  if (sc->op == KEEL_SELECT_RECV)
    return n > 0 || atomic_load_explicit(&c->sendq.len, memory_order_relaxed) > 0;
  return n < c->capacity || atomic_load_explicit(&c->recvq.len, memory_order_relaxed) > 0;
}

/* No case can ever proceed: wait for the deadline (Go's select of nil channels). */
static int select_nothing(int64_t deadline) {
  if (chan_deadline_passed(deadline)) return KEEL_EAGAIN;
  keel_waiter w;
  keel_waiter_init(&w);
  int32_t reason = keel_waiter_park(&w, deadline, NULL);
  return reason < 0 ? reason : KEEL_ETIMEDOUT;
}

int keel_chan_select(keel_select_case *cases, size_t n, int64_t deadline) {
  if (n > 0 && !cases) return KEEL_EINVAL;
  if (n > SELECT_MAX_CASES) return KEEL_EINVAL;

  /* Pass 0, with the arguments' check: a lock-free look (counts and flags
   * only) at every case, one seemingly ready case picked uniformly, then
   * only that channel locked and the case tried for real. */
  uint64_t rng = rng_load();
  size_t active = 0, looks_ready = 0, pick = 0;
  for (size_t i = 0; i < n; i++) {
    keel_select_case *sc = &cases[i];
    if (!sc->chan) continue;
    if (sc->op != KEEL_SELECT_SEND && sc->op != KEEL_SELECT_RECV) return KEEL_EINVAL;
    if (sc->op == KEEL_SELECT_SEND && !sc->elem && sc->chan->elem_size) return KEEL_EINVAL;
    active++;
    if (case_looks_ready(sc) && (++looks_ready == 1 || rng_below(&rng, (uint32_t)looks_ready) == 0))
      pick = i;
  }
  if (active == 0) return select_nothing(deadline);
  if (looks_ready) {
    keel_select_case *sc = &cases[pick];
    int result;
    chan_entry *wake;
    chan_lock_acquire(&sc->chan->lock);
    bool done = try_case(sc, &result, &wake);
    chan_lock_release(&sc->chan->lock);
    if (done) {
      rng_state = rng;
      if (wake) keel_waiter_wake(wake->waiter);
      sc->result = result;
      return (int)pick;
    }
  }

  /* Scratch: the poll order, the lock order, one queue entry per case. */
  uint32_t poll_stack[SELECT_STACK_CASES];
  keel_chan *order_stack[SELECT_STACK_CASES];
  chan_entry entry_stack[SELECT_STACK_CASES];
  uint32_t *poll = poll_stack;
  keel_chan **order = order_stack;
  chan_entry *entries = entry_stack;
  void *heap = NULL;
  if (active > SELECT_STACK_CASES) {
    heap = malloc(active * (sizeof *entries + sizeof *order + sizeof *poll));
    if (!heap) {
      rng_state = rng;
      return KEEL_ENOMEM;
    }
    entries = heap;
    order = (keel_chan **)(entries + active);
    poll = (uint32_t *)(order + active);
  }

  /* Inside-out Fisher-Yates: poll is a uniform permutation of the cases. */
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!cases[i].chan) continue;
    uint32_t j = rng_below(&rng, (uint32_t)k + 1);
    if (j != k) poll[k] = poll[j];
    poll[j] = (uint32_t)i;
    order[k] = cases[i].chan;
    k++;
  }
  rng_state = rng;

  size_t nlocks = sort_unique(order, active);
  lock_all(order, nlocks);

  /* Pass 1: the first ready case in poll order. */
  for (k = 0; k < active; k++) {
    keel_select_case *sc = &cases[poll[k]];
    int result;
    chan_entry *wake;
    if (try_case(sc, &result, &wake)) {
      int chosen = (int)poll[k];
      unlock_all(order, nlocks);
      if (wake) keel_waiter_wake(wake->waiter);
      sc->result = result;
      free(heap);
      return chosen;
    }
  }
  if (chan_deadline_passed(deadline)) {
    unlock_all(order, nlocks);
    free(heap);
    return KEEL_EAGAIN;
  }

  /* Pass 2: queue on every case and park. */
  keel_waiter w;
  keel_waiter_init(&w);
  for (k = 0; k < active; k++) {
    keel_select_case *sc = &cases[poll[k]];
    chan_entry *e = &entries[k];
    e->waiter = &w;
    e->elem = sc->elem;
    e->index = (int32_t)poll[k];
    e->result = 0;
    e->queued = false;
    e->wake_next = NULL;
    chan_queue_push(sc->op == KEEL_SELECT_RECV ? &sc->chan->recvq : &sc->chan->sendq, e);
  }
  unlock_all(order, nlocks);
  int32_t reason = keel_waiter_park(&w, deadline, NULL);

  /* Pass 3: dequeue the losers (the winner's claimer dequeued its entry). */
  int ret = reason < 0 ? reason : KEEL_ETIMEDOUT;
  if (active == 1 && reason >= 0) {
    cases[reason].result = entries[0].result;
    ret = reason;
  } else {
    lock_all(order, nlocks);
    for (k = 0; k < active; k++) {
      chan_entry *e = &entries[k];
      keel_select_case *sc = &cases[e->index];
      chan_queue_remove(sc->op == KEEL_SELECT_RECV ? &sc->chan->recvq : &sc->chan->sendq, e);
      if (e->index == reason) {
        sc->result = e->result;
        ret = reason;
      }
    }
    unlock_all(order, nlocks);
  }
  free(heap);
  return ret;
}
