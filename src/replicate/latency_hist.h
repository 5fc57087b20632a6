/* latency_hist.h — a log-bucketed latency histogram that forgets (private).
 *
 * Buckets: values 0..15 ns have one bucket each; above, every power of two
 * is split into 16 linear sub-buckets, so a bucket is at most 1/16 (6.25%)
 * wide relative to its lower edge. 960 buckets cover 0 .. 2^63 ns.
 *
 * Forgetting: two windows, `cur` and `prev`. Every `window` ns cur becomes
 * prev and a fresh cur starts (two windows without a sample clear both), so
 * a sample counts for between one and two windows. Quantiles read both.
 *
 * Not thread-safe: the hedge policy holds its lock around every call. */
#ifndef KEEL_REPLICATE_LATENCY_HIST_H
#define KEEL_REPLICATE_LATENCY_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEEL_HIST_BUCKETS 960

typedef struct keel_latency_hist {
  uint32_t cur[KEEL_HIST_BUCKETS];
  uint32_t prev[KEEL_HIST_BUCKETS];
  uint64_t ncur, nprev;
  int64_t window;
  int64_t rotate_at;     /* when cur becomes prev; set by the first use */
  bool started;
  /* Quantile cache: recomputed once enough new samples arrived (1/64 of
   * the count) or the windows rotated, so a busy caller does not scan 1920
   * counters per request. */
  double cached_p;
  int64_t cached_value;
  uint64_t dirty;        /* samples recorded since the cache was filled */
  bool cache_valid;
} keel_latency_hist;

void keel_latency_hist_init(keel_latency_hist *h, int64_t window);
void keel_latency_hist_record(keel_latency_hist *h, int64_t now, int64_t v);
uint64_t keel_latency_hist_count(keel_latency_hist *h, int64_t now);
/* The p-quantile (0 < p <= 1), as the upper edge of its bucket; -1 when
 * the histogram is empty. */
int64_t keel_latency_hist_quantile(keel_latency_hist *h, int64_t now, double p);

/* Bucket arithmetic, exposed for tests. */
int keel_latency_hist_bucket(int64_t v);
int64_t keel_latency_hist_upper(int b);

#endif
