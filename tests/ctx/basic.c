/* Contexts: each behaviour of keel/ctx.h a user relies on. */
#include <stdatomic.h>

#include "keel/ctx.h"
#include "keel/task.h"
#include "keel_test.h"

static bool closed_now(keel_chan *ch) {
  return keel_chan_recv(ch, NULL, KEEL_NOWAIT) == KEEL_ECLOSED;
}

KT_TEST(background_is_never_done) {
  keel_ctx *bg = keel_ctx_background();
  KT_CHECK_EQ(keel_ctx_err(bg), 0);
  KT_CHECK(!keel_ctx_is_canceled(bg));
  KT_CHECK(keel_ctx_cancel_token(bg) == NULL);
  KT_CHECK(keel_ctx_cause(bg) == NULL);
  int64_t d;
  KT_CHECK(!keel_ctx_deadline(bg, &d));
  KT_CHECK(keel_ctx_value(bg, &d) == NULL);
  keel_ctx_cancel(bg);            /* no-op */
  keel_ctx_release(keel_ctx_retain(bg));
  KT_CHECK_EQ(keel_ctx_err(bg), 0);
  keel_chan *done = keel_ctx_done(bg);
  KT_CHECK(done != NULL);
  KT_CHECK_EQ(keel_chan_recv(done, NULL, KEEL_NOWAIT), KEEL_EAGAIN);
}

KT_TEST(cancel_closes_done_and_sets_err) {
  keel_ctx *c;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &c), 0);
  KT_CHECK_EQ(keel_ctx_err(c), 0);
  KT_CHECK(keel_ctx_cause(c) == NULL);
  keel_chan *done = keel_ctx_done(c);
  KT_CHECK(done != NULL && done == keel_ctx_done(c));
  KT_CHECK(!closed_now(done));
  KT_CHECK(keel_ctx_cancel_token(c) != NULL);
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_ECANCELED);
  KT_CHECK(keel_ctx_is_canceled(c));
  KT_CHECK_EQ(keel_cancel_code(keel_ctx_cancel_token(c)), KEEL_ECANCELED);
  KT_CHECK(closed_now(done));
  keel_err *e = keel_ctx_cause(c);
  KT_CHECK(e != NULL);
  KT_CHECK_EQ(keel_err_code(e), KEEL_ECANCELED);
  KT_CHECK_STR(keel_err_message(e), "canceled");
  keel_err_release(e);
  keel_ctx_cancel(c);             /* twice: no-op */
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_ECANCELED);
  keel_ctx_release(c);
}

KT_TEST(done_made_after_cancel_is_closed) {
  keel_ctx *c;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &c), 0);
  keel_ctx_cancel(c);
  KT_CHECK(closed_now(keel_ctx_done(c)));
  keel_ctx_release(c);
}

KT_TEST(cancel_reaches_descendants_through_values) {
  static const int key;
  keel_ctx *root, *val, *mid, *leaf;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &root), 0);
  KT_CHECK_EQ(keel_ctx_with_value(root, &key, "v", &val), 0);
  KT_CHECK_EQ(keel_ctx_with_cancel(val, &mid), 0);
  KT_CHECK_EQ(keel_ctx_with_cancel(mid, &leaf), 0);
  KT_CHECK_EQ(keel_ctx_child_count(root), 1);   /* mid, through the value */
  KT_CHECK_EQ(keel_ctx_child_count(mid), 1);
  keel_chan *dv = keel_ctx_done(val), *dl = keel_ctx_done(leaf);
  KT_CHECK(dv == keel_ctx_done(root));
  KT_CHECK(keel_ctx_cancel_token(val) == keel_ctx_cancel_token(root));
  keel_ctx_cancel(root);
  KT_CHECK(closed_now(dv) && closed_now(dl));
  KT_CHECK_EQ(keel_ctx_err(val), KEEL_ECANCELED);
  KT_CHECK_EQ(keel_ctx_err(mid), KEEL_ECANCELED);
  KT_CHECK_EQ(keel_ctx_err(leaf), KEEL_ECANCELED);
  KT_CHECK_EQ(keel_ctx_child_count(root), 0);
  KT_CHECK_EQ(keel_ctx_child_count(mid), 0);
  KT_CHECK_STR(keel_ctx_value(leaf, &key), "v");
  keel_ctx_release(leaf);
  keel_ctx_release(mid);
  keel_ctx_release(val);
  keel_ctx_release(root);
}

