/* limiter.c — the token bucket: Go's Limiter with a lock-free allow.
 *
 * Protocol (layout in limiter.h):
 *   - allow reads the 16-byte state optimistically (two 8-byte loads, maybe
 *     torn), reads the config slot of the state's generation, computes Go's
 *     reserveN(now, n, 0) and publishes the result with one 16-byte CAS. A
 *     torn or stale read makes the CAS fail; the CAS hands back the current
 *     state and allow retries with it. A refusal is confirmed by a CAS of the
 *     state onto itself, so it too is decided on a state that really was.
 *   - a config slot is only rewritten for generation g+2 after generation g+1
 *     has been published, so a successful CAS from a state of generation g
 *     proves the slot read was g's (up to 2^15 config changes inside one
 *     allow's few instructions).
 *   - reserve takes the same path when its answer leaves lastEvent == last
 *     (granted without a wait, or refused); each thread keeps the last state
 *     it saw as a guess so that, alone, an allow is a single CAS;
 *   - allow itself runs a leaner copy of that path (allow_fast: only the
 *     state word to compute) and, after a failed CAS, backs off before its
 *     next attempt unless it has just backed off, so contending threads take
 *     turns in runs instead of bouncing the line on every allow;
 *   - everything else (a reservation with a wait, cancel, set_limit,
 *     set_burst, and the rare cases: zero limit, first use, a time more than
 *     1.6 days from the base) runs under `mu`: it snapshots the state atomically, runs Go's code on
 *     the unpacked state (bucket.h), and publishes with the same CAS,
 *     retrying if an allow got in first. Changing limit, burst or base bumps
 *     the generation and fills the other slot first.
 * The history is therefore always a serial history of Go's algorithm, with
 * allows linearised at their CAS. */
#include "rate/limiter.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/relax.h"
#include "rate/bucket.h"
#include "rate/clock.h"

#define OFF_BITS 48
#define OFF_MASK ((UINT64_C(1) << OFF_BITS) - 1)
#define OFF_NEVER (-(INT64_C(1) << (OFF_BITS - 1)))
#define OFF_MAX ((INT64_C(1) << (OFF_BITS - 1)) - 1)
#define EVL_BIT (UINT64_C(1) << OFF_BITS)
#define GEN_SHIFT (OFF_BITS + 1)
#define GEN_MASK ((UINT64_C(1) << (64 - GEN_SHIFT)) - 1)

typedef struct rate_word {
  uint64_t lo;  /* tokens */
  uint64_t hi;  /* gen | evl | offset */
} rate_word;

static inline double bits_to_double(uint64_t b) {
  double d;
  memcpy(&d, &b, sizeof d);
  return d;
}
static inline uint64_t double_to_bits(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  return b;
}

static inline unsigned word_gen(uint64_t hi) {
  return (unsigned)((hi >> GEN_SHIFT) & GEN_MASK);
}
static inline int64_t word_off(uint64_t hi) {
  return (int64_t)(hi << (64 - OFF_BITS)) >> (64 - OFF_BITS);
}
static inline uint64_t word_hi(unsigned gen, bool evl, int64_t off) {
  return ((uint64_t)(gen & GEN_MASK) << GEN_SHIFT) | (evl ? EVL_BIT : 0) |
         ((uint64_t)off & OFF_MASK);
}

/* ---- 16-byte atomics -------------------------------------------------------- */

#if defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_16)
typedef unsigned __int128 u128;

static inline u128 pack(rate_word w) { return ((u128)w.hi << 64) | w.lo; }
static inline rate_word unpack(u128 v) {
  return (rate_word){(uint64_t)v, (uint64_t)(v >> 64)};
}

/* May be torn; only a CAS may trust it. */
static inline rate_word state_peek(keel_rate_limiter *l) {
  rate_word w;
  w.hi = __atomic_load_n(&l->state[1], __ATOMIC_ACQUIRE);
  w.lo = __atomic_load_n(&l->state[0], __ATOMIC_RELAXED);
  return w;
}

