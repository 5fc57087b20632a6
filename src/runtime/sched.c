/* sched.c — the M:N scheduler: workers, run queues, stealing, idle parking.
 *
 * Each worker thread runs `worker_main` on its own pthread stack (g0) and
 * switches into tasks. A task that parks or exits switches directly to the
 * next task of its worker's runnext/ring when there is one (else to g0),
 * leaving a `post` action that the other side performs once the task's
 * context is fully saved: commit a park, requeue a yield, finish an exit.
 * The post action always runs on a different stack than the task's own.
 *
 * Queues (Go's proc.go design):
 *   - runnext: the task made ready by the task running here runs next (it
 *     inherits the time slice: ping-pong stays on one worker, no queue trip);
 *   - a 256-slot ring per worker: the owner pushes at tail, the owner and
 *     stealers take from head with a CAS; overflow moves half to the global
 *     queue;
 *   - the global queue (mutex) for tasks made ready outside a worker, and
 *     checked every 61 schedules for fairness. It holds arrays of task
 *     pointers (pieces of 252, malloc'd, one spare kept), so moving tasks
 *     through it touches no task; when malloc fails, tasks are linked
 *     through their `next` instead (FIFO order may then mix).
 *
 * Waking idle workers (Go's wakep/spinning protocol): when work is queued
 * where another worker could take it (ring or global queue), and no worker is
 * spinning, one idle worker is woken (futex) and starts out spinning. A
 * spinning worker that finds work stops spinning and wakes another if the
 * spinner count dropped to zero. A worker going idle first publishes itself
 * (npidle++), then re-checks every queue (Dekker with the producer's push
 * then npidle load, both sequentially consistent), so no work is stranded.
 * Work put only in runnext does not wake anyone (the current task is usually
 * about to park), and a spinning worker takes it only once it has waited
 * there RUNNEXT_GRACE_NS with its worker's task still running (Go's grace,
 * longer); the timer thread's sysmon wakes a worker if such work has
 * been stuck behind a running task for a millisecond. For that, sysmon must
 * run whenever a worker does: the timer thread sleeps without a sysmon tick
 * ("deep") only after seeing every worker idle, and every way out of idle
 * (a wake-up, or finding work on the last re-check) kicks it.
 *
 * Thread-local state: a task may resume on another worker after a switch,
 * so the current worker is always fetched through keel__worker_current()
 * (not inlinable) after a switch, never cached across it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include "runtime/sanitizer.h"

static _Thread_local keel_worker *tls_worker;
static _Thread_local struct keel_task *tls_task;

__attribute__((noinline)) keel_worker *keel__worker_current(void) {
  keel_worker *w = tls_worker;
  __asm__ volatile("" : "+r"(w)::"memory");
  return w;
}

__attribute__((noinline)) struct keel_task *keel__task_current(void) {
  struct keel_task *t = tls_task;
  __asm__ volatile("" : "+r"(t)::"memory");
  return t;
}

/* For the SIGSEGV handler (stack.c): async-signal-safe read. */
struct keel_task *keel__task_current_raw(void) { return tls_task; }

static _Atomic int sched_stop_flag;

/* How long an idle worker keeps looking for work before it sleeps. */
#define KEEL_SPIN_NS (50 * KEEL_MICROSECOND)
#define KEEL_SPIN_YIELD_NS (10 * KEEL_MICROSECOND)
/* How long a task made ready on a busy worker waits there before an idle
 * worker takes it (runnext_stuck). Go waits 3 us, enough for a waker about
 * to park; 20 us also covers a waker that keeps running a little (a
 * producer filling a buffer), about what moving a task's working set to a
 * cold core costs. Longer waits are sysmon's (1 ms). */
#define RUNNEXT_GRACE_NS (20 * KEEL_MICROSECOND)
#ifdef KEEL_SANITIZE_THREAD
_Atomic int keel__fence_word;
#endif

/* ---- the global queue -------------------------------------------------------- */

