/* task.c — the runtime's lifecycle and the task API (keel/task.h).
 *
 * Handles: a keel_task* given to the user is the task block's address with
 * the block's generation in bits 48..63. Recycling a block bumps its
 * generation, so joining or detaching a handle twice is caught (KEEL_ESTATE)
 * instead of acting on whatever task reuses the block (blocks stay mapped
 * while the runtime runs, so reading a stale handle's generation is safe).
 *
 * Join protocol (under the task's join_lock): the finishing side sets
 * `finished` and, if a joiner is parked, claims and wakes its waiter while
 * still holding the lock; a joiner that gives up (deadline, cancel) unlinks
 * itself under the same lock. So a joiner's waiter is never touched after
 * the joiner returned. The block is recycled by whichever of "finished" and
 * "joined or detached" comes second. Finishing runs on the worker's g0
 * after the task switched out for the last time: its stack is no longer in
 * use when it is recycled. */
#include <stdlib.h>
#include <string.h>

#include "runtime/internal.h"
#include "runtime/sanitizer.h"

keel_rt keel__rt = {
    .life_lock = PTHREAD_MUTEX_INITIALIZER,
    .gq_lock = PTHREAD_MUTEX_INITIALIZER,
    .idle_lock = PTHREAD_MUTEX_INITIALIZER,
};

#define KEEL_DEFAULT_STACK ((size_t)64 << 10)
#define KEEL_MIN_STACK ((size_t)8 << 10)
#define GEN_SHIFT 48
#define PTR_MASK ((UINT64_C(1) << GEN_SHIFT) - 1)

/* ---- lifecycle ---------------------------------------------------------------- */

static int start_locked(const keel_runtime_options *opts) {
  keel_rt *rt = &keel__rt;
  int n = opts ? opts->workers : 0;
  if (n < 0) return KEEL_EINVAL;
  if (n == 0) {
    const char *env = getenv("KEEL_WORKERS");
    if (env && *env) n = atoi(env);
  }
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (n <= 0) n = 1;
  if (n > 1024) n = 1024;
  size_t st = opts && opts->stack_size ? opts->stack_size : KEEL_DEFAULT_STACK;
#if defined(KEEL_SANITIZE_ADDRESS) || defined(KEEL_SANITIZE_THREAD)
  /* Instrumented code needs several times the stack. */
  if (!(opts && opts->stack_size)) st *= 4;
#endif
  if (st < KEEL_MIN_STACK) st = KEEL_MIN_STACK;
  rt->default_stack = st;
  keel__stack_guard_install();
  int rc = keel__timers_start();
  if (rc) return rc;
  rc = keel__sched_start(n);
  if (rc) return rc;
  atomic_store_explicit(&rt->state, KEEL_RT_RUNNING, memory_order_release);
  return 0;
}

int keel__rt_ensure(void) {
  keel_rt *rt = &keel__rt;
  int st = atomic_load_explicit(&rt->state, memory_order_acquire);
  if (KEEL_LIKELY(st == KEEL_RT_RUNNING)) return 0;
  if (st == KEEL_RT_STOPPING) return KEEL_ESHUTDOWN;
  pthread_mutex_lock(&rt->life_lock);
  int rc = 0;
  st = atomic_load_explicit(&rt->state, memory_order_acquire);
  if (st == KEEL_RT_STOPPED) rc = start_locked(NULL);
  else if (st == KEEL_RT_STOPPING) rc = KEEL_ESHUTDOWN;
  pthread_mutex_unlock(&rt->life_lock);
  return rc;
}

int keel__timers_ensure(void) { return keel__timers_start(); }

int keel_runtime_start(const keel_runtime_options *opts) {
  keel_rt *rt = &keel__rt;
  pthread_mutex_lock(&rt->life_lock);
  int rc;
  if (atomic_load(&rt->state) != KEEL_RT_STOPPED) rc = KEEL_ESTATE;
  else rc = start_locked(opts);
  pthread_mutex_unlock(&rt->life_lock);
  return rc;
}

