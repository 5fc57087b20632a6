/* Differential test: a line-by-line port of golang.org/x/time/rate's Limiter
 * (kept deliberately naive: one struct, no packing, no atomics) against
 * keel's limiter, on random operation sequences with a fake clock. Every
 * answer must be identical, floating-point bits included.
 *
 * Time conventions of the port, shared with keel: int64 ns, INT64_MIN is Go's
 * zero Time, Sub and Add saturate, and durationFromTokens caps its overflow
 * as newer x/time releases do. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "keel/rate.h"
#include "keel_test.h"

/* ---- the port ---------------------------------------------------------------- */

typedef struct go_limiter {
  double limit;
  int64_t burst;
  double tokens;
  int64_t last, last_event;
} go_limiter;

typedef struct go_res {
  bool ok;
  go_limiter *lim;
  int64_t tokens, time_to_act;
  double limit;
} go_res;

static const double go_inf = DBL_MAX;
static bool go_is_inf(double l) { return l == go_inf; }   /* callers map INF */

static int64_t go_sub(int64_t a, int64_t b) {
  int64_t d;
  if (__builtin_sub_overflow(a, b, &d)) return a > b ? INT64_MAX : INT64_MIN;
  return d;
}
static int64_t go_add(int64_t a, int64_t d) {
  int64_t r;
  if (__builtin_add_overflow(a, d, &r)) return d > 0 ? INT64_MAX : INT64_MIN;
  return r;
}
static double go_seconds(int64_t d) {
  int64_t sec = d / 1000000000, nsec = d % 1000000000;
  return (double)sec + (double)nsec / 1e9;
}
static int64_t go_duration_from_tokens(double limit, double tokens) {
  if (limit <= 0) return INT64_MAX;
  double seconds = tokens / limit;
  double d = 1e9 * seconds;
  if (d >= 9223372036854775808.0) return INT64_MAX;
  if (d < -9223372036854775808.0) return INT64_MIN;
  return (int64_t)d;
}
static double go_tokens_from_duration(double limit, int64_t d) {
  if (limit <= 0) return 0;
  return go_seconds(d) * limit;
}
static void go_advance(go_limiter *lim, int64_t t, int64_t *nt, double *ntok) {
  int64_t last = lim->last;
  if (t < last) last = t;
  int64_t elapsed = go_sub(t, last);
  double delta = go_tokens_from_duration(lim->limit, elapsed);
  double tokens = lim->tokens + delta;
  double burst = (double)lim->burst;
  if (tokens > burst) tokens = burst;
  *nt = t;
  *ntok = tokens;
}
static go_res go_reserve_n(go_limiter *lim, int64_t t, int64_t n, int64_t max_future) {
  if (go_is_inf(lim->limit)) return (go_res){true, lim, n, t, 0};
  if (lim->limit == 0) {
    bool ok = false;
    if (lim->burst >= n) {
      ok = true;
      lim->burst -= n;
    }
    return (go_res){ok, lim, lim->burst, t, 0};
  }
  double tokens;
  go_advance(lim, t, &t, &tokens);
  tokens -= (double)n;
  int64_t wait = 0;
  if (tokens < 0) wait = go_duration_from_tokens(lim->limit, -tokens);
  bool ok = n <= lim->burst && wait <= max_future;
  go_res r = {ok, lim, 0, 0, lim->limit};
  if (ok) {
    r.tokens = n;
    r.time_to_act = go_add(t, wait);
    lim->last = t;
    lim->tokens = tokens;
    lim->last_event = r.time_to_act;
  }
  return r;
}
static void go_cancel_at(go_res *r, int64_t t) {
  if (!r->ok) return;
  go_limiter *lim = r->lim;
  if (go_is_inf(lim->limit) || r->tokens == 0 || r->time_to_act < t) return;
  double restore = (double)r->tokens -
      go_tokens_from_duration(r->limit, go_sub(lim->last_event, r->time_to_act));
  if (restore <= 0) return;
  double tokens;
  go_advance(lim, t, &t, &tokens);
  tokens += restore;
  if (tokens > (double)lim->burst) tokens = (double)lim->burst;
  lim->last = t;
  lim->tokens = tokens;
  if (r->time_to_act == lim->last_event) {
    int64_t prev = go_add(r->time_to_act,
                          go_duration_from_tokens(r->limit, (double)-r->tokens));
    if (!(prev < t)) lim->last_event = prev;
  }
}
static void go_set_limit_at(go_limiter *lim, int64_t t, double limit) {
  double tokens;
  go_advance(lim, t, &t, &tokens);
  lim->last = t;
  lim->tokens = tokens;
  lim->limit = limit;
}
static void go_set_burst_at(go_limiter *lim, int64_t t, int64_t burst) {
  double tokens;
  go_advance(lim, t, &t, &tokens);
  lim->last = t;
  lim->tokens = tokens;
  lim->burst = burst;
}
static double go_tokens_at(go_limiter *lim, int64_t t) {
  double tokens;
  go_advance(lim, t, &t, &tokens);
  return tokens;
}
static go_limiter go_new(double limit, int64_t burst) {
  return (go_limiter){limit >= DBL_MAX ? go_inf : limit, burst, 0, INT64_MIN, INT64_MIN};
}