/* CAS; on failure *expected becomes the current state. */
static inline bool state_cas(keel_rate_limiter *l, rate_word *expected,
                             rate_word desired) {
  u128 exp = pack(*expected);
  u128 got = __sync_val_compare_and_swap((u128 *)(void *)l->state, exp,
                                         pack(desired));
  if (got == exp) return true;
  *expected = unpack(got);
  return false;
}

static inline rate_word state_load(keel_rate_limiter *l) {
  rate_word w = state_peek(l);
  state_cas(l, &w, w);   /* success or failure, w is now a real state */
  return w;
}

/* On CPUs with AVX, an aligned 16-byte SSE load is atomic (Intel SDM 8.1.1,
 * AMD APM 7.3.2), so a snapshot needs no CAS: a refusal can then be decided
 * on it as is. Not under TSan, which cannot see the asm load. */
#if defined(__x86_64__) && !defined(KEEL_SANITIZE_THREAD)
#include <emmintrin.h>
#define HAVE_ATOMIC_PEEK 1
static inline bool atomic_peek_ok(void) { return __builtin_cpu_supports("avx"); }
static inline rate_word state_peek_atomic(keel_rate_limiter *l) {
  __m128i v;
  __asm__ volatile("movdqa %1, %0" : "=x"(v) : "m"(*(const __m128i *)(void *)l->state)
                   : "memory");
  return (rate_word){(uint64_t)_mm_cvtsi128_si64(v),
                     (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v))};
}
#endif
#else
/* No 16-byte CAS on this target: a spin lock makes the pair atomic (allow is
 * then not lock-free, but stays correct). */
static inline void sl_lock(keel_rate_limiter *l) {
  while (atomic_exchange_explicit(&l->state_lock, 1, memory_order_acquire))
    while (atomic_load_explicit(&l->state_lock, memory_order_relaxed)) {
    }
}
static inline void sl_unlock(keel_rate_limiter *l) {
  atomic_store_explicit(&l->state_lock, 0, memory_order_release);
}
static inline rate_word state_load(keel_rate_limiter *l) {
  sl_lock(l);
  rate_word w = {l->state[0], l->state[1]};
  sl_unlock(l);
  return w;
}
static inline rate_word state_peek(keel_rate_limiter *l) { return state_load(l); }
static inline bool state_cas(keel_rate_limiter *l, rate_word *expected,
                             rate_word desired) {
  sl_lock(l);
  bool ok = l->state[0] == expected->lo && l->state[1] == expected->hi;
  if (ok) {
    l->state[0] = desired.lo;
    l->state[1] = desired.hi;
  } else {
    expected->lo = l->state[0];
    expected->hi = l->state[1];
  }
  sl_unlock(l);
  return ok;
}
#endif

/* ---- config slots --------------------------------------------------------------- */

typedef struct cfg_snap {
  double limit;
  int64_t burst, base;
} cfg_snap;

static inline cfg_snap cfg_read(keel_rate_limiter *l, unsigned gen) {
  rate_cfg *c = &l->cfg[gen & 1];
  cfg_snap s;
  /* Acquire (free on x86): a re-read of the generation after these cannot
   * move before them (the seqlock pattern, without a fence TSan rejects). */
  s.limit = bits_to_double(atomic_load_explicit(&c->limit_bits, memory_order_acquire));
  s.burst = atomic_load_explicit(&c->burst, memory_order_acquire);
  s.base = atomic_load_explicit(&c->base, memory_order_acquire);
  return s;
}

static inline void cfg_write(keel_rate_limiter *l, unsigned gen, cfg_snap s) {
  rate_cfg *c = &l->cfg[gen & 1];
  atomic_store_explicit(&c->limit_bits, double_to_bits(s.limit), memory_order_relaxed);
  atomic_store_explicit(&c->burst, s.burst, memory_order_relaxed);
  atomic_store_explicit(&c->base, s.base, memory_order_relaxed);
}

