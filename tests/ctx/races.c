/* Races, repeated: cancel versus completion, cancel versus deadline, cancel
 * from a plain thread while tasks wait, children created and released while
 * the parent is canceled, after_func stop versus cancel. Run under TSan by
 * `make check`. Every round checks a property that a lost or duplicated
 * wake-up, a double cancel or a torn cause would break. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "keel/ctx.h"
#include "keel/task.h"
#include "keel_test.h"

static int rounds(int plain) { return KT_SANITIZED() ? plain / 10 : plain; }

/* ---- cancel versus completion ------------------------------------------- */

typedef struct recv_race {
  keel_ctx *ctx;
  keel_chan *ch;
  int rc, got;
} recv_race;

static void race_recv(void *arg) {
  recv_race *r = arg;
  r->rc = keel_ctx_recv(r->ctx, r->ch, &r->got);
}

static void *cancel_thread(void *arg) {
  keel_ctx_cancel(arg);
  return NULL;
}

KT_TEST(cancel_versus_completion) {
  int n = rounds(3000), delivered = 0, canceled = 0;
  for (int i = 0; i < n; i++) {
    recv_race r = {0};
    KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &r.ctx), 0);
    KT_CHECK_EQ(keel_chan_make(&r.ch, sizeof(int), 1), 0);
    keel_task *t;
    KT_CHECK_EQ(keel_task_spawn(&t, race_recv, &r, NULL), 0);
    pthread_t th;
    int v = i;
    if (i & 1) {
      pthread_create(&th, NULL, cancel_thread, r.ctx);
      KT_CHECK_EQ(keel_chan_send(r.ch, &v, KEEL_FOREVER), 0);
    } else {
      KT_CHECK_EQ(keel_chan_send(r.ch, &v, KEEL_FOREVER), 0);
      pthread_create(&th, NULL, cancel_thread, r.ctx);
    }
    pthread_join(th, NULL);
    KT_CHECK_EQ(keel_task_join(t, KEEL_FOREVER, NULL), 0);
    /* exactly once: either received, or still in the channel */
    if (r.rc == 0) {
      KT_CHECK_EQ(r.got, i);
      KT_CHECK_EQ(keel_chan_len(r.ch), 0);
      delivered++;
    } else {
      KT_CHECK_EQ(r.rc, KEEL_ECANCELED);
      KT_CHECK_EQ(keel_chan_len(r.ch), 1);
      canceled++;
    }
    keel_ctx_release(r.ctx);
    keel_chan_release(r.ch);
  }
  KT_CHECK_EQ(delivered + canceled, n);
}

/* ---- cancel versus deadline --------------------------------------------- */

KT_TEST(cancel_versus_deadline) {
  int n = rounds(3000), by_cancel = 0, by_deadline = 0;
  for (int i = 0; i < n; i++) {
    keel_ctx *c, *kid;
    KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(),
                                      (i % 50) * KEEL_MICROSECOND, &c), 0);
    KT_CHECK_EQ(keel_ctx_with_cancel(c, &kid), 0);
    keel_chan *done = keel_ctx_done(kid);
    pthread_t th;
    pthread_create(&th, NULL, cancel_thread, c);
    KT_CHECK_EQ(keel_chan_recv(done, NULL, KEEL_FOREVER), KEEL_ECLOSED);
    pthread_join(th, NULL);
    int e = keel_ctx_err(c);
    KT_CHECK(e == KEEL_ECANCELED || e == KEEL_EDEADLINE);
    KT_CHECK_EQ(keel_ctx_err(kid), e);       /* the child got the winner's */
    keel_err *cause = keel_ctx_cause(kid);
    KT_CHECK_EQ(keel_err_code(cause), e);
    keel_err_release(cause);
    if (e == KEEL_ECANCELED) by_cancel++; else by_deadline++;
    keel_ctx_release(kid);
    keel_ctx_release(c);
  }
  KT_CHECK_EQ(by_cancel + by_deadline, n);
}

/* ---- cancel from a plain thread while tasks wait ------------------------ */

typedef struct waiting {
  keel_ctx *ctx;
  keel_chan *never, *never_send;   /* only receivers / only senders */
  keel_waitgroup *ready;
  int kind;
  int rc;
} waiting;