/* Appends n tasks (under gq_lock). */
static void gq_append_locked(struct keel_task *const *ts, uint32_t n) {
  keel_rt *rt = &keel__rt;
  uint32_t i = 0;
  while (i < n) {
    keel_gq_seg *seg = rt->gq_last;
    if (!seg || seg->tail == KEEL_GQ_SEG) {
      seg = rt->gq_spare;
      if (seg) rt->gq_spare = NULL;
      else seg = malloc(sizeof *seg);
      if (!seg) break;
      seg->next = NULL;
      seg->head = seg->tail = 0;
      if (rt->gq_last) rt->gq_last->next = seg; else rt->gq_first = seg;
      rt->gq_last = seg;
    }
    uint32_t m = KEEL_GQ_SEG - seg->tail;
    if (m > n - i) m = n - i;
    memcpy(&seg->tasks[seg->tail], &ts[i], m * sizeof ts[0]);
    seg->tail += m;
    i += m;
  }
  for (; i < n; i++) {  /* out of memory: link the rest through the tasks */
    struct keel_task *t = ts[i];
    t->next = NULL;
    if (rt->gq_tail) rt->gq_tail->next = t; else rt->gq_head = t;
    rt->gq_tail = t;
  }
}

static void gq_push_array(struct keel_task *const *ts, uint32_t n) {
  keel_rt *rt = &keel__rt;
  pthread_mutex_lock(&rt->gq_lock);
  gq_append_locked(ts, n);
  atomic_fetch_add_explicit(&rt->gq_size, n, memory_order_seq_cst);
  pthread_mutex_unlock(&rt->gq_lock);
}

static void gq_push(struct keel_task *t) { gq_push_array(&t, 1); }

/* Takes up to n tasks in FIFO order into out (under gq_lock); returns how
 * many. An emptied piece is kept as the spare, or freed after the unlock
 * (*drop). */
static uint32_t gq_take_locked(struct keel_task **out, uint32_t n,
                               keel_gq_seg **drop) {
  keel_rt *rt = &keel__rt;
  uint32_t got = 0;
  while (got < n && rt->gq_first) {
    keel_gq_seg *seg = rt->gq_first;
    uint32_t m = seg->tail - seg->head;
    if (m > n - got) m = n - got;
    memcpy(&out[got], &seg->tasks[seg->head], m * sizeof out[0]);
    seg->head += m;
    got += m;
    if (seg->head == seg->tail) {
      rt->gq_first = seg->next;
      if (!rt->gq_first) rt->gq_last = NULL;
      if (!rt->gq_spare) {
        seg->next = NULL;
        rt->gq_spare = seg;
      } else {
        seg->next = *drop;
        *drop = seg;
      }
    }
  }
  while (got < n && rt->gq_head) {
    struct keel_task *t = rt->gq_head;
    rt->gq_head = t->next;
    if (!rt->gq_head) rt->gq_tail = NULL;
    out[got++] = t;
  }
  return got;
}

static void gq_free_segs(keel_gq_seg *s) {
  while (s) {
    keel_gq_seg *next = s->next;
    free(s);
    s = next;
  }
}

static bool runq_put_local(keel_worker *w, struct keel_task *t);
static void wakep(void);

/* Takes a batch from the global queue: returns one task and puts up to
 * `max` more on w's ring. When work is left (here or on w's ring), makes
 * sure a worker is awake to take it: the taker may not have been spinning,
 * and a producer that saw a spinner woke nobody. */
static struct keel_task *gq_get(keel_worker *w, uint32_t max) {
  keel_rt *rt = &keel__rt;
  if (atomic_load_explicit(&rt->gq_size, memory_order_relaxed) == 0) return NULL;
  struct keel_task *got[KEEL_RUNQ_SIZE / 2];
  keel_gq_seg *drop = NULL;
  pthread_mutex_lock(&rt->gq_lock);
  uint32_t size = atomic_load_explicit(&rt->gq_size, memory_order_relaxed);
  if (size == 0) { pthread_mutex_unlock(&rt->gq_lock); return NULL; }
  uint32_t n = size / (uint32_t)rt->nworkers + 1;
  if (n > size) n = size;
  if (n > max + 1) n = max + 1;
  if (n > KEEL_RUNQ_SIZE / 2) n = KEEL_RUNQ_SIZE / 2;
  n = gq_take_locked(got, n, &drop);
  atomic_fetch_sub_explicit(&rt->gq_size, n, memory_order_relaxed);
  pthread_mutex_unlock(&rt->gq_lock);
  gq_free_segs(drop);
  /* n <= half the ring: room is guaranteed */
  for (uint32_t i = 1; i < n; i++) runq_put_local(w, got[i]);
  if (size > 1) wakep();
  return got[0];
}