KT_TEST(child_cancel_leaves_parent_alone) {
  keel_ctx *p, *c;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &p), 0);
  KT_CHECK_EQ(keel_ctx_with_cancel(p, &c), 0);
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_ECANCELED);
  KT_CHECK_EQ(keel_ctx_err(p), 0);
  keel_ctx_release(c);
  keel_ctx_release(p);
}

KT_TEST(first_cause_wins_and_descends) {
  keel_ctx *p, *c;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &p), 0);
  KT_CHECK_EQ(keel_ctx_with_cancel(p, &c), 0);
  keel_ctx_cancel_cause(p, KEEL_ECANCELED,
                        keel_err_new("test", KEEL_EFAILED, "replica won"));
  keel_ctx_cancel_cause(p, KEEL_EDEADLINE,
                        keel_err_new("test", KEEL_EFAILED, "too late"));
  KT_CHECK_EQ(keel_ctx_err(p), KEEL_ECANCELED);
  keel_err *e = keel_ctx_cause(p);
  KT_CHECK_STR(keel_err_message(e), "replica won");
  keel_err_release(e);
  e = keel_ctx_cause(c);
  KT_CHECK_STR(keel_err_message(e), "replica won");
  keel_err_release(e);
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_ECANCELED);
  /* a child born under a done parent is done with the parent's cause */
  keel_ctx *late;
  KT_CHECK_EQ(keel_ctx_with_cancel(p, &late), 0);
  KT_CHECK_EQ(keel_ctx_err(late), KEEL_ECANCELED);
  e = keel_ctx_cause(late);
  KT_CHECK_STR(keel_err_message(e), "replica won");
  keel_err_release(e);
  keel_ctx_release(late);
  keel_ctx_release(c);
  keel_ctx_release(p);
}

KT_TEST(cancel_with_a_code_only) {
  keel_ctx *c;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &c), 0);
  keel_ctx_cancel_cause(c, KEEL_EDEADLINE, NULL);
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_EDEADLINE);
  keel_err *e = keel_ctx_cause(c);
  KT_CHECK_EQ(keel_err_code(e), KEEL_EDEADLINE);
  KT_CHECK_STR(keel_err_message(e), "deadline exceeded");
  keel_err_release(e);
  keel_ctx_release(c);
}

KT_TEST(deadline_in_the_past_is_born_done) {
  keel_ctx *c;
  KT_CHECK_EQ(keel_ctx_with_deadline(keel_ctx_background(), keel_now() - 1, &c), 0);
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_EDEADLINE);
  KT_CHECK(closed_now(keel_ctx_done(c)));
  keel_err *e = keel_ctx_cause(c);
  KT_CHECK_STR(keel_err_message(e), "deadline exceeded");
  keel_err_release(e);
  keel_ctx_release(c);
}

KT_TEST(timeout_fires_and_records_deadline_exceeded) {
  keel_ctx *p, *c, *child;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &p), 0);
  KT_CHECK_EQ(keel_ctx_with_timeout(p, 5 * KEEL_MILLISECOND, &c), 0);
  KT_CHECK_EQ(keel_ctx_with_cancel(c, &child), 0);
  int64_t d;
  KT_CHECK(keel_ctx_deadline(child, &d));
  KT_CHECK(!keel_ctx_deadline(p, &d));
  KT_CHECK_EQ(keel_chan_recv(keel_ctx_done(child), NULL, KEEL_FOREVER), KEEL_ECLOSED);
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_EDEADLINE);
  KT_CHECK_EQ(keel_ctx_err(child), KEEL_EDEADLINE);
  KT_CHECK_EQ(keel_ctx_err(p), 0);
  /* Expiry unlinks c from p as its last step (as Go's cancel does, after
   * closing the done channels), so a reader woken by child's done may get
   * here first: wait, bounded, for the unlink. */
  for (int64_t until = keel_deadline_in(KEEL_SECOND);
       keel_ctx_child_count(p) != 0 && keel_now() < until;)
    keel_task_yield();
  KT_CHECK_EQ(keel_ctx_child_count(p), 0);
  keel_err *e = keel_ctx_cause(child);
  KT_CHECK_EQ(keel_err_code(e), KEEL_EDEADLINE);
  KT_CHECK_STR(keel_err_message(e), "deadline exceeded");
  keel_err_release(e);
  keel_ctx_release(child);
  keel_ctx_release(c);
  keel_ctx_release(p);
}

