/* Propagation: cancel the root of a tree of 100,000 descendants; every done
 * channel closes and every helper blocked on the tree returns with the right
 * code. The tree mixes a 50,000-deep chain (canceling must not recurse),
 * a node with 20,000 children, value nodes, and a random tree; the cancel
 * runs inside a task with a small stack. The blocked helpers are of six
 * kinds: receive, sleep, select, wait group wait, fd wait, join. */
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "keel/ctx.h"
#include "keel/task.h"
#include "keel_test.h"

enum { TREE = 100000 };

/* The second and third trees repeat the first with another code or a
 * timer; under sanitizers they are smaller (the first never is). */
static int small_tree(void) { return KT_SANITIZED() ? 20000 : TREE; }

/* n descendants: a chain of n/2 (a value node every 7th link), a node with
 * n/5 children, and a random tree over all of them for the rest. */
static keel_ctx **build_tree(keel_ctx *root, int total, unsigned seed) {
  const int CHAIN = total / 2, WIDE = total / 5;
  keel_ctx **n = malloc(sizeof *n * (size_t)total);
  if (!n) abort();
  int i = 0;
  keel_ctx *prev = root;
  for (; i < CHAIN; i++) {   /* deep chain, a value node every 7th link */
    int rc = i % 7 == 3 ? keel_ctx_with_value(prev, &n, NULL, &n[i])
                        : keel_ctx_with_cancel(prev, &n[i]);
    if (rc) abort();
    prev = n[i];
  }
  keel_ctx *hub = n[CHAIN / 2];
  for (; i < CHAIN + WIDE; i++)
    if (keel_ctx_with_cancel(hub, &n[i])) abort();
  for (; i < total; i++) {   /* random recursive tree over all the above */
    seed = seed * 1103515245u + 12345u;
    keel_ctx *p = (seed >> 8) % 5 == 0 ? root : n[(seed >> 4) % (unsigned)i];
    int rc = i % 11 == 0 ? keel_ctx_with_timeout(p, KEEL_HOUR, &n[i])
                         : keel_ctx_with_cancel(p, &n[i]);
    if (rc) abort();
  }
  return n;
}

/* What the blocked helpers wait on: nothing of it ever happens before the
 * cancel (the gate opens, and the never-ending wait group ends, only at the
 * end of the test, to let the joined tasks go). */
typedef struct blockers {
  keel_chan *never;     /* nobody sends */
  keel_chan *gate;      /* closed at the end: releases the joined tasks */
  keel_waitgroup never_done;
  int pipe_fds[2];      /* nobody writes */
} blockers;

typedef struct waiter_arg {
  keel_ctx *ctx;
  blockers *b;
  keel_task *joinee;    /* kind 5: a task waiting on the gate */
  keel_waitgroup *ready, *finished;
  int kind;
  atomic_int rc;
} waiter_arg;

enum { KINDS = 6 };

static void wait_for_gate(void *arg) { keel_chan_recv(arg, NULL, KEEL_FOREVER); }

static void helper_waits(void *arg) {
  waiter_arg *w = arg;
  keel_waitgroup_done(w->ready);
  int rc;
  switch (w->kind % KINDS) {
    case 0: rc = keel_ctx_recv(w->ctx, w->b->never, NULL); break;
    case 1: rc = keel_ctx_sleep(w->ctx, KEEL_HOUR); break;
    case 2: {
      keel_select_case cs[1] = {{.chan = w->b->never, .op = KEEL_SELECT_RECV}};
      rc = keel_ctx_select(w->ctx, cs, 1);
      break;
    }
    case 3: rc = keel_ctx_waitgroup_wait(w->ctx, &w->b->never_done); break;
    case 4: rc = keel_ctx_fd_wait(w->ctx, w->b->pipe_fds[0], KEEL_FD_READ); break;
    default: rc = keel_ctx_join(w->ctx, w->joinee); break;
  }
  atomic_store(&w->rc, rc);
  keel_waitgroup_done(w->finished);
}

typedef struct canceler { keel_ctx *root; int code; } canceler;
static void cancel_in_task(void *arg) {
  canceler *c = arg;
  keel_ctx_cancel_cause(c->root, c->code, NULL);
}

