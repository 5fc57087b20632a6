/* clock.h — the rate limiter's clock, inline: keel_rate_now() (clock.c) is
 * this. Only the per-event paths (allow, keyed allow, reserve, cancel) read
 * it here, so that the TSC read and its conversion are scheduled with the
 * rest of the call instead of behind one; everything else calls
 * keel_rate_now().
 *
 * The fast path answers only when the TSC mode is on, no writer holds the
 * anchor's seqlock, and the reading is within ~1 ms after the anchor;
 * anything else (first use, calibration, a reading due for a new anchor)
 * goes to keel__rate_now_slow(), which reads the clock afresh. */
#ifndef KEEL_RATE_CLOCK_H
#define KEEL_RATE_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include "keel/time.h"

#if defined(__x86_64__)
#include <x86intrin.h>

int64_t keel__rate_now_slow(void);

enum { MODE_UNKNOWN = 0, MODE_CALIBRATING, MODE_TSC, MODE_SYSTEM };

typedef struct rate_clock {
  _Atomic int mode;
  _Atomic uint64_t seq;         /* odd while a writer updates the anchor */
  _Atomic uint64_t anchor_tsc;
  _Atomic int64_t anchor_ns;
  _Atomic uint64_t mult;        /* ns per tick, << 32 */
  _Atomic uint64_t reanchor;    /* ticks between anchors (~1 ms) */
  /* written by the seqlock's writer only */
  uint64_t cal_tsc;
  int64_t cal_ns;
} rate_clock;

extern rate_clock keel__rate_clk;

static inline int64_t rate_clock_now(void) {
  rate_clock *c = &keel__rate_clk;
  if (__builtin_expect(atomic_load_explicit(&c->mode, memory_order_acquire) == MODE_TSC, 1)) {
    uint64_t tsc = __rdtsc();
    uint64_t s1 = atomic_load_explicit(&c->seq, memory_order_acquire);
    /* Acquire loads keep the re-read of seq after them (no fence: TSan). */
    uint64_t atsc = atomic_load_explicit(&c->anchor_tsc, memory_order_acquire);
    int64_t ans = atomic_load_explicit(&c->anchor_ns, memory_order_acquire);
    uint64_t mult = atomic_load_explicit(&c->mult, memory_order_acquire);
    uint64_t every = atomic_load_explicit(&c->reanchor, memory_order_acquire);
    uint64_t s2 = atomic_load_explicit(&c->seq, memory_order_relaxed);
    uint64_t dt = tsc - atsc;   /* (a reading before the anchor wraps: slow) */
    if (__builtin_expect(!(s1 & 1) && s1 == s2 && dt < every, 1))
      return ans + (int64_t)(((unsigned __int128)dt * mult) >> 32);
  }
  return keel__rate_now_slow();
}
#else
static inline int64_t rate_clock_now(void) { return keel_now(); }
#endif

#endif
