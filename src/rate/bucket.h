/* bucket.h — the token bucket's arithmetic, exactly as golang.org/x/time/rate
 * does it, on int64 nanoseconds (private to the rate module).
 *
 * Invariants:
 *   - every function is pure: the same inputs give the same bits as Go's
 *     Limiter on amd64 (same float operations, same order, same truncation);
 *   - Go's time.Time arithmetic is mirrored with saturation: Sub saturates at
 *     INT64_MIN/INT64_MAX as Go's Time.Sub does, Add saturates instead of
 *     dropping the monotonic reading; INT64_MIN is Go's zero Time ("never");
 *   - no input, however wild (a garbage read retried by a compare-and-swap
 *     loop included), reaches undefined behaviour: float-to-int conversions
 *     are clamped, integer arithmetic saturates;
 *   - an infinite limit is any limit >= DBL_MAX; the arithmetic uses DBL_MAX
 *     for it, which is Go's rate.Inf, so 0 x Inf never makes a NaN. */
#ifndef KEEL_RATE_BUCKET_H
#define KEEL_RATE_BUCKET_H

#include <float.h>
#include <stdbool.h>
#include <stdint.h>

#include "keel/rate.h"

#define RATE_NEVER INT64_MIN

static inline bool rate_is_inf(double limit) { return limit >= DBL_MAX; }
static inline double rate_eff(double limit) {
  return limit >= DBL_MAX ? DBL_MAX : limit;
}

static inline int64_t rate_sub(int64_t a, int64_t b) {   /* Go's Time.Sub */
  int64_t d;
  if (__builtin_sub_overflow(a, b, &d)) return a > b ? INT64_MAX : INT64_MIN;
  return d;
}
static inline int64_t rate_add(int64_t t, int64_t d) {   /* Time.Add */
  int64_t r;
  if (__builtin_add_overflow(t, d, &r)) return d > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

/* Go's Duration.Seconds(). */
static inline double rate_seconds(int64_t d) {
  int64_t sec = d / KEEL_SECOND, nsec = d % KEEL_SECOND;
  return (double)sec + (double)nsec / 1e9;
}

/* Go's Limit.durationFromTokens, with newer x/time's overflow cap: a wait
 * that does not fit in int64 is infinite, never negative. */
static inline int64_t rate_duration_from_tokens(double limit, double tokens) {
  if (!(limit > 0)) return KEEL_RATE_INF_DURATION;
  double seconds = tokens / rate_eff(limit);
  double d = 1e9 * seconds;
  if (d >= 9223372036854775808.0 || d != d) return KEEL_RATE_INF_DURATION;
  if (d < -9223372036854775808.0) return INT64_MIN;
  return (int64_t)d;
}

/* Go's Limit.tokensFromDuration. */
static inline double rate_tokens_from_duration(double limit, int64_t d) {
  if (!(limit > 0)) return 0;
  return rate_seconds(d) * rate_eff(limit);
}

/* Go's Limiter state, unpacked. */
typedef struct rate_core {
  double tokens;
  int64_t last;        /* last time tokens was updated */
  int64_t last_event;  /* latest time of a rate-limited event */
  double limit;
  int64_t burst;
} rate_core;

/* Go's advance: the tokens at t (last is not changed; the caller sets
 * last = t when it commits). */
static inline double rate_advance(const rate_core *c, int64_t t) {
  int64_t last = c->last;
  if (t < last) last = t;
  int64_t elapsed = rate_sub(t, last);
  double burst = (double)c->burst;
  /* Shortcut, same bits: when the refill surely fills the bucket, Go's
   * min(burst, tokens + delta) is burst whatever delta's last bits are, so
   * the division in Seconds() is not needed. The estimate is within 1e-15
   * of Go's delta; the 1e-9 margin leaves no doubt. (A bucket already at or
   * above burst stays at burst: delta >= 0.) */
  double gap = burst - c->tokens;
  if (c->limit > 0 && (gap <= 0 ||
      (double)elapsed * 1e-9 * rate_eff(c->limit) > gap * (1 + 1e-9)))
    return burst;
  double tokens = c->tokens + rate_tokens_from_duration(c->limit, elapsed);
  if (tokens > burst) tokens = burst;
  return tokens;
}

/* Go's reserveN on c (mutated only when the reservation is granted, and for
 * a zero limit, whose burst it spends). */
static inline keel_rate_reservation rate_core_reserve(rate_core *c, int64_t t,
                                                      int64_t n,
                                                      int64_t max_wait) {
  keel_rate_reservation r = {0};
  if (rate_is_inf(c->limit)) {
    r.ok = true;
    r.tokens = n;
    r.time_to_act = t;
    return r;
  }
  if (c->limit == 0) {
    if (c->burst >= n) {
      r.ok = true;
      c->burst -= n;
    }
    r.tokens = c->burst;
    r.time_to_act = t;
    return r;
  }
  double tokens = rate_advance(c, t) - (double)n;
  int64_t wait = 0;
  if (tokens < 0) wait = rate_duration_from_tokens(c->limit, -tokens);
  r.ok = n <= c->burst && wait <= max_wait;
  r.limit = c->limit;
  if (r.ok) {
    r.tokens = n;
    r.time_to_act = rate_add(t, wait);
    c->last = t;
    c->tokens = tokens;
    c->last_event = r.time_to_act;
  }
  return r;
}

/* Go's CancelAt; returns false when nothing changes. */
static inline bool rate_core_cancel(rate_core *c, const keel_rate_reservation *r,
                                    int64_t t) {
  if (!r->ok) return false;
  if (rate_is_inf(c->limit) || r->tokens == 0 || r->time_to_act < t)
    return false;
  double restore = (double)r->tokens -
      rate_tokens_from_duration(r->limit, rate_sub(c->last_event, r->time_to_act));
  if (restore <= 0) return false;
  double tokens = rate_advance(c, t) + restore;
  double burst = (double)c->burst;
  if (tokens > burst) tokens = burst;
  c->last = t;
  c->tokens = tokens;
  if (r->time_to_act == c->last_event) {
    int64_t prev = rate_add(r->time_to_act,
        rate_duration_from_tokens(r->limit, (double)-r->tokens));
    if (!(prev < t)) c->last_event = prev;
  }
  return true;
}

/* Go's SetLimitAt / SetBurstAt. */
static inline void rate_core_set_limit(rate_core *c, int64_t t, double limit) {
  c->tokens = rate_advance(c, t);
  c->last = t;
  c->limit = limit;
}
static inline void rate_core_set_burst(rate_core *c, int64_t t, int64_t burst) {
  c->tokens = rate_advance(c, t);
  c->last = t;
  c->burst = burst;
}

#endif
