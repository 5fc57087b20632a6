/* Channels: make, send, receive, close, len/cap, references, error codes,
 * on plain threads (tasks have their own file, tasks.c). */
#include "keel_test.h"

#include "chan_test_util.h"

KT_TEST(make_rejects_bad_arguments) {
  keel_chan *c = (keel_chan *)1;
  KT_CHECK_EQ(keel_chan_make(NULL, 8, 1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_chan_make(&c, SIZE_MAX / 2, 4), KEEL_EINVAL);
  KT_CHECK(c == NULL);
  KT_CHECK_EQ(keel_chan_make(&c, 8, SIZE_MAX), KEEL_EINVAL);
}

KT_TEST(null_channel_is_einval_not_a_crash) {
  int v = 1;
  KT_CHECK_EQ(keel_chan_send(NULL, &v, KEEL_NOWAIT), KEEL_EINVAL);
  KT_CHECK_EQ(keel_chan_recv(NULL, &v, KEEL_NOWAIT), KEEL_EINVAL);
  KT_CHECK_EQ(keel_chan_close(NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_chan_len(NULL), 0);
  KT_CHECK_EQ(keel_chan_cap(NULL), 0);
  KT_CHECK_EQ(keel_chan_elem_size(NULL), 0);
  KT_CHECK(!keel_chan_is_closed(NULL));
  KT_CHECK(keel_chan_retain(NULL) == NULL);
  keel_chan_release(NULL);
}

KT_TEST(send_needs_a_value_unless_elements_are_empty) {
  keel_chan *c, *z;
  KT_CHECK_EQ(keel_chan_make(&c, sizeof(int), 1), 0);
  KT_CHECK_EQ(keel_chan_send(c, NULL, KEEL_NOWAIT), KEEL_EINVAL);
  KT_CHECK_EQ(keel_chan_len(c), 0);
  KT_CHECK_EQ(keel_chan_make(&z, 0, 3), 0);
  for (int i = 0; i < 3; i++) KT_CHECK_EQ(keel_chan_send(z, NULL, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(keel_chan_send(z, NULL, KEEL_NOWAIT), KEEL_EAGAIN);
  KT_CHECK_EQ(keel_chan_len(z), 3);
  KT_CHECK_EQ(keel_chan_recv(z, NULL, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(keel_chan_len(z), 2);
  keel_chan_release(c);
  keel_chan_release(z);
}

KT_TEST(buffered_is_fifo_with_len_and_cap) {
  keel_chan *c;
  KT_CHECK_EQ(keel_chan_make(&c, sizeof(int), 4), 0);
  KT_CHECK_EQ(keel_chan_cap(c), 4);
  KT_CHECK_EQ(keel_chan_elem_size(c), sizeof(int));
  for (int round = 0; round < 3; round++) {  /* wraps the ring */
    for (int i = 0; i < 4; i++) KT_CHECK_EQ(keel_chan_send(c, &i, KEEL_NOWAIT), 0);
    int extra = 99;
    KT_CHECK_EQ(keel_chan_send(c, &extra, KEEL_NOWAIT), KEEL_EAGAIN);
    KT_CHECK_EQ(keel_chan_len(c), 4);
    for (int i = 0; i < 3; i++) {
      int v = -1;
      KT_CHECK_EQ(keel_chan_recv(c, &v, KEEL_NOWAIT), 0);
      KT_CHECK_EQ(v, i);
    }
    int v = -1;
    KT_CHECK_EQ(keel_chan_recv(c, &v, KEEL_NOWAIT), 0);
    KT_CHECK_EQ(v, 3);
    KT_CHECK_EQ(keel_chan_recv(c, &v, KEEL_NOWAIT), KEEL_EAGAIN);
    KT_CHECK_EQ(keel_chan_len(c), 0);
    int one = 1;
    KT_CHECK_EQ(keel_chan_send(c, &one, KEEL_NOWAIT), 0);  /* shift the ring */
    KT_CHECK_EQ(keel_chan_recv(c, NULL, KEEL_NOWAIT), 0);  /* NULL discards */
  }
  keel_chan_release(c);
}

KT_TEST(unbuffered_without_partner_would_block) {
  keel_chan *c;
  int v = 7;
  KT_CHECK_EQ(keel_chan_make(&c, sizeof v, 0), 0);
  KT_CHECK_EQ(keel_chan_cap(c), 0);
  KT_CHECK_EQ(keel_chan_send(c, &v, KEEL_NOWAIT), KEEL_EAGAIN);
  KT_CHECK_EQ(keel_chan_recv(c, &v, KEEL_NOWAIT), KEEL_EAGAIN);
  /* A deadline already in the past acts as KEEL_NOWAIT. */
  KT_CHECK_EQ(keel_chan_send(c, &v, keel_now() - 1), KEEL_EAGAIN);
  KT_CHECK_EQ(keel_chan_recv(c, &v, keel_now() - KEEL_SECOND), KEEL_EAGAIN);
  keel_chan_release(c);
}

KT_TEST(blocking_calls_time_out_and_leave_no_entry) {
  keel_chan *c;
  int v = 1;
  KT_CHECK_EQ(keel_chan_make(&c, sizeof v, 0), 0);
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_chan_recv(c, &v, keel_deadline_in(5 * KEEL_MILLISECOND)), KEEL_ETIMEDOUT);
  KT_CHECK(keel_now() - t0 >= 5 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_chan_send(c, &v, keel_deadline_in(2 * KEEL_MILLISECOND)), KEEL_ETIMEDOUT);
  KT_CHECK_EQ(ct_queue_len(c, true), 0);
  KT_CHECK_EQ(ct_queue_len(c, false), 0);
  KT_CHECK_EQ(keel_chan_send(c, &v, KEEL_NOWAIT), KEEL_EAGAIN);
  keel_chan_release(c);
}

typedef struct pump {
  keel_chan *c;
  int n;
  int bad;
} pump;

static void *recv_in_order(void *arg) {
  pump *p = arg;
  for (int i = 0; i < p->n; i++) {
    int v = -1;
    if (keel_chan_recv(p->c, &v, KEEL_FOREVER) != 0 || v != i) p->bad++;
  }
  return NULL;
}

static void check_pump(size_t capacity, int n) {
  keel_chan *c;
  if (keel_chan_make(&c, sizeof(int), capacity) != 0) { kt_failed_now = 1; return; }
  pump p = {.c = c, .n = n};
  ct_thread t;
  ct_start(&t, recv_in_order, &p);
  int rc = 0;
  for (int i = 0; i < n; i++) rc |= keel_chan_send(c, &i, KEEL_FOREVER);
  ct_join(&t);
  if (rc != 0 || p.bad != 0) {
    fprintf(stderr, "  capacity %zu: rc %d, %d bad values\n", capacity, rc, p.bad);
    kt_failed_now = 1;
  }
  keel_chan_release(c);
}

KT_TEST(values_flow_in_order_between_threads) {
  int n = KT_SANITIZED() ? 20000 : 100000;
  check_pump(0, n);
  check_pump(1, n);
  check_pump(64, n);
}

static void *send_one(void *arg) {
  pump *p = arg;
  int v = p->n;
  if (keel_chan_send(p->c, &v, KEEL_FOREVER) != 0) p->bad++;
  return NULL;
}

KT_TEST(blocked_receiver_gets_value_straight) {
  keel_chan *c;
  KT_CHECK_EQ(keel_chan_make(&c, sizeof(int), 0), 0);
  pump p = {.c = c, .n = 1};
  ct_thread t;
  ct_start(&t, recv_in_order, &p);  /* expects value 0 */
  KT_CHECK(ct_wait_queued(c, true, 1));
  int zero = 0;
  KT_CHECK_EQ(keel_chan_send(c, &zero, KEEL_NOWAIT), 0);  /* a receiver waits */
  ct_join(&t);
  KT_CHECK_EQ(p.bad, 0);
  keel_chan_release(c);
}

KT_TEST(full_buffer_takes_the_blocked_senders_value_in_order) {
  keel_chan *c;
  KT_CHECK_EQ(keel_chan_make(&c, sizeof(int), 2), 0);
  int a = 1, b = 2;
  KT_CHECK_EQ(keel_chan_send(c, &a, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(keel_chan_send(c, &b, KEEL_NOWAIT), 0);
  pump p = {.c = c, .n = 3};
  ct_thread t;
  ct_start(&t, send_one, &p);  /* sends 3, blocks: the buffer is full */
  KT_CHECK(ct_wait_queued(c, false, 1));
  for (int want = 1; want <= 3; want++) {
    int v = 0;
    KT_CHECK_EQ(keel_chan_recv(c, &v, KEEL_NOWAIT), 0);
    KT_CHECK_EQ(v, want);
  }
  ct_join(&t);
  KT_CHECK_EQ(p.bad, 0);
  KT_CHECK_EQ(keel_chan_len(c), 0);
  keel_chan_release(c);
}

KT_TEST(close_drains_then_reports_closed) {
  keel_chan *c;
  KT_CHECK_EQ(keel_chan_make(&c, sizeof(int), 4), 0);
  int a = 10, b = 20;
  KT_CHECK_EQ(keel_chan_send(c, &a, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(keel_chan_send(c, &b, KEEL_NOWAIT), 0);
  KT_CHECK(!keel_chan_is_closed(c));
  KT_CHECK_EQ(keel_chan_close(c), 0);
  KT_CHECK(keel_chan_is_closed(c));
  KT_CHECK_EQ(keel_chan_close(c), KEEL_ECLOSED);
  KT_CHECK_EQ(keel_chan_send(c, &a, KEEL_NOWAIT), KEEL_ECLOSED);
  KT_CHECK_EQ(keel_chan_send(c, &a, KEEL_FOREVER), KEEL_ECLOSED);
  int v = 0;
  KT_CHECK_EQ(keel_chan_recv(c, &v, KEEL_FOREVER), 0);
  KT_CHECK_EQ(v, 10);
  KT_CHECK_EQ(keel_chan_recv(c, &v, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(v, 20);
  v = 5;
  KT_CHECK_EQ(keel_chan_recv(c, &v, KEEL_FOREVER), KEEL_ECLOSED);
  KT_CHECK_EQ(v, 0);  /* the zero value, as in Go */
  KT_CHECK_EQ(keel_chan_recv(c, NULL, KEEL_NOWAIT), KEEL_ECLOSED);
  KT_CHECK_EQ(keel_chan_len(c), 0);
  keel_chan_release(c);
}

typedef struct blocked {
  keel_chan *c;
  bool sender;
  int rc;
  int value;
} blocked;

static void *block_on(void *arg) {
  blocked *b = arg;
  b->value = 42;
  if (b->sender)
    b->rc = keel_chan_send(b->c, &b->value, KEEL_FOREVER);
  else
    b->rc = keel_chan_recv(b->c, &b->value, KEEL_FOREVER);
  return NULL;
}

static void check_close_wakes(bool senders) {
  enum { N = 6 };
  keel_chan *c;
  if (keel_chan_make(&c, sizeof(int), 0) != 0) { kt_failed_now = 1; return; }
  blocked b[N];
  ct_thread t[N];
  for (int i = 0; i < N; i++) {
    b[i] = (blocked){.c = c, .sender = senders, .rc = 1};
    ct_start(&t[i], block_on, &b[i]);
  }
  if (!ct_wait_queued(c, !senders, N)) kt_failed_now = 1;
  if (keel_chan_close(c) != 0) kt_failed_now = 1;
  for (int i = 0; i < N; i++) {
    ct_join(&t[i]);
    if (b[i].rc != KEEL_ECLOSED) kt_failed_now = 1;
    if (!senders && b[i].value != 0) kt_failed_now = 1;
  }
  if (ct_queue_len(c, true) + ct_queue_len(c, false) != 0) kt_failed_now = 1;
  keel_chan_release(c);
}

KT_TEST(close_wakes_every_blocked_receiver) { check_close_wakes(false); }
KT_TEST(close_wakes_every_blocked_sender) { check_close_wakes(true); }

KT_TEST(references_keep_the_channel) {
  keel_chan *c;
  KT_CHECK_EQ(keel_chan_make(&c, sizeof(int), 1), 0);
  KT_CHECK(keel_chan_retain(c) == c);
  keel_chan_release(c);
  int v = 3;
  KT_CHECK_EQ(keel_chan_send(c, &v, KEEL_NOWAIT), 0);  /* still alive */
  keel_chan_release(c);  /* the last one frees it (ASan checks) */
}

KT_TEST(large_elements_are_copied_whole) {
  typedef struct { unsigned char bytes[1000]; } big;
  keel_chan *c;
  KT_CHECK_EQ(keel_chan_make(&c, sizeof(big), 2), 0);
  big in, out;
  for (int i = 0; i < 1000; i++) in.bytes[i] = (unsigned char)(i * 7);
  KT_CHECK_EQ(keel_chan_send(c, &in, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(keel_chan_recv(c, &out, KEEL_NOWAIT), 0);
  KT_CHECK(memcmp(&in, &out, sizeof in) == 0);
  keel_chan_release(c);
}

KT_MAIN()
