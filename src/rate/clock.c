/* clock.c — keel_rate_now(): keel_now()'s clock, read from the TSC.
 *
 * clock_gettime costs ~30 ns here, more than the rest of an allow. When the
 * kernel itself trusts the time-stamp counter (clocksource "tsc": invariant
 * and synchronised across CPUs), we read it directly and convert with
 *   ns = anchor_ns + ((tsc - anchor_tsc) * mult) >> 32.
 * Invariants:
 *   - the anchor (anchor_tsc, anchor_ns = keel_now() read back to back, the
 *     tightest of three tries) is
 *     renewed at least every ~1 ms by whichever reader notices first, so the
 *     error against keel_now() stays that of mult over 1 ms;
 *   - mult is measured against keel_now() over spans of >= 1 ms at first and
 *     re-measured over spans of >= 100 ms, so it tracks frequency changes;
 *   - the anchor is a seqlock: a reader that sees a write in progress or a
 *     changed sequence, or the first millisecond of calibration, simply
 *     returns keel_now();
 *   - anywhere else (no TSC clocksource, not x86-64, KEEL_RATE_CLOCK=system),
 *     keel_rate_now() is keel_now().
 * The fast path is inline in clock.h, for allow to schedule with its own
 * work; this file has the rest. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/rate.h"
#include "keel/time.h"
#include "rate/clock.h"

#if defined(__x86_64__)

rate_clock keel__rate_clk;

static bool tsc_is_clocksource(void) {
  const char *env = getenv("KEEL_RATE_CLOCK");
  if (env && strcmp(env, "system") == 0) return false;
  FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
  if (!f) return false;
  char buf[32] = {0};
  bool ok = fgets(buf, sizeof buf, f) && strncmp(buf, "tsc", 3) == 0 &&
            (buf[3] == '\n' || buf[3] == 0);
  fclose(f);
  return ok;
}

/* A (tsc, ns) pair read back to back: the tightest of three tries, so a
 * preemption between the two reads cannot skew the anchor or the rate. */
static void read_pair(uint64_t *tsc, int64_t *ns) {
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 3; i++) {
    uint64_t a = __rdtsc();
    int64_t n = keel_now();
    uint64_t b = __rdtsc();
    if (b - a < best) {
      best = b - a;
      *tsc = a + (b - a) / 2;
      *ns = n;
    }
  }
}

/* One writer at a time (whoever wins the seq CAS); returns keel_now(). */
static int64_t reanchor(uint64_t seq) {
  if (!atomic_compare_exchange_strong(&keel__rate_clk.seq, &seq, seq + 1)) return keel_now();
  uint64_t tsc = 0;
  int64_t ns = 0;
  read_pair(&tsc, &ns);
  int mode = atomic_load_explicit(&keel__rate_clk.mode, memory_order_relaxed);
  int64_t span = ns - keel__rate_clk.cal_ns;
  uint64_t ticks = tsc - keel__rate_clk.cal_tsc;
  if ((mode == MODE_CALIBRATING && span >= KEEL_MILLISECOND) ||
      (mode == MODE_TSC && span >= 100 * KEEL_MILLISECOND)) {
    if (ticks > 0 && span > 0) {
      uint64_t mult = (uint64_t)(((unsigned __int128)span << 32) / ticks);
      atomic_store_explicit(&keel__rate_clk.mult, mult, memory_order_relaxed);
      uint64_t per_ms = (uint64_t)(((unsigned __int128)KEEL_MILLISECOND << 32) / (mult ? mult : 1));
      atomic_store_explicit(&keel__rate_clk.reanchor, per_ms ? per_ms : 1, memory_order_relaxed);
      keel__rate_clk.cal_tsc = tsc;
      keel__rate_clk.cal_ns = ns;
      mode = MODE_TSC;
    }
  }
  atomic_store_explicit(&keel__rate_clk.anchor_tsc, tsc, memory_order_relaxed);
  atomic_store_explicit(&keel__rate_clk.anchor_ns, ns, memory_order_relaxed);
  atomic_store_explicit(&keel__rate_clk.mode, mode, memory_order_release);
  atomic_store_explicit(&keel__rate_clk.seq, seq + 2, memory_order_release);
  return ns;
}

static int64_t clock_init(void) {
  int expected = MODE_UNKNOWN;
  int mode = tsc_is_clocksource() ? MODE_CALIBRATING : MODE_SYSTEM;
  if (mode == MODE_CALIBRATING) {
    uint64_t seq = atomic_load(&keel__rate_clk.seq);
    if (!(seq & 1) && atomic_compare_exchange_strong(&keel__rate_clk.seq, &seq, seq + 1)) {
      read_pair(&keel__rate_clk.cal_tsc, &keel__rate_clk.cal_ns);
      atomic_store_explicit(&keel__rate_clk.seq, seq + 2, memory_order_release);
    } else {
      return keel_now();
    }
  }
  atomic_compare_exchange_strong(&keel__rate_clk.mode, &expected, mode);
  return keel_now();
}

/* When the inline fast path (clock.h) cannot answer: first use, no TSC, a
 * writer at work, calibration, or an anchor ~1 ms old (or newer than the
 * caller's TSC reading): then a new anchor, and its reading. */
int64_t keel__rate_now_slow(void) {
  int mode = atomic_load_explicit(&keel__rate_clk.mode, memory_order_acquire);
  if (mode == MODE_UNKNOWN) return clock_init();
  uint64_t s = atomic_load_explicit(&keel__rate_clk.seq, memory_order_acquire);
  if (mode == MODE_SYSTEM || (s & 1)) return keel_now();
  return reanchor(s);
}
#endif

int64_t keel_rate_now(void) { return rate_clock_now(); }
