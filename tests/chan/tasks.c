/* Channels from tasks: hand-off between tasks, tasks and plain threads on one
 * channel, a task blocked in select (woken by a send, a close, a deadline, a
 * timer), and many tasks parked on one channel at once. */
#include "keel_test.h"

#include "chan_test_util.h"
#include "keel/task.h"
#include "keel/timer.h"

static keel_chan *mk(size_t elem, size_t cap) {
  keel_chan *c = NULL;
  if (keel_chan_make(&c, elem, cap) != 0) exit(2);
  return c;
}

typedef struct ring {
  keel_chan *in, *out;
  int n;
  int offset;  /* value i arrives as i + offset */
  int bad;
} ring;

/* Receives n values from in, checks their order, passes each on + 1. */
static void relay(void *arg) {
  ring *r = arg;
  for (int i = 0; i < r->n; i++) {
    int v;
    if (keel_chan_recv(r->in, &v, KEEL_FOREVER) != 0 || v != i + r->offset) r->bad++;
    v++;
    if (keel_chan_send(r->out, &v, KEEL_FOREVER) != 0) r->bad++;
  }
}

static void *relay_thread(void *arg) {
  relay(arg);
  return NULL;
}

/* A chain of stages, tasks and threads mixed, over unbuffered and buffered
 * channels: every value arrives, in order, incremented once per stage. */
KT_TEST(pipeline_of_tasks_and_threads) {
  enum { STAGES = 6 };
  int n = KT_SANITIZED() ? 5000 : 20000;
  keel_chan *c[STAGES + 1];
  for (int i = 0; i <= STAGES; i++) c[i] = mk(sizeof(int), i % 2 ? 0 : 8);
  ring r[STAGES];
  keel_task *t[STAGES];
  ct_thread th[STAGES];
  for (int i = 0; i < STAGES; i++) {
    r[i] = (ring){.in = c[i], .out = c[i + 1], .n = n, .offset = i};
    if (i % 3 == 1) ct_start(&th[i], relay_thread, &r[i]);
    else KT_CHECK_EQ(keel_task_spawn(&t[i], relay, &r[i], NULL), 0);
  }
  int fail = 0;
  for (int i = 0; i < n; i++) {
    int v = i;
    if (keel_chan_send(c[0], &v, KEEL_FOREVER) != 0) fail++;
    int got;
    if (keel_chan_recv(c[STAGES], &got, KEEL_FOREVER) != 0 || got != i + STAGES) fail++;
  }
  for (int i = 0; i < STAGES; i++) {
    if (i % 3 == 1) ct_join(&th[i]);
    else KT_CHECK_EQ(keel_task_join(t[i], KEEL_FOREVER, NULL), 0);
  }
  KT_CHECK_EQ(fail, 0);
  for (int i = 0; i < STAGES; i++) KT_CHECK_EQ(r[i].bad, 0);
  for (int i = 0; i <= STAGES; i++) keel_chan_release(c[i]);
}

typedef struct waiting {
  keel_chan *a, *b;
  keel_chan *started;
  int64_t deadline;
  int64_t select_ended;   /* keel_now() just after the select */
  int rc, result;
  int value;
} waiting;

static void select_task(void *arg) {
  waiting *w = arg;
  keel_chan_send(w->started, NULL, KEEL_FOREVER);
  keel_select_case cs[2] = {
      {.chan = w->a, .op = KEEL_SELECT_RECV, .elem = &w->value},
      {.chan = w->b, .op = KEEL_SELECT_RECV, .elem = &w->value},
  };
  w->rc = keel_chan_select(cs, 2, w->deadline);
  w->select_ended = keel_now();
  w->result = w->rc >= 0 ? cs[w->rc].result : 0;
}

static void start_select_task(waiting *w, keel_task **t) {
  w->started = mk(0, 0);
  if (keel_task_spawn(t, select_task, w, NULL) != 0) exit(2);
  keel_chan_recv(w->started, NULL, KEEL_FOREVER);
}

KT_TEST(task_in_select_woken_by_send_close_deadline) {
  /* By a send from this (plain) thread. */
  waiting w = {.a = mk(sizeof(int), 0), .b = mk(sizeof(int), 0), .deadline = KEEL_FOREVER};
  keel_task *t;
  start_select_task(&w, &t);
  KT_CHECK(ct_wait_queued(w.b, true, 1));
  int v = 5;
  KT_CHECK_EQ(keel_chan_send(w.b, &v, KEEL_FOREVER), 0);
  KT_CHECK_EQ(keel_task_join(t, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(w.rc, 1);
  KT_CHECK_EQ(w.value, 5);
  KT_CHECK_EQ(ct_queue_len(w.a, true), 0);
  keel_chan_release(w.started);
  /* By a close. */
  start_select_task(&w, &t);
  KT_CHECK(ct_wait_queued(w.a, true, 1));
  KT_CHECK_EQ(keel_chan_close(w.a), 0);
  KT_CHECK_EQ(keel_task_join(t, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(w.rc, 0);
  KT_CHECK_EQ(w.result, KEEL_ECLOSED);
  KT_CHECK_EQ(ct_queue_len(w.b, true), 0);
  keel_chan_release(w.started);
  keel_chan_release(w.a);
  /* By its deadline (the runtime's timer claims the task's waiter). A
   * deadline that has already passed when the select starts means "do not
   * wait" (KEEL_EAGAIN): on a loaded machine the task may get there that
   * late, so such a round is retried (up to 5, a 20 ms deadline each). */
  w.a = mk(sizeof(int), 0);
  for (int round = 0; round < 5; round++) {
    w.deadline = keel_deadline_in(20 * KEEL_MILLISECOND);
    start_select_task(&w, &t);
    KT_CHECK_EQ(keel_task_join(t, KEEL_FOREVER, NULL), 0);
    keel_chan_release(w.started);
    /* An EAGAIN before the deadline would be a bug: that one fails. */
    if (!(w.rc == KEEL_EAGAIN && w.select_ended >= w.deadline)) break;
  }
  KT_CHECK_EQ(w.rc, KEEL_ETIMEDOUT);
  KT_CHECK(keel_now() >= w.deadline);
  KT_CHECK_EQ(ct_queue_len(w.a, true) + ct_queue_len(w.b, true), 0);
  keel_chan_release(w.a);
  keel_chan_release(w.b);
}

static void recv_from_timer(void *arg) {
  waiting *w = arg;
  keel_timer *t;
  if (keel_timer_after(&t, 2 * KEEL_MILLISECOND) != 0) { w->rc = -100; return; }
  int64_t at = 0;
  w->rc = keel_chan_recv(keel_timer_chan(t), &at, keel_deadline_in(10 * KEEL_SECOND));
  w->value = at > 0;
  keel_timer_free(t);
}

KT_TEST(task_receives_from_a_timer) {
  waiting w = {0};
  keel_task *t;
  KT_CHECK_EQ(keel_task_spawn(&t, recv_from_timer, &w, NULL), 0);
  KT_CHECK_EQ(keel_task_join(t, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(w.rc, 0);
  KT_CHECK_EQ(w.value, 1);
}

typedef struct crowd {
  keel_chan *c;
  _Atomic int closed_seen;
} crowd;

static void wait_for_close(void *arg) {
  crowd *cr = arg;
  int v;
  if (keel_chan_recv(cr->c, &v, KEEL_FOREVER) == KEEL_ECLOSED) atomic_fetch_add(&cr->closed_seen, 1);
}

KT_TEST(close_wakes_thousands_of_parked_tasks) {
  int n = KT_SANITIZED() ? 500 : 5000;
  crowd cr = {.c = mk(sizeof(int), 0)};
  keel_task **t = calloc((size_t)n, sizeof *t);
  for (int i = 0; i < n; i++) KT_CHECK_EQ(keel_task_spawn(&t[i], wait_for_close, &cr, NULL), 0);
  KT_CHECK(ct_wait_queued(cr.c, true, (size_t)n));
  KT_CHECK_EQ(keel_chan_close(cr.c), 0);
  for (int i = 0; i < n; i++) KT_CHECK_EQ(keel_task_join(t[i], KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&cr.closed_seen), n);
  free(t);
  keel_chan_release(cr.c);
}

typedef struct pingpong {
  keel_chan *ping, *pong;
  int n;
  int last;
} pingpong;

static void ponger(void *arg) {
  pingpong *p = arg;
  for (int i = 0; i < p->n; i++) {
    int v;
    keel_chan_recv(p->ping, &v, KEEL_FOREVER);
    v++;
    keel_chan_send(p->pong, &v, KEEL_FOREVER);
  }
}

static void pinger(void *arg) {
  pingpong *p = arg;
  int v = 0;
  for (int i = 0; i < p->n; i++) {
    keel_chan_send(p->ping, &v, KEEL_FOREVER);
    keel_chan_recv(p->pong, &v, KEEL_FOREVER);
  }
  p->last = v;
}

KT_TEST(ping_pong_between_tasks) {
  pingpong p = {.ping = mk(sizeof(int), 0), .pong = mk(sizeof(int), 0),
                .n = KT_SANITIZED() ? 10000 : 100000};
  keel_task *a, *b;
  KT_CHECK_EQ(keel_task_spawn(&a, ponger, &p, NULL), 0);
  KT_CHECK_EQ(keel_task_spawn(&b, pinger, &p, NULL), 0);
  KT_CHECK_EQ(keel_task_join(b, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(keel_task_join(a, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(p.last, p.n);
  keel_chan_release(p.ping);
  keel_chan_release(p.pong);
}

KT_MAIN()
