/* timer.c — channel timers (keel/timer.h) on the runtime's callback timers.
 *
 * A keel_timer lives in the same allocation as its channel (one malloc per
 * timer) and holds one reference to it; the memory goes with the channel's
 * last release, so a user who retained the channel keeps it valid.
 * The callback only try-sends its fire time: a full channel (a receiver that
 * has not taken the last tick) drops the tick. After keel_rtimer_stop
 * returns the callback is not running, so stop/reset can drain the channel
 * without a late fire refilling it. */
#include "chan/chan_internal.h"
#include "keel/timer.h"
#include "runtime/rtimer.h"

struct keel_timer {
  keel_rtimer rt;
  keel_chan *chan;
  int64_t period;  /* 0: one-shot */
  bool stopped;    /* keel_timer_stop returned and nothing re-armed since */
};

static void timer_fire(void *arg, int64_t now) {
  keel_timer *t = arg;
  (void)keel_chan_send(t->chan, &now, KEEL_NOWAIT);
}

static int64_t when_from_now(int64_t duration) {
  return duration <= 0 ? keel_now() : keel_deadline_in(duration);
}

static int timer_make(keel_timer **out, int64_t first, int64_t period) {
  keel_chan *c;
  void *mem;
  int rc = chan_make_with_extra(&c, sizeof(int64_t), 1, sizeof(keel_timer), &mem);
  if (rc) return rc;
  keel_timer *t = mem;
  t->chan = c;
  t->period = period;
  t->stopped = false;
  keel_rtimer_init(&t->rt, timer_fire, t);
  rc = keel_rtimer_start(&t->rt, when_from_now(first), period);
  if (rc) {
    keel_chan_release(c);
    return rc;
  }
  *out = t;
  return 0;
}

int keel_timer_after(keel_timer **out, int64_t duration) {
  if (!out) return KEEL_EINVAL;
  *out = NULL;
  return timer_make(out, duration, 0);
}

int keel_timer_tick(keel_timer **out, int64_t period) {
  if (!out) return KEEL_EINVAL;
  *out = NULL;
  if (period <= 0) return KEEL_EINVAL;
  return timer_make(out, period, period);
}

keel_chan *keel_timer_chan(keel_timer *t) { return t ? t->chan : NULL; }

/* Takes an unreceived fire time out of the channel; true if there was one. */
static bool drain(keel_timer *t) {
  return keel_chan_len(t->chan) > 0 && keel_chan_recv(t->chan, NULL, KEEL_NOWAIT) == 0;
}

bool keel_timer_stop(keel_timer *t) {
  if (!t) return false;
  bool prevented = keel_rtimer_stop(&t->rt);
  t->stopped = true;
  /* A fire whose value nobody received yet is undone too (the callback may
   * have run just before the stop): the caller will not see it either way. */
  if (drain(t)) prevented = true;
  return prevented;
}

int keel_timer_reset(keel_timer *t, int64_t duration) {
  if (!t || (t->period > 0 && duration <= 0)) return KEEL_EINVAL;
  (void)keel_rtimer_stop(&t->rt);
  (void)drain(t);
  t->stopped = false;
  if (t->period > 0) t->period = duration;  /* Go's Ticker.Reset */
  return keel_rtimer_start(&t->rt, when_from_now(duration), t->period);
}

void keel_timer_free(keel_timer *t) {
  if (!t) return;
  /* After a stop nothing can fire (one owner: no reset raced with it). */
  if (!t->stopped) (void)keel_rtimer_stop(&t->rt);
  keel_chan_release(t->chan);  /* may free t itself: touch nothing after */
}
