/* Pulses: non-blocking, buffer of one, sequence and progress carried, close,
 * and an injected tick source driving the waiting helpers deterministically. */
#include "keel/heartbeat.h"
#include "keel/task.h"
#include "keel_test.h"
#include "keel_test_tasks.h"

KT_TEST(pulse_never_blocks_without_listener) {
  keel_heartbeat *hb;
  KT_CHECK_EQ(keel_heartbeat_make(&hb, 0), 0);
  KT_CHECK(keel_heartbeat_tick(hb) == NULL);
  KT_CHECK_EQ(keel_heartbeat_pulse(hb), 0);          /* fills the buffer of one */
  for (int i = 0; i < 10000; i++)
    KT_CHECK_EQ(keel_heartbeat_pulse(hb), KEEL_EAGAIN); /* dropped, never blocks */
  keel_pulse p;
  KT_CHECK_EQ(keel_chan_recv(keel_heartbeat_chan(hb), &p, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(p.seq, 1);                             /* the oldest one waited */
  KT_CHECK_EQ(keel_chan_recv(keel_heartbeat_chan(hb), &p, KEEL_NOWAIT), KEEL_EAGAIN);
  keel_heartbeat_free(hb);
}

KT_TEST(pulse_carries_progress) {
  keel_heartbeat *hb;
  KT_CHECK_EQ(keel_heartbeat_make(&hb, 0), 0);
  keel_chan *c = keel_chan_retain(keel_heartbeat_chan(hb));
  keel_pulse p;
  for (uint64_t unit = 0; unit < 5; unit++) {
    KT_CHECK_EQ(keel_heartbeat_pulse(hb), 0);
    KT_CHECK_EQ(keel_chan_recv(c, &p, KEEL_NOWAIT), 0);
    KT_CHECK_EQ(p.progress, unit);
    KT_CHECK(p.at > 0 && p.at <= keel_now());
    keel_heartbeat_add_progress(hb, 1);
  }
  KT_CHECK_EQ(keel_heartbeat_progress(hb), 5);
  keel_heartbeat_free(hb);   /* closes: the holder of c sees the end */
  KT_CHECK_EQ(keel_chan_recv(c, &p, KEEL_NOWAIT), KEEL_ECLOSED);
  keel_chan_release(c);
}

KT_TEST(close_is_idempotent) {
  keel_heartbeat *hb;
  KT_CHECK_EQ(keel_heartbeat_make(&hb, 0), 0);
  KT_CHECK_EQ(keel_heartbeat_close(hb), 0);
  KT_CHECK_EQ(keel_heartbeat_close(hb), 0);
  KT_CHECK_EQ(keel_heartbeat_pulse(hb), KEEL_ECLOSED);
  keel_heartbeat_free(hb);
}

KT_TEST(bad_arguments) {
  keel_heartbeat *hb = NULL;
  KT_CHECK_EQ(keel_heartbeat_make(NULL, 0), KEEL_EINVAL);
  KT_CHECK_EQ(keel_heartbeat_make(&hb, -1), KEEL_EINVAL);
  keel_chan *wrong;
  KT_CHECK_EQ(keel_chan_make(&wrong, 1, 1), 0);
  keel_heartbeat_options o = {.tick = wrong};
  KT_CHECK_EQ(keel_heartbeat_make_opts(&hb, &o), KEEL_EINVAL);
  keel_chan_release(wrong);
  KT_CHECK_EQ(keel_heartbeat_pulse(NULL), KEEL_EINVAL);
  keel_heartbeat_free(NULL);
}

/* A fake tick source: each element we put in is one tick. send_result must
 * pulse once per tick while it waits, and deliver the result. */
struct sender {
  keel_heartbeat *hb;
  keel_chan *results;
  int rc;
};

static void send_task(void *p) {
  struct sender *s = p;
  int v = 42;
  s->rc = keel_heartbeat_send_result(s->hb, NULL, s->results, &v);
}

KT_TEST(send_result_services_pulses_while_waiting) {
  keel_chan *tick, *results;
  KT_CHECK_EQ(keel_chan_make(&tick, sizeof(int64_t), 0), 0);
  KT_CHECK_EQ(keel_chan_make(&results, sizeof(int), 0), 0);
  keel_heartbeat_options o = {.tick = tick};
  struct sender s = {.results = results, .rc = 1};
  KT_CHECK_EQ(keel_heartbeat_make_opts(&s.hb, &o), 0);
  keel_chan *beats = keel_heartbeat_chan(s.hb);
  keel_task *t;
  KT_CHECK_EQ(keel_task_spawn(&t, send_task, &s, NULL), 0);
  for (int i = 1; i <= 3; i++) {
    int64_t now = keel_now();
    /* Unbuffered tick: the send completes only when the worker takes it. */
    KT_CHECK_EQ(keel_chan_send(tick, &now, keel_deadline_in(10 * KEEL_SECOND)), 0);
    keel_pulse p;
    KT_CHECK_EQ(keel_chan_recv(beats, &p, keel_deadline_in(10 * KEEL_SECOND)), 0);
    KT_CHECK_EQ(p.seq, (uint64_t)i);
  }
  int v = 0;
  KT_CHECK_EQ(keel_chan_recv(results, &v, keel_deadline_in(10 * KEEL_SECOND)), 0);
  KT_CHECK_EQ(v, 42);
  KT_CHECK_EQ(keel_task_join(t, keel_deadline_in(10 * KEEL_SECOND), NULL), 0);
  KT_CHECK_EQ(s.rc, 0);
  keel_heartbeat_free(s.hb);
  keel_chan_release(tick);
  keel_chan_release(results);
}

struct waiter {
  keel_heartbeat *hb;
  keel_ctx *ctx;
  keel_chan *in;
  int rc;
};

static void recv_task(void *p) {
  struct waiter *w = p;
  int v;
  w->rc = keel_heartbeat_recv(w->hb, w->ctx, w->in, &v);
}

KT_TEST(recv_returns_when_ctx_done) {
  struct waiter w = {.rc = 1};
  KT_CHECK_EQ(keel_chan_make(&w.in, sizeof(int), 0), 0);
  KT_CHECK_EQ(keel_heartbeat_make(&w.hb, KEEL_MILLISECOND), 0);
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &w.ctx), 0);
  keel_task *t;
  KT_CHECK_EQ(keel_task_spawn(&t, recv_task, &w, NULL), 0);
  keel_pulse p;   /* it is alive and pulsing while it waits */
  KT_CHECK_EQ(keel_chan_recv(keel_heartbeat_chan(w.hb), &p,
                             keel_deadline_in(10 * KEEL_SECOND)), 0);
  keel_ctx_cancel(w.ctx);
  KT_CHECK_EQ(keel_task_join(t, keel_deadline_in(10 * KEEL_SECOND), NULL), 0);
  KT_CHECK_EQ(w.rc, KEEL_ECANCELED);
  keel_ctx_release(w.ctx);
  keel_heartbeat_free(w.hb);
  keel_chan_release(w.in);
}