KT_TEST(deadline_cause_is_recorded_on_expiry_only) {
  keel_ctx *c;
  KT_CHECK_EQ(keel_ctx_with_timeout_cause(
                  keel_ctx_background(), 2 * KEEL_MILLISECOND,
                  keel_err_new("test", KEEL_EDEADLINE, "backend too slow"), &c),
              0);
  KT_CHECK_EQ(keel_chan_recv(keel_ctx_done(c), NULL, KEEL_FOREVER), KEEL_ECLOSED);
  keel_err *e = keel_ctx_cause(c);
  KT_CHECK_STR(keel_err_message(e), "backend too slow");
  keel_err_release(e);
  keel_ctx_release(c);

  /* canceled before the deadline: the cancel's cause wins, timer stopped */
  KT_CHECK_EQ(keel_ctx_with_timeout_cause(
                  keel_ctx_background(), KEEL_HOUR,
                  keel_err_new("test", KEEL_EDEADLINE, "never seen"), &c),
              0);
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_ECANCELED);
  e = keel_ctx_cause(c);
  KT_CHECK_STR(keel_err_message(e), "canceled");
  keel_err_release(e);
  keel_ctx_release(c);
}

KT_TEST(earlier_parent_deadline_is_inherited) {
  keel_ctx *p, *c, *v;
  int64_t pd = keel_now() + KEEL_HOUR, d = 0;
  KT_CHECK_EQ(keel_ctx_with_deadline(keel_ctx_background(), pd, &p), 0);
  KT_CHECK_EQ(keel_ctx_with_deadline(p, pd + KEEL_HOUR, &c), 0);
  KT_CHECK(keel_ctx_deadline(c, &d));
  KT_CHECK_EQ(d, pd);
  KT_CHECK_EQ(keel_ctx_with_value(c, &d, NULL, &v), 0);
  KT_CHECK(keel_ctx_deadline(v, &d));
  KT_CHECK_EQ(d, pd);
  keel_ctx *sooner;
  KT_CHECK_EQ(keel_ctx_with_deadline(v, pd - KEEL_MINUTE, &sooner), 0);
  KT_CHECK(keel_ctx_deadline(sooner, &d));
  KT_CHECK_EQ(d, pd - KEEL_MINUTE);
  keel_ctx_release(sooner);
  keel_ctx_release(v);
  keel_ctx_release(c);
  keel_ctx_release(p);
}

KT_TEST(err_at_uses_the_given_clock) {
  keel_ctx *c;
  int64_t dl = keel_now() + KEEL_HOUR;
  KT_CHECK_EQ(keel_ctx_with_deadline(keel_ctx_background(), dl, &c), 0);
  KT_CHECK_EQ(keel_ctx_err_at(c, dl - 1), 0);
  KT_CHECK_EQ(keel_ctx_err_at(c, dl), KEEL_EDEADLINE);
  KT_CHECK_EQ(keel_ctx_err(c), 0);
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_ctx_err_at(c, dl - 1), KEEL_ECANCELED);
  keel_ctx_release(c);
  KT_CHECK_EQ(keel_ctx_err_at(keel_ctx_background(), INT64_MAX - 1), 0);
}

KT_TEST(values_are_found_up_the_chain) {
  static const char k1, k2, k3;
  keel_ctx *a, *b, *c, *d;
  KT_CHECK_EQ(keel_ctx_with_value(keel_ctx_background(), &k1, "one", &a), 0);
  KT_CHECK_EQ(keel_ctx_with_cancel(a, &b), 0);
  KT_CHECK_EQ(keel_ctx_with_value(b, &k2, "two", &c), 0);
  KT_CHECK_EQ(keel_ctx_with_value(c, &k1, "shadow", &d), 0);
  KT_CHECK_STR(keel_ctx_value(d, &k1), "shadow");
  KT_CHECK_STR(keel_ctx_value(c, &k1), "one");
  KT_CHECK_STR(keel_ctx_value(d, &k2), "two");
  KT_CHECK(keel_ctx_value(d, &k3) == NULL);
  KT_CHECK(keel_ctx_value(b, &k2) == NULL);
  keel_ctx_release(d);
  keel_ctx_release(c);
  keel_ctx_release(b);
  keel_ctx_release(a);
}