int keel_runtime_shutdown(void) {
  keel_rt *rt = &keel__rt;
  if (keel__task_current()) return KEEL_ESTATE;
  pthread_mutex_lock(&rt->life_lock);
  if (atomic_load(&rt->state) == KEEL_RT_RUNNING) {
    atomic_store(&rt->state, KEEL_RT_STOPPING);
    for (;;) {
      atomic_store(&rt->shutdown_waiting, 1);
      uint32_t seq = atomic_load(&rt->drain_word);
      if (atomic_load(&rt->ntasks) == 0) break;
      keel__futex_wait_until(&rt->drain_word, seq, KEEL_FOREVER);
    }
    atomic_store(&rt->shutdown_waiting, 0);
  }
  /* Timer thread first: its sysmon reads the worker array. */
  keel__timers_stop();
  keel__netpoll_stop();
  keel__offload_stop();
  keel__sched_stop();
  keel__stacks_release_all();
  atomic_store(&rt->state, KEEL_RT_STOPPED);
  pthread_mutex_unlock(&rt->life_lock);
  return 0;
}

/* ---- spawn / finish ------------------------------------------------------------ */

static uint64_t next_task_id(void) {
  keel_worker *w = keel__worker_current();
  if (w) {
    if (w->next_id == w->last_id) {
      w->next_id = atomic_fetch_add_explicit(&keel__rt.id_source, 1024,
                                             memory_order_relaxed) + 1;
      w->last_id = w->next_id + 1024;
    }
    return w->next_id++;
  }
  return atomic_fetch_add_explicit(&keel__rt.id_source, 1, memory_order_relaxed) + 1;
}

static keel_task *encode(struct keel_task *t) {
  uint64_t gen = atomic_load_explicit(&t->gen, memory_order_relaxed) & 0xFFFF;
  return (keel_task *)(uintptr_t)(((uint64_t)(uintptr_t)t) | (gen << GEN_SHIFT));
}

/* Decodes a handle; NULL when it is stale (its block was recycled). */
static struct keel_task *decode(keel_task *h) {
  uint64_t v = (uint64_t)(uintptr_t)h;
  struct keel_task *t = (struct keel_task *)(uintptr_t)(v & PTR_MASK);
  uint64_t gen = v >> GEN_SHIFT;
  if ((atomic_load_explicit(&t->gen, memory_order_acquire) & 0xFFFF) != gen) return NULL;
  return t;
}

static void recycle(struct keel_task *t) {
  atomic_fetch_add_explicit(&t->gen, 1, memory_order_release);
  keel__task_free_block(t);
}

/* One task fewer (finished, or a spawn undone); the last one wakes a
 * shutdown waiting for the count to drain. */
static void ntasks_drop(keel_rt *rt) {
  if (atomic_fetch_sub_explicit(&rt->ntasks, 1, memory_order_acq_rel) == 1 &&
      atomic_load(&rt->shutdown_waiting)) {
    atomic_fetch_add(&rt->drain_word, 1);
    keel__futex_wake(&rt->drain_word, 1);
  }
}

int keel_task_spawn(keel_task **handle, keel_task_fn fn, void *arg,
                    const keel_task_options *opts) {
  if (!fn) return KEEL_EINVAL;
  int rc = keel__rt_ensure();
  if (rc) return rc;
  keel_rt *rt = &keel__rt;
  size_t st = opts && opts->stack_size ? opts->stack_size : rt->default_stack;
  if (st < KEEL_MIN_STACK) st = KEEL_MIN_STACK;
  if (st > ((size_t)1 << 40)) return KEEL_EINVAL;
  /* Counted before the block is written: the locked add then finds no
   * stores to the (maybe uncached) block waiting in the store buffer. */
  atomic_fetch_add_explicit(&rt->ntasks, 1, memory_order_relaxed);
  if (atomic_load_explicit(&rt->state, memory_order_acquire) != KEEL_RT_RUNNING) {
    ntasks_drop(rt);  /* shutdown began while we spawned */
    return KEEL_ESHUTDOWN;
  }
  struct keel_task *t;
  rc = keel__task_alloc(st, &t);
  if (rc) {
    ntasks_drop(rt);
    return rc;
  }
  t->fn = fn;
  t->arg = arg;
  t->id = next_task_id();
  t->next = NULL;
  atomic_store_explicit(&t->join_lock, 0, memory_order_relaxed);
  t->finished = false;
  t->detached = handle == NULL;
  t->joiner = NULL;
  if (opts && opts->name) {
    strncpy(t->name, opts->name, sizeof t->name - 1);
    t->name[sizeof t->name - 1] = '\0';
  } else {
    t->name[0] = '\0';
  }
  keel__san_task_created(t);
  keel__task_ctx_init(t);
  if (handle) *handle = encode(t);
  keel__task_enqueue_new(t);
  return 0;
}

