/* keel/time.h — clocks, sleeping, and the runtime's timers.
 *
 * Time in keel is int64_t nanoseconds. Deadlines are absolute readings of the
 * monotonic clock (keel_now); durations are differences of them. Wall time
 * (UTC) is only for people to read (keel_wall_now).
 *
 * Every blocking call in keel takes an absolute deadline:
 *   KEEL_FOREVER  never time out;
 *   KEEL_NOWAIT   do not block at all (any deadline <= keel_now() acts alike);
 *   keel_deadline_in(d) is "d from now", saturating instead of overflowing.
 *
 * Channel-delivered timers (after, tick) live one floor up, in keel/timer.h;
 * this header has the callback timers they are built on. */
#ifndef KEEL_TIME_H
#define KEEL_TIME_H

#include <stdbool.h>
#include <stdint.h>

#include "keel/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KEEL_NANOSECOND  INT64_C(1)
#define KEEL_MICROSECOND INT64_C(1000)
#define KEEL_MILLISECOND INT64_C(1000000)
#define KEEL_SECOND      INT64_C(1000000000)
#define KEEL_MINUTE      (INT64_C(60) * KEEL_SECOND)
#define KEEL_HOUR        (INT64_C(60) * KEEL_MINUTE)

#define KEEL_FOREVER INT64_MAX  /* a deadline that never passes */
#define KEEL_NOWAIT  INT64_MIN  /* a deadline that has always passed */

/* The monotonic clock (CLOCK_MONOTONIC), in nanoseconds. Any thread. */
int64_t keel_now(void);

/* UTC wall-clock time, in nanoseconds since the Unix epoch. Any thread. */
int64_t keel_wall_now(void);

/* keel_now() + duration, saturating at KEEL_FOREVER / KEEL_NOWAIT.
 * A zero or negative duration gives a deadline that has already passed. */
int64_t keel_deadline_in(int64_t duration);

/* deadline - now, clamped to >= 0; KEEL_FOREVER stays KEEL_FOREVER. */
int64_t keel_until(int64_t deadline, int64_t now);

#ifdef __cplusplus
}
#endif
#endif
