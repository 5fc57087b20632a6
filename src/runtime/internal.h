/* internal.h — the runtime's private structures, shared by its source files.
 *
 * Threads the runtime owns: N workers (each runs the scheduler loop on its own
 * pthread stack, "g0" in Go's words, and switches into tasks), one timer
 * thread (the rtimer heap, and a 1 ms "sysmon" check while workers are busy),
 * one netpoller thread (epoll), and a lazily grown offload pool.
 *
 * Locks (never held across a context switch): a cancel token's spinlock may be
 * held while waking (which may take the global-queue lock or the idle lock);
 * nothing else nests. */
#ifndef KEEL_RUNTIME_INTERNAL_H
#define KEEL_RUNTIME_INTERNAL_H

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/relax.h"
#include "base/spin.h"

#include "keel/task.h"
#include "runtime/rtimer.h"
#include "runtime/waiter.h"

#if defined(__x86_64__) || defined(__aarch64__)
#define KEEL_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

/* ---- small helpers ------------------------------------------------------- */

#define KEEL_LIKELY(x) __builtin_expect(!!(x), 1)
#define KEEL_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* A full (seq_cst) fence. GCC's TSan does not model atomic_thread_fence,
 * so under TSan a seq_cst read-modify-write on a dummy word stands in. */
#ifdef KEEL_SANITIZE_THREAD
extern _Atomic int keel__fence_word;
#define keel__full_fence() \
  ((void)atomic_fetch_add_explicit(&keel__fence_word, 0, memory_order_seq_cst))
#else
#define keel__full_fence() atomic_thread_fence(memory_order_seq_cst)
#endif

/* futex on a private 32-bit word. Spurious wakeups are allowed by callers. */
static inline void keel__futex_wake(_Atomic uint32_t *addr, int n) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
/* Waits while *addr == val, until the absolute monotonic deadline (or
 * forever for KEEL_FOREVER). */
void keel__futex_wait_until(_Atomic uint32_t *addr, uint32_t val,
                            int64_t deadline);

/* The scheduler's commit of a parking task (waiter.c): sets PARKED on w
 * unless its wake already came; false means resume the task at once. */
bool keel__waiter_commit_park(keel_waiter *w);

/* ---- tasks ---------------------------------------------------------------- */

/* Context switch. keel__ctx_switch saves the callee-saved registers (and
 * on x86-64 the mxcsr and x87 control words) on the current stack, stores
 * the stack pointer in *save and resumes the context whose stack pointer is
 * `to`. keel__ctx_make prepares a fresh stack so that switching to it calls
 * entry(arg) (entry never returns). */
typedef struct keel_ctx {
#ifdef KEEL_ASM_SWITCH
  void *sp;
#else
  ucontext_t uc;
#endif
} keel_ctx;

void keel__ctx_switch(keel_ctx *save, keel_ctx *to);
void keel__ctx_make(keel_ctx *c, void *stack_lo, size_t size,
                    void (*entry)(void *), void *arg);

struct keel_worker;

/* A task: its struct lives at the top of its own stack mapping, so one
 * pooled allocation holds both (and a parked task costs one page of RSS).
 * Lifetime: created by spawn; finished when fn returns; recycled when it is
 * both finished and (joined or detached). `join_lock` guards the fields
 * marked (J). */
struct keel_task {
  keel_ctx ctx;                 /* saved context while not running */
  struct keel_task *next;       /* run queue / free list link */
  keel_task_fn fn;
  void *arg;
  uint64_t id;
  char *stack_lo;               /* lowest usable stack byte (above guard) */
  size_t stack_size;            /* usable bytes, below this struct */
  size_t map_size;              /* the whole block: guard + stack + struct */
  struct keel_stack_class *cls; /* the pool it returns to, or NULL */
  _Atomic uint32_t gen;         /* bumped at each recycle (handles) */
  _Atomic int join_lock;
  bool finished;                /* (J) */
  bool detached;                /* (J) */
  bool join_claimed;            /* (J) a join returned 0: handle is freed */
  keel_waiter *joiner;          /* (J) a join parked on it */
  char name[32];
#ifdef KEEL_SANITIZE_THREAD
  void *tsan_fiber;
#endif
#ifdef KEEL_SANITIZE_ADDRESS
  void *asan_fake_stack;
#endif
};

/* What the scheduler does once a task has switched back to it. */
enum keel_post {
  KEEL_POST_NONE = 0,
  KEEL_POST_YIELD,  /* requeue at the back (local ring or global queue) */
  KEEL_POST_PARK,   /* commit a park on post_waiter (see waiter.c) */
  KEEL_POST_EXIT,   /* the task finished: notify the joiner, recycle */
};

#define KEEL_RUNQ_SIZE 256u
#define KEEL_WORKER_CACHE_MAX 128u  /* blocks per worker cache slot */