static void wait_on_ctx(void *arg) {
  waiting *w = arg;
  keel_waitgroup_done(w->ready);
  switch (w->kind % 4) {
    case 0: w->rc = keel_ctx_recv(w->ctx, w->never, NULL); break;
    case 1: w->rc = keel_ctx_send(w->ctx, w->never_send, NULL); break;
    case 2: w->rc = keel_ctx_sleep(w->ctx, KEEL_HOUR); break;
    default: {
      keel_select_case cs[1] = {{.chan = w->never, .op = KEEL_SELECT_RECV}};
      w->rc = keel_ctx_select(w->ctx, cs, 1);
    }
  }
}

typedef struct thread_cancel { keel_ctx *ctx; keel_waitgroup *ready; } thread_cancel;
static void *cancel_when_ready(void *arg) {
  thread_cancel *tc = arg;
  keel_waitgroup_wait(tc->ready, KEEL_FOREVER, NULL);   /* a thread waits too */
  keel_ctx_cancel(tc->ctx);
  return NULL;
}

KT_TEST(cancel_from_a_thread_while_tasks_wait) {
  int n = rounds(500);
  enum { W = 8 };
  keel_chan *never, *never_send;
  KT_CHECK_EQ(keel_chan_make(&never, 0, 0), 0);
  KT_CHECK_EQ(keel_chan_make(&never_send, 0, 0), 0);
  for (int i = 0; i < n; i++) {
    keel_ctx *root, *mid;
    KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &root), 0);
    KT_CHECK_EQ(keel_ctx_with_cancel(root, &mid), 0);
    keel_waitgroup ready;
    keel_waitgroup_init(&ready);
    keel_waitgroup_add(&ready, W);
    waiting w[W];
    keel_task *t[W];
    for (int k = 0; k < W; k++) {
      w[k] = (waiting){.ctx = k & 1 ? mid : root, .never = never,
                       .never_send = never_send, .ready = &ready, .kind = k + i, .rc = 1};
      KT_CHECK_EQ(keel_task_spawn(&t[k], wait_on_ctx, &w[k], NULL), 0);
    }
    thread_cancel tc = {root, &ready};
    pthread_t th;
    pthread_create(&th, NULL, cancel_when_ready, &tc);
    for (int k = 0; k < W; k++) KT_CHECK_EQ(keel_task_join(t[k], KEEL_FOREVER, NULL), 0);
    pthread_join(th, NULL);
    for (int k = 0; k < W; k++) KT_CHECK_EQ(w[k].rc, KEEL_ECANCELED);
    keel_ctx_release(mid);
    keel_ctx_release(root);
  }
  keel_chan_release(never);
  keel_chan_release(never_send);
}

/* ---- children born, canceled and released while the parent cancels ------ */

typedef struct churn { keel_ctx *parent; int n; int born_done; } churn;

static void churn_children(void *arg) {
  churn *c = arg;
  for (int i = 0; i < c->n; i++) {
    keel_ctx *kid, *grand;
    if (keel_ctx_with_cancel(c->parent, &kid)) abort();
    if (keel_ctx_with_timeout(kid, KEEL_HOUR, &grand)) abort();
    if (keel_ctx_err(kid)) c->born_done++;
    if (i % 3 == 0) keel_ctx_cancel(kid);
    if (i % 2) keel_ctx_release(kid), keel_ctx_release(grand);
    else keel_ctx_release(grand), keel_ctx_release(kid);
    if (i % 16 == 0) keel_task_yield();
  }
}

KT_TEST(children_churn_while_parent_cancels) {
  int n = rounds(200);
  for (int i = 0; i < n; i++) {
    keel_ctx *p;
    KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &p), 0);
    churn c[3] = {{p, 200, 0}, {p, 200, 0}, {p, 200, 0}};
    keel_task *t[3];
    for (int k = 0; k < 3; k++)
      KT_CHECK_EQ(keel_task_spawn(&t[k], churn_children, &c[k], NULL), 0);
    pthread_t th;
    pthread_create(&th, NULL, cancel_thread, p);
    pthread_join(th, NULL);
    for (int k = 0; k < 3; k++) KT_CHECK_EQ(keel_task_join(t[k], KEEL_FOREVER, NULL), 0);
    KT_CHECK_EQ(keel_ctx_child_count(p), 0);
    keel_ctx_release(p);
  }
}

/* ---- after_func: stop versus cancel -------------------------------------- */

typedef struct after_count { atomic_int runs; keel_waitgroup *wg; } after_count;
static void after_fn(void *arg) {
  after_count *a = arg;
  atomic_fetch_add(&a->runs, 1);
  keel_waitgroup_done(a->wg);
}