/* Reads the config of a state's generation consistently without the lock:
 * the generation must not have moved while the slot was read. */
static cfg_snap cfg_read_stable(keel_rate_limiter *l, uint64_t *hi_out) {
  for (;;) {
    uint64_t hi = __atomic_load_n(&l->state[1], __ATOMIC_ACQUIRE);
    cfg_snap s = cfg_read(l, word_gen(hi));
    uint64_t hi2 = __atomic_load_n(&l->state[1], __ATOMIC_RELAXED);
    if (word_gen(hi2) == word_gen(hi)) {
      if (hi_out) *hi_out = hi;
      return s;
    }
  }
}

/* ---- the locked path ------------------------------------------------------------ */

static inline int64_t decode_last(int64_t off, int64_t base) {
  return off == OFF_NEVER ? RATE_NEVER : rate_add(base, off);
}

/* Under mu: the current state, unpacked. */
static rate_word snapshot(keel_rate_limiter *l, rate_core *c) {
  rate_word w = state_load(l);
  cfg_snap s = cfg_read(l, word_gen(w.hi));
  c->tokens = bits_to_double(w.lo);
  c->last = decode_last(word_off(w.hi), s.base);
  c->last_event = (w.hi & EVL_BIT) ? c->last : l->last_event;
  c->limit = s.limit;
  c->burst = s.burst;
  return w;
}

static inline bool off_fits(int64_t off) { return off > OFF_NEVER && off <= OFF_MAX; }

/* Under mu: publishes nw over the snapshot w (taken with old). False if an
 * allow changed the state since; the caller takes a new snapshot. */
static bool commit(keel_rate_limiter *l, rate_word w, const rate_core *old,
                   const rate_core *nw) {
  unsigned gen = word_gen(w.hi);
  cfg_snap s = cfg_read(l, gen);
  int64_t off = OFF_NEVER;
  bool rebase = false;
  if (nw->last != RATE_NEVER) {
    off = rate_sub(nw->last, s.base);
    if (!off_fits(off)) {
      rebase = true;
      off = 0;
    }
  }
  if (rebase || double_to_bits(nw->limit) != double_to_bits(old->limit) ||
      nw->burst != old->burst) {
    cfg_snap n = {nw->limit, nw->burst, rebase ? nw->last : s.base};
    gen = (gen + 1) & (unsigned)GEN_MASK;
    cfg_write(l, gen, n);   /* published by the CAS below (release) */
  }
  rate_word d = {double_to_bits(nw->tokens),
                 word_hi(gen, nw->last_event == nw->last, off)};
  if (!state_cas(l, &w, d)) return false;
  l->last_event = nw->last_event;
  return true;
}

/* The locked path's one shape: under mu, step changes a copy of the state
 * at t and the copy is published; a commit that loses to an allow (which
 * does not take mu) retries from a new snapshot. step returns false when
 * nothing changes, and nothing is published.
 * clock: `now` is a reading of keel_rate_now() taken by us, not the caller's
 * time; then the bucket's time never goes back (t = max(now, last)), so
 * callers racing with stale readings cannot make it refill twice. */
typedef bool (*locked_step)(rate_core *c, int64_t t, void *arg);

static void locked_update(keel_rate_limiter *l, int64_t now, bool clock,
                          locked_step step, void *arg) {
  pthread_mutex_lock(&l->mu);
  for (;;) {
    rate_core old, c;
    rate_word w = snapshot(l, &old);
    c = old;
    int64_t t = clock && now < old.last ? old.last : now;
    if (!step(&c, t, arg) || commit(l, w, &old, &c)) break;
  }
  pthread_mutex_unlock(&l->mu);
}

struct reserve_args {
  int64_t n, max_wait;
  keel_rate_reservation r;
};

static bool reserve_step(rate_core *c, int64_t t, void *arg) {
  struct reserve_args *a = arg;
  bool inf = rate_is_inf(c->limit);   /* an infinite limit keeps no state */
  a->r = rate_core_reserve(c, t, a->n, a->max_wait);
  return a->r.ok && !inf;
}