typedef struct keel_worker {
  /* Local run queue: a single-producer (the owner), multi-consumer (owner
   * and stealers) ring, as Go's runq. head is advanced by CAS by any
   * consumer; tail is written only by the owner. */
  _Atomic uint32_t runq_head;
  char pad0[60];
  _Atomic uint32_t runq_tail;
  struct keel_task *_Atomic runq[KEEL_RUNQ_SIZE];
  /* The task made ready by the task running here: runs next. */
  struct keel_task *_Atomic runnext;
  char pad1[56];

  int index;
  pthread_t thread;
  keel_ctx g0;                    /* the scheduler loop's context */
  struct keel_task *current;      /* running task, or NULL */
  enum keel_post post;            /* set by a task before it switches out */
  keel_waiter *post_waiter;
  struct keel_task *post_task;    /* the task that left `post` */
  _Atomic uint64_t tick;          /* bumped at each task switch (sysmon) */
  uint64_t sysmon_seen;           /* the tick sysmon saw last time */
  uint32_t sched_count;           /* for the periodic global queue check */
  uint32_t rand;                  /* xorshift state for victim choice */
  bool spinning;
  _Atomic uint32_t park_word;     /* idle parking: 0 asleep, 1 woken */
  struct keel_worker *idle_next;  /* idle stack link (under idle_lock) */
  bool idle_listed;               /* (under idle_lock) */
  /* Pools: free task blocks of up to KEEL_WORKER_CACHES size classes (no
   * lock: owner only); a class goes to slot (class index % slots). Arrays,
   * not lists threaded through the blocks: taking a block or a batch then
   * reads no block, and the next blocks can be prefetched. */
  struct keel_block_cache {
    struct keel_stack_class *cls;
    uint32_t n;
    struct keel_task *blocks[KEEL_WORKER_CACHE_MAX];
  } cache[4];
  uint64_t next_id, last_id;      /* a batch of task ids */
  void *altstack;
#ifdef KEEL_SANITIZE_THREAD
  void *tsan_fiber;
#endif
#ifdef KEEL_SANITIZE_ADDRESS
  const void *g0_stack_bottom;
  size_t g0_stack_size;
  void *g0_fake_stack;
#endif
} keel_worker;

/* A piece of the global run queue: tasks[head..tail) in FIFO order. */
#define KEEL_GQ_SEG 252u
typedef struct keel_gq_seg {
  struct keel_gq_seg *next;
  uint32_t head, tail;
  struct keel_task *tasks[KEEL_GQ_SEG];
} keel_gq_seg;

/* The runtime's global state (one per process). */
typedef struct keel_rt {
  pthread_mutex_t life_lock;      /* start/shutdown */
  _Atomic int state;              /* KEEL_RT_* */
  int nworkers;
  size_t default_stack;
  keel_worker *workers;

  /* global run queue (under gq_lock): arrays of task pointers, so that
   * queueing and dequeueing never touch the tasks themselves (a million
   * tasks are a million pages); a list linked through the tasks takes what
   * finds no array when memory runs out. */
  pthread_mutex_t gq_lock;
  struct keel_gq_seg *gq_first, *gq_last, *gq_spare;
  struct keel_task *gq_head, *gq_tail;
  _Atomic uint32_t gq_size;

  /* idle workers */
  pthread_mutex_t idle_lock;
  keel_worker *idle_top;
  _Atomic int npidle;
  _Atomic int nspinning;

  _Atomic int64_t ntasks;
  _Atomic uint32_t drain_word;    /* shutdown waits on it for ntasks == 0 */
  _Atomic int shutdown_waiting;
  _Atomic uint64_t id_source;
} keel_rt;

enum { KEEL_RT_STOPPED = 0, KEEL_RT_RUNNING = 1, KEEL_RT_STOPPING = 2 };

extern keel_rt keel__rt;

/* Starts the runtime if it is stopped (first use). 0, or a KEEL_E* code. */
int keel__rt_ensure(void);
/* Starts only the timer thread (rtimer users need no workers). */
int keel__timers_ensure(void);

/* Current worker / task of the calling thread. Not inlinable: a task may
 * migrate between threads across a switch, so callers must not cache a
 * thread-local address across a park (see cur_worker in sched.c). */
keel_worker *keel__worker_current(void);
struct keel_task *keel__task_current(void);

/* Makes a parked task runnable: into the caller's runnext slot when the
 * caller is a task on a worker, else onto the global queue. */
void keel__task_ready(struct keel_task *t);

/* Switches from the running task to its worker's scheduler with `post`.
 * Returns when the task is resumed (perhaps on another worker). */
void keel__task_switch_out(enum keel_post post, keel_waiter *w);

/* Scheduler lifecycle (sched.c). */
int keel__sched_start(int nworkers);
void keel__sched_stop(void);
/* Sysmon: called by the timer thread about every millisecond while any
 * worker is busy; wakes an idle worker for work stuck behind a long task. */
void keel__sched_sysmon(void);
bool keel__sched_busy(void);

/* Task plumbing between task.c and sched.c. */
void keel__task_ctx_init(struct keel_task *t);
void keel__task_enqueue_new(struct keel_task *t);
struct keel_task *keel__task_current_raw(void);  /* async-signal-safe */

/* Timer thread lifecycle (rtimer.c). */
int keel__timers_start(void);
void keel__timers_stop(void);
void keel__timers_kick(void);
/* A worker left idle: if the timer thread sleeps without a sysmon tick
 * (all workers were idle), wake it so sysmon runs while work is running. */
void keel__timers_kick_if_deep(void);

/* Stacks (stack.c). */
int keel__task_alloc(size_t stack_size, struct keel_task **out);
void keel__task_free_block(struct keel_task *t);
void keel__stacks_release_all(void);
int keel__stack_guard_install(void);   /* SIGSEGV handler, once */
void keel__stack_thread_init(keel_worker *w);
void keel__stack_thread_fini(keel_worker *w);
void keel__stack_worker_drop(keel_worker *w);  /* its cached blocks -> pool */
/* Idle workers: prepare one slab ahead of a spawn burst. True if it did. */
bool keel__stack_prefill(void);
bool keel__stack_prefill_pending(void);
/* Wakes an idle worker (if none is spinning) to look for work (sched.c). */
void keel__sched_wake_idle(void);
size_t keel__page_size(void);

/* Netpoller and offload (netpoll.c, offload.c). */
void keel__netpoll_stop(void);
void keel__offload_stop(void);

/* Cancel token list membership (waiter.c). */
void keel__cancel_unlink(keel_cancel *c, keel_waiter *w);

#endif