/* ---- the local ring ------------------------------------------------------------- */

/* Moves half of w's full ring plus t to the global queue. False if a
 * stealer raced us (then the ring has room again). */
static bool runq_put_slow(keel_worker *w, struct keel_task *t, uint32_t h,
                          uint32_t tl) {
  enum { N = KEEL_RUNQ_SIZE / 2 };
  struct keel_task *batch[N + 1];
  if (tl - h != KEEL_RUNQ_SIZE) return false;
  for (uint32_t i = 0; i < N; i++)
    batch[i] = atomic_load_explicit(&w->runq[(h + i) % KEEL_RUNQ_SIZE],
                                    memory_order_relaxed);
  if (!atomic_compare_exchange_strong_explicit(&w->runq_head, &h, h + N,
                                               memory_order_release,
                                               memory_order_relaxed))
    return false;
  batch[N] = t;
  gq_push_array(batch, N + 1);
  return true;
}

/* Owner only. Returns true when t went to the ring (false: global queue). */
static bool runq_put_local(keel_worker *w, struct keel_task *t) {
  for (;;) {
    uint32_t h = atomic_load_explicit(&w->runq_head, memory_order_acquire);
    uint32_t tl = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
    if (tl - h < KEEL_RUNQ_SIZE) {
      atomic_store_explicit(&w->runq[tl % KEEL_RUNQ_SIZE], t, memory_order_relaxed);
      atomic_store_explicit(&w->runq_tail, tl + 1, memory_order_release);
      return true;
    }
    if (runq_put_slow(w, t, h, tl)) return false;
  }
}

/* With many tasks, each on its own page, resuming one misses on its struct
 * (and the page's TLB entry), then on each line of its stack as its frames
 * return toward the struct. Taking a task from the ring, prefetch the next
 * one's struct and the lines just below it (where a task parked a few calls
 * deep keeps its frames), without reading the task: a stale slot may point
 * to a block already unmapped, which a prefetch, unlike a load, survives. */
#define RESUME_PREFETCH_LINES 12
static void prefetch_resume(const struct keel_task *t) {
  const char *top = (const char *)t;
  __builtin_prefetch(top);
  for (int i = 1; i <= RESUME_PREFETCH_LINES; i++) __builtin_prefetch(top - 64 * i);
}

/* Owner only: runnext first, then the ring. */
static struct keel_task *runq_get(keel_worker *w) {
  struct keel_task *next = atomic_load_explicit(&w->runnext, memory_order_relaxed);
  if (next && atomic_compare_exchange_strong_explicit(
                  &w->runnext, &next, NULL, memory_order_acquire,
                  memory_order_relaxed))
    return next;
  for (;;) {
    uint32_t h = atomic_load_explicit(&w->runq_head, memory_order_acquire);
    uint32_t tl = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
    if (tl == h) return NULL;
    struct keel_task *t =
        atomic_load_explicit(&w->runq[h % KEEL_RUNQ_SIZE], memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(&w->runq_head, &h, h + 1,
                                              memory_order_release,
                                              memory_order_relaxed)) {
      if (h + 1 != tl)
        prefetch_resume(atomic_load_explicit(&w->runq[(h + 1) % KEEL_RUNQ_SIZE],
                                             memory_order_relaxed));
      return t;
    }
  }
}

static bool runq_empty(keel_worker *w) {
  uint32_t h = atomic_load_explicit(&w->runq_head, memory_order_acquire);
  uint32_t tl = atomic_load_explicit(&w->runq_tail, memory_order_acquire);
  return h == tl && atomic_load_explicit(&w->runnext, memory_order_acquire) == NULL;
}

/* Go's grace before stealing runnext (proc.go's runqgrab): a task made
 * ready by the one running on v most likely runs there as soon as that one
 * parks, so taking it away at once splits a pair of tasks that hand work to
 * each other across two workers, and every hand-off then crosses cores. True
 * when v's runnext is set and v has not switched tasks for RUNNEXT_GRACE_NS
 * (its tick did not move): its running task keeps the worker, so the task in
 * runnext would wait. */
static bool runnext_stuck(keel_worker *v) {
  uint64_t tick = atomic_load_explicit(&v->tick, memory_order_relaxed);
  int64_t until = keel_now() + RUNNEXT_GRACE_NS;
  for (;;) {
    if (atomic_load_explicit(&v->runnext, memory_order_relaxed) == NULL ||
        atomic_load_explicit(&v->tick, memory_order_relaxed) != tick)
      return false;
    if (keel_now() >= until) return true;
    for (int k = 0; k < 64; k++) keel__cpu_relax();
  }
}

/* Steals half of victim's ring into w's ring (w's ring is empty: the caller
 * only steals when it has nothing). With steal_next, also takes runnext when
 * the ring is empty. Returns one task to run, or NULL. */
static struct keel_task *runq_steal(keel_worker *w, keel_worker *v,
                                    bool steal_next) {
  uint32_t tl = atomic_load_explicit(&w->runq_tail, memory_order_relaxed);
  for (;;) {
    uint32_t h = atomic_load_explicit(&v->runq_head, memory_order_acquire);
    uint32_t vt = atomic_load_explicit(&v->runq_tail, memory_order_acquire);
    uint32_t n = vt - h;
    n = n - n / 2;
    if (n == 0) {
      if (steal_next && runnext_stuck(v)) {
        struct keel_task *next = atomic_load_explicit(&v->runnext, memory_order_acquire);
        if (next && atomic_compare_exchange_strong_explicit(
                        &v->runnext, &next, NULL, memory_order_acquire,
                        memory_order_relaxed))
          return next;
      }
      return NULL;
    }
    if (n > KEEL_RUNQ_SIZE / 2) continue;  /* inconsistent h/t: retry */
    for (uint32_t i = 0; i < n; i++) {
      struct keel_task *t = atomic_load_explicit(
          &v->runq[(h + i) % KEEL_RUNQ_SIZE], memory_order_relaxed);
      atomic_store_explicit(&w->runq[(tl + i) % KEEL_RUNQ_SIZE], t,
                            memory_order_relaxed);
    }
    if (atomic_compare_exchange_strong_explicit(&v->runq_head, &h, h + n,
                                                memory_order_acq_rel,
                                                memory_order_relaxed)) {
      n--;
      struct keel_task *t = atomic_load_explicit(
          &w->runq[(tl + n) % KEEL_RUNQ_SIZE], memory_order_relaxed);
      if (n) atomic_store_explicit(&w->runq_tail, tl + n, memory_order_release);
      return t;
    }
  }
}

/* ---- idle workers --------------------------------------------------------------- */

static void idle_remove_locked(keel_worker *w) {
  keel_rt *rt = &keel__rt;
  keel_worker **pp = &rt->idle_top;
  while (*pp && *pp != w) pp = &(*pp)->idle_next;
  if (*pp) *pp = w->idle_next;
  w->idle_listed = false;
  atomic_fetch_sub_explicit(&rt->npidle, 1, memory_order_seq_cst);
}

/* Wakes one idle worker, as a spinner, if work may be waiting and nobody is
 * already spinning to find it. */
