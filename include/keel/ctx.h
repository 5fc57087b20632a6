/* keel/ctx.h — contexts: cancellation, deadlines and values, as Go's context.
 *
 * (Core API below is fixed: other modules build on it. The contexts module
 *  owns this header and may add to it.)
 *
 * A context is canceled by its own cancel, by its deadline, or by any
 * ancestor. Canceling cancels every descendant. The first cancellation's
 * cause wins: keel_ctx_err gives KEEL_ECANCELED or KEEL_EDEADLINE,
 * keel_ctx_cause the keel_err given with it (or a made one).
 *
 * Ownership: keel_ctx_with_* returns a new context holding one reference the
 * caller owns. keel_ctx_retain/release count references (pass a retained
 * context to a task; the task releases it). The creator calls keel_ctx_cancel
 * when the work is done (Go's `defer cancel()`): that cancels it and unlinks
 * it from its parent at once. Releasing the last reference also cancels and
 * unlinks, then frees. A child holds a reference to its parent; a parent holds
 * none to its children. keel_ctx_background() is static; retain and release
 * are no-ops on it. Any thread or task may call any function.
 *
 * The usual shape, in a task that owns `parent` for the call:
 *
 *     keel_ctx *ctx;
 *     if (keel_ctx_with_timeout(parent, 50 * KEEL_MILLISECOND, &ctx)) ...;
 *     int rc = keel_ctx_recv(ctx, ch, &v);   // 0, KEEL_ECLOSED, KEEL_EDEADLINE,
 *                                            // or KEEL_ECANCELED from above
 *     keel_ctx_cancel(ctx);                  // unlink from parent now
 *     keel_ctx_release(ctx);                 // free
 *
 * Costs: creating a context is one malloc and no channel; the done channel
 * is made the first time keel_ctx_done asks for it. keel_ctx_err and
 * keel_ctx_is_canceled are one atomic load. Canceling a tree is iterative
 * (no recursion), so a deep or wide tree is fine on a small task stack.
 *
 * Kinds of context:
 *   cancelable  with_cancel, with_deadline/timeout(_cause): own cancel token,
 *               own list of children, optional deadline timer.
 *   value       with_value: shares its parent's cancellation and deadline.
 *   detached    without_cancel: keeps the parent's values, never canceled,
 *               no deadline (Go's context.WithoutCancel).
 *   background  the static root: never canceled, no deadline, no values. */
#ifndef KEEL_CTX_H
#define KEEL_CTX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/chan.h"
#include "keel/err.h"
#include "keel/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct keel_ctx keel_ctx;

keel_ctx *keel_ctx_background(void);   /* never canceled, no deadline */

/* Each returns 0 with *out set, or KEEL_EINVAL (NULL argument) or
 * KEEL_ENOMEM (nothing changed). A child of a context that is already done
 * is born done, with the parent's code and cause. */
int keel_ctx_with_cancel(keel_ctx *parent, keel_ctx **out);
/* deadline is absolute (keel_now() clock). If the parent's deadline is
 * earlier, the child simply inherits it. A deadline already passed gives a
 * child that is born done with KEEL_EDEADLINE. */
int keel_ctx_with_deadline(keel_ctx *parent, int64_t deadline, keel_ctx **out);
int keel_ctx_with_timeout(keel_ctx *parent, int64_t timeout, keel_ctx **out);
/* key is compared by address. */
int keel_ctx_with_value(keel_ctx *parent, const void *key, void *value,
                        keel_ctx **out);

/* As with_deadline / with_timeout, but when the deadline expires the cause
 * recorded is `cause` (owned, NULL allowed: then "deadline exceeded"). On
 * error the cause is released. */
int keel_ctx_with_deadline_cause(keel_ctx *parent, int64_t deadline,
                                 keel_err *cause, keel_ctx **out);
int keel_ctx_with_timeout_cause(keel_ctx *parent, int64_t timeout,
                                keel_err *cause, keel_ctx **out);

/* A child that keeps parent's values but not its cancellation nor its
 * deadline (Go's WithoutCancel). It is never done: cancel on it is a no-op.
 * It holds a reference to parent (for the values) until released. */
int keel_ctx_without_cancel(keel_ctx *parent, keel_ctx **out);

keel_ctx *keel_ctx_retain(keel_ctx *c);
void keel_ctx_release(keel_ctx *c);    /* NULL is a no-op */

/* Cancels with KEEL_ECANCELED. No-op when already canceled. */
void keel_ctx_cancel(keel_ctx *c);
/* Cancels with code (KEEL_ECANCELED, KEEL_EDEADLINE, ...) and cause (owned,
 * NULL allowed). The first cancellation wins; later causes are released. */
void keel_ctx_cancel_cause(keel_ctx *c, int code, keel_err *cause);

/* 0 while live; KEEL_ECANCELED or KEEL_EDEADLINE once done. One atomic load:
 * cheap enough for a preemption point in a long loop. */