KT_TEST(after_func_stop_versus_cancel) {
  int n = rounds(3000), stopped = 0;
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  after_count ac = {0, &wg};
  for (int i = 0; i < n; i++) {
    keel_ctx *c;
    KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &c), 0);
    keel_ctx_after *h;
    keel_waitgroup_add(&wg, 1);
    KT_CHECK_EQ(keel_ctx_after_func(c, after_fn, &ac, &h), 0);
    pthread_t th;
    pthread_create(&th, NULL, cancel_thread, c);
    if (keel_ctx_after_stop(h)) {
      stopped++;
      keel_waitgroup_done(&wg);   /* it will never run */
    }
    pthread_join(th, NULL);
    keel_ctx_release(c);
  }
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&ac.runs) + stopped, n);   /* exactly one of them */
}

/* ---- deadline fires while the last references go ------------------------- */

KT_TEST(deadline_fires_while_released) {
  int n = rounds(3000);
  for (int i = 0; i < n; i++) {
    keel_ctx *p, *kid;
    KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(),
                                      (i % 20) * KEEL_MICROSECOND, &p), 0);
    KT_CHECK_EQ(keel_ctx_with_cancel(p, &kid), 0);
    keel_ctx_release(p);          /* the child holds p now */
    if (i & 1) keel_chan_recv(keel_ctx_done(kid), NULL, KEEL_FOREVER);
    keel_ctx_release(kid);        /* may race the timer's callback */
  }
}

/* ---- children cancel and release themselves while the tree is walked ---- */

typedef struct self_cancel { keel_ctx **kids; int from, n; } self_cancel;
static void cancel_own_kids(void *arg) {
  self_cancel *s = arg;
  for (int i = s->from; i < s->from + s->n; i++) {
    if (i % 2) keel_ctx_cancel(s->kids[i]);
    keel_ctx_release(s->kids[i]);
  }
}

KT_TEST(children_leave_while_the_parent_walk_runs) {
  int n = rounds(100);
  enum { K = 2000 };
  keel_ctx **kids = malloc(sizeof *kids * K), **grand = malloc(sizeof *grand * K);
  for (int r = 0; r < n; r++) {
    keel_ctx *root;
    KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &root), 0);
    for (int i = 0; i < K; i++) {
      KT_CHECK_EQ(keel_ctx_with_cancel(root, &kids[i]), 0);
      KT_CHECK_EQ(keel_ctx_with_cancel(kids[i], &grand[i]), 0);
      keel_ctx_done(grand[i]);
    }
    self_cancel sc[2] = {{kids, 0, K / 2}, {kids, K / 2, K / 2}};
    keel_task *t[2];
    for (int k = 0; k < 2; k++)
      KT_CHECK_EQ(keel_task_spawn(&t[k], cancel_own_kids, &sc[k], NULL), 0);
    keel_ctx_cancel(root);
    for (int k = 0; k < 2; k++) KT_CHECK_EQ(keel_task_join(t[k], KEEL_FOREVER, NULL), 0);
    for (int i = 0; i < K; i++) {
      KT_CHECK(keel_ctx_err(grand[i]) != 0);
      KT_CHECK_EQ(keel_chan_recv(keel_ctx_done(grand[i]), NULL, KEEL_NOWAIT),
                  KEEL_ECLOSED);
      keel_ctx_release(grand[i]);
    }
    KT_CHECK_EQ(keel_ctx_child_count(root), 0);
    keel_ctx_release(root);
  }
  free(kids);
  free(grand);
}

/* ---- the done channel made while a cancel runs ------------------------- */

KT_TEST(err_is_set_once_a_lazily_made_done_is_closed) {
  int n = rounds(3000);
  for (int i = 0; i < n; i++) {
    keel_ctx *c;
    KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &c), 0);
    pthread_t th;
    pthread_create(&th, NULL, cancel_thread, c);
    keel_chan *done = keel_ctx_done(c);   /* races the cancel */
    if (keel_chan_recv(done, NULL, KEEL_NOWAIT) == KEEL_ECLOSED)
      KT_CHECK_EQ(keel_ctx_err(c), KEEL_ECANCELED);
    pthread_join(th, NULL);
    KT_CHECK_EQ(keel_chan_recv(done, NULL, KEEL_FOREVER), KEEL_ECLOSED);
    KT_CHECK_EQ(keel_ctx_err(c), KEEL_ECANCELED);
    keel_ctx_release(c);
  }
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