static void wakep(void) {
  keel_rt *rt = &keel__rt;
  keel__full_fence();
  if (atomic_load_explicit(&rt->npidle, memory_order_seq_cst) == 0) return;
  int zero = 0;
  if (atomic_load_explicit(&rt->nspinning, memory_order_seq_cst) != 0 ||
      !atomic_compare_exchange_strong_explicit(&rt->nspinning, &zero, 1,
                                               memory_order_seq_cst,
                                               memory_order_relaxed))
    return;
  pthread_mutex_lock(&rt->idle_lock);
  keel_worker *w = rt->idle_top;
  if (w) {
    rt->idle_top = w->idle_next;
    w->idle_listed = false;
    atomic_fetch_sub_explicit(&rt->npidle, 1, memory_order_seq_cst);
  }
  pthread_mutex_unlock(&rt->idle_lock);
  if (!w) {
    atomic_fetch_sub_explicit(&rt->nspinning, 1, memory_order_seq_cst);
    return;
  }
  atomic_store_explicit(&w->park_word, 1, memory_order_release);
  keel__futex_wake(&w->park_word, 1);
}

void keel__sched_wake_idle(void) { wakep(); }

static bool any_work(void) {
  keel_rt *rt = &keel__rt;
  if (atomic_load_explicit(&rt->gq_size, memory_order_seq_cst) != 0) return true;
  for (int i = 0; i < rt->nworkers; i++)
    if (!runq_empty(&rt->workers[i])) return true;
  return false;
}

static void stop_spinning(keel_worker *w) {
  if (!w->spinning) return;
  w->spinning = false;
  if (atomic_fetch_sub_explicit(&keel__rt.nspinning, 1, memory_order_seq_cst) == 1)
    wakep();  /* we were the last spinner: there may be more work */
}

/* ---- making tasks runnable ------------------------------------------------------ */

/* Owner only: t runs next on w; the task it displaces from runnext goes to
 * the ring, where another worker may steal it (hence the wake). */
static void runnext_put(keel_worker *w, struct keel_task *t) {
  /* An empty slot takes a plain store: thieves only ever change the slot
   * from a task to NULL, so from NULL only the owner moves it (the release
   * publishes t to whoever takes it). A full one needs the exchange: a
   * thief may be taking the task we would displace. */
  if (atomic_load_explicit(&w->runnext, memory_order_relaxed) == NULL) {
    atomic_store_explicit(&w->runnext, t, memory_order_release);
    return;
  }
  struct keel_task *old = atomic_exchange_explicit(&w->runnext, t, memory_order_acq_rel);
  if (old) {
    runq_put_local(w, old);
    wakep();
  }
}

void keel__task_ready(struct keel_task *t) {
  keel_worker *w = keel__worker_current();
  if (w) {
    runnext_put(w, t);
  } else {
    gq_push(t);
    wakep();
  }
}

/* Spawn: the new task goes to runnext like a woken one (Go's newproc). */
void keel__task_enqueue_new(struct keel_task *t) { keel__task_ready(t); }

/* ---- switching ------------------------------------------------------------------- */

void keel__task_finish(struct keel_task *t);  /* task.c */

/* Performs the post action the previous task on w left, right after the
 * switch away from it (on g0, or on the task switched to directly). Returns
 * the previous task when it must run again at once (its park was woken
 * before its context was saved), else NULL. */
static struct keel_task *post_switch(keel_worker *w) {
  enum keel_post post = w->post;
  struct keel_task *prev = w->post_task;
  w->post = KEEL_POST_NONE;
  switch (post) {
    case KEEL_POST_PARK: {
      if (!keel__waiter_commit_park(w->post_waiter))
        return prev;  /* woken before it finished switching out */
      return NULL;
    }
    case KEEL_POST_YIELD:
      /* To the back of the line: the local ring when the global queue is
       * empty (strict round-robin among this worker's tasks), else the
       * global queue, behind the tasks waiting there (Go's Gosched). */
      if (atomic_load_explicit(&keel__rt.gq_size, memory_order_relaxed) != 0)
        gq_push(prev);
      else
        runq_put_local(w, prev);  /* (when full, half goes global, prev too) */
      wakep();
      return NULL;
    case KEEL_POST_EXIT:
      keel__task_finish(prev);
      return NULL;
    case KEEL_POST_NONE:
      return NULL;
  }
  return NULL;
}

static void bump_tick(keel_worker *w) {
  atomic_store_explicit(&w->tick, atomic_load_explicit(&w->tick, memory_order_relaxed) + 1,
                        memory_order_relaxed);
}