/* ---- the driver ---------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static uint64_t below(uint64_t n) { return next() % n; }

static const double limits[] = {0, 1e-300, 1e-12, 1e-9, 0.1, 0.5, 1, 2, 3, 7.5,
                                 1000, 1e6, 1e9, 3e9, 1e15, 1e300, INFINITY};
static const int64_t bursts[] = {0, 1, 2, 3, 5, 10, 100, 1000000};

static double pick_limit(void) {
  if (below(8) == 0) return (double)(next() >> 11) / (double)(1ull << 53) * 100;
  return limits[below(sizeof limits / sizeof *limits)];
}

static int64_t step(int64_t t) {
  switch (below(12)) {
  case 0: return t;                                       /* same instant */
  case 1: return go_sub(t, (int64_t)below(5000000000ull)); /* backwards */
  case 2: return go_add(t, (int64_t)below(1ull << 50));   /* days: rebases */
  case 3: return (int64_t)(next() >> 1) * (below(2) ? 1 : -1); /* anywhere */
  case 4: return go_add(t, 1);
  default: return go_add(t, (int64_t)below(3000000000ull));
  }
}

static bool same_double(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

#define MAXRES 64

static int run_sequence(int ops, int *mismatch_at) {
  double limit = pick_limit();
  int64_t burst = bursts[below(sizeof bursts / sizeof *bursts)];
  go_limiter g = go_new(limit, burst);
  keel_rate_limiter *k;
  if (keel_rate_limiter_new(&k, limit, burst) != 0) return -1;
  go_res gres[MAXRES];
  keel_rate_reservation kres[MAXRES];
  int nres = 0;
  int64_t t = below(4) == 0 ? (int64_t)(next() >> 1) : (int64_t)below(10000000000ull);
  for (int i = 0; i < ops; i++) {
    t = step(t);
    int64_t n = below(4) == 0 ? (int64_t)below(12) : 1;
    switch (below(9)) {
    case 0:
    case 1: {
      bool a = go_reserve_n(&g, t, n, 0).ok;
      bool b = keel_rate_allow_n_at(k, t, n);
      if (a != b) goto bad;
      break;
    }
    case 2:
    case 3: {
      int64_t maxf = below(3) == 0 ? (int64_t)below(4000000000ull) : INT64_MAX;
      go_res a = go_reserve_n(&g, t, n, maxf);
      keel_rate_reservation b;
      if (keel_rate_reserve_n_within_at(k, t, n, maxf, &b) != 0) goto bad;
      if (a.ok != b.ok || a.tokens != b.tokens || a.time_to_act != b.time_to_act ||
          !same_double(a.limit, b.limit))
        goto bad;
      if (keel_rate_reservation_delay_from(&b, t) !=
          (a.ok ? (a.time_to_act - t < 0 ? 0 : go_sub(a.time_to_act, t)) : INT64_MAX))
        goto bad;
      if (nres < MAXRES) {
        gres[nres] = a;
        kres[nres++] = b;
      }
      break;
    }
    case 4:
      if (nres > 0) {
        int j = (int)below((uint64_t)nres);
        go_cancel_at(&gres[j], t);
        keel_rate_reservation_cancel_at(&kres[j], t);
        gres[j] = gres[--nres];
        kres[j] = kres[nres];
      }
      break;
    case 5:
      if (below(4) == 0) {
        double nl = pick_limit();
        go_set_limit_at(&g, t, nl >= DBL_MAX ? go_inf : nl);
        if (keel_rate_set_limit_at(k, t, nl) != 0) goto bad;
      } else {
        int64_t nb = bursts[below(sizeof bursts / sizeof *bursts)];
        go_set_burst_at(&g, t, nb);
        if (keel_rate_set_burst_at(k, t, nb) != 0) goto bad;
      }
      break;
    default:
      break;
    }
    /* The whole observable state must agree after every operation. */
    if (!same_double(go_tokens_at(&g, t), keel_rate_tokens_at(k, t))) goto bad;
    int64_t later = go_add(t, (int64_t)below(2000000000ull));
    if (!same_double(go_tokens_at(&g, later), keel_rate_tokens_at(k, later))) goto bad;
    if (keel_rate_limiter_burst(k) != g.burst) goto bad;
    double kl = keel_rate_limiter_limit(k);
    if (!(kl >= DBL_MAX ? go_is_inf(g.limit) : same_double(kl, g.limit))) goto bad;
    continue;
  bad:
    *mismatch_at = i;
    fprintf(stderr, "  mismatch at op %d: limit %g burst %lld t %lld\n", i, limit,
            (long long)burst, (long long)t);
    keel_rate_limiter_free(k);
    return 1;
  }
  keel_rate_limiter_free(k);
  return 0;
}

KT_TEST(differential_random_sequences_match_go) {
  int sequences = KT_SANITIZED() ? 3000 : 20000;
  for (int s = 0; s < sequences; s++) {
    int at = -1;
    uint64_t seed = rng;
    int rc = run_sequence(200, &at);
    if (rc != 0) KT_FAIL("sequence %d (seed %llu) differs at op %d", s,
                         (unsigned long long)seed, at);
  }
}

/* Steady traffic at a real-looking rate: a long run where every allow and
 * reserve must match, with the clock only moving forward by small steps. */
KT_TEST(differential_long_steady_run) {
  go_limiter g = go_new(3.7, 4);
  keel_rate_limiter *k;
  KT_CHECK_EQ(keel_rate_limiter_new(&k, 3.7, 4), 0);
  int64_t t = 1000;
  int admitted = 0;
  for (int i = 0; i < 200000; i++) {
    t += (int64_t)below(200000000);
    bool a = go_reserve_n(&g, t, 1, 0).ok;
    bool b = keel_rate_allow_n_at(k, t, 1);
    if (a != b) {
      keel_rate_limiter_free(k);
      KT_FAIL("allow %d differs at t=%lld", i, (long long)t);
    }
    admitted += a;
  }
  KT_CHECK(admitted > 1000);
  KT_CHECK(same_double(go_tokens_at(&g, t), keel_rate_tokens_at(k, t)));
  keel_rate_limiter_free(k);
}

KT_MAIN()