KT_TEST(without_cancel_keeps_values_not_cancellation) {
  static const char k;
  keel_ctx *p, *v, *w, *wc;
  KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(), KEEL_HOUR, &p), 0);
  KT_CHECK_EQ(keel_ctx_with_value(p, &k, "kept", &v), 0);
  KT_CHECK_EQ(keel_ctx_without_cancel(v, &w), 0);
  KT_CHECK_EQ(keel_ctx_with_cancel(w, &wc), 0);
  int64_t d;
  KT_CHECK(!keel_ctx_deadline(w, &d));
  KT_CHECK(keel_ctx_cancel_token(w) == NULL);
  keel_ctx_cancel(p);
  KT_CHECK_EQ(keel_ctx_err(v), KEEL_ECANCELED);
  KT_CHECK_EQ(keel_ctx_err(w), 0);
  KT_CHECK_EQ(keel_ctx_err(wc), 0);
  KT_CHECK(keel_ctx_cause(w) == NULL);
  KT_CHECK_EQ(keel_chan_recv(keel_ctx_done(w), NULL, KEEL_NOWAIT), KEEL_EAGAIN);
  KT_CHECK_STR(keel_ctx_value(wc, &k), "kept");
  keel_ctx_cancel(w);   /* no-op */
  KT_CHECK_EQ(keel_ctx_err(w), 0);
  keel_ctx_cancel(wc);
  KT_CHECK_EQ(keel_ctx_err(wc), KEEL_ECANCELED);
  keel_ctx_release(wc);
  keel_ctx_release(w);
  keel_ctx_release(v);
  keel_ctx_release(p);
}

KT_TEST(canceled_children_do_not_accumulate) {
  keel_ctx *p;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &p), 0);
  keel_ctx *keep[1000];
  for (int i = 0; i < 1000; i++)
    KT_CHECK_EQ(keel_ctx_with_cancel(p, &keep[i]), 0);
  KT_CHECK_EQ(keel_ctx_child_count(p), 1000);
  for (int i = 0; i < 100000; i++) {
    keel_ctx *c;
    KT_CHECK_EQ(i & 1 ? keel_ctx_with_cancel(p, &c)
                      : keel_ctx_with_timeout(p, KEEL_HOUR, &c), 0);
    KT_CHECK_EQ(keel_ctx_child_count(p), 1001);
    if (i % 3) keel_ctx_cancel(c);   /* else: release alone unlinks too */
    keel_ctx_release(c);
    KT_CHECK_EQ(keel_ctx_child_count(p), 1000);
  }
  for (int i = 0; i < 1000; i += 2) keel_ctx_cancel(keep[i]);
  KT_CHECK_EQ(keel_ctx_child_count(p), 500);
  for (int i = 0; i < 1000; i++) keel_ctx_release(keep[i]);
  KT_CHECK_EQ(keel_ctx_child_count(p), 0);
  keel_ctx_release(p);
}

KT_TEST(a_child_keeps_its_parent_alive) {
  keel_ctx *p, *c;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &p), 0);
  KT_CHECK_EQ(keel_ctx_with_cancel(p, &c), 0);
  keel_ctx *pr = keel_ctx_retain(p);
  keel_ctx_release(p);           /* the child still holds p */
  keel_ctx_cancel(pr);
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_ECANCELED);
  keel_ctx_release(pr);
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_ECANCELED);
  keel_ctx_release(c);           /* frees c, then p */
}

KT_TEST(bad_arguments) {
  keel_ctx *c = NULL;
  KT_CHECK_EQ(keel_ctx_with_cancel(NULL, &c), KEEL_EINVAL);
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_ctx_with_value(NULL, &c, NULL, &c), KEEL_EINVAL);
  KT_CHECK_EQ(keel_ctx_without_cancel(NULL, &c), KEEL_EINVAL);
  KT_CHECK_EQ(keel_ctx_with_deadline_cause(NULL, 0, keel_err_new("t", 0, "x"), &c),
              KEEL_EINVAL);
  KT_CHECK_EQ(keel_ctx_err(NULL), KEEL_EINVAL);
  KT_CHECK(keel_ctx_done(NULL) == NULL);
  keel_ctx_release(NULL);
  keel_ctx_cancel(NULL);
  KT_CHECK(c == NULL);
}

/* ---- after_func ---- */

typedef struct { keel_chan *ran; atomic_int runs; } after_probe;