/* Called by a task right after it was switched to (first run or resume),
 * on whatever worker it now runs: finishes the previous task's post action.
 * A park that must be resumed goes to runnext (it runs after us). */
static void after_switch_in(struct keel_task *t) {
  keel__san_resumed_task(t);
  keel_worker *w = keel__worker_current();
  if (w->post == KEEL_POST_NONE) return;
  struct keel_task *again = post_switch(w);
  if (again) runnext_put(w, again);
}

/* Switches the running task out. When this worker has a task ready in its
 * runnext slot or ring, switches to it directly (one switch instead of two
 * through g0); every 61st time, and for yields, it goes through g0 so the
 * global queue gets its turn. The post action runs on the other side. */
void keel__task_switch_out(enum keel_post post, keel_waiter *wt) {
  keel_worker *w = keel__worker_current();
  struct keel_task *t = w->current;
  w->post = post;
  w->post_waiter = wt;
  w->post_task = t;
  struct keel_task *next = NULL;
  if (post != KEEL_POST_YIELD && ++w->sched_count % 61 != 0 &&
      !atomic_load_explicit(&sched_stop_flag, memory_order_relaxed))
    next = runq_get(w);
  if (next) {
    w->current = next;
    tls_task = next;
    bump_tick(w);
    keel__san_switch_task_to_task(t, next, post == KEEL_POST_EXIT);
    keel__ctx_switch(&t->ctx, &next->ctx);
  } else {
    keel__san_switch_to_g0(w, t, post == KEEL_POST_EXIT);
    keel__ctx_switch(&t->ctx, &w->g0);
  }
  after_switch_in(t);
}

static void task_entry(void *arg) {
  struct keel_task *t = arg;
  after_switch_in(t);
  t->fn(t->arg);
  keel__task_switch_out(KEEL_POST_EXIT, NULL);
  __builtin_unreachable();
}

void keel__task_ctx_init(struct keel_task *t) {
  keel__ctx_make(&t->ctx, t->stack_lo, t->stack_size, task_entry, t);
}

/* Runs t on w until control comes back to g0 (perhaps after a chain of
 * direct task-to-task switches), then performs the post action of the task
 * that switched to g0. Returns a task to run at once, or NULL. */
static struct keel_task *run_task(keel_worker *w, struct keel_task *t) {
  w->current = t;
  tls_task = t;
  w->post = KEEL_POST_NONE;
  bump_tick(w);
  keel__san_switch_to_task(w, t);
  keel__ctx_switch(&w->g0, &t->ctx);
  keel__san_resumed_g0(w);
  tls_task = NULL;
  w->current = NULL;
  return post_switch(w);
}

/* ---- the worker loop --------------------------------------------------------------- */

static uint32_t xorshift(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  return *s = x ? x : 0x9E3779B9u;
}

static struct keel_task *try_steal(keel_worker *w) {
  keel_rt *rt = &keel__rt;
  int n = rt->nworkers;
  for (int round = 0; round < 4; round++) {
    int start = (int)(xorshift(&w->rand) % (uint32_t)n);
    for (int i = 0; i < n; i++) {
      keel_worker *v = &rt->workers[(start + i) % n];
      if (v == w) continue;
      struct keel_task *t = runq_steal(w, v, round == 3);
      if (t) return t;
    }
  }
  return NULL;
}

