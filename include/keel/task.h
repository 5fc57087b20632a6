/* keel/task.h — lightweight tasks on an M:N scheduler, and blocking from anywhere.
 *
 * A task is a function running on its own small stack, multiplexed over a few
 * worker threads (default: the online CPUs; KEEL_WORKERS overrides). The
 * runtime starts on first use and stops with keel_runtime_shutdown().
 *
 * Blocking from anywhere: every blocking call in keel (join, wait group wait,
 * sleep, fd wait, offload, and the channel calls of keel/chan.h) works from a
 * task and from a plain pthread alike. A task parks, freeing its worker; a
 * thread blocks on a futex. Each takes an absolute deadline (keel/time.h) and
 * an optional cancel token, and returns distinct codes: KEEL_ETIMEDOUT when
 * the deadline passed, the token's code (KEEL_ECANCELED, KEEL_EDEADLINE, ...)
 * when it was canceled.
 *
 * Cancel tokens are the floor-1 mechanism behind contexts (keel/ctx.h): a
 * one-shot flag that, once fired, wakes every blocking call waiting with it.
 * Most users never touch one directly; they pass a context to ctx's helpers.
 *
 * Scheduling is cooperative: a task keeps its worker until it blocks in a
 * keel call, yields, or returns. A task made ready by another task runs next
 * on the waker's worker (cheap hand-offs); idle workers steal queued work,
 * and a monitor on the timer thread wakes an idle worker when work has waited
 * behind a running task for about a millisecond. A task that blocks its
 * thread in the kernel (read(), sleep()) blocks its worker: use keel_fd_wait
 * or keel_offload for that.
 *
 * Stacks: each task has its own stack, mmap'ed with a guard page below it
 * and pooled for reuse; only the pages a task touches cost memory (a parked
 * task costs one 4 KiB page, its stack's top page, which also holds the
 * task's bookkeeping). Default size 64 KiB (four times that in ASan/TSan
 * builds), minimum 8 KiB, set per runtime or per task. Running past the end
 * of a stack is a program bug: the runtime prints
 *   keel: stack overflow in task <id> (<name>)
 * and aborts, rather than corrupting memory.
 *
 * Memory maps (KEEL_EMAPLIMIT): on Linux >= 6.13 guard pages are installed
 * with MADV_GUARD_INSTALL inside 2 MiB slabs of stacks, so a million tasks
 * need only a few thousand maps. On older kernels each stack costs two maps,
 * and Linux's vm.max_map_count (default 65530) caps the tasks alive at once
 * near 32,000; spawn then fails with KEEL_EMAPLIMIT. Raise the limit with
 *   sysctl -w vm.max_map_count=2200000     (as root; for a million tasks)
 *
 * THE RUNTIME MODULE OWNS THE PRIVATE FIELDS below and may change them; users
 * and other modules use the functions only. */
#ifndef KEEL_TASK_H
#define KEEL_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/status.h"
#include "keel/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the runtime ---------------------------------------------------------- */

typedef struct keel_runtime_options {
  int workers;        /* worker threads; 0 = KEEL_WORKERS or the online CPUs */
  size_t stack_size;  /* default task stack size in bytes; 0 = the default */
} keel_runtime_options;

/* Starts the runtime explicitly (it also starts on first use, with defaults).
 * KEEL_ESTATE if it is already running, KEEL_EINVAL for negative workers.
 * Any thread. */
int keel_runtime_start(const keel_runtime_options *opts);

/* Stops the runtime: waits for every task to finish (spawns fail with
 * KEEL_ESHUTDOWN meanwhile; a task blocked forever makes this wait forever),
 * then stops the worker, timer, poller and offload threads, leaving none
 * behind, disarms any timer still armed and unmaps every stack. Call from a
 * plain thread, not from a task (KEEL_ESTATE). 0 also when not running. The
 * runtime may be started again (explicitly or by use). */
int keel_runtime_shutdown(void);

/* ---- tasks ------------------------------------------------------------------ */

typedef struct keel_task keel_task;      /* a joinable task's handle */
typedef void (*keel_task_fn)(void *arg);

typedef struct keel_task_options {
  size_t stack_size;  /* 0 = the runtime's default */
  const char *name;   /* copied; shown in diagnostics (stack overflow, ...) */
} keel_task_options;

/* Spawns fn(arg) as a new task. With handle != NULL the task is joinable and
 * *handle must be joined or detached exactly once; with handle == NULL it is
 * detached. opts may be NULL. Errors: KEEL_EINVAL, KEEL_ENOMEM, KEEL_EMAPLIMIT
 * (Linux's vm.max_map_count is reached: each stack is one mapping plus a guard;
 * raise it with `sysctl -w vm.max_map_count=N`), KEEL_ESHUTDOWN. Any thread. */
int keel_task_spawn(keel_task **handle, keel_task_fn fn, void *arg,
                    const keel_task_options *opts);

/* Waits until the task has finished, then frees the handle. On KEEL_ETIMEDOUT
 * or cancellation the handle stays valid and may be joined again later.
 * KEEL_EINVAL for NULL; KEEL_ESTATE when the handle was already joined or
 * detached, is being joined by someone else, or is the caller's own task.
 * (Stale handles are recognised by a generation count kept in the handle, as
 * long as the runtime has not been shut down since.) Any thread or task. */
struct keel_cancel;
int keel_task_join(keel_task *task, int64_t deadline,
                   const struct keel_cancel *cancel);