static void run_tree(int code, int size) {
  keel_ctx *root;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &root), 0);
  keel_ctx **n = build_tree(root, size, 12345u + (unsigned)code);
  keel_chan **done = malloc(sizeof *done * size);
  for (int i = 0; i < size; i++) {
    done[i] = keel_ctx_done(n[i]);
    KT_CHECK(done[i] != NULL);
  }
  int helpers = KT_SANITIZED() ? 300 : 3000;
  blockers b;
  KT_CHECK_EQ(keel_chan_make(&b.never, 0, 0), 0);
  KT_CHECK_EQ(keel_chan_make(&b.gate, 0, 0), 0);
  keel_waitgroup_init(&b.never_done);
  keel_waitgroup_add(&b.never_done, 1);
  KT_CHECK_EQ(pipe(b.pipe_fds), 0);
  keel_waitgroup ready, finished;
  keel_waitgroup_init(&ready);
  keel_waitgroup_init(&finished);
  keel_waitgroup_add(&ready, helpers);
  keel_waitgroup_add(&finished, helpers);
  waiter_arg *w = calloc((size_t)helpers, sizeof *w);
  for (int i = 0; i < helpers; i++) {
    w[i].ctx = n[(size_t)i * 7919u % size];
    w[i].b = &b;
    w[i].joinee = NULL;
    if (i % KINDS == 5)
      KT_CHECK_EQ(keel_task_spawn(&w[i].joinee, wait_for_gate, b.gate, NULL), 0);
    w[i].ready = &ready;
    w[i].finished = &finished;
    w[i].kind = i;
    atomic_init(&w[i].rc, 1);
    KT_CHECK_EQ(keel_task_spawn(NULL, helper_waits, &w[i], NULL), 0);
  }
  KT_CHECK_EQ(keel_waitgroup_wait(&ready, KEEL_FOREVER, NULL), 0);
  for (int i = 0; i < size; i++) KT_CHECK_EQ(keel_ctx_err(n[i]), 0);

  /* cancel from a task with a 32 KiB stack: recursion 50,000 deep would
   * overflow it */
  canceler cn = {root, code};
  keel_task *t;
  keel_task_options small = {.stack_size = 32 * 1024, .name = "canceler"};
  KT_CHECK_EQ(keel_task_spawn(&t, cancel_in_task, &cn, &small), 0);
  KT_CHECK_EQ(keel_task_join(t, KEEL_FOREVER, NULL), 0);

  for (int i = 0; i < size; i++) {
    KT_CHECK_EQ(keel_chan_recv(done[i], NULL, KEEL_NOWAIT), KEEL_ECLOSED);
    KT_CHECK_EQ(keel_ctx_err(n[i]), code);
  }
  KT_CHECK_EQ(keel_waitgroup_wait(&finished, KEEL_FOREVER, NULL), 0);
  for (int i = 0; i < helpers; i++) KT_CHECK_EQ(atomic_load(&w[i].rc), code);
  /* let the joined tasks end, and join them for real */
  keel_chan_close(b.gate);
  for (int i = 0; i < helpers; i++)
    if (w[i].joinee) KT_CHECK_EQ(keel_task_join(w[i].joinee, KEEL_FOREVER, NULL), 0);
  keel_waitgroup_done(&b.never_done);
  close(b.pipe_fds[0]);
  close(b.pipe_fds[1]);
  KT_CHECK_EQ(keel_ctx_child_count(root), 0);
  for (int i = 0; i < size; i++) keel_ctx_release(n[i]);
  keel_ctx_release(root);
  keel_chan_release(b.never);
  keel_chan_release(b.gate);
  free(w);
  free(done);
  free(n);
}

KT_TEST(cancel_reaches_100k_descendants) { run_tree(KEEL_ECANCELED, TREE); }
KT_TEST(deadline_code_reaches_every_descendant) {
  run_tree(KEEL_EDEADLINE, small_tree());
}

/* A deadline on the root (the timer's callback does the whole cancel). */
KT_TEST(root_deadline_expires_over_a_tree) {
  keel_ctx *root;
  KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(), 20 * KEEL_MILLISECOND,
                                    &root), 0);
  const int size = small_tree();
  keel_ctx **n = build_tree(root, size, 99u);
  /* the timer's callback may still be walking the tree: wait for each */
  for (int i = 0; i < size; i++) {
    KT_CHECK_EQ(keel_chan_recv(keel_ctx_done(n[i]), NULL, KEEL_FOREVER),
                KEEL_ECLOSED);
    KT_CHECK_EQ(keel_ctx_err(n[i]), KEEL_EDEADLINE);
  }
  keel_err *e = keel_ctx_cause(n[size - 1]);
  KT_CHECK_STR(keel_err_message(e), "deadline exceeded");
  keel_err_release(e);
  /* free leaves first and roots last, in reverse and in order */
  for (int i = size - 1; i >= 0; i--) keel_ctx_release(n[i]);
  keel_ctx_release(root);
  free(n);
}

/* Releasing a deep chain from its leaf (each node kept only by its child)
 * must not recurse either. */
KT_TEST(release_of_a_deep_chain_is_iterative) {
  keel_ctx *prev = keel_ctx_background(), *first = NULL;
  for (int i = 0, deep = KT_SANITIZED() ? 100000 : 200000; i < deep; i++) {
    keel_ctx *c;
    KT_CHECK_EQ(keel_ctx_with_cancel(prev, &c), 0);
    if (i > 0) keel_ctx_release(prev);   /* only the child holds it now */
    else first = c;
    prev = c;
  }
  (void)first;
  keel_ctx_release(prev);   /* frees the whole chain, leaf to root */
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
