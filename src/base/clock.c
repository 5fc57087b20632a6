/* Clocks and deadline arithmetic (keel/time.h). Saturating: a deadline never
 * wraps around, so "now + a huge timeout" is KEEL_FOREVER, not the past. */
#include "keel/time.h"

#include <time.h>

int64_t keel_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * KEEL_SECOND + ts.tv_nsec;
}

int64_t keel_wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * KEEL_SECOND + ts.tv_nsec;
}

int64_t keel_deadline_in(int64_t duration) {
  int64_t now = keel_now(), out;
  if (__builtin_add_overflow(now, duration, &out))
    return duration > 0 ? KEEL_FOREVER : KEEL_NOWAIT;
  return out;
}

int64_t keel_until(int64_t deadline, int64_t now) {
  if (deadline == KEEL_FOREVER) return KEEL_FOREVER;
  if (deadline <= now) return 0;
  int64_t out;
  if (__builtin_sub_overflow(deadline, now, &out)) return KEEL_FOREVER;
  return out;
}
