/* ctx_internal.h — the context node and its locking rules (private).
 *
 * Every context is one keel_ctx, one malloc (only as long as its kind
 * needs: the union at the end is absent for plain cancelable nodes; never
 * touch a member of `u` the kind does not have). Invariants:
 *   - head.token is &self->token for cancelable nodes, the nearest cancelable
 *     ancestor's token for value nodes, NULL for background and detached
 *     nodes (and for after_func nodes, which no user reads);
 *   - src is the nearest cancelable self-or-ancestor (NULL: never canceled).
 *     parent (a counted reference) keeps the whole chain up to src alive;
 *   - a node that can be canceled by its ancestors (cancelable and after
 *     nodes) is linked in the child list of parent->src while both live:
 *     `link` names that list's owner; link/prev/next are guarded by the
 *     owner's lock. `link` is set to NULL (under that lock) when the node
 *     leaves the list, by its own cancel or by the owner's;
 *   - the node's lock is its token's lock; the code is its token's code.
 *     Cause, done and children are guarded by that lock; the code goes
 *     non-zero once, under the lock (the token fires), after cause is set
 *     and before done closes, so err != 0 is visible once done is closed and
 *     a reader that saw err != 0 (acquire) may read cause without the lock;
 *   - a child list is in creation order (append at `last`); a canceler walks
 *     breadth first, so a tree is visited roughly in allocation order (the
 *     walk is bound by cache misses, not by work);
 *   - lock order: a node's lock, then nothing else (but the wakes of its
 *     token's waiters, which take no context lock). A canceler holds one lock
 *     at a time: marking a node takes its whole child list at once (the list
 *     stays threaded through the children's `next`, `children` keeps its
 *     head) and queues the node; the walk then visits each child and clears
 *     its `link` as the last thing it does with it;
 *   - a child whose owner is canceled but whose `link` is still set has not
 *     been visited yet: its unlink leaves the taken list alone, and its free
 *     waits for `link` to clear (so does the parent reference it holds). The
 *     walk thus needs no references; the wait is short (a visit is a few
 *     stores, never a block) and only frees wait, never a cancel or a timer
 *     callback, so a walk waiting on a timer callback cannot deadlock. */
#ifndef KEEL_CTX_INTERNAL_H
#define KEEL_CTX_INTERNAL_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/relax.h"
#include "base/spin.h"
#include "keel/ctx.h"
#include "runtime/rtimer.h"
#include "runtime/waiter.h"

enum ctx_kind {
  CTX_BACKGROUND,
  CTX_CANCEL,
  CTX_VALUE,
  CTX_DETACHED,
  CTX_AFTER,
};

enum after_state { AFTER_ARMED, AFTER_FIRED, AFTER_STOPPED };

/* Field order is for the cancel walk of a big tree, which is bound by cache
 * misses: what the walk touches in each node (token: its lock and code,
 * link, work, next, children, done) fills the first 64 bytes with head. */
struct keel_ctx {
  struct keel_ctx_head_ head;   /* first: keel_ctx_is_canceled reads it */
  /* token.lock is the node's lock (see ctx_lock); token.code is the node's
   * cancel code, written once, under that lock */
  keel_cancel token;
  _Atomic(keel_ctx *) link;     /* owner of the list we are in, or NULL */
  keel_ctx *work;               /* a canceler's queue of taken lists */
  keel_ctx *next;               /* sibling: link's lock */
  keel_ctx *children;           /* own lock; once canceled: the taken list */
  _Atomic(keel_chan *) done;    /* own lock to create; read lock-free */
  /* second line */
  _Atomic size_t refs;
  keel_err *cause;              /* own lock; set before the token fires */
  uint8_t kind;
  bool has_timer;
  size_t nchildren;             /* own lock */
  keel_ctx *last;               /* own lock: the newest child */
  keel_ctx *prev;               /* sibling: link's lock */
  keel_ctx *parent;             /* counted reference; NULL for background */
  keel_ctx *src;                /* nearest cancelable self-or-ancestor */
  int64_t deadline;             /* effective: min over the chain; FOREVER */
  union {
    struct { const void *key; void *value; } v;              /* CTX_VALUE */
    struct { keel_rtimer timer; keel_err *cause; } d;        /* deadline */
    struct { keel_task_fn fn; void *arg; _Atomic int state; } a; /* after */
  } u;
};

/* The lock of a cancelable node is its token's: the node's child list and
 * its token are guarded together, so a cancel (which marks the node, takes
 * its children and fires its token) takes one lock. Critical sections are a
 * few pointer writes and the wake of the token's waiters, never a block. */
static inline void ctx_lock(keel_ctx *c) { keel__spin_lock(&c->token.lock); }
static inline void ctx_unlock(keel_ctx *c) { keel__spin_unlock(&c->token.lock); }
/* The node's cancel code, read under its lock. Readers without the lock use
 * keel_cancel_code(&c->token) (acquire: cause may then be read). */
static inline int ctx_code(keel_ctx *c) {
  return atomic_load_explicit(&c->token.code, memory_order_relaxed);
}

/* Shared by ctx.c and after.c. */
/* A node of that kind (with_timer: room for a deadline timer), or NULL. */
keel_ctx *ctx_alloc(keel_ctx *parent, uint8_t kind, bool with_timer);

/* Storage of plain cancelable nodes (no union), from a per-thread LIFO
 * cache (node_cache.c): get returns CTX_NODE_SIZE bytes or NULL; put takes
 * a dead node of that size (and may free it). */
#define CTX_NODE_SIZE offsetof(keel_ctx, u)
void *ctx_node_get(void);
void ctx_node_put(void *n);
/* Links c under c->src (which must be cancelable). If src is already done,
 * c is not linked and false is returned with *code / *cause (a new
 * reference or NULL) set to src's. */
bool ctx_link(keel_ctx *c, int *code, keel_err **cause);
void ctx_unlink(keel_ctx *c);
/* Cancels c and everything below it, iteratively. cause is borrowed. */
void ctx_cancel_tree(keel_ctx *c, int code, keel_err *cause);
/* A blocking helper's wait ended at c's deadline: returns c's code. If c's
 * token is still live (the timer thread can lag by milliseconds on a loaded
 * host), ends c first with KEEL_EDEADLINE, as its deadline timer would, so
 * that keel_ctx_err agrees with what the helper returns. */
int ctx_code_at_deadline(keel_ctx *c);
/* A runtime wait's code as a helper returns it: its KEEL_ETIMEDOUT (at the
 * context's deadline) becomes the context's code. */
static inline int ctx_map_wait(keel_ctx *c, int rc) {
  return rc == KEEL_ETIMEDOUT ? ctx_code_at_deadline(c) : rc;
}
/* An after node fires in two steps: claim it (true once, if not stopped),
 * then launch its function, which then owns the ARMED reference. */
bool ctx_after_claim(keel_ctx *c);
void ctx_after_launch(keel_ctx *c);

#endif
