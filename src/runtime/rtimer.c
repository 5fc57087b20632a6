/* rtimer.c — the runtime's callback timers (rtimer.h): a 4-ary min-heap of
 * caller-owned timers, serviced by one timer thread that sleeps on a futex
 * with an absolute CLOCK_MONOTONIC timeout (and 1 ns timer slack) until the
 * earliest deadline.
 *
 * Invariants (all under `lock`):
 *   - state ARMED  <=> the timer is in the heap at heap_index;
 *   - state RUNNING: its callback is being run by the timer thread (`running`
 *     points to it); it is not in the heap;
 *   - state IDLE: neither.
 * A callback may re-arm or stop its own timer: after the callback the thread
 * only touches the timer again if it is still RUNNING (not re-armed, not
 * stopped), to re-arm a periodic timer or mark it IDLE. keel_rtimer_stop
 * from another thread waits on `done_cond` while `running == t`, so it
 * returns only when the callback is over.
 *
 * The timer thread also plays Go's sysmon: while any worker is busy it wakes
 * at least every millisecond to let the scheduler notice work stuck behind a
 * task that does not yield (keel__sched_sysmon). */
#include <errno.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "runtime/internal.h"

enum { T_IDLE = 0, T_ARMED = 1, T_RUNNING = 2 };

typedef struct heap_entry {
  int64_t when;
  keel_rtimer *t;
} heap_entry;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  heap_entry *heap;
  size_t len, cap;
  keel_rtimer *running;
  int stop_waiters;
  bool thread_running, stopping;
  pthread_t thread;
  _Atomic uint32_t wake_word;
  int64_t sleeping_until;        /* the timer thread's current wake time */
} tm = {.lock = PTHREAD_MUTEX_INITIALIZER,
        .done_cond = PTHREAD_COND_INITIALIZER};

static _Thread_local bool on_timer_thread;
static _Atomic int timer_deep;  /* sleeping with no sysmon tick planned */

void keel__timers_kick_if_deep(void) {
  if (atomic_load_explicit(&timer_deep, memory_order_seq_cst) &&
      atomic_exchange_explicit(&timer_deep, 0, memory_order_relaxed))
    keel__timers_kick();
}

/* ---- the heap -------------------------------------------------------------- */

/* Heap entries carry `when` inline, so sifting compares within the array
 * (four children share a cache line) instead of chasing timer pointers. */

static void heap_set(size_t i, heap_entry e) {
  tm.heap[i] = e;
  e.t->heap_index = (int32_t)i;
}

static void sift_up(size_t i) {
  heap_entry e = tm.heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 4;
    if (tm.heap[p].when <= e.when) break;
    heap_set(i, tm.heap[p]);
    i = p;
  }
  heap_set(i, e);
}

static void sift_down(size_t i) {
  heap_entry e = tm.heap[i];
  for (;;) {
    size_t c = 4 * i + 1, best = i;
    int64_t bw = e.when;
    size_t end = c + 4 < tm.len ? c + 4 : tm.len;
    for (size_t k = c; k < end; k++) {
      if (tm.heap[k].when < bw) { best = k; bw = tm.heap[k].when; }
    }
    if (best == i) break;
    heap_set(i, tm.heap[best]);
    i = best;
  }
  heap_set(i, e);
}

static int heap_push(keel_rtimer *t) {
  if (tm.len == tm.cap) {
    size_t cap = tm.cap ? tm.cap * 2 : 256;
    heap_entry *h = realloc(tm.heap, cap * sizeof *h);
    if (!h) return KEEL_ENOMEM;
    tm.heap = h;
    tm.cap = cap;
  }
  heap_set(tm.len++, (heap_entry){t->when, t});
  sift_up(tm.len - 1);
  return 0;
}

static void heap_remove(keel_rtimer *t) {
  size_t i = (size_t)t->heap_index;
  heap_entry last = tm.heap[--tm.len];
  if (i != tm.len) {
    heap_set(i, last);
    if (i > 0 && tm.heap[(i - 1) / 4].when > last.when) sift_up(i);
    else sift_down(i);
  }
  t->heap_index = -1;
}

/* ---- the timer thread ------------------------------------------------------ */

static void kick_locked(int64_t when) {
  if (when < tm.sleeping_until) {
    tm.sleeping_until = when;
    atomic_fetch_add_explicit(&tm.wake_word, 1, memory_order_release);
    keel__futex_wake(&tm.wake_word, 1);
  }
}

void keel__timers_kick(void) {
  pthread_mutex_lock(&tm.lock);
  if (tm.thread_running) kick_locked(keel_now() + KEEL_MILLISECOND);
  pthread_mutex_unlock(&tm.lock);
}

