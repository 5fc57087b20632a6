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
 * KEEL_ESTATE if it is already running. Any thread. */
int keel_runtime_start(const keel_runtime_options *opts);

/* Stops the runtime: waits for every task to finish, then stops the worker,
 * timer, poller and offload threads, leaving none behind. Call from a plain
 * thread, not from a task (KEEL_ESTATE). The runtime may be started again. */
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
 * or cancellation the handle stays valid and may be joined again later. */
struct keel_cancel;
int keel_task_join(keel_task *task, int64_t deadline,
                   const struct keel_cancel *cancel);

/* Lets the task run on without a joiner; the handle is invalid afterwards. */
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
/* Fires with code (< 0, e.g. KEEL_ECANCELED); true if this call fired it. */
bool keel_cancel_fire(keel_cancel *c, int code);
/* 0 when not fired, else the code it was fired with. */
static inline int keel_cancel_code(const keel_cancel *c) {
  return c ? atomic_load_explicit(&((keel_cancel *)c)->code, memory_order_acquire) : 0;
}
/* Call only when nothing waits with it anymore. */
void keel_cancel_destroy(keel_cancel *c);

/* ---- wait groups ---------------------------------------------------------- */

/* Go's sync.WaitGroup: add before starting work, done when it ends, wait for
 * the count to reach zero. A negative count is refused with KEEL_EINVAL. */
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
 * the cancel code, or KEEL_EINVAL for a bad fd or events. */
int keel_fd_wait(int fd, unsigned events, int64_t deadline,
                 const keel_cancel *cancel);

/* ---- offload ----------------------------------------------------------------- */

/* Runs fn(arg) on a helper thread pool (for code that blocks in the kernel or
 * in a library) while the caller parks. Returns 0 once fn has returned. If the
 * deadline passes or the token fires first it returns that code at once; fn
 * then still runs to its end on the helper thread and, if cleanup is not NULL,
 * cleanup(arg) is called there afterwards (the caller must not touch arg
 * again); when fn completed normally cleanup is not called. */
int keel_offload(keel_task_fn fn, void *arg, keel_task_fn cleanup,
                 int64_t deadline, const keel_cancel *cancel);

#ifdef __cplusplus
}
#endif
#endif
