/* latency_hist.c — the hedge policy's latency histogram (see latency_hist.h).
 *
 * Invariants: ncur == sum(cur) and nprev == sum(prev); rotate_at > the
 * latest `now` seen once started; a cached quantile is only returned for the
 * same p while cache_valid, and cache_valid drops on rotation. Time that
 * runs backwards (a caller's stale `now`) never rotates. */
#include "replicate/latency_hist.h"

#include <math.h>
#include <string.h>

void keel_latency_hist_init(keel_latency_hist *h, int64_t window) {
  memset(h, 0, sizeof *h);
  h->window = window > 0 ? window : 1;
}

int keel_latency_hist_bucket(int64_t v) {
  if (v < 16) return v < 0 ? 0 : (int)v;
  int e = 63 - __builtin_clzll((unsigned long long)v);   /* 4..62 */
  int sub = (int)((v >> (e - 4)) & 15);
  return 16 + (e - 4) * 16 + sub;
}

int64_t keel_latency_hist_upper(int b) {
  if (b < 16) return b;
  int e = (b - 16) / 16 + 4, sub = (b - 16) % 16;
  /* ((16 + sub + 1) << (e - 4)) - 1, saturating at the top bucket */
  if (e == 62 && sub == 15) return INT64_MAX;
  return ((int64_t)(16 + sub + 1) << (e - 4)) - 1;
}

static void advance(keel_latency_hist *h, int64_t now) {
  if (!h->started) {
    h->started = true;
    h->rotate_at = now > INT64_MAX - h->window ? INT64_MAX : now + h->window;
    return;
  }
  if (now < h->rotate_at) return;
  if (now - h->rotate_at >= h->window) {          /* two windows passed */
    memset(h->prev, 0, sizeof h->prev);
    h->nprev = 0;
  } else {
    memcpy(h->prev, h->cur, sizeof h->prev);
    h->nprev = h->ncur;
  }
  memset(h->cur, 0, sizeof h->cur);
  h->ncur = 0;
  int64_t behind = (now - h->rotate_at) / h->window + 1;
  h->rotate_at += behind * h->window;
  h->cache_valid = false;
}

void keel_latency_hist_record(keel_latency_hist *h, int64_t now, int64_t v) {
  advance(h, now);
  int b = keel_latency_hist_bucket(v);
  if (h->cur[b] == UINT32_MAX) return;            /* saturated: drop */
  h->cur[b]++;
  h->ncur++;
  h->dirty++;
}

uint64_t keel_latency_hist_count(keel_latency_hist *h, int64_t now) {
  advance(h, now);
  return h->ncur + h->nprev;
}

int64_t keel_latency_hist_quantile(keel_latency_hist *h, int64_t now, double p) {
  advance(h, now);
  uint64_t total = h->ncur + h->nprev;
  if (total == 0 || !(p > 0)) return -1;
  if (p > 1) p = 1;
  if (h->cache_valid && h->cached_p == p && h->dirty <= total / 64)
    return h->cached_value;
  uint64_t rank = (uint64_t)ceil(p * (double)total);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  int64_t value = keel_latency_hist_upper(KEEL_HIST_BUCKETS - 1);
  for (int b = 0; b < KEEL_HIST_BUCKETS; b++) {
    seen += (uint64_t)h->cur[b] + h->prev[b];
    if (seen >= rank) {
      value = keel_latency_hist_upper(b);
      break;
    }
  }
  h->cached_p = p;
  h->cached_value = value;
  h->dirty = 0;
  h->cache_valid = true;
  return value;
}