static keel_rate_reservation locked_reserve(keel_rate_limiter *l, int64_t now,
                                            bool clock, int64_t n,
                                            int64_t max_wait) {
  struct reserve_args a = {.n = n, .max_wait = max_wait};
  locked_update(l, now, clock, reserve_step, &a);
  a.r.limiter = l;
  return a.r;
}

/* ---- construction ------------------------------------------------------------------- */

static bool limit_valid(double limit) { return !isnan(limit) && limit >= 0; }

void rate_limiter_init(keel_rate_limiter *l, keel_rate_limit limit,
                       int64_t burst) {
  memset(l, 0, sizeof *l);
  pthread_mutex_init(&l->mu, NULL);
  cfg_write(l, 0, (cfg_snap){limit, burst, 0});
  cfg_write(l, 1, (cfg_snap){limit, burst, 0});
  /* Go's zero state: no tokens, last and lastEvent "never". */
  rate_word w = {double_to_bits(0.0), word_hi(0, true, OFF_NEVER)};
  l->state[0] = w.lo;
  l->state[1] = w.hi;
  l->last_event = RATE_NEVER;
}

void rate_limiter_destroy(keel_rate_limiter *l) { pthread_mutex_destroy(&l->mu); }

int keel_rate_limiter_new(keel_rate_limiter **out, keel_rate_limit limit,
                          int64_t burst) {
  if (!out) return KEEL_EINVAL;
  *out = NULL;
  if (!limit_valid(limit) || burst < 0) return KEEL_EINVAL;
  keel_rate_limiter *l = aligned_alloc(64, (sizeof *l + 63) / 64 * 64);
  if (!l) return KEEL_ENOMEM;
  rate_limiter_init(l, limit, burst);
  *out = l;
  return 0;
}

void keel_rate_limiter_free(keel_rate_limiter *l) {
  if (!l) return;
  rate_limiter_destroy(l);
  free(l);
}

/* ---- limits ----------------------------------------------------------------------------- */

bool keel_rate_limit_is_inf(keel_rate_limit limit) { return rate_is_inf(limit); }

keel_rate_limit keel_rate_every(int64_t interval_ns) {
  if (interval_ns <= 0) return KEEL_RATE_INF;
  return 1 / rate_seconds(interval_ns);
}

keel_rate_limit keel_rate_per(int64_t n, int64_t duration_ns) {
  if (n <= 0) return 0;
  return keel_rate_every(duration_ns / n);
}

keel_rate_limit keel_rate_limiter_limit(keel_rate_limiter *l) {
  return l ? cfg_read_stable(l, NULL).limit : 0;
}

int64_t keel_rate_limiter_burst(keel_rate_limiter *l) {
  return l ? cfg_read_stable(l, NULL).burst : 0;
}

double keel_rate_tokens_at(keel_rate_limiter *l, int64_t now) {
  if (!l) return 0;
  for (;;) {
#ifdef HAVE_ATOMIC_PEEK
    rate_word w = atomic_peek_ok() ? state_peek_atomic(l) : state_load(l);
#else
    rate_word w = state_load(l);
#endif
    cfg_snap s = cfg_read(l, word_gen(w.hi));
    if (word_gen(__atomic_load_n(&l->state[1], __ATOMIC_ACQUIRE)) != word_gen(w.hi))
      continue;
    rate_core c = {bits_to_double(w.lo), decode_last(word_off(w.hi), s.base), 0,
                   s.limit, s.burst};
    return rate_advance(&c, now);
  }
}

double keel_rate_tokens(keel_rate_limiter *l) {
  return keel_rate_tokens_at(l, keel_rate_now());
}

/* ---- allow: the lock-free path ------------------------------------------------------ */

