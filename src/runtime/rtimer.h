/* rtimer.h — the runtime's callback timers, for keel's own modules (not public).
 *
 * The storage is the caller's (no allocation per timer). fn(arg, now) runs on
 * the runtime's timer thread when the timer fires (now: the time the firing
 * batch started); it must not block (it may claim and
 * wake waiters, fire cancel tokens, try-send on channels). Periodic timers
 * re-arm themselves at when + k*period, skipping missed periods.
 *
 * THE RUNTIME MODULE OWNS THE PRIVATE FIELDS and may change them. */
#ifndef KEEL_RUNTIME_RTIMER_H
#define KEEL_RUNTIME_RTIMER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*keel_rtimer_fn)(void *arg, int64_t now);

typedef struct keel_rtimer {
  /* private (runtime) */
  int64_t when;
  int64_t period;
  keel_rtimer_fn fn;
  void *arg;
  int32_t heap_index;
  _Atomic uint32_t state;
  void *owner;
} keel_rtimer;

void keel_rtimer_init(keel_rtimer *t, keel_rtimer_fn fn, void *arg);

/* Arms (or re-arms) t for the absolute monotonic time `when`; period 0 means
 * one-shot. KEEL_EINVAL for period < 0. Starts the runtime if needed. */
int keel_rtimer_start(keel_rtimer *t, int64_t when, int64_t period);

/* Disarms t. True if it was armed and now will not fire (for a periodic
 * timer stopped while its callback runs: true, no further tick). On return
 * the callback is not running (unless stop is called from inside the
 * callback, which is allowed), so the caller may free t; if the callback is
 * running, stop waits for it (blocking the calling thread, even a worker:
 * callbacks are short). A timer must be stopped before its storage is
 * reused unless it is known to have fired and returned. */
bool keel_rtimer_stop(keel_rtimer *t);

#endif