void keel__task_finish(struct keel_task *t) {
  keel_rt *rt = &keel__rt;
  keel__spin_lock(&t->join_lock);
  t->finished = true;
  bool detached = t->detached;
  keel_waiter *j = t->joiner;
  if (j && keel_waiter_claim(j, 0)) keel_waiter_wake(j);
  keel__spin_unlock(&t->join_lock);
  if (detached) recycle(t);
  ntasks_drop(rt);
}

/* ---- join / detach --------------------------------------------------------------- */

/* Takes t's join lock and keeps it when h may still be joined or detached:
 * neither done yet, and the generation, re-read under the lock, still the
 * handle's (a handle whose task was recycled since decode is refused). */
static bool lock_claimable(struct keel_task *t, keel_task *h) {
  keel__spin_lock(&t->join_lock);
  if (!t->detached && !t->joiner &&
      (atomic_load_explicit(&t->gen, memory_order_relaxed) & 0xFFFF) ==
          ((uint64_t)(uintptr_t)h >> GEN_SHIFT))
    return true;
  keel__spin_unlock(&t->join_lock);
  return false;
}

int keel_task_join(keel_task *h, int64_t deadline, const keel_cancel *cancel) {
  if (!h) return KEEL_EINVAL;
  struct keel_task *t = decode(h);
  if (!t) return KEEL_ESTATE;
  struct keel_task *self = keel__task_current();
  if (t == self) return KEEL_ESTATE;
  if (!lock_claimable(t, h)) return KEEL_ESTATE;
  if (t->finished) {
    keel__spin_unlock(&t->join_lock);
    recycle(t);
    return 0;
  }
  keel_waiter w;
  keel_waiter_init(&w);
  t->joiner = &w;
  keel__spin_unlock(&t->join_lock);
  int32_t r = keel_waiter_park(&w, deadline, cancel);
  keel__spin_lock(&t->join_lock);
  t->joiner = NULL;
  bool fin = t->finished;
  keel__spin_unlock(&t->join_lock);
  if (fin) {
    recycle(t);
    return 0;
  }
  return r;
}

int keel_task_detach(keel_task *h) {
  if (!h) return KEEL_EINVAL;
  struct keel_task *t = decode(h);
  if (!t) return KEEL_ESTATE;
  if (!lock_claimable(t, h)) return KEEL_ESTATE;
  t->detached = true;
  bool fin = t->finished;
  keel__spin_unlock(&t->join_lock);
  if (fin) recycle(t);
  return 0;
}

/* ---- the current task ------------------------------------------------------------ */

void keel_task_yield(void) {
  if (keel__task_current()) keel__task_switch_out(KEEL_POST_YIELD, NULL);
}

uint64_t keel_task_id(void) {
  struct keel_task *t = keel__task_current();
  return t ? t->id : 0;
}

const char *keel_task_name(void) {
  struct keel_task *t = keel__task_current();
  return t && t->name[0] ? t->name : NULL;
}

size_t keel_task_count(void) {
  int64_t n = atomic_load_explicit(&keel__rt.ntasks, memory_order_acquire);
  return n > 0 ? (size_t)n : 0;
}