/* The last state this thread published or saw, per limiter: a guess that
 * lets the CAS go first. Alone on a limiter the guess is right and an allow
 * is one CAS; contended, a wrong guess makes the CAS fetch the line for
 * writing at once and hand back the real state (one cache-line transfer per
 * attempt instead of a load and then an upgrade). Only a hint. */
static _Thread_local struct {
  keel_rate_limiter *l;
  rate_word w;
} guess;

/* The guess is written and read as two 8-byte words, never as one 16-byte
 * copy: a 16-byte load of what two 8-byte stores just wrote cannot be
 * forwarded from the store buffer, and stalled every allow by ~5 ns. (The
 * relaxed atomics only keep the compiler from merging them.) */
static inline void guess_set(keel_rate_limiter *l, rate_word w) {
  guess.l = l;
  __atomic_store_n(&guess.w.lo, w.lo, __ATOMIC_RELAXED);
  __atomic_store_n(&guess.w.hi, w.hi, __ATOMIC_RELAXED);
}

static inline bool guess_get(keel_rate_limiter *l, rate_word *w) {
  if (guess.l != l) return false;
  w->lo = __atomic_load_n(&guess.w.lo, __ATOMIC_RELAXED);
  w->hi = __atomic_load_n(&guess.w.hi, __ATOMIC_RELAXED);
  return true;
}

/* A refusal computed from cur (a guess, a torn read, or a state that
 * really was: *exact) stands only if cur really was the state, with its own
 * generation's config slot. True: confirmed. False: cur now holds a state
 * to decide again on (*exact tells whether it really was). */
static inline bool refusal_confirmed(keel_rate_limiter *l, rate_word *cur, bool *exact) {
  unsigned gen = word_gen(cur->hi);
  if (*exact) {
    if (word_gen(__atomic_load_n(&l->state[1], __ATOMIC_ACQUIRE)) == gen) {
      guess_set(l, *cur);
      return true;
    }
    *cur = state_load(l);
    return false;
  }
#ifdef HAVE_ATOMIC_PEEK
  if (atomic_peek_ok()) {   /* check the guess with a load, not a CAS */
    rate_word real = state_peek_atomic(l);
    *exact = true;
    if (real.lo != cur->lo || real.hi != cur->hi) {
      *cur = real;
      return false;
    }
    if (word_gen(__atomic_load_n(&l->state[1], __ATOMIC_ACQUIRE)) == gen) return true;
    *cur = state_peek_atomic(l);
    return false;
  }
#endif
  if (state_cas(l, cur, *cur)) return true;
  *exact = true;   /* a failed CAS hands back a state that really was */
  return false;
}

/* Go's reserveN(now, n, max_wait) without the lock, for the outcomes that
 * leave lastEvent == last: granted with no wait, or refused. Fills *r and
 * returns true; false sends the caller to the locked path (a wait to record,
 * a zero limit, the first use, a time outside the base window). */
static bool reserve_fast(keel_rate_limiter *l, int64_t now, bool clock, int64_t n,
                         int64_t max_wait, keel_rate_reservation *r) {
  bool exact = false;   /* cur really was the state (not torn, not a guess) */
  rate_word cur;
  if (!guess_get(l, &cur)) {
#ifdef HAVE_ATOMIC_PEEK
    exact = atomic_peek_ok();
    cur = exact ? state_peek_atomic(l) : state_peek(l);
#else
    cur = state_peek(l);
#endif
  }
  for (;;) {
    unsigned gen = word_gen(cur.hi);
    cfg_snap s = cfg_read(l, gen);
    int64_t off = word_off(cur.hi);
    if (rate_is_inf(s.limit)) {
      /* Go takes nothing; the answer only needs a limit that really was. */
      uint64_t hi = __atomic_load_n(&l->state[1], __ATOMIC_ACQUIRE);
      if (word_gen(hi) == gen) {
        *r = (keel_rate_reservation){true, n, now, 0, l};
        return true;
      }
      cur = state_peek(l);
      exact = false;
      continue;
    }
    if (s.limit == 0 || off == OFF_NEVER) return false;
    rate_core c = {bits_to_double(cur.lo), rate_add(s.base, off), 0, s.limit,
                   s.burst};
    int64_t t = clock && now < c.last ? c.last : now;
    double tokens = rate_advance(&c, t) - (double)n;
    int64_t wait = 0;
    if (tokens < 0) wait = rate_duration_from_tokens(s.limit, -tokens);
    if (!(n <= s.burst && wait <= max_wait)) {
      if (!refusal_confirmed(l, &cur, &exact)) continue;
      *r = (keel_rate_reservation){false, 0, 0, s.limit, l};
      return true;
    }
    if (wait > 0) return false;   /* lastEvent != last: recorded under mu */
    int64_t noff = rate_sub(t, s.base);
    if (!off_fits(noff)) return false;
    rate_word d = {double_to_bits(tokens), word_hi(gen, true, noff)};
    if (state_cas(l, &cur, d)) {
      guess_set(l, d);
      *r = (keel_rate_reservation){true, n, t, s.limit, l};
      return true;
    }
    exact = true;
  }
}