static struct keel_task *find_runnable(keel_worker *w) {
  keel_rt *rt = &keel__rt;
  for (;;) {
    if (atomic_load_explicit(&sched_stop_flag, memory_order_acquire)) return NULL;
    struct keel_task *t;
    if (++w->sched_count % 61 == 0 && (t = gq_get(w, 1))) return t;
    if ((t = runq_get(w))) return t;
    if ((t = gq_get(w, KEEL_RUNQ_SIZE / 2))) return t;
    int busy = rt->nworkers - atomic_load_explicit(&rt->npidle, memory_order_relaxed);
    if (w->spinning ||
        2 * atomic_load_explicit(&rt->nspinning, memory_order_relaxed) < busy) {
      if (!w->spinning) {
        w->spinning = true;
        atomic_fetch_add_explicit(&rt->nspinning, 1, memory_order_seq_cst);
      }
      if ((t = try_steal(w))) return t;
      if ((t = gq_get(w, KEEL_RUNQ_SIZE / 2))) return t;
      /* Nothing to run: help a spawn burst by preparing stacks ahead. */
      if (keel__stack_prefill()) continue;
      /* A short bounded spin before sleeping: work that shows up within
       * KEEL_SPIN_NS is taken without a futex round trip (and, since we
       * count as spinning, producers do not issue futex wakes meanwhile).
       * Past KEEL_SPIN_YIELD_NS each round yields the CPU to any other
       * runnable thread (a worker with work may be waiting for this core). */
      bool again = false;
      int64_t now, start = keel_now(), until = start + KEEL_SPIN_NS;
      do {
        for (int k = 0; k < 64; k++) keel__cpu_relax();
        if (atomic_load_explicit(&sched_stop_flag, memory_order_relaxed)) break;
        if ((t = runq_get(w))) return t;
        if ((t = gq_get(w, KEEL_RUNQ_SIZE / 2))) return t;
        for (int i = 0; i < rt->nworkers; i++) {
          keel_worker *v = &rt->workers[i];
          if (v != w && !runq_empty(v) && (t = runq_steal(w, v, false))) return t;
        }
        if (keel__stack_prefill_pending()) { again = true; break; }
        /* On an oversubscribed machine the worker that holds the work may
         * be waiting for this core: after the first 10 us, let it run. */
        now = keel_now();
        if (now - start > KEEL_SPIN_YIELD_NS) sched_yield();
      } while (now < until);
      if (again) continue;
    }
    /* Go idle: publish, stop spinning, re-check everything, then sleep. */
    atomic_store_explicit(&w->park_word, 0, memory_order_relaxed);
    pthread_mutex_lock(&rt->idle_lock);
    w->idle_next = rt->idle_top;
    rt->idle_top = w;
    w->idle_listed = true;
    atomic_fetch_add_explicit(&rt->npidle, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&rt->idle_lock);
    if (w->spinning) {
      w->spinning = false;
      atomic_fetch_sub_explicit(&rt->nspinning, 1, memory_order_seq_cst);
    }
    keel__full_fence();
    if (any_work() || atomic_load_explicit(&sched_stop_flag, memory_order_acquire)) {
      pthread_mutex_lock(&rt->idle_lock);
      bool listed = w->idle_listed;
      if (listed) idle_remove_locked(w);
      pthread_mutex_unlock(&rt->idle_lock);
      if (listed) {
        /* Come back as a spinner, so the next round steals (runnext
         * included) whatever spinner count it sees: else a worker that is
         * not counted while others are would loop here without stealing. */
        w->spinning = true;
        atomic_fetch_add_explicit(&rt->nspinning, 1, memory_order_seq_cst);
        /* Back to work without a wake-up, so no waker saw us: the timer
         * thread may have gone deep seeing every worker idle (our npidle
         * share still counted), and its sysmon must watch us again, or a
         * task queued behind one that never yields waits forever. */
        keel__timers_kick_if_deep();
        continue;
      }
      /* A waker popped us and counted us as spinning: take its wake. */
    }
    while (atomic_load_explicit(&w->park_word, memory_order_acquire) == 0)
      keel__futex_wait_until(&w->park_word, 0, KEEL_FOREVER);
    /* Woken by wakep, which counted us in nspinning (or by shutdown). */
    w->spinning = true;
    keel__timers_kick_if_deep();
  }
}

static void *worker_main(void *arg) {
  keel_worker *w = arg;
  tls_worker = w;
  keel__stack_thread_init(w);
  keel__san_worker_init(w);
  for (;;) {
    struct keel_task *t = find_runnable(w);
    if (!t) break;
    stop_spinning(w);
    while (t) t = run_task(w, t);
  }
  if (w->spinning) {
    w->spinning = false;
    atomic_fetch_sub_explicit(&keel__rt.nspinning, 1, memory_order_seq_cst);
  }
  keel__stack_thread_fini(w);
  tls_worker = NULL;
  return NULL;
}

/* ---- sysmon and lifecycle ---------------------------------------------------------- */

