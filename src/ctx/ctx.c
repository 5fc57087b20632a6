/* ctx.c — context trees: create, link, cancel, release (keel/ctx.h).
 *
 * Invariants (ctx_internal.h has the node's):
 *   - canceling never recurses: ctx_cancel_tree marks a node, detaches its
 *     children under its lock into a private work list, unlinks the node
 *     from its own parent, then visits the work list; stack depth is
 *     constant whatever the tree's shape;
 *   - release is a loop up the parent chain, never a recursion; a cancel
 *     never releases (it takes no references), so no node is freed inside a
 *     cancel, nor inside a timer callback;
 *   - a node reaching zero references is canceled (which unlinks it), its
 *     timer stopped (waiting out a running callback), then freed; only then
 *     is its parent released, so the node's link owner outlives the unlink. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ctx/ctx_internal.h"

_Static_assert(offsetof(struct keel_ctx, refs) == 64,
               "the fields a cancel walk touches first fit 64 bytes");

static keel_ctx background = {
    .head = {NULL},
    .kind = CTX_BACKGROUND,
    .deadline = KEEL_FOREVER,
};

keel_ctx *keel_ctx_background(void) { return &background; }

/* ---- references --------------------------------------------------------- */

keel_ctx *keel_ctx_retain(keel_ctx *c) {
  if (c && c->kind != CTX_BACKGROUND)
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  return c;
}

/* Spins (yielding) until *word is NULL: a walk that took c's list is about
 * to reach c. Short: a visit is a few stores, never a block. */
static void wait_null(_Atomic(keel_ctx *) *word) {
  unsigned spins = 0;
  while (atomic_load_explicit(word, memory_order_acquire) != NULL) {
    if (++spins < 100) {
      keel__cpu_relax();
    } else {
      keel_task_yield();   /* the canceler may be a task on this worker */
      sched_yield();
    }
  }
}

/* Frees a node whose count reached zero. Does not release the parent. */
static void ctx_free(keel_ctx *c) {
  /* A fired token means mark ran and so did, or soon will, the unlink
   * (its own canceler's, or the walk clearing `link`): wait_null covers
   * the rest, without taking the node's lock again. */
  if (c->kind == CTX_CANCEL && keel_cancel_code(&c->token) == 0)
    ctx_cancel_tree(c, KEEL_ECANCELED, NULL);   /* unlinks */
  else if (c->kind == CTX_AFTER)
    ctx_unlink(c);
  /* Still on a canceled owner's taken list: a walk is about to visit c. */
  wait_null(&c->link);
  if (c->has_timer) {
    keel_rtimer_stop(&c->u.d.timer);            /* waits out the callback */
    keel_err_release(c->u.d.cause);
  }
  keel_chan_release(atomic_load_explicit(&c->done, memory_order_acquire));
  keel_err_release(c->cause);
  if (c->kind == CTX_CANCEL) keel_cancel_destroy(&c->token);
  if (c->kind == CTX_CANCEL && !c->has_timer) ctx_node_put(c);
  else free(c);
}

void keel_ctx_release(keel_ctx *c) {
  while (c && c->kind != CTX_BACKGROUND) {
    /* A count of 1 is ours alone: nobody can retain without a reference
     * (a walk or a timer callback takes none), so the last release needs no
     * locked instruction. The acquire pairs with earlier releases. */
    if (atomic_load_explicit(&c->refs, memory_order_acquire) != 1 &&
        atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
      return;
    keel_ctx *parent = c->parent;
    ctx_free(c);
    c = parent;
  }
}

/* ---- creation ------------------------------------------------------------- */

keel_ctx *ctx_alloc(keel_ctx *parent, uint8_t kind, bool with_timer) {
  /* Cache-line aligned, so the walk's fields are one line, not two. */
  /* One malloc, sized for the kind: plain cancelable nodes need no union.
   * Plain malloc (not aligned_alloc, several times slower): nodes of one
   * tree then sit at a constant stride, which the prefetcher follows.
   * Plain cancelable nodes come from a per-thread LIFO (node_cache.c),
   * which keeps that stride when trees are freed and made again. */
  size_t size = offsetof(keel_ctx, u);
  if (kind == CTX_VALUE) size += sizeof(((keel_ctx *)0)->u.v);
  else if (kind == CTX_AFTER) size += sizeof(((keel_ctx *)0)->u.a);
  else if (kind == CTX_CANCEL && with_timer) size += sizeof(((keel_ctx *)0)->u.d);
  keel_ctx *c = size == CTX_NODE_SIZE ? ctx_node_get() : malloc(size);
  if (!c) return NULL;
  c->kind = kind;
  c->has_timer = false;
  atomic_init(&c->refs, 1);
  c->parent = keel_ctx_retain(parent);
  c->deadline = parent->deadline;
  atomic_init(&c->link, NULL);
  c->prev = c->next = c->children = c->last = NULL;
  c->work = NULL;
  c->nchildren = 0;
  c->cause = NULL;
  atomic_init(&c->done, NULL);
  switch (kind) {
    case CTX_CANCEL:
      c->src = c;
      keel_cancel_init(&c->token);
      c->head.token = &c->token;
      break;
    case CTX_VALUE:
      c->src = parent->src;
      c->head.token = parent->head.token;
      break;
    case CTX_AFTER:
      c->src = parent->src;
      c->head.token = NULL;
      break;
    default: /* CTX_DETACHED */
      c->src = NULL;
      c->head.token = NULL;
      c->deadline = KEEL_FOREVER;
      break;
  }
  return c;
}

bool ctx_link(keel_ctx *c, int *code, keel_err **cause) {
  keel_ctx *owner = c->parent->src;
  *code = 0;
  *cause = NULL;
  if (!owner) return true;   /* nothing above can cancel c */
  ctx_lock(owner);
  int owner_code = ctx_code(owner);
  if (owner_code) {
    *code = owner_code;
    *cause = owner->cause ? keel_err_retain(owner->cause) : NULL;
    ctx_unlock(owner);
    return false;
  }
  c->next = NULL;
  c->prev = owner->last;
  if (owner->last) owner->last->next = c;
  else owner->children = c;
  owner->last = c;
  owner->nchildren++;
  atomic_store_explicit(&c->link, owner, memory_order_release);
  ctx_unlock(owner);
  return true;
}

void ctx_unlink(keel_ctx *c) {
  /* The owner is c->parent->src, alive as long as c holds its parent. */
  keel_ctx *owner = atomic_load_explicit(&c->link, memory_order_acquire);
  if (!owner) return;
  ctx_lock(owner);
  if (atomic_load_explicit(&c->link, memory_order_relaxed) != owner) {
    ctx_unlock(owner);
  } else if (ctx_code(owner) == 0) {
    if (c->prev) c->prev->next = c->next;
    else owner->children = c->next;
    if (c->next) c->next->prev = c->prev;
    else owner->last = c->prev;
    c->prev = c->next = NULL;
    owner->nchildren--;
    atomic_store_explicit(&c->link, NULL, memory_order_relaxed);
    ctx_unlock(owner);
  } else {
    /* The owner is canceled and a walk took its whole list: c's `next` is
     * the walk's to follow, and the walk clears `link` once it has passed
     * c. Nothing to do here; ctx_free waits for that. */
    ctx_unlock(owner);
  }
}

/* Links c below its parent's cancelable node, or cancels it at once when
 * that node is already done. */
static void ctx_attach(keel_ctx *c) {
  int code;
  keel_err *cause;
  if (!ctx_link(c, &code, &cause)) {
    ctx_cancel_tree(c, code, cause);
    keel_err_release(cause);
  }
}

int keel_ctx_with_cancel(keel_ctx *parent, keel_ctx **out) {
  if (!parent || !out || parent->kind == CTX_AFTER) return KEEL_EINVAL;
  keel_ctx *c = ctx_alloc(parent, CTX_CANCEL, false);
  if (!c) return KEEL_ENOMEM;
  ctx_attach(c);
  *out = c;
  return 0;
}

static void deadline_fire(void *arg, int64_t now) {
  (void)now;
  /* No reference is taken: ctx_free stops this timer, waiting for this
   * callback, before it frees the node. The cancel neither waits nor
   * releases anything, so the callback never frees a node itself. */
  keel_ctx *c = arg;
  ctx_cancel_tree(c, KEEL_EDEADLINE, c->u.d.cause);
}

int ctx_code_at_deadline(keel_ctx *c) {
  int e = keel_ctx_err(c);
  if (e) return e;
  /* The owner: the nearest self-or-ancestor that set this deadline (below
   * it every node inherited it). mark retains the cause, so the timer
   * firing later as well is harmless: the first cancellation wins. */
  for (keel_ctx *p = c; p && p->deadline == c->deadline; p = p->parent) {
    if (p->has_timer) {
      ctx_cancel_tree(p, KEEL_EDEADLINE, p->u.d.cause);
      break;
    }
  }
  e = keel_ctx_err(c);
  return e ? e : KEEL_EDEADLINE;
}

int keel_ctx_with_deadline_cause(keel_ctx *parent, int64_t deadline,
                                 keel_err *cause, keel_ctx **out) {
  if (!parent || !out || parent->kind == CTX_AFTER) {
    keel_err_release(cause);
    return KEEL_EINVAL;
  }
  if (parent->deadline <= deadline) {   /* the parent's comes first anyway */
    keel_err_release(cause);
    return keel_ctx_with_cancel(parent, out);
  }
  keel_ctx *c = ctx_alloc(parent, CTX_CANCEL, true);
  if (!c) {
    keel_err_release(cause);
    return KEEL_ENOMEM;
  }
  c->deadline = deadline;
  c->has_timer = true;
  c->u.d.cause = cause;
  keel_rtimer_init(&c->u.d.timer, deadline_fire, c);
  ctx_attach(c);
  if (deadline <= keel_now()) {
    ctx_cancel_tree(c, KEEL_EDEADLINE, cause);
  } else if (keel_cancel_code(&c->token) == 0) {
    int rc = keel_rtimer_start(&c->u.d.timer, deadline, 0);
    if (rc != 0) {
      keel_ctx_release(c);   /* cancels, unlinks: the parent is as it was */
      return rc;
    }
    /* A cancel that ran before the timer was armed could not stop it. */
    if (keel_cancel_code(&c->token) != 0) keel_rtimer_stop(&c->u.d.timer);
  }
  *out = c;
  return 0;
}

int keel_ctx_with_deadline(keel_ctx *parent, int64_t deadline, keel_ctx **out) {
  return keel_ctx_with_deadline_cause(parent, deadline, NULL, out);
}

int keel_ctx_with_timeout(keel_ctx *parent, int64_t timeout, keel_ctx **out) {
  return keel_ctx_with_deadline_cause(parent, keel_deadline_in(timeout), NULL,
                                      out);
}

int keel_ctx_with_timeout_cause(keel_ctx *parent, int64_t timeout,
                                keel_err *cause, keel_ctx **out) {
  return keel_ctx_with_deadline_cause(parent, keel_deadline_in(timeout), cause,
                                      out);
}

int keel_ctx_with_value(keel_ctx *parent, const void *key, void *value,
                        keel_ctx **out) {
  if (!parent || !out || parent->kind == CTX_AFTER) return KEEL_EINVAL;
  keel_ctx *c = ctx_alloc(parent, CTX_VALUE, false);
  if (!c) return KEEL_ENOMEM;
  c->u.v.key = key;
  c->u.v.value = value;
  *out = c;
  return 0;
}

int keel_ctx_without_cancel(keel_ctx *parent, keel_ctx **out) {
  if (!parent || !out || parent->kind == CTX_AFTER) return KEEL_EINVAL;
  keel_ctx *c = ctx_alloc(parent, CTX_DETACHED, false);
  if (!c) return KEEL_ENOMEM;
  *out = c;
  return 0;
}

/* ---- cancellation --------------------------------------------------------- */

/* A canceler's private FIFO of canceled nodes whose taken child lists are
 * still to be walked, threaded through `work`. A queued node is alive: its
 * unvisited children hold it (and their frees wait for the walk). */
typedef struct work_queue {
  keel_ctx *head, *tail;
} work_queue;

/* Marks n done (once): fires its token, under the node's lock, which is
 * the token's, and takes its whole child list, which stays threaded through
 * the children's `next` (ctx_unlink leaves a canceled owner's list alone);
 * queues n if the list is not empty. Stops n's timer; returns n's done
 * channel for the caller to close (NULL if none or if n was already done). */
static keel_chan *mark(keel_ctx *n, int code, keel_err *cause, work_queue *q) {
  ctx_lock(n);
  if (ctx_code(n)) {
    ctx_unlock(n);
    return NULL;
  }
  if (cause) n->cause = keel_err_retain(cause);   /* before the code */
  keel__cancel_fire_locked(&n->token, code);
  keel_chan *done = atomic_load_explicit(&n->done, memory_order_relaxed);
  if (n->children) {   /* `children` is now the taken list, for the walk */
    n->last = NULL;
    n->nchildren = 0;
    n->work = NULL;
    if (q->tail) q->tail->work = n;
    else q->head = n;
    q->tail = n;
  }
  ctx_unlock(n);
  if (n->has_timer) keel_rtimer_stop(&n->u.d.timer);
  return done;
}

/* The walk's last steps with a visited node: close its done channel, then
 * let it go (after which it may be freed at once). */
static void let_go(keel_ctx *n, keel_chan *done) {
  if (done) keel_chan_close(done);
  atomic_store_explicit(&n->link, NULL, memory_order_release);
}

void ctx_cancel_tree(keel_ctx *c, int code, keel_err *cause) {
  work_queue q = {NULL, NULL};
  keel_chan *done = mark(c, code, cause, &q);
  if (done) keel_chan_close(done);
  ctx_unlink(c);
  /* Breadth first, one taken list at a time, so a tree is walked roughly in
   * the order it was allocated. The walk needs no references: an unvisited
   * child keeps `link` set, and its free waits until the walk clears it,
   * the last thing the walk does with it. The walk is bound by cache
   * misses, so it is software-pipelined: the next sibling is prefetched
   * while this one is visited, and a visited node's done channel is closed
   * (and the node let go) one visit later, its line fetched meanwhile. */
  keel_ctx *held = NULL;
  keel_chan *held_done = NULL;
  while (q.head) {
    keel_ctx *p = q.head;
    keel_ctx *k = p->children;
    q.head = p->work;
    if (!q.head) q.tail = NULL;
    while (k) {
      keel_ctx *next = k->next;
      if (next) {
        __builtin_prefetch(next, 1);
        __builtin_prefetch((char *)next + 64, 1);
      }
      if (k->kind == CTX_AFTER) {
        /* Claim while linked (k is alive), launch once k is let go: the
         * function may run, and free k, before the launch returns. */
        bool run = ctx_after_claim(k);
        let_go(k, NULL);
        if (run) ctx_after_launch(k);
      } else {
        keel_chan *d = mark(k, code, cause, &q);
        if (d) __builtin_prefetch(d, 1);
        if (held) let_go(held, held_done);
        held = k;
        held_done = d;
      }
      k = next;
    }
  }
  if (held) let_go(held, held_done);
}

void keel_ctx_cancel_cause(keel_ctx *c, int code, keel_err *cause) {
  if (c && c->kind == CTX_CANCEL)
    ctx_cancel_tree(c, code < 0 ? code : KEEL_ECANCELED, cause);
  keel_err_release(cause);
}

void keel_ctx_cancel(keel_ctx *c) {
  if (c && c->kind == CTX_CANCEL) ctx_cancel_tree(c, KEEL_ECANCELED, NULL);
}

/* ---- reading -------------------------------------------------------------- */

int keel_ctx_err(const keel_ctx *c) {
  return c ? keel_cancel_code(c->head.token) : KEEL_EINVAL;
}

int keel_ctx_err_at(const keel_ctx *c, int64_t now) {
  if (!c) return KEEL_EINVAL;
  int e = keel_cancel_code(c->head.token);
  if (e == 0 && c->deadline != KEEL_FOREVER && c->deadline <= now)
    e = KEEL_EDEADLINE;
  return e;
}

keel_err *keel_ctx_cause(const keel_ctx *c) {
  if (!c || !c->src) return NULL;
  const keel_ctx *s = c->src;
  int code = keel_cancel_code(&s->token);   /* acquire: s->cause is set */
  if (code == 0) return NULL;
  if (s->cause) return keel_err_retain(s->cause);
  return keel_err_new("ctx", code, "%s",
                      code == KEEL_EDEADLINE ? "deadline exceeded" : "canceled");
}

const keel_cancel *keel_ctx_cancel_token(const keel_ctx *c) {
  return c ? c->head.token : NULL;
}

bool keel_ctx_deadline(const keel_ctx *c, int64_t *deadline) {
  if (!c || c->deadline == KEEL_FOREVER) return false;
  if (deadline) *deadline = c->deadline;
  return true;
}

void *keel_ctx_value(const keel_ctx *c, const void *key) {
  for (; c; c = c->parent)
    if (c->kind == CTX_VALUE && c->u.v.key == key) return c->u.v.value;
  return NULL;
}

size_t keel_ctx_child_count(const keel_ctx *c) {
  if (!c || c->kind != CTX_CANCEL) return 0;
  keel_ctx *m = (keel_ctx *)c;
  ctx_lock(m);
  size_t n = m->nchildren;
  ctx_unlock(m);
  return n;
}

/* The channel of contexts that are never done: made once, never closed,
 * kept for the life of the process. */
static _Atomic(keel_chan *) never_done;

static keel_chan *never_chan(void) {
  keel_chan *ch = atomic_load_explicit(&never_done, memory_order_acquire);
  if (ch) return ch;
  keel_chan *made;
  if (keel_chan_make(&made, 0, 0) != 0) return NULL;
  if (atomic_compare_exchange_strong_explicit(&never_done, &ch, made,
                                              memory_order_acq_rel,
                                              memory_order_acquire))
    return made;
  keel_chan_release(made);
  return ch;
}

keel_chan *keel_ctx_done(keel_ctx *c) {
  if (!c) return NULL;
  keel_ctx *s = c->src;
  if (!s) return never_chan();
  keel_chan *ch = atomic_load_explicit(&s->done, memory_order_acquire);
  if (ch) return ch;
  keel_chan *made;
  if (keel_chan_make(&made, 0, 0) != 0) return NULL;
  int code = 0;
  ctx_lock(s);
  ch = atomic_load_explicit(&s->done, memory_order_relaxed);
  if (!ch) {
    atomic_store_explicit(&s->done, made, memory_order_release);
    ch = made;
    made = NULL;
    /* If set, the canceler found no channel to close; its token has fired
     * (under this lock), so err is set once done is closed. */
    code = ctx_code(s);
  }
  ctx_unlock(s);
  if (made) keel_chan_release(made);
  else if (code) keel_chan_close(ch);
  return ch;
}