/* Back-off between CAS attempts under contention, timed by the clock (a
 * pause's length varies 10x between CPUs): from RATE_BACKOFF_MIN ns, doubling
 * up to RATE_BACKOFF_MAX, pausing RATE_PAUSES times between clock reads (a
 * spinning vCPU may share a physical core with the one doing the work). Two
 * threads allowing on one limiter then take turns in runs of hundreds of
 * allows (a CAS fails on ~1% of allows) instead of moving the line between
 * cores on every allow: ~26-33 ns per allow in aggregate on the 2-core EPYC
 * VM we measured on, about one thread's own cost, instead of ~65 ns; a
 * pause-count back-off of ~0.6 us gave runs of ~10 allows and ~48 ns. The
 * waiting thread never touches the line, so the running one keeps it; both
 * still progress (the runs alternate). */
#ifndef RATE_BACKOFF_MIN
#define RATE_BACKOFF_MIN 4000
#endif
#ifndef RATE_BACKOFF_MAX
#define RATE_BACKOFF_MAX 32000
#endif
#ifndef RATE_PAUSES
#define RATE_PAUSES 16
#endif

/* Pauses for *ns, then doubles *ns (up to RATE_BACKOFF_MAX); returns the
 * clock reading that ended the pause, so the retry acts on a fresh time. */
static __attribute__((noinline)) int64_t rate_backoff(int64_t *ns) {
  int64_t end = rate_add(keel_rate_now(), *ns), now;
  do {
    for (int i = 0; i < RATE_PAUSES; i++) keel__cpu_relax();
    now = keel_rate_now();
  } while (now < end);
  if (*ns < RATE_BACKOFF_MAX) *ns *= 2;
  return now;
}

/* allow's own path: Go's reserveN(t, n, 0) with nothing but the outcome to
 * report, so nothing but the state word to compute. Same protocol as
 * reserve_fast (guess, config slot of the state's generation, one CAS; a
 * refusal confirmed on a state that really was). Returns 1 or 0, or -1 for
 * the general path (an infinite or zero limit, the first use, a time
 * outside the base window). */
enum { ALLOW_SLOW = -1 };

static inline __attribute__((always_inline)) int
allow_fast(keel_rate_limiter *l, int64_t now, bool clock, int64_t n,
           int64_t *stamp) {
  rate_word cur;
  bool exact = false, backed_off = false;
  int64_t pause_ns = RATE_BACKOFF_MIN;
  if (!guess_get(l, &cur)) cur = state_peek(l);
  for (;;) {
    const rate_cfg *cf = &l->cfg[(cur.hi >> GEN_SHIFT) & 1];
    double limit =
        bits_to_double(atomic_load_explicit(&cf->limit_bits, memory_order_acquire));
    int64_t burst = atomic_load_explicit(&cf->burst, memory_order_acquire);
    int64_t base = atomic_load_explicit(&cf->base, memory_order_acquire);
    int64_t off = word_off(cur.hi);
    if (__builtin_expect(!(limit > 0 && limit < DBL_MAX) || off == OFF_NEVER, 0))
      return ALLOW_SLOW;
    rate_core c = {bits_to_double(cur.lo), rate_add(base, off), 0, limit, burst};
    int64_t t = clock && now < c.last ? c.last : now;
    double tokens = rate_advance(&c, t) - (double)n;
    if (__builtin_expect(tokens < 0 || n > burst, 0) &&
        !(n <= burst && rate_duration_from_tokens(limit, -tokens) <= 0)) {
      if (refusal_confirmed(l, &cur, &exact)) return 0;
      continue;
    }
    int64_t noff = rate_sub(t, base);
    if (__builtin_expect(!off_fits(noff), 0)) return ALLOW_SLOW;
    rate_word d = {double_to_bits(tokens),
                   (cur.hi & ~(EVL_BIT | OFF_MASK)) | EVL_BIT | ((uint64_t)noff & OFF_MASK)};
    if (__builtin_expect(state_cas(l, &cur, d), 1)) {
      guess_set(l, d);
      if (stamp) *stamp = t;
      return 1;
    }
    exact = true;
    /* Contention. A CAS that failed right after a back-off holds the line
     * and a fresh state: retry at once. Otherwise another thread is on a
     * run of allows: leave it the line for a while (a CAS on a line another
     * core writes costs a transfer each way), then try again with a fresh
     * clock reading and whatever state we have (a failure then brings the
     * line and the state together). */
    if (backed_off) {
      backed_off = false;
      continue;
    }
    int64_t woke = rate_backoff(&pause_ns);
    backed_off = true;
    if (clock) now = woke;
  }
}

static __attribute__((noinline)) bool allow_slow(keel_rate_limiter *l, int64_t now,
                                                bool clock, int64_t n,
                                                int64_t *stamp) {
  keel_rate_reservation r;
  if (!reserve_fast(l, now, clock, n, 0, &r)) r = locked_reserve(l, now, clock, n, 0);
  if (r.ok && stamp) *stamp = r.time_to_act;
  return r.ok;
}

static inline __attribute__((always_inline)) bool
allow_impl(keel_rate_limiter *l, int64_t now, bool clock, int64_t n, int64_t *stamp) {
  int a = allow_fast(l, now, clock, n, stamp);
  if (__builtin_expect(a != ALLOW_SLOW, 1)) return a;
  return allow_slow(l, now, clock, n, stamp);
}

bool keel_rate_allow_n_at(keel_rate_limiter *l, int64_t now, int64_t n) {
  if (!l || n < 0) return false;
  return allow_impl(l, now, false, n, NULL);
}

bool keel_rate_allow_n(keel_rate_limiter *l, int64_t n) {
  if (!l || n < 0) return false;
  return allow_impl(l, rate_clock_now(), true, n, NULL);
}

bool keel_rate_allow(keel_rate_limiter *l) {
  if (!l) return false;
  return allow_impl(l, rate_clock_now(), true, 1, NULL);
}

bool keel_rate_allow_stamped(keel_rate_limiter *l, int64_t n, int64_t *stamp) {
  if (!l || n < 0) return false;
  return allow_impl(l, rate_clock_now(), true, n, stamp);
}

/* ---- reserve and cancel ---------------------------------------------------------------- */

static int reserve_impl(keel_rate_limiter *l, int64_t now, bool clock, int64_t n,
                        int64_t max_wait, keel_rate_reservation *r) {
  if (!r) return KEEL_EINVAL;
  memset(r, 0, sizeof *r);
  if (!l || n < 0) return KEEL_EINVAL;
  if (!reserve_fast(l, now, clock, n, max_wait, r))
    *r = locked_reserve(l, now, clock, n, max_wait);
  return 0;
}