static void after_note(void *arg) {
  after_probe *p = arg;
  atomic_fetch_add(&p->runs, 1);
  keel_chan_send(p->ran, NULL, KEEL_FOREVER);
}

KT_TEST(after_func_runs_once_when_done) {
  after_probe pr = {0};
  KT_CHECK_EQ(keel_chan_make(&pr.ran, 0, 4), 0);
  keel_ctx *c;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &c), 0);
  keel_ctx_after *h;
  KT_CHECK_EQ(keel_ctx_after_func(c, after_note, &pr, &h), 0);
  KT_CHECK_EQ(keel_ctx_after_func(c, after_note, &pr, NULL), 0);
  KT_CHECK_EQ(keel_ctx_child_count(c), 2);
  keel_ctx_cancel(c);
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_chan_recv(pr.ran, NULL, KEEL_FOREVER), 0);
  KT_CHECK_EQ(keel_chan_recv(pr.ran, NULL, KEEL_FOREVER), 0);
  KT_CHECK(!keel_ctx_after_stop(h));      /* it ran */
  KT_CHECK_EQ(atomic_load(&pr.runs), 2);
  /* on a context already done: scheduled at once */
  KT_CHECK_EQ(keel_ctx_after_func(c, after_note, &pr, NULL), 0);
  KT_CHECK_EQ(keel_chan_recv(pr.ran, NULL, KEEL_FOREVER), 0);
  KT_CHECK_EQ(atomic_load(&pr.runs), 3);
  keel_ctx_release(c);
  keel_chan_release(pr.ran);
}

KT_TEST(after_func_stopped_never_runs) {
  after_probe stopped = {0}, witness = {0};
  KT_CHECK_EQ(keel_chan_make(&stopped.ran, 0, 1), 0);
  KT_CHECK_EQ(keel_chan_make(&witness.ran, 0, 1), 0);
  keel_ctx *p, *c;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &p), 0);
  KT_CHECK_EQ(keel_ctx_with_value(p, &stopped, NULL, &c), 0);
  keel_ctx_after *h;
  KT_CHECK_EQ(keel_ctx_after_func(c, after_note, &stopped, &h), 0);
  KT_CHECK_EQ(keel_ctx_after_func(c, after_note, &witness, NULL), 0);
  KT_CHECK_EQ(keel_ctx_child_count(p), 2);
  KT_CHECK(keel_ctx_after_stop(h));
  KT_CHECK_EQ(keel_ctx_child_count(p), 1);   /* unlinked at once */
  keel_ctx_cancel(p);
  KT_CHECK_EQ(keel_chan_recv(witness.ran, NULL, KEEL_FOREVER), 0);
  KT_CHECK_EQ(atomic_load(&stopped.runs), 0);
  KT_CHECK_EQ(keel_chan_recv(stopped.ran, NULL, KEEL_NOWAIT), KEEL_EAGAIN);
  /* on a context never done: stoppable, nothing runs */
  KT_CHECK_EQ(keel_ctx_after_func(keel_ctx_background(), after_note, &stopped, &h), 0);
  KT_CHECK(keel_ctx_after_stop(h));
  KT_CHECK_EQ(keel_ctx_after_func(keel_ctx_background(), after_note, &stopped, NULL), 0);
  KT_CHECK_EQ(atomic_load(&stopped.runs), 0);
  KT_CHECK(!keel_ctx_after_stop(NULL));
  keel_ctx_release(c);
  keel_ctx_release(p);
  keel_chan_release(stopped.ran);
  keel_chan_release(witness.ran);
}

KT_TEST(after_func_on_deadline) {
  after_probe pr = {0};
  KT_CHECK_EQ(keel_chan_make(&pr.ran, 0, 1), 0);
  keel_ctx *c;
  KT_CHECK_EQ(keel_ctx_with_timeout(keel_ctx_background(), KEEL_MILLISECOND, &c), 0);
  KT_CHECK_EQ(keel_ctx_after_func(c, after_note, &pr, NULL), 0);
  KT_CHECK_EQ(keel_chan_recv(pr.ran, NULL, KEEL_FOREVER), 0);
  KT_CHECK_EQ(keel_ctx_err(c), KEEL_EDEADLINE);
  keel_ctx_release(c);
  keel_chan_release(pr.ran);
}

/* Last: every task started above has ended (after_func tasks hold
 * references until they return), so the leak checker sees a clean exit. */
KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