/* The timer thread reads the worker array through this pointer, published
 * once the workers are set up and cleared (with the timer thread stopped
 * first, see keel_runtime_shutdown) before they are freed. */
static keel_worker *_Atomic sysmon_workers;
static _Atomic int sysmon_n;

bool keel__sched_busy(void) {
  keel_rt *rt = &keel__rt;
  int n = atomic_load_explicit(&sysmon_n, memory_order_acquire);
  return n > 0 && atomic_load_explicit(&rt->npidle, memory_order_seq_cst) < n;
}

void keel__sched_sysmon(void) {
  keel_worker *ws = atomic_load_explicit(&sysmon_workers, memory_order_acquire);
  if (!ws) return;
  int n = atomic_load_explicit(&sysmon_n, memory_order_acquire);
  for (int i = 0; i < n; i++) {
    keel_worker *w = &ws[i];
    uint64_t tick = atomic_load_explicit(&w->tick, memory_order_relaxed);
    if (tick == w->sysmon_seen && !runq_empty(w)) wakep();
    w->sysmon_seen = tick;
  }
  /* A safety net for the global queue too: work there and a worker idle. */
  if (atomic_load_explicit(&keel__rt.gq_size, memory_order_relaxed) != 0) wakep();
}

int keel__sched_start(int nworkers) {
  keel_rt *rt = &keel__rt;
  keel_worker *ws = calloc((size_t)nworkers, sizeof *ws);
  if (!ws) return KEEL_ENOMEM;
  rt->gq_head = rt->gq_tail = NULL;
  rt->gq_first = rt->gq_last = rt->gq_spare = NULL;
  atomic_store(&rt->gq_size, 0);
  rt->idle_top = NULL;
  atomic_store(&rt->npidle, 0);
  atomic_store(&rt->nspinning, 0);
  atomic_store(&sched_stop_flag, 0);
  for (int i = 0; i < nworkers; i++) {
    ws[i].index = i;
    ws[i].rand = 0x9E3779B9u * (uint32_t)(i + 1);
  }
  rt->workers = ws;
  rt->nworkers = nworkers;
  for (int i = 0; i < nworkers; i++) {
    int crc = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
    if (crc == 0) pthread_setname_np(ws[i].thread, "keel-worker");
    if (crc != 0) {
      atomic_store(&sched_stop_flag, 1);
      for (int j = 0; j < i; j++) {
        atomic_store(&ws[j].park_word, 1);
        keel__futex_wake(&ws[j].park_word, 1);
      }
      for (int j = 0; j < i; j++) pthread_join(ws[j].thread, NULL);
      rt->workers = NULL;
      rt->nworkers = 0;
      free(ws);
      return KEEL_ENOMEM;
    }
  }
  atomic_store_explicit(&sysmon_n, nworkers, memory_order_release);
  atomic_store_explicit(&sysmon_workers, ws, memory_order_release);
  return 0;
}

/* Called once every task has finished: all workers are idle or about to be. */
void keel__sched_stop(void) {
  keel_rt *rt = &keel__rt;
  if (!rt->workers) return;
  atomic_store_explicit(&sysmon_workers, NULL, memory_order_release);
  atomic_store_explicit(&sysmon_n, 0, memory_order_release);
  atomic_store_explicit(&sched_stop_flag, 1, memory_order_seq_cst);
  for (int i = 0; i < rt->nworkers; i++) {
    atomic_store_explicit(&rt->workers[i].park_word, 1, memory_order_release);
    keel__futex_wake(&rt->workers[i].park_word, 1);
  }
  for (int i = 0; i < rt->nworkers; i++) pthread_join(rt->workers[i].thread, NULL);
  for (int i = 0; i < rt->nworkers; i++) keel__stack_worker_drop(&rt->workers[i]);
  gq_free_segs(rt->gq_first);  /* (empty: every task has finished) */
  gq_free_segs(rt->gq_spare);
  rt->gq_first = rt->gq_last = rt->gq_spare = NULL;
  free(rt->workers);
  rt->workers = NULL;
  rt->nworkers = 0;
}
