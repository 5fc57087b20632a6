/* keel/timer.h — timers that deliver on channels: after(d) and tick(d).
 *
 * Part of the channels floor (built on the runtime's callback timers). A
 * timer's channel has capacity 1 and carries an int64_t: the keel_now()
 * reading when it fired. A slow receiver of a ticker misses ticks instead of
 * queueing them, as in Go. The channel is an ordinary one: receive from it,
 * or put it in a select beside other cases:
 *
 *   keel_timer *t;
 *   keel_timer_after(&t, 50 * KEEL_MILLISECOND);
 *   keel_select_case cs[2] = {
 *     {.chan = work, .op = KEEL_SELECT_RECV, .elem = &job},
 *     {.chan = keel_timer_chan(t), .op = KEEL_SELECT_RECV, .elem = NULL},
 *   };
 *   int i = keel_chan_select(cs, 2, KEEL_FOREVER);   // 1: too slow
 *   keel_timer_free(t);
 *
 * Stop and reset follow Go 1.23: once they return, no value from before is
 * left in the channel (they drain it), so a receive after a stop blocks
 * instead of seeing a stale time. Do not drain it yourself after a stop.
 *
 * The timers are the runtime's (a heap; creating and stopping one is a heap
 * insert and removal, no thread per timer): 100,000 armed timers are fine.
 *
 * Threads: every call may be made from any task or thread; calls on one
 * timer must not race with each other (one owner), while its channel may be
 * received from anywhere.
 *
 * Ownership: a keel_timer is the caller's; keel_timer_free stops it and drops
 * the timer's reference to its channel (retain the channel to keep it). */
#ifndef KEEL_TIMER_H
#define KEEL_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "keel/chan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct keel_timer keel_timer;

/* One-shot: fires once, duration from now (<= 0: at once). On success *out
 * is the caller's, to free with keel_timer_free. KEEL_EINVAL (out NULL),
 * KEEL_ENOMEM, or the runtime's KEEL_ESHUTDOWN. */
int keel_timer_after(keel_timer **out, int64_t duration);
/* Periodic: fires every period (> 0, else KEEL_EINVAL), the first time one
 * period from now. Ticks a receiver is too slow for are dropped. */
int keel_timer_tick(keel_timer **out, int64_t period);

keel_chan *keel_timer_chan(keel_timer *t);   /* borrowed */

/* Stops the timer and drains its channel (see above). True if this kept a
 * value from being received: the timer was still armed (a ticker: still
 * ticking), or it had fired but its value was still unreceived in the
 * channel. False when there was nothing to prevent: NULL, a one-shot whose
 * value was already received, a timer already stopped. */
bool keel_timer_stop(keel_timer *t);
/* Re-arms for duration from now, stopped or not, fired or not; a periodic
 * timer then ticks every duration (its new period, as Go's Ticker.Reset;
 * duration must be > 0 for it). Drains the channel first.
 * 0, KEEL_EINVAL (t NULL, or a ticker's duration <= 0), KEEL_ESHUTDOWN. */
int keel_timer_reset(keel_timer *t, int64_t duration);
void keel_timer_free(keel_timer *t);   /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif
