/* policy.c — the steward's decisions as pure functions: restart or not,
 * restart intensity, backoff. No clock is read here; callers pass `now`.
 *
 * Invariants:
 *   - the intensity window keeps only the last max_restarts + 1 restart
 *     times (a ring); more than max_restarts within the period is exactly
 *     "the ring is full and its oldest entry is inside the period";
 *   - a backoff delay is never negative and never above the cap; jitter only
 *     shortens it (drawn from [d*(1-jitter), d]), so the cap holds. */
#include <math.h>
#include <stdlib.h>

#include "keel/steward.h"

bool keel_restart_wanted(keel_restart_type type, bool failed) {
  switch (type) {
    case KEEL_RESTART_PERMANENT: return true;
    case KEEL_RESTART_TRANSIENT: return failed;
    case KEEL_RESTART_TEMPORARY: return false;
  }
  return false;
}

struct keel_intensity {
  int max_restarts;
  int64_t period;
  size_t cap, len, head;   /* ring of cap = max_restarts + 1 times */
  int64_t times[];
};

int keel_intensity_make(keel_intensity **out, int max_restarts, int64_t period) {
  if (out == NULL || max_restarts < 0 || period <= 0 || max_restarts > 1000000)
    return KEEL_EINVAL;
  size_t cap = (size_t)max_restarts + 1;
  keel_intensity *w = malloc(sizeof *w + cap * sizeof(int64_t));
  if (w == NULL) return KEEL_ENOMEM;
  w->max_restarts = max_restarts;
  w->period = period;
  w->cap = cap;
  w->len = 0;
  w->head = 0;
  *out = w;
  return 0;
}

void keel_intensity_free(keel_intensity *w) { free(w); }

/* times[] in order: oldest is at head when full. */
static int64_t nth_oldest(const keel_intensity *w, size_t i) {
  size_t start = w->len == w->cap ? w->head : 0;
  return w->times[(start + i) % w->cap];
}

int keel_intensity_count(const keel_intensity *w, int64_t now) {
  if (w == NULL) return 0;
  int n = 0;
  for (size_t i = 0; i < w->len; i++)
    if (nth_oldest(w, i) > now - w->period) n++;
  return n;
}

int keel_intensity_record(keel_intensity *w, int64_t now) {
  if (w == NULL) return KEEL_EINVAL;
  w->times[w->head] = now;
  w->head = (w->head + 1) % w->cap;
  if (w->len < w->cap) w->len++;
  if (w->len == w->cap && nth_oldest(w, 0) > now - w->period) return KEEL_ELIMIT;
  return 0;
}

int64_t keel_backoff_delay(const keel_backoff *b, unsigned attempt,
                           uint64_t random) {
  if (b == NULL || b->initial <= 0) return 0;
  double mult = b->multiplier >= 1.0 ? b->multiplier : 2.0;
  double d = (double)b->initial * pow(mult, (double)attempt);
  double cap = b->max > 0 ? (double)b->max : 9.0e18;
  if (!(d < cap)) d = cap;   /* also catches inf and NaN */
  double jitter = b->jitter;
  if (!(jitter > 0.0)) jitter = 0.0;
  if (jitter > 1.0) jitter = 1.0;
  double u = (double)(random >> 11) * 0x1.0p-53;   /* [0, 1) */
  d -= d * jitter * u;
  if (d < 0.0) d = 0.0;
  return (int64_t)d;
}

unsigned keel_backoff_attempt(const keel_backoff *b, unsigned attempt,
                              int64_t started_at, int64_t now) {
  if (b == NULL || b->initial <= 0) return 0;
  int64_t reset = b->reset_after > 0 ? b->reset_after : 10 * b->initial;
  return now - started_at >= reset ? 0 : attempt;
}

const char *keel_steward_event_name(keel_steward_event_kind kind) {
  switch (kind) {
    case KEEL_STEWARD_STARTED: return "started";
    case KEEL_STEWARD_MISSED_HEARTBEAT: return "missed heartbeat";
    case KEEL_STEWARD_EXITED: return "exited";
    case KEEL_STEWARD_STOPPED: return "stopped";
    case KEEL_STEWARD_RESTARTED: return "restarted";
    case KEEL_STEWARD_GAVE_UP: return "gave up";
  }
  return "unknown";
}
