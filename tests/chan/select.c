/* Select: default case, deadlines, NULL cases, uniform choice, the same
 * channel twice, send and receive on one channel, close during a select,
 * zero-size elements, many cases; on plain threads. */
#include "keel_test.h"

#include "chan_test_util.h"

static keel_chan *mk(size_t elem, size_t cap) {
  keel_chan *c = NULL;
  if (keel_chan_make(&c, elem, cap) != 0) {
    fprintf(stderr, "keel_chan_make failed\n");
    exit(2);
  }
  return c;
}

#define RECV(c, p) {.chan = (c), .op = KEEL_SELECT_RECV, .elem = (p)}
#define SEND(c, p) {.chan = (c), .op = KEEL_SELECT_SEND, .elem = (p)}

KT_TEST(bad_arguments) {
  keel_chan *c = mk(sizeof(int), 1);
  KT_CHECK_EQ(keel_chan_select(NULL, 1, KEEL_NOWAIT), KEEL_EINVAL);
  keel_select_case bad_op[1] = {{.chan = c, .op = 3}};
  KT_CHECK_EQ(keel_chan_select(bad_op, 1, KEEL_NOWAIT), KEEL_EINVAL);
  keel_select_case no_value[1] = {SEND(c, NULL)};
  KT_CHECK_EQ(keel_chan_select(no_value, 1, KEEL_NOWAIT), KEEL_EINVAL);
  KT_CHECK_EQ(keel_chan_len(c), 0);
  keel_chan_release(c);
}

KT_TEST(nothing_ready_is_the_default_case) {
  keel_chan *a = mk(sizeof(int), 0), *b = mk(sizeof(int), 1);
  int x = 1, y;
  KT_CHECK_EQ(keel_chan_send(b, &x, KEEL_NOWAIT), 0);
  keel_select_case cs[2] = {RECV(a, &y), SEND(b, &x)};
  KT_CHECK_EQ(keel_chan_select(cs, 2, KEEL_NOWAIT), KEEL_EAGAIN);
  KT_CHECK_EQ(keel_chan_select(cs, 2, keel_now() - 1), KEEL_EAGAIN);
  KT_CHECK_EQ(ct_queue_len(a, true) + ct_queue_len(b, false), 0);
  keel_chan_release(a);
  keel_chan_release(b);
}

KT_TEST(all_null_cases_wait_for_the_deadline) {
  keel_select_case cs[3] = {RECV(NULL, NULL), SEND(NULL, NULL), RECV(NULL, NULL)};
  KT_CHECK_EQ(keel_chan_select(cs, 3, KEEL_NOWAIT), KEEL_EAGAIN);
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_chan_select(cs, 3, keel_deadline_in(3 * KEEL_MILLISECOND)), KEEL_ETIMEDOUT);
  KT_CHECK(keel_now() - t0 >= 3 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_chan_select(NULL, 0, keel_deadline_in(KEEL_MILLISECOND)), KEEL_ETIMEDOUT);
  KT_CHECK_EQ(keel_chan_select(NULL, 0, KEEL_NOWAIT), KEEL_EAGAIN);
}

KT_TEST(null_cases_are_ignored) {
  keel_chan *c = mk(sizeof(int), 1);
  int v = 5, got = 0;
  KT_CHECK_EQ(keel_chan_send(c, &v, KEEL_NOWAIT), 0);
  keel_select_case cs[3] = {RECV(NULL, NULL), RECV(c, &got), SEND(NULL, &v)};
  KT_CHECK_EQ(keel_chan_select(cs, 3, KEEL_NOWAIT), 1);
  KT_CHECK_EQ(cs[1].result, 0);
  KT_CHECK_EQ(got, 5);
  keel_chan_release(c);
}