static void *timer_main(void *arg) {
  (void)arg;
  on_timer_thread = true;
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  int64_t next_sysmon = 0;
  pthread_mutex_lock(&tm.lock);
  while (!tm.stopping) {
    int64_t now = keel_now();
    while (tm.len > 0 && tm.heap[0].when <= now) {
      keel_rtimer *t = tm.heap[0].t;
      heap_remove(t);
      atomic_store_explicit(&t->state, T_RUNNING, memory_order_relaxed);
      tm.running = t;
      keel_rtimer_fn fn = t->fn;
      void *a = t->arg;
      pthread_mutex_unlock(&tm.lock);
      fn(a, now);
      pthread_mutex_lock(&tm.lock);
      tm.running = NULL;
      if (atomic_load_explicit(&t->state, memory_order_relaxed) == T_RUNNING) {
        if (t->period > 0) {
          /* Next multiple of the period after now, skipping missed ones. */
          int64_t late = now - t->when;
          int64_t k = late / t->period + 1;
          t->when += k * t->period;
          if (heap_push(t) == 0)
            atomic_store_explicit(&t->state, T_ARMED, memory_order_relaxed);
          else
            atomic_store_explicit(&t->state, T_IDLE, memory_order_relaxed);
        } else {
          atomic_store_explicit(&t->state, T_IDLE, memory_order_relaxed);
        }
      }
      if (tm.stop_waiters) pthread_cond_broadcast(&tm.done_cond);
    }
    if (now >= next_sysmon && keel__sched_busy()) {
      pthread_mutex_unlock(&tm.lock);
      keel__sched_sysmon();
      pthread_mutex_lock(&tm.lock);
      next_sysmon = now + KEEL_MILLISECOND;
    }
    int64_t until = tm.len > 0 ? tm.heap[0].when : KEEL_FOREVER;
    /* Dekker with keel__timers_kick_if_deep: publish "deep" first, then
     * look at the workers (seq_cst both sides). */
    atomic_store_explicit(&timer_deep, 1, memory_order_seq_cst);
    bool busy = keel__sched_busy();
    if (busy) {
      atomic_store_explicit(&timer_deep, 0, memory_order_relaxed);
      if (next_sysmon < until) until = next_sysmon;
    }
    if (tm.stopping) break;  /* may have been set while sysmon ran unlocked */
    tm.sleeping_until = until;
    uint32_t seq = atomic_load_explicit(&tm.wake_word, memory_order_acquire);
    pthread_mutex_unlock(&tm.lock);
    if (until > keel_now()) keel__futex_wait_until(&tm.wake_word, seq, until);
    pthread_mutex_lock(&tm.lock);
    tm.sleeping_until = INT64_MIN;  /* awake: no kick needed */
  }
  pthread_mutex_unlock(&tm.lock);
  return NULL;
}

int keel__timers_start(void) {
  pthread_mutex_lock(&tm.lock);
  int rc = 0;
  if (!tm.thread_running) {
    tm.stopping = false;
    tm.sleeping_until = INT64_MIN;
    if (pthread_create(&tm.thread, NULL, timer_main, NULL) != 0) rc = KEEL_ENOMEM;
    else {
      pthread_setname_np(tm.thread, "keel-timer");
      tm.thread_running = true;
    }
  }
  pthread_mutex_unlock(&tm.lock);
  return rc;
}

/* Stops the thread and disarms every timer still in the heap (the runtime
 * is going away; a restarted runtime starts with an empty heap). */
void keel__timers_stop(void) {
  pthread_mutex_lock(&tm.lock);
  if (!tm.thread_running) { pthread_mutex_unlock(&tm.lock); return; }
  tm.stopping = true;
  atomic_fetch_add_explicit(&tm.wake_word, 1, memory_order_release);
  keel__futex_wake(&tm.wake_word, 1);
  pthread_t th = tm.thread;
  pthread_mutex_unlock(&tm.lock);
  pthread_join(th, NULL);
  pthread_mutex_lock(&tm.lock);
  for (size_t i = 0; i < tm.len; i++) {
    tm.heap[i].t->heap_index = -1;
    atomic_store_explicit(&tm.heap[i].t->state, T_IDLE, memory_order_relaxed);
  }
  tm.len = 0;
  free(tm.heap);
  tm.heap = NULL;
  tm.cap = 0;
  tm.thread_running = false;
  pthread_mutex_unlock(&tm.lock);
}

/* ---- the API ------------------------------------------------------------------ */

void keel_rtimer_init(keel_rtimer *t, keel_rtimer_fn fn, void *arg) {
  t->when = 0;
  t->period = 0;
  t->fn = fn;
  t->arg = arg;
  t->heap_index = -1;
  atomic_store_explicit(&t->state, T_IDLE, memory_order_relaxed);
  t->owner = NULL;
}

int keel_rtimer_start(keel_rtimer *t, int64_t when, int64_t period) {
  if (period < 0 || !t->fn) return KEEL_EINVAL;
  int rc = keel__timers_ensure();
  if (rc) return rc;
  pthread_mutex_lock(&tm.lock);
  if (!tm.thread_running || tm.stopping) {
    pthread_mutex_unlock(&tm.lock);
    return KEEL_ESHUTDOWN;
  }
  uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
  int64_t old_when = t->when;
  t->when = when;
  t->period = period;
  if (st == T_ARMED) {
    tm.heap[t->heap_index].when = when;
    if (when < old_when) sift_up((size_t)t->heap_index);
    else sift_down((size_t)t->heap_index);
  } else {
    rc = heap_push(t);
    if (rc) { pthread_mutex_unlock(&tm.lock); return rc; }
    atomic_store_explicit(&t->state, T_ARMED, memory_order_relaxed);
  }
  if (tm.heap[0].t == t) kick_locked(when);
  pthread_mutex_unlock(&tm.lock);
  return 0;
}

bool keel_rtimer_stop(keel_rtimer *t) {
  pthread_mutex_lock(&tm.lock);
  bool was = false;
  uint32_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
  if (st == T_ARMED) {
    heap_remove(t);
    was = true;
  } else if (st == T_RUNNING && t->period > 0) {
    was = true;  /* a periodic timer would have fired again */
  }
  atomic_store_explicit(&t->state, T_IDLE, memory_order_relaxed);
  if (!on_timer_thread) {
    while (tm.running == t) {
      tm.stop_waiters++;
      pthread_cond_wait(&tm.done_cond, &tm.lock);
      tm.stop_waiters--;
    }
  }
  pthread_mutex_unlock(&tm.lock);
  return was;
}
