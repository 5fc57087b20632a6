/* after.c — keel_ctx_after_func: run a function once a context is done.
 *
 * An after_func is a node of the context tree (kind CTX_AFTER) linked under
 * the context's cancelable node like a child, so cancellation reaches it by
 * the same iterative walk. Invariants:
 *   - its state goes ARMED -> FIRED (the function will run, once) or
 *     ARMED -> STOPPED (it never will); one compare-and-swap decides;
 *   - references: one held while ARMED (dropped by the winner of that swap,
 *     after the function ran or once stopped), one for the stop handle;
 *     the node holds its context like a child holds its parent;
 *   - the function runs in its own task, never under a lock; only when a
 *     task cannot be spawned does it run on the canceling thread. */
#include <stdlib.h>

#include "ctx/ctx_internal.h"

static void after_run(void *arg) {
  keel_ctx *a = arg;
  a->u.a.fn(a->u.a.arg);
  keel_ctx_release(a);   /* the ARMED reference */
}

bool ctx_after_claim(keel_ctx *a) {
  int armed = AFTER_ARMED;
  return atomic_compare_exchange_strong_explicit(&a->u.a.state, &armed,
                                                 AFTER_FIRED,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire);
}

void ctx_after_launch(keel_ctx *a) {
  keel_task_options opts = {.stack_size = 0, .name = "ctx_after_func"};
  if (keel_task_spawn(NULL, after_run, a, &opts) != 0) after_run(a);
}

int keel_ctx_after_func(keel_ctx *c, keel_task_fn fn, void *arg,
                        keel_ctx_after **stop) {
  if (stop) *stop = NULL;
  if (!c || !fn || c->kind == CTX_AFTER) return KEEL_EINVAL;
  if (!c->src && !stop) return 0;   /* c is never done: fn never runs */
  keel_ctx *a = ctx_alloc(c, CTX_AFTER, false);
  if (!a) return KEEL_ENOMEM;
  a->u.a.fn = fn;
  a->u.a.arg = arg;
  atomic_init(&a->u.a.state, AFTER_ARMED);
  if (stop) {
    atomic_store_explicit(&a->refs, 2, memory_order_relaxed);
    *stop = (keel_ctx_after *)a;
  }
  if (a->src) {
    int code;
    keel_err *cause;
    if (!ctx_link(a, &code, &cause)) {   /* c is already done */
      keel_err_release(cause);
      if (ctx_after_claim(a)) ctx_after_launch(a);
    }
  }
  return 0;
}

bool keel_ctx_after_stop(keel_ctx_after *stop) {
  keel_ctx *a = (keel_ctx *)stop;
  if (!a) return false;
  int armed = AFTER_ARMED;
  bool won = atomic_compare_exchange_strong_explicit(
      &a->u.a.state, &armed, AFTER_STOPPED, memory_order_acq_rel,
      memory_order_acquire);
  if (won) {
    ctx_unlink(a);
    keel_ctx_release(a);   /* the ARMED reference */
  }
  keel_ctx_release(a);     /* the handle */
  return won;
}