int keel_ctx_err(const keel_ctx *c);
/* As keel_ctx_err, but also KEEL_EDEADLINE when c's deadline is <= now even
 * if its timer has not fired yet (for a fake clock, and for callers that
 * already read the clock). */
int keel_ctx_err_at(const keel_ctx *c, int64_t now);
/* The cause of the cancellation (a new reference), or NULL while live. When
 * no cause was given, a fresh error of module "ctx" with the code and the
 * message "canceled" or "deadline exceeded" is made (never NULL then). */
keel_err *keel_ctx_cause(const keel_ctx *c);

/* A channel closed when c is done (borrowed: valid while c is). For use in
 * keel_chan_select. Never closes for the background context. Made on the
 * first call (NULL only when that allocation fails). elem_size is 0. */
keel_chan *keel_ctx_done(keel_ctx *c);
/* The floor-1 cancel token behind c, for the runtime's blocking calls. NULL
 * for contexts that can never be canceled. Borrowed, and read-only: the
 * token is the context's own state (its code is the context's), so cancel
 * the context, never fire the token (that would leave its descendants and
 * its done channel behind). */
const keel_cancel *keel_ctx_cancel_token(const keel_ctx *c);

/* True and *deadline set if c or an ancestor has a deadline. */
bool keel_ctx_deadline(const keel_ctx *c, int64_t *deadline);
/* The value for key from c or the nearest ancestor that has it, or NULL. */
void *keel_ctx_value(const keel_ctx *c, const void *key);

/* How many children are linked to c right now (cancelable contexts; 0 for
 * the others). For tests and diagnostics: a canceled child is unlinked at
 * once, so a long-lived parent does not accumulate dead children. */
size_t keel_ctx_child_count(const keel_ctx *c);

/* ---- after_func ------------------------------------------------------------
 * Runs fn(arg) once c is done, in a new detached task (on the canceling
 * thread if no task can be spawned). If c is already done, fn is scheduled
 * at once. With stop != NULL, *stop receives a handle that must be passed to
 * keel_ctx_after_stop exactly once; with stop == NULL fn simply runs when c
 * is done. An armed after_func holds a reference to c (like a child), so
 * cancel c (or stop the after_func) to let c go. arg is borrowed until fn
 * has run or the after_func was stopped. KEEL_EINVAL, KEEL_ENOMEM. */
typedef struct keel_ctx_after keel_ctx_after;
int keel_ctx_after_func(keel_ctx *c, keel_task_fn fn, void *arg,
                        keel_ctx_after **stop);
/* True if this call stopped fn from running (it will never run); false if fn
 * already ran or is running. Frees the handle in both cases. */
bool keel_ctx_after_stop(keel_ctx_after *stop);

/* ---- ctx-aware blocking calls --------------------------------------------
 * Each returns when the operation completes (its usual result), or when the
 * context is done (KEEL_ECANCELED / KEEL_EDEADLINE). The context's deadline
 * is the call's deadline: a deadline that passes before the timer fired
 * still gives KEEL_EDEADLINE, and the call then ends the context itself (as
 * its timer would), so keel_ctx_err agrees from that point on. A context
 * already done gives its code without
 * trying the operation. The channel calls are keel_chan_select with the
 * done channel as one more case (KEEL_ENOMEM if it cannot be made). */
int keel_ctx_send(keel_ctx *c, keel_chan *ch, const void *elem);
int keel_ctx_recv(keel_ctx *c, keel_chan *ch, void *out);
/* Like keel_chan_select, with the context's done added as a case. Returns
 * the chosen index (cases[i].result set) or the context's code. */
int keel_ctx_select(keel_ctx *c, keel_select_case *cases, size_t n);
/* 0 after sleeping duration, or the context's code if it ends first. */
int keel_ctx_sleep(keel_ctx *c, int64_t duration);
int keel_ctx_join(keel_ctx *c, keel_task *task);
int keel_ctx_waitgroup_wait(keel_ctx *c, keel_waitgroup *wg);
int keel_ctx_fd_wait(keel_ctx *c, int fd, unsigned events);
int keel_ctx_offload(keel_ctx *c, keel_task_fn fn, void *arg,
                     keel_task_fn cleanup);

/* ---- the cheap check ------------------------------------------------------ */

/* Private: every context starts with this (the token its cancellation fires,
 * or NULL if it can never be canceled), so the check below can be inline. */
struct keel_ctx_head_ {
  const keel_cancel *token;
};

/* True once c is done. One atomic load, inlined: put it in a hot loop. */
static inline bool keel_ctx_is_canceled(const keel_ctx *c) {
  const keel_cancel *t = ((const struct keel_ctx_head_ *)(const void *)c)->token;
  return t && atomic_load_explicit(&((keel_cancel *)t)->code,
                                   memory_order_relaxed) != 0;
}

#ifdef __cplusplus
}
#endif
#endif
