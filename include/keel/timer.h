/* keel/timer.h — timers that deliver on channels: after(d) and tick(d).
 *
 * Part of the channels floor (built on the runtime's callback timers). A
 * timer's channel has capacity 1 and carries an int64_t: the keel_now()
 * reading when it fired. A slow receiver of a ticker misses ticks instead of
 * queueing them, as in Go.
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

/* One-shot: fires once, duration from now (<= 0: at once). */
int keel_timer_after(keel_timer **out, int64_t duration);
/* Periodic: fires every period (> 0, else KEEL_EINVAL). */
int keel_timer_tick(keel_timer **out, int64_t period);

keel_chan *keel_timer_chan(keel_timer *t);   /* borrowed */

/* True if the timer was armed and is now stopped before firing. */
bool keel_timer_stop(keel_timer *t);
/* Re-arms for duration from now (periodic timers keep ticking at that period). */
int keel_timer_reset(keel_timer *t, int64_t duration);
void keel_timer_free(keel_timer *t);   /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif
