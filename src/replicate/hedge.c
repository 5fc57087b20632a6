/* hedge.c — the hedging policy: when to send another copy, and how many.
 *
 * Invariants:
 *   - every field below `lock` is read and written under it;
 *   - the budget is keel's token-bucket rate limiter driven by a virtual
 *     clock `vnow` that advances TICK ns per primary request and never
 *     otherwise, with limit = budget hedges per TICK. So the bucket earns
 *     `budget` hedges per request whatever the wall-clock rate, and over any
 *     stretch hedges <= budget * requests + burst (gRPC's and Finagle's
 *     retry budget, on the shared limiter);
 *   - vnow starts at one TICK and only grows, so the limiter never sees
 *     time run backwards even when callers race;
 *   - an adaptive policy answers KEEL_FOREVER (no hedge) until the
 *     histogram holds min_samples samples. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "keel/rate.h"
#include "keel/replicate.h"
#include "replicate/latency_hist.h"

#define TICK KEEL_MILLISECOND   /* virtual time per primary request */

struct keel_hedge {
  pthread_mutex_t lock;
  int64_t delay;
  double percentile;
  size_t min_samples;
  size_t max_copies;
  keel_rate_limiter *budget;   /* NULL: no budget */
  int64_t vnow;
  keel_hedge_stats stats;
  keel_latency_hist hist;
};

int keel_hedge_new(keel_hedge **out, const keel_hedge_options *opts) {
  if (!out) return KEEL_EINVAL;
  keel_hedge_options o = {0};
  if (opts) o = *opts;
  if (o.delay < 0 || o.window < 0 || isnan(o.percentile) ||
      o.percentile < 0 || o.percentile >= 1 || isnan(o.budget) ||
      o.budget < 0 || o.budget_burst < 0)
    return KEEL_EINVAL;
  if (o.min_samples == 0) o.min_samples = 100;
  if (o.window == 0) o.window = 10 * KEEL_SECOND;
  if (o.budget == 0) o.budget = 0.05;
  if (o.budget_burst == 0) o.budget_burst = 10;
  if (o.max_copies == 0) o.max_copies = 2;

  keel_hedge *h = calloc(1, sizeof *h);
  if (!h) return KEEL_ENOMEM;
  if (pthread_mutex_init(&h->lock, NULL) != 0) {
    free(h);
    return KEEL_ENOMEM;
  }
  if (!isinf(o.budget)) {
    /* budget hedges per TICK of virtual time, in tokens per second */
    keel_rate_limit limit = (keel_rate_limit)(o.budget * (double)KEEL_SECOND / (double)TICK);
    int rc = keel_rate_limiter_new(&h->budget, limit, o.budget_burst);
    if (rc < 0) {
      pthread_mutex_destroy(&h->lock);
      free(h);
      return rc;
    }
  }
  h->delay = o.delay;
  h->percentile = o.percentile;
  h->min_samples = o.min_samples;
  h->max_copies = o.max_copies;
  h->vnow = TICK;
  keel_latency_hist_init(&h->hist, o.window);
  *out = h;
  return 0;
}

void keel_hedge_free(keel_hedge *h) {
  if (!h) return;
  keel_rate_limiter_free(h->budget);
  pthread_mutex_destroy(&h->lock);
  free(h);
}

size_t keel_hedge_max_copies(const keel_hedge *h) { return h ? h->max_copies : 0; }

int64_t keel_hedge_delay_at(keel_hedge *h, int64_t now) {
  if (!h) return KEEL_FOREVER;
  if (h->percentile == 0) return h->delay;   /* immutable after new */
  pthread_mutex_lock(&h->lock);
  int64_t d = KEEL_FOREVER;
  if (keel_latency_hist_count(&h->hist, now) >= h->min_samples)
    d = keel_latency_hist_quantile(&h->hist, now, h->percentile);
  pthread_mutex_unlock(&h->lock);
  return d < 0 ? KEEL_FOREVER : d;
}

int64_t keel_hedge_delay(keel_hedge *h) { return keel_hedge_delay_at(h, keel_now()); }

void keel_hedge_begin_at(keel_hedge *h, int64_t now) {
  (void)now;
  if (!h) return;
  pthread_mutex_lock(&h->lock);
  h->stats.requests++;
  if (h->vnow <= INT64_MAX - TICK) h->vnow += TICK;
  pthread_mutex_unlock(&h->lock);
}

void keel_hedge_begin(keel_hedge *h) { keel_hedge_begin_at(h, keel_now()); }

bool keel_hedge_allow_at(keel_hedge *h, int64_t now) {
  (void)now;
  if (!h) return false;
  pthread_mutex_lock(&h->lock);
  bool ok = h->budget ? keel_rate_allow_n_at(h->budget, h->vnow, 1) : true;
  if (ok) h->stats.hedges++;
  else h->stats.denied++;
  pthread_mutex_unlock(&h->lock);
  return ok;
}

bool keel_hedge_allow(keel_hedge *h) { return keel_hedge_allow_at(h, keel_now()); }

void keel_hedge_record_at(keel_hedge *h, int64_t now, int64_t latency) {
  if (!h || latency < 0) return;
  pthread_mutex_lock(&h->lock);
  keel_latency_hist_record(&h->hist, now, latency);
  h->stats.samples++;
  pthread_mutex_unlock(&h->lock);
}

void keel_hedge_record(keel_hedge *h, int64_t latency) {
  keel_hedge_record_at(h, keel_now(), latency);
}

size_t keel_hedge_samples_at(keel_hedge *h, int64_t now) {
  if (!h) return 0;
  pthread_mutex_lock(&h->lock);
  size_t n = (size_t)keel_latency_hist_count(&h->hist, now);
  pthread_mutex_unlock(&h->lock);
  return n;
}

int64_t keel_hedge_quantile_at(keel_hedge *h, int64_t now, double p) {
  if (!h || !(p > 0) || p > 1) return -1;
  pthread_mutex_lock(&h->lock);
  int64_t v = keel_latency_hist_quantile(&h->hist, now, p);
  pthread_mutex_unlock(&h->lock);
  return v;
}

void keel_hedge_stats_get(keel_hedge *h, keel_hedge_stats *out) {
  if (!h || !out) return;
  pthread_mutex_lock(&h->lock);
  *out = h->stats;
  pthread_mutex_unlock(&h->lock);
}
