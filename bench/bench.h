/* bench.h — shared helpers for keel's benchmark programs (bench/run.sh).
 * A benchmark prints "BENCH <case> <ns per op>" lines; its Go twin prints the
 * same case names. Measure enough iterations to run ~0.2-1 s per case. */
#ifndef KEEL_BENCH_H
#define KEEL_BENCH_H

#include <stdio.h>
#include <stdint.h>
#include <sys/resource.h>

#include "keel/time.h"

static inline void bench_report(const char *name, int64_t elapsed_ns, int64_t ops) {
  printf("BENCH %s %.3f\n", name, (double)elapsed_ns / (double)(ops ? ops : 1));
  fflush(stdout);
}

static inline void bench_report_unit(const char *name, double value, const char *unit) {
  printf("BENCH %s %.3f %s\n", name, value, unit);
  fflush(stdout);
}

/* Peak resident set size of this process, in KiB. */
static inline long bench_peak_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

#endif