/* Lets the task run on without a joiner; the handle is invalid afterwards.
 * KEEL_EINVAL for NULL, KEEL_ESTATE for a handle already joined, detached,
 * or being joined. */
int keel_task_detach(keel_task *task);

/* Gives the worker to other runnable tasks; a no-op outside a task. */
void keel_task_yield(void);

/* The current task's id (unique for the process's life, never 0), or 0 when
 * called from a plain thread. */
uint64_t keel_task_id(void);

/* The current task's name, or NULL (plain thread or unnamed task). */
const char *keel_task_name(void);

/* How many tasks exist right now (spawned and not yet finished). For tests
 * that prove no task is left behind. */
size_t keel_task_count(void);

/* Sleeps for duration (<= 0 returns at once) / until the deadline. Returns 0,
 * or the cancel token's code when canceled first. */
int keel_sleep(int64_t duration);
int keel_sleep_until(int64_t deadline, const struct keel_cancel *cancel);

/* ---- cancel tokens -------------------------------------------------------- */

/* A one-shot cancellation flag. Fire it once (the first code wins); every
 * blocking call waiting with it returns that code. Reading it is one atomic
 * load, cheap enough for preemption points in long computations. */
typedef struct keel_cancel {
  _Atomic int code;            /* 0 until fired; then the (negative) code */
  /* private (runtime) */
  _Atomic int lock;
  void *waiters;
} keel_cancel;

void keel_cancel_init(keel_cancel *c);
/* Fires with code (< 0, e.g. KEEL_ECANCELED); true if this call fired it.
 * False for a code >= 0. Wakes every waiter at once. Any thread or task,
 * also from a timer callback. */
bool keel_cancel_fire(keel_cancel *c, int code);
/* 0 when not fired, else the code it was fired with. */
static inline int keel_cancel_code(const keel_cancel *c) {
  return c ? atomic_load_explicit(&((keel_cancel *)c)->code, memory_order_acquire) : 0;
}
/* Call only when nothing waits with it anymore. */
void keel_cancel_destroy(keel_cancel *c);

/* ---- wait groups ---------------------------------------------------------- */

/* Go's sync.WaitGroup: add before starting work, done when it ends, wait for
 * the count to reach zero. A negative count is refused with KEEL_EINVAL (and
 * the count is left as it was); a count beyond INT32_MAX with
 * KEEL_EOVERFLOW. As in Go, once wait returned 0 the group may be freed at
 * once, even while the done() that released it is still returning. Waits
 * return 0, KEEL_ETIMEDOUT or the cancel code. No allocation. */
typedef struct keel_waitgroup {
  /* private (runtime) */
  _Atomic int64_t count;
  _Atomic int lock;
  void *waiters;
} keel_waitgroup;

void keel_waitgroup_init(keel_waitgroup *wg);
int keel_waitgroup_add(keel_waitgroup *wg, int64_t delta);
int keel_waitgroup_done(keel_waitgroup *wg);
int keel_waitgroup_wait(keel_waitgroup *wg, int64_t deadline,
                        const keel_cancel *cancel);

/* ---- file descriptors (the netpoller) --------------------------------------- */

#define KEEL_FD_READ  1u
#define KEEL_FD_WRITE 2u

/* Waits until fd is readable and/or writable (events), without blocking a
 * worker thread. Returns the ready events (> 0, may include both, and both on
 * error/hangup so the caller's read or write sees the error), KEEL_ETIMEDOUT,
 * the cancel code, KEEL_ECLOSED (keel_fd_close), or KEEL_EINVAL for a bad fd
 * or events. Level-triggered: an fd that is ready already returns at once.
 * Regular files are always ready. Several tasks or threads may wait on one fd; each is woken by the
 * events it asked for. Close a waited-on fd with keel_fd_close, which wakes
 * its waiters with KEEL_ECLOSED (as Go's netpoller does); a plain close()
 * does not wake them (epoll forgets the fd): they end at their deadline or
 * cancel. From a thread it blocks the thread (on a futex, so cancel still
 * interrupts it). */
int keel_fd_wait(int fd, unsigned events, int64_t deadline,
                 const keel_cancel *cancel);

/* Closes fd after waking every keel_fd_wait on it with KEEL_ECLOSED; a wait
 * that starts while the close is under way gets KEEL_ECLOSED too (one that
 * starts after it gets KEEL_EINVAL: a bad fd). 0, or KEEL_EINVAL if fd was
 * not open. The fd is closed in every case but a bad one. */
int keel_fd_close(int fd);

/* ---- offload ----------------------------------------------------------------- */

/* Runs fn(arg) on a helper thread pool (for code that blocks in the kernel or
 * in a library) while the caller parks. Returns 0 once fn has returned. If the
 * deadline passes or the token fires first it returns that code at once; fn
 * then still runs to its end on the helper thread and, if cleanup is not NULL,
 * cleanup(arg) is called there afterwards (the caller must not touch arg
 * again); when fn completed normally cleanup is not called. fn runs even if
 * the token had fired before the call (the same rule, uniformly). The pool
 * grows on demand to 64 threads; shutdown waits for running and queued fns.
 * KEEL_EINVAL for a NULL fn, KEEL_ENOMEM, KEEL_ESHUTDOWN. */
int keel_offload(keel_task_fn fn, void *arg, keel_task_fn cleanup,
                 int64_t deadline, const keel_cancel *cancel);

#ifdef __cplusplus
}
#endif
#endif