int keel_rate_reserve_n_within_at(keel_rate_limiter *l, int64_t now, int64_t n,
                                  int64_t max_wait, keel_rate_reservation *r) {
  return reserve_impl(l, now, false, n, max_wait, r);
}

int rate_reserve_n_within_now(keel_rate_limiter *l, int64_t now, int64_t n,
                              int64_t max_wait, keel_rate_reservation *r) {
  return reserve_impl(l, now, true, n, max_wait, r);
}

int keel_rate_reserve_n_at(keel_rate_limiter *l, int64_t now, int64_t n,
                           keel_rate_reservation *r) {
  return reserve_impl(l, now, false, n, KEEL_RATE_INF_DURATION, r);
}

int keel_rate_reserve_n(keel_rate_limiter *l, int64_t n, keel_rate_reservation *r) {
  return reserve_impl(l, rate_clock_now(), true, n, KEEL_RATE_INF_DURATION, r);
}

int keel_rate_reserve(keel_rate_limiter *l, keel_rate_reservation *r) {
  return reserve_impl(l, rate_clock_now(), true, 1, KEEL_RATE_INF_DURATION, r);
}

bool keel_rate_reservation_ok(const keel_rate_reservation *r) { return r && r->ok; }

int64_t keel_rate_reservation_delay_from(const keel_rate_reservation *r,
                                         int64_t now) {
  if (!r || !r->ok) return KEEL_RATE_INF_DURATION;
  int64_t d = rate_sub(r->time_to_act, now);
  return d < 0 ? 0 : d;
}

int64_t keel_rate_reservation_delay(const keel_rate_reservation *r) {
  return keel_rate_reservation_delay_from(r, keel_rate_now());
}

static bool cancel_step(rate_core *c, int64_t t, void *r) {
  return rate_core_cancel(c, r, t);
}

static void cancel_impl(keel_rate_reservation *r, int64_t now, bool clock) {
  if (!r || !r->ok || !r->limiter) return;
  /* Go's early returns that do not depend on the limiter: no lock needed. */
  if (r->tokens == 0 || r->time_to_act < now) return;
  locked_update(r->limiter, now, clock, cancel_step, r);
}

void keel_rate_reservation_cancel_at(keel_rate_reservation *r, int64_t now) {
  cancel_impl(r, now, false);
}

void keel_rate_reservation_cancel(keel_rate_reservation *r) {
  cancel_impl(r, rate_clock_now(), true);
}

/* ---- setters --------------------------------------------------------------------------------- */

/* Setters change the configuration under the mutex, published through the
 * same word the lock-free paths read. A clock reading earlier than the last
 * update acts at the last update (see the header). */
static bool set_limit_step(rate_core *c, int64_t t, void *limit) {
  rate_core_set_limit(c, t, *(const keel_rate_limit *)limit);
  return true;
}

static bool set_burst_step(rate_core *c, int64_t t, void *burst) {
  rate_core_set_burst(c, t, *(const int64_t *)burst);
  return true;
}

int keel_rate_set_limit_at(keel_rate_limiter *l, int64_t now, keel_rate_limit limit) {
  if (!l || !limit_valid(limit)) return KEEL_EINVAL;
  locked_update(l, now, false, set_limit_step, &limit);
  return 0;
}

int keel_rate_set_limit(keel_rate_limiter *l, keel_rate_limit limit) {
  if (!l || !limit_valid(limit)) return KEEL_EINVAL;
  locked_update(l, keel_rate_now(), true, set_limit_step, &limit);
  return 0;
}

int keel_rate_set_burst_at(keel_rate_limiter *l, int64_t now, int64_t burst) {
  if (!l || burst < 0) return KEEL_EINVAL;
  locked_update(l, now, false, set_burst_step, &burst);
  return 0;
}

int keel_rate_set_burst(keel_rate_limiter *l, int64_t burst) {
  if (!l || burst < 0) return KEEL_EINVAL;
  locked_update(l, keel_rate_now(), true, set_burst_step, &burst);
  return 0;
}