KT_TEST(sleep_pulses_and_returns) {
  keel_heartbeat *hb;
  KT_CHECK_EQ(keel_heartbeat_make(&hb, KEEL_MILLISECOND), 0);
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_heartbeat_sleep(hb, NULL, 20 * KEEL_MILLISECOND), 0);
  KT_CHECK(keel_now() - t0 >= 20 * KEEL_MILLISECOND);
  keel_pulse p;   /* at least one tick came during 20 ms of 1 ms ticks */
  KT_CHECK_EQ(keel_chan_recv(keel_heartbeat_chan(hb), &p, KEEL_NOWAIT), 0);
  KT_CHECK(p.seq >= 1);
  keel_heartbeat_free(hb);
}

KT_TEST(timer_pulses_only_for_a_waiting_worker) {
  keel_heartbeat *hb;
  KT_CHECK_EQ(keel_heartbeat_make(&hb, 2 * KEEL_MILLISECOND), 0);
  keel_chan *c = keel_heartbeat_chan(hb);
  keel_pulse p;
  /* Busy (not in a wait): ticks come, but no pulse goes out ... */
  keel_sleep(50 * KEEL_MILLISECOND);   /* the "work", not a synchronisation */
  KT_CHECK_EQ(keel_chan_recv(c, &p, KEEL_NOWAIT), KEEL_EAGAIN);
  KT_CHECK_EQ(keel_heartbeat_pulses(hb), 0);
  /* ... until the worker reaches a wait: the missed tick is serviced at once. */
  keel_heartbeat_waiting(hb, true);
  KT_CHECK_EQ(keel_chan_recv(c, &p, KEEL_NOWAIT), 0);
  KT_CHECK_EQ(p.seq, 1);
  /* While it waits, the timer pulses for it. */
  KT_CHECK_EQ(keel_chan_recv(c, &p, keel_deadline_in(10 * KEEL_SECOND)), 0);
  KT_CHECK(p.seq >= 2);
  keel_heartbeat_waiting(hb, false);
  keel_heartbeat_free(hb);
}

KT_TEST(given_channel_is_used_and_not_closed) {
  keel_chan *mine;
  KT_CHECK_EQ(keel_chan_make(&mine, sizeof(keel_pulse), 4), 0);
  keel_heartbeat_options o = {.chan = mine};
  keel_heartbeat *hb;
  KT_CHECK_EQ(keel_heartbeat_make_opts(&hb, &o), 0);
  KT_CHECK(keel_heartbeat_chan(hb) == mine);
  KT_CHECK_EQ(keel_heartbeat_pulse(hb), 0);
  KT_CHECK_EQ(keel_heartbeat_pulse(hb), 0);   /* its buffer, not ours */
  keel_heartbeat_free(hb);
  KT_CHECK(!keel_chan_is_closed(mine));
  KT_CHECK_EQ(keel_chan_len(mine), 2);
  keel_chan_release(mine);
}

KT_MAIN()
