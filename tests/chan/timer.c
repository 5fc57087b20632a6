/* Channel timers: after fires once, tick repeats and drops ticks for a slow
 * receiver, stop before and after firing, reset, select with a timeout, and
 * 100,000 armed timers (lateness reported and checked with slack). */
#include <stdlib.h>

#include "keel_test.h"

#include "chan_test_util.h"
#include "keel/timer.h"

static const int64_t MS = KEEL_MILLISECOND;
static const int64_t GUARD = 10 * KEEL_SECOND;  /* a hang guard, never a timing check */

KT_TEST(bad_arguments) {
  keel_timer *t = (keel_timer *)1;
  KT_CHECK_EQ(keel_timer_after(NULL, MS), KEEL_EINVAL);
  KT_CHECK_EQ(keel_timer_tick(NULL, MS), KEEL_EINVAL);
  KT_CHECK_EQ(keel_timer_tick(&t, 0), KEEL_EINVAL);
  KT_CHECK(t == NULL);
  KT_CHECK_EQ(keel_timer_tick(&t, -5), KEEL_EINVAL);
  KT_CHECK(keel_timer_chan(NULL) == NULL);
  KT_CHECK(!keel_timer_stop(NULL));
  KT_CHECK_EQ(keel_timer_reset(NULL, MS), KEEL_EINVAL);
  keel_timer_free(NULL);
}

KT_TEST(after_fires_once_not_early) {
  keel_timer *t;
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_timer_after(&t, 3 * MS), 0);
  keel_chan *c = keel_timer_chan(t);
  KT_CHECK_EQ(keel_chan_cap(c), 1);
  KT_CHECK_EQ(keel_chan_elem_size(c), sizeof(int64_t));
  int64_t fired = 0;
  KT_CHECK_EQ(keel_chan_recv(c, &fired, keel_deadline_in(GUARD)), 0);
  KT_CHECK(fired >= t0 + 3 * MS);
  KT_CHECK(fired <= keel_now());
  KT_CHECK_EQ(keel_chan_recv(c, &fired, keel_deadline_in(10 * MS)), KEEL_ETIMEDOUT);
  KT_CHECK(!keel_timer_stop(t));  /* already fired */
  keel_timer_free(t);
}

KT_TEST(after_zero_or_negative_fires_at_once) {
  keel_timer *a, *b;
  KT_CHECK_EQ(keel_timer_after(&a, 0), 0);
  KT_CHECK_EQ(keel_timer_after(&b, -KEEL_HOUR), 0);
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(a), NULL, keel_deadline_in(GUARD)), 0);
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(b), NULL, keel_deadline_in(GUARD)), 0);
  keel_timer_free(a);
  keel_timer_free(b);
}

KT_TEST(tick_repeats) {
  keel_timer *t;
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_timer_tick(&t, 2 * MS), 0);
  int64_t prev = t0;
  for (int i = 0; i < 5; i++) {
    int64_t v = 0;
    KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), &v, keel_deadline_in(GUARD)), 0);
    KT_CHECK(v > prev);
    prev = v;
  }
  KT_CHECK(prev >= t0 + 10 * MS);  /* five periods at least */
  KT_CHECK(keel_timer_stop(t));
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), NULL, keel_deadline_in(10 * MS)), KEEL_ETIMEDOUT);
  keel_timer_free(t);
}

KT_TEST(tick_drops_ticks_for_a_slow_receiver) {
  keel_timer *t, *wait;
  KT_CHECK_EQ(keel_timer_tick(&t, MS), 0);
  KT_CHECK_EQ(keel_timer_after(&wait, 20 * MS), 0);  /* be slow for ~20 periods */
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(wait), NULL, keel_deadline_in(GUARD)), 0);
  KT_CHECK_EQ(keel_chan_len(keel_timer_chan(t)), 1);  /* one tick kept, the rest dropped */
  int64_t a = 0, b = 0;
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), &a, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), &b, keel_deadline_in(GUARD)), 0);
  KT_CHECK(b > a);
  keel_timer_free(t);
  keel_timer_free(wait);
}