KT_TEST(ready_send_and_recv_cases_proceed) {
  keel_chan *in = mk(sizeof(int), 1), *out = mk(sizeof(int), 1);
  int v = 9, got = 0;
  keel_select_case cs[2] = {RECV(in, &got), SEND(out, &v)};
  KT_CHECK_EQ(keel_chan_select(cs, 2, KEEL_FOREVER), 1);  /* only the send can */
  KT_CHECK_EQ(keel_chan_len(out), 1);
  KT_CHECK_EQ(keel_chan_send(in, &v, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(keel_chan_select(cs, 2, KEEL_FOREVER), 0);  /* out is full now */
  KT_CHECK_EQ(got, 9);
  keel_chan_release(in);
  keel_chan_release(out);
}

KT_TEST(choice_among_ready_cases_is_uniform) {
  enum { K = 4 };
  int rounds = KT_SANITIZED() ? 8000 : 40000;
  keel_chan *c[K];
  for (int i = 0; i < K; i++) c[i] = mk(0, (size_t)rounds);
  for (int i = 0; i < K; i++)
    for (int r = 0; r < rounds; r++) keel_chan_send(c[i], NULL, KEEL_NOWAIT);
  keel_select_case cs[K];
  for (int i = 0; i < K; i++) cs[i] = (keel_select_case)RECV(c[i], NULL);
  int hits[K] = {0};
  for (int r = 0; r < rounds; r++) {
    int i = keel_chan_select(cs, K, KEEL_NOWAIT);
    KT_CHECK(i >= 0 && i < K);
    hits[i]++;
  }
  /* Chi-square with 3 degrees of freedom: 16.27 is p = 0.001. */
  double expect = (double)rounds / K, chi = 0;
  for (int i = 0; i < K; i++) chi += (hits[i] - expect) * (hits[i] - expect) / expect;
  fprintf(stderr, "  hits %d %d %d %d, chi2 %.2f\n", hits[0], hits[1], hits[2], hits[3], chi);
  KT_CHECK(chi < 16.27);
  for (int i = 0; i < K; i++) keel_chan_release(c[i]);
}

/* Ready cases among empty ones: the pick must stay uniform among the ready
 * (a scan from a random start would favour case 3, which follows the gap). */
KT_TEST(choice_among_some_ready_cases_is_uniform) {
  enum { K = 5 };
  int rounds = KT_SANITIZED() ? 9000 : 45000;
  const bool ready[K] = {true, true, false, true, false};
  keel_chan *c[K];
  for (int i = 0; i < K; i++) c[i] = mk(0, (size_t)rounds);
  for (int i = 0; i < K; i++)
    for (int r = 0; ready[i] && r < rounds; r++) keel_chan_send(c[i], NULL, KEEL_NOWAIT);
  keel_select_case cs[K];
  for (int i = 0; i < K; i++) cs[i] = (keel_select_case)RECV(c[i], NULL);
  int hits[K] = {0};
  for (int r = 0; r < rounds; r++) {
    int i = keel_chan_select(cs, K, KEEL_NOWAIT);
    KT_CHECK(i >= 0 && i < K && ready[i]);
    if (i >= 0 && i < K) hits[i]++;
  }
  /* Chi-square with 2 degrees of freedom over the 3 ready cases: 13.82 is
   * p = 0.001. */
  double expect = (double)rounds / 3, chi = 0;
  for (int i = 0; i < K; i++)
    if (ready[i]) chi += (hits[i] - expect) * (hits[i] - expect) / expect;
  fprintf(stderr, "  hits %d %d - %d -, chi2 %.2f\n", hits[0], hits[1], hits[3], chi);
  KT_CHECK(chi < 13.82);
  for (int i = 0; i < K; i++) keel_chan_release(c[i]);
}

KT_TEST(same_channel_twice_takes_one_value) {
  keel_chan *c = mk(sizeof(int), 2);
  int v = 4, a = 0, b = 0;
  KT_CHECK_EQ(keel_chan_send(c, &v, KEEL_NOWAIT), 0);
  keel_select_case cs[2] = {RECV(c, &a), RECV(c, &b)};
  int i = keel_chan_select(cs, 2, KEEL_NOWAIT);
  KT_CHECK(i == 0 || i == 1);
  KT_CHECK_EQ(a + b, 4);
  KT_CHECK_EQ(keel_chan_select(cs, 2, KEEL_NOWAIT), KEEL_EAGAIN);
  keel_chan_release(c);
}

typedef struct selector {
  keel_select_case cs[4];
  size_t n;
  int64_t deadline;
  int rc;
} selector;

static void *run_select(void *arg) {
  selector *s = arg;
  s->rc = keel_chan_select(s->cs, s->n, s->deadline);
  return NULL;
}

KT_TEST(same_channel_twice_while_blocked) {
  keel_chan *c = mk(sizeof(int), 0);
  int a = -1, b = -1;
  selector s = {.cs = {RECV(c, &a), RECV(c, &b)}, .n = 2, .deadline = KEEL_FOREVER};
  ct_thread t;
  ct_start(&t, run_select, &s);
  KT_CHECK(ct_wait_queued(c, true, 2));
  int v = 77;
  KT_CHECK_EQ(keel_chan_send(c, &v, KEEL_FOREVER), 0);
  ct_join(&t);
  KT_CHECK(s.rc == 0 || s.rc == 1);
  KT_CHECK_EQ(s.rc == 0 ? a : b, 77);
  KT_CHECK_EQ(s.rc == 0 ? b : a, -1);
  KT_CHECK_EQ(ct_queue_len(c, true), 0);  /* the loser was dequeued */
  KT_CHECK_EQ(keel_chan_send(c, &v, KEEL_NOWAIT), KEEL_EAGAIN);
  keel_chan_release(c);
}

KT_TEST(send_and_recv_on_one_channel) {
  keel_chan *u = mk(sizeof(int), 0), *b = mk(sizeof(int), 1);
  int v = 3, got = 0;
  /* Unbuffered: a select cannot meet itself. */
  keel_select_case cu[2] = {SEND(u, &v), RECV(u, &got)};
  KT_CHECK_EQ(keel_chan_select(cu, 2, KEEL_NOWAIT), KEEL_EAGAIN);
  KT_CHECK_EQ(keel_chan_select(cu, 2, keel_deadline_in(KEEL_MILLISECOND)), KEEL_ETIMEDOUT);
  KT_CHECK_EQ(ct_queue_len(u, true) + ct_queue_len(u, false), 0);
  /* Buffered and empty: only the send can proceed; then only the receive. */
  keel_select_case cb[2] = {SEND(b, &v), RECV(b, &got)};
  KT_CHECK_EQ(keel_chan_select(cb, 2, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(keel_chan_select(cb, 2, KEEL_NOWAIT), 1);
  KT_CHECK_EQ(got, 3);
  /* Blocked on both sides of u: a partner's receive takes the send case. */
  selector s = {.cs = {SEND(u, &v), RECV(u, &got)}, .n = 2, .deadline = KEEL_FOREVER};
  ct_thread t;
  ct_start(&t, run_select, &s);
  KT_CHECK(ct_wait_queued(u, true, 1) && ct_wait_queued(u, false, 1));
  int r = 0;
  KT_CHECK_EQ(keel_chan_recv(u, &r, KEEL_FOREVER), 0);
  ct_join(&t);
  KT_CHECK_EQ(s.rc, 0);
  KT_CHECK_EQ(r, 3);
  /* ... and a partner's send takes the receive case. */
  got = 0;
  ct_start(&t, run_select, &s);
  KT_CHECK(ct_wait_queued(u, true, 1) && ct_wait_queued(u, false, 1));
  int w = 8;
  KT_CHECK_EQ(keel_chan_send(u, &w, KEEL_FOREVER), 0);
  ct_join(&t);
  KT_CHECK_EQ(s.rc, 1);
  KT_CHECK_EQ(got, 8);
  KT_CHECK_EQ(ct_queue_len(u, true) + ct_queue_len(u, false), 0);
  keel_chan_release(u);
  keel_chan_release(b);
}

KT_TEST(closed_channels_are_ready_cases) {
  keel_chan *a = mk(sizeof(int), 0), *b = mk(sizeof(int), 0);
  int v = 1, got = 5;
  KT_CHECK_EQ(keel_chan_close(b), 0);
  keel_select_case recv_closed[2] = {RECV(a, &v), RECV(b, &got)};
  KT_CHECK_EQ(keel_chan_select(recv_closed, 2, KEEL_FOREVER), 1);
  KT_CHECK_EQ(recv_closed[1].result, KEEL_ECLOSED);
  KT_CHECK_EQ(got, 0);
  keel_select_case send_closed[2] = {RECV(a, &v), SEND(b, &v)};
  KT_CHECK_EQ(keel_chan_select(send_closed, 2, KEEL_FOREVER), 1);
  KT_CHECK_EQ(send_closed[1].result, KEEL_ECLOSED);
  keel_chan_release(a);
  keel_chan_release(b);
}

KT_TEST(close_during_select_wakes_it) {
  for (int sending = 0; sending < 2; sending++) {
    keel_chan *a = mk(sizeof(int), 0), *b = mk(sizeof(int), 0);
    int x = 1, y = 1;
    selector s = {.n = 2, .deadline = KEEL_FOREVER};
    s.cs[0] = (keel_select_case)RECV(a, &x);
    s.cs[1] = sending ? (keel_select_case)SEND(b, &y) : (keel_select_case)RECV(b, &y);
    ct_thread t;
    ct_start(&t, run_select, &s);
    KT_CHECK(ct_wait_queued(b, !sending, 1));
    KT_CHECK_EQ(keel_chan_close(b), 0);
    ct_join(&t);
    KT_CHECK_EQ(s.rc, 1);
    KT_CHECK_EQ(s.cs[1].result, KEEL_ECLOSED);
    KT_CHECK_EQ(ct_queue_len(a, true), 0);
    keel_chan_release(a);
    keel_chan_release(b);
  }
}

KT_TEST(blocked_select_times_out_cleanly) {
  keel_chan *a = mk(sizeof(int), 0), *b = mk(sizeof(int), 1);
  int x, y = 2;
  KT_CHECK_EQ(keel_chan_send(b, &y, KEEL_NOWAIT), 0);
  keel_select_case cs[2] = {RECV(a, &x), SEND(b, &y)};
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_chan_select(cs, 2, keel_deadline_in(4 * KEEL_MILLISECOND)), KEEL_ETIMEDOUT);
  KT_CHECK(keel_now() - t0 >= 4 * KEEL_MILLISECOND);
  KT_CHECK_EQ(ct_queue_len(a, true) + ct_queue_len(b, false), 0);
  KT_CHECK_EQ(keel_chan_len(b), 1);
  keel_chan_release(a);
  keel_chan_release(b);
}

KT_TEST(blocked_select_send_hands_off) {
  keel_chan *c[3];
  int v[3] = {10, 11, 12};
  selector s = {.n = 3, .deadline = KEEL_FOREVER};
  for (int i = 0; i < 3; i++) {
    c[i] = mk(sizeof(int), 0);
    s.cs[i] = (keel_select_case)SEND(c[i], &v[i]);
  }
  ct_thread t;
  ct_start(&t, run_select, &s);
  KT_CHECK(ct_wait_queued(c[2], false, 1));
  int got = 0;
  KT_CHECK_EQ(keel_chan_recv(c[2], &got, KEEL_FOREVER), 0);
  ct_join(&t);
  KT_CHECK_EQ(s.rc, 2);
  KT_CHECK_EQ(got, 12);
  for (int i = 0; i < 3; i++) {
    KT_CHECK_EQ(ct_queue_len(c[i], false), 0);
    keel_chan_release(c[i]);
  }
}

KT_TEST(zero_size_elements) {
  keel_chan *a = mk(0, 0), *b = mk(0, 1);
  keel_select_case cs[2] = {RECV(a, NULL), SEND(b, NULL)};
  KT_CHECK_EQ(keel_chan_select(cs, 2, KEEL_NOWAIT), 1);
  KT_CHECK_EQ(keel_chan_len(b), 1);
  selector s = {.cs = {RECV(a, NULL), RECV(NULL, NULL)}, .n = 2, .deadline = KEEL_FOREVER};
  ct_thread t;
  ct_start(&t, run_select, &s);
  KT_CHECK(ct_wait_queued(a, true, 1));
  KT_CHECK_EQ(keel_chan_send(a, NULL, KEEL_FOREVER), 0);
  ct_join(&t);
  KT_CHECK_EQ(s.rc, 0);
  keel_chan_release(a);
  keel_chan_release(b);
}

KT_TEST(many_cases_use_the_heap_path) {
  enum { N = 40 };
  keel_chan *c[N];
  keel_select_case cs[N];
  int got = -1;
  for (int i = 0; i < N; i++) {
    c[i] = mk(sizeof(int), 1);
    cs[i] = (keel_select_case)RECV(c[i], &got);
  }
  KT_CHECK_EQ(keel_chan_select(cs, N, KEEL_NOWAIT), KEEL_EAGAIN);
  int v = 31;
  KT_CHECK_EQ(keel_chan_send(c[31], &v, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(keel_chan_select(cs, N, KEEL_FOREVER), 31);
  KT_CHECK_EQ(got, 31);
  KT_CHECK_EQ(keel_chan_select(cs, N, keel_deadline_in(KEEL_MILLISECOND)), KEEL_ETIMEDOUT);
  for (int i = 0; i < N; i++) {
    KT_CHECK_EQ(ct_queue_len(c[i], true), 0);
    keel_chan_release(c[i]);
  }
}

typedef struct big_select {
  keel_select_case cs[40];
  int rc;
} big_select;

static void *run_big_select(void *arg) {
  big_select *b = arg;
  b->rc = keel_chan_select(b->cs, 40, KEEL_FOREVER);
  return NULL;
}

KT_TEST(many_cases_block_and_wake) {
  keel_chan *c[40];
  big_select b;
  int got = -1;
  for (int i = 0; i < 40; i++) {
    c[i] = mk(sizeof(int), 0);
    b.cs[i] = (keel_select_case)RECV(c[i], &got);
  }
  b.cs[5].chan = NULL;  /* a NULL case among them */
  ct_thread t;
  ct_start(&t, run_big_select, &b);
  KT_CHECK(ct_wait_queued(c[39], true, 1));
  int v = 17;
  KT_CHECK_EQ(keel_chan_send(c[17], &v, KEEL_FOREVER), 0);
  ct_join(&t);
  KT_CHECK_EQ(b.rc, 17);
  KT_CHECK_EQ(got, 17);
  for (int i = 0; i < 40; i++) {
    KT_CHECK_EQ(ct_queue_len(c[i], true), 0);
    keel_chan_release(c[i]);
  }
}

/* Two threads meet only through selects over the same unbuffered channels:
 * every value sent arrives once. */
typedef struct duel {
  keel_chan *c[4];
  int n;
  long long sum;
  int bad;
} duel;

static void *duel_sender(void *arg) {
  duel *d = arg;
  for (int i = 1; i <= d->n; i++) {
    int v = i;
    keel_select_case cs[4];
    for (int k = 0; k < 4; k++) cs[k] = (keel_select_case)SEND(d->c[k], &v);
    if (keel_chan_select(cs, 4, KEEL_FOREVER) < 0) d->bad++;
  }
  return NULL;
}

KT_TEST(select_meets_select) {
  duel d = {.n = KT_SANITIZED() ? 5000 : 50000};
  for (int k = 0; k < 4; k++) d.c[k] = mk(sizeof(int), 0);
  ct_thread t;
  ct_start(&t, duel_sender, &d);
  long long sum = 0;
  for (int i = 0; i < d.n; i++) {
    int v = 0;
    keel_select_case cs[4];
    for (int k = 0; k < 4; k++) cs[k] = (keel_select_case)RECV(d.c[k], &v);
    int r = keel_chan_select(cs, 4, KEEL_FOREVER);
    KT_CHECK(r >= 0 && r < 4);
    KT_CHECK_EQ(cs[r].result, 0);
    KT_CHECK_EQ(v, i + 1);  /* one sender: values arrive in order */
    sum += v;
  }
  ct_join(&t);
  KT_CHECK_EQ(d.bad, 0);
  KT_CHECK_EQ(sum, (long long)d.n * (d.n + 1) / 2);
  for (int k = 0; k < 4; k++) keel_chan_release(d.c[k]);
}

KT_MAIN()
