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
 * are no-ops on it. Any thread or task may call any function. */
#ifndef KEEL_CTX_H
#define KEEL_CTX_H

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

int keel_ctx_with_cancel(keel_ctx *parent, keel_ctx **out);
int keel_ctx_with_deadline(keel_ctx *parent, int64_t deadline, keel_ctx **out);
int keel_ctx_with_timeout(keel_ctx *parent, int64_t timeout, keel_ctx **out);
/* key is compared by address. */
int keel_ctx_with_value(keel_ctx *parent, const void *key, void *value,
                        keel_ctx **out);

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
/* The cause of the cancellation (a new reference), or NULL while live. */
keel_err *keel_ctx_cause(const keel_ctx *c);

/* A channel closed when c is done (borrowed: valid while c is). For use in
 * keel_chan_select. Never closes for the background context. */
keel_chan *keel_ctx_done(keel_ctx *c);
/* The floor-1 cancel token behind c, for the runtime's blocking calls. NULL
 * for contexts that can never be canceled. Borrowed. */
const keel_cancel *keel_ctx_cancel_token(const keel_ctx *c);

/* True and *deadline set if c or an ancestor has a deadline. */
bool keel_ctx_deadline(const keel_ctx *c, int64_t *deadline);
/* The value for key from c or the nearest ancestor that has it, or NULL. */
void *keel_ctx_value(const keel_ctx *c, const void *key);

/* ---- ctx-aware blocking calls --------------------------------------------
 * Each returns when the operation completes (its usual result), or when the
 * context is done (KEEL_ECANCELED / KEEL_EDEADLINE). The context's deadline
 * is the call's deadline. */
int keel_ctx_send(keel_ctx *c, keel_chan *ch, const void *elem);
int keel_ctx_recv(keel_ctx *c, keel_chan *ch, void *out);
/* Like keel_chan_select, with the context's done added as a case. */
int keel_ctx_select(keel_ctx *c, keel_select_case *cases, size_t n);
int keel_ctx_sleep(keel_ctx *c, int64_t duration);
int keel_ctx_join(keel_ctx *c, keel_task *task);
int keel_ctx_waitgroup_wait(keel_ctx *c, keel_waitgroup *wg);
int keel_ctx_fd_wait(keel_ctx *c, int fd, unsigned events);
int keel_ctx_offload(keel_ctx *c, keel_task_fn fn, void *arg,
                     keel_task_fn cleanup);

#ifdef __cplusplus
}
#endif
#endif