KT_TEST(stop_before_fire) {
  keel_timer *t;
  KT_CHECK_EQ(keel_timer_after(&t, 30 * MS), 0);
  KT_CHECK(keel_timer_stop(t));
  KT_CHECK(!keel_timer_stop(t));  /* twice: no longer armed */
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), NULL, keel_deadline_in(60 * MS)), KEEL_ETIMEDOUT);
  keel_timer_free(t);
}

KT_TEST(stop_after_fire_leaves_no_stale_value) {
  keel_timer *t;
  KT_CHECK_EQ(keel_timer_after(&t, 0), 0);
  int64_t give_up = keel_deadline_in(GUARD);
  while (keel_chan_len(keel_timer_chan(t)) == 0 && keel_now() < give_up) sched_yield();
  KT_CHECK_EQ(keel_chan_len(keel_timer_chan(t)), 1);
  KT_CHECK(keel_timer_stop(t));  /* fired, but its value was not received */
  KT_CHECK(!keel_timer_stop(t));
  KT_CHECK_EQ(keel_chan_len(keel_timer_chan(t)), 0);
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), NULL, KEEL_NOWAIT), KEEL_EAGAIN);
  keel_timer_free(t);
}

KT_TEST(reset_rearms) {
  keel_timer *t;
  KT_CHECK_EQ(keel_timer_after(&t, KEEL_HOUR), 0);
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_timer_reset(t, 2 * MS), 0);  /* sooner */
  int64_t v = 0;
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), &v, keel_deadline_in(GUARD)), 0);
  KT_CHECK(v >= t0 + 2 * MS);
  KT_CHECK_EQ(keel_timer_reset(t, 1 * MS), 0);  /* after it fired */
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), &v, keel_deadline_in(GUARD)), 0);
  KT_CHECK_EQ(keel_timer_reset(t, KEEL_HOUR), 0);  /* later */
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), &v, keel_deadline_in(10 * MS)), KEEL_ETIMEDOUT);
  KT_CHECK(keel_timer_stop(t));
  KT_CHECK(!keel_timer_stop(t));
  KT_CHECK_EQ(keel_timer_reset(t, 0), 0);  /* a stopped timer can be reset */
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), &v, keel_deadline_in(GUARD)), 0);
  keel_timer_free(t);
}

KT_TEST(reset_of_a_ticker_sets_its_period) {
  keel_timer *t;
  KT_CHECK_EQ(keel_timer_tick(&t, KEEL_HOUR), 0);
  KT_CHECK_EQ(keel_timer_reset(t, 0), KEEL_EINVAL);
  KT_CHECK_EQ(keel_timer_reset(t, 2 * MS), 0);  /* now every 2 ms */
  int64_t a = 0, b = 0;
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), &a, keel_deadline_in(GUARD)), 0);
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), &b, keel_deadline_in(GUARD)), 0);
  KT_CHECK(b > a);
  KT_CHECK_EQ(keel_timer_reset(t, KEEL_HOUR), 0);  /* and back to hourly */
  KT_CHECK_EQ(keel_chan_len(keel_timer_chan(t)), 0);
  KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(t), NULL, keel_deadline_in(10 * MS)), KEEL_ETIMEDOUT);
  KT_CHECK(keel_timer_stop(t));
  keel_timer_free(t);
}

KT_TEST(timer_in_a_select_times_out_work) {
  keel_chan *work;
  KT_CHECK_EQ(keel_chan_make(&work, sizeof(int), 0), 0);
  keel_timer *t;
  KT_CHECK_EQ(keel_timer_after(&t, 2 * MS), 0);
  int job;
  keel_select_case cs[2] = {
      {.chan = work, .op = KEEL_SELECT_RECV, .elem = &job},
      {.chan = keel_timer_chan(t), .op = KEEL_SELECT_RECV, .elem = NULL},
  };
  KT_CHECK_EQ(keel_chan_select(cs, 2, keel_deadline_in(GUARD)), 1);
  KT_CHECK_EQ(cs[1].result, 0);
  keel_timer_free(t);
  keel_chan_release(work);
}

KT_TEST(free_keeps_a_retained_channel) {
  keel_timer *t;
  KT_CHECK_EQ(keel_timer_after(&t, 5 * MS), 0);
  keel_chan *c = keel_chan_retain(keel_timer_chan(t));
  keel_timer_free(t);  /* stops it, unless a loaded machine let it fire first */
  int64_t freed = keel_now();
  /* Waits past the due time: a freed timer never sends, so a value, if
   * any, carries a fire time from before the free. */
  int64_t fired = 0;
  int rc = keel_chan_recv(c, &fired, keel_deadline_in(20 * MS));
  if (rc == 0) KT_CHECK(fired <= freed);
  else KT_CHECK_EQ(rc, KEEL_ETIMEDOUT);
  keel_chan_release(c);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* 100,000 one-shot timers armed at once, fire times spread over 0.5 s; every
 * other one is stopped (nobody receives before: each stop must report that it
 * prevented a delivery, even when a loaded machine let the timer fire first).
 * Each timer not stopped must deliver once; lateness is the fire time on the
 * channel minus the time it was due. */
KT_TEST(hundred_thousand_timers) {
  int n = KT_SANITIZED() ? 20000 : 100000;
  keel_timer **ts = calloc((size_t)n, sizeof *ts);
  int64_t *due = calloc((size_t)n, sizeof *due);
  int64_t *late = calloc((size_t)n, sizeof *late);
  bool *stopped = calloc((size_t)n, sizeof *stopped);
  KT_CHECK(ts && due && late && stopped);
  /* The first fires after arming is over (it is slow under the sanitizers). */
  int64_t spread = 500 * MS, base = (KT_SANITIZED() ? 1000 : 400) * MS;
  int64_t arm0 = keel_now();
  for (int i = 0; i < n; i++) {
    int64_t d = base + spread * i / n;
    int64_t now = keel_now();
    KT_CHECK_EQ(keel_timer_after(&ts[i], d), 0);
    due[i] = now + d;  /* the timer's own reading is at most this late */
  }
  int64_t armed = keel_now() - arm0;
  int nstopped = 0;
  for (int i = 1; i < n; i += 2) nstopped += stopped[i] = keel_timer_stop(ts[i]);
  KT_CHECK_EQ(nstopped, n / 2);
  int nlate = 0;
  for (int i = 0; i < n; i++) {
    if (stopped[i]) continue;
    int64_t v = 0;
    KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(ts[i]), &v, keel_deadline_in(GUARD)), 0);
    KT_CHECK(v >= due[i] - 2 * KEEL_MICROSECOND);
    late[nlate++] = v - due[i];
  }
  for (int i = 0; i < n; i++) {
    if (!stopped[i]) continue;
    KT_CHECK_EQ(keel_chan_recv(keel_timer_chan(ts[i]), NULL, KEEL_NOWAIT), KEEL_EAGAIN);
  }
  qsort(late, (size_t)nlate, sizeof *late, cmp_i64);
  int64_t p50 = late[nlate / 2], p99 = late[nlate * 99 / 100], max = late[nlate - 1];
  fprintf(stderr, "  %d timers armed in %.1f ms (%.0f ns each), %d stopped; lateness of %d fired: "
          "p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", n, (double)armed / 1e6,
          (double)armed / n, nstopped, nlate, (double)p50 / 1e6, (double)p99 / 1e6, (double)max / 1e6);
  /* Within a millisecond on an idle machine; the bound leaves room for a
   * loaded 2-core CI box and for the sanitizers. */
  KT_CHECK(p50 < (KT_SANITIZED() ? 50 : 5) * MS);
  for (int i = 0; i < n; i++) keel_timer_free(ts[i]);
  free(ts);
  free(due);
  free(late);
  free(stopped);
}

KT_MAIN()
