/* Rate limiter benchmarks, beside golang.org/x/time/rate (bench/go/rate).
 * Both sides read their own clock on every call (keel_rate_now / time.Now),
 * as real callers do.
 *   rate_allow_1thread         allow on one limiter, one thread (mostly admits)
 *   rate_allow_refused_1thread the refusing path (an empty bucket)
 *   rate_allow_2threads        two threads hammering one limiter; ns per op
 *   rate_reserve_cancel        reserve then cancel
 *   rate_keyed_allow_100k_keys keyed allow over 100,000 keys (Go: map+mutex)
 *   rate_floor_clock           the clock alone: keel_rate_now() (Go: time.Now())
 *   rate_floor_clock_cas16     keel only: a clock reading and one 16-byte
 *                              compare-and-swap publishing it, the least a
 *                              lock-free allow on Go's state must do; its
 *                              ratio to Go's rate_allow_1thread is the best
 *                              ratio this machine allows (docs/rate.md) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "keel/rate.h"

static volatile long sink;

static void allow_1thread(void) {
  keel_rate_limiter *l;
  keel_rate_limiter_new(&l, 1e12, (int64_t)1 << 40);
  long n = 20000000, ok = 0;
  for (long i = 0; i < 100000; i++) ok += keel_rate_allow(l);
  int64_t t0 = keel_now();
  for (long i = 0; i < n; i++) ok += keel_rate_allow(l);
  bench_report("rate_allow_1thread", keel_now() - t0, n);
  sink = ok;
  keel_rate_limiter_free(l);
}

static void floor_clock(void) {
  long n = 20000000;
  int64_t acc = 0, t0 = keel_now();
  for (long i = 0; i < n; i++) acc += keel_rate_now();
  bench_report("rate_floor_clock", keel_now() - t0, n);
  sink = (long)acc;
}

#if defined(__x86_64__)
typedef struct { _Alignas(16) uint64_t lo, hi; } word16;

/* lock cmpxchg16b: *w = {lo, hi} if *w == *expected, else *expected = *w. */
static inline int cas16(word16 *w, word16 *expected, uint64_t lo, uint64_t hi) {
  unsigned char ok;
  __asm__ __volatile__("lock cmpxchg16b %1\n\tsete %0"
                       : "=q"(ok), "+m"(*w), "+a"(expected->lo), "+d"(expected->hi)
                       : "b"(lo), "c"(hi)
                       : "memory", "cc");
  return ok;
}

static void floor_clock_cas16(void) {
  static word16 w;
  word16 cur = {0, 0};
  long n = 20000000;
  int64_t t0 = keel_now();
  for (long i = 0; i < n; i++) {
    uint64_t now = (uint64_t)keel_rate_now();
    while (!cas16(&w, &cur, cur.lo + 1, now)) {
    }
    cur.lo += 1;
    cur.hi = now;
  }
  bench_report("rate_floor_clock_cas16", keel_now() - t0, n);
  sink = (long)w.lo;
}
#else
static void floor_clock_cas16(void) {}
#endif

static void allow_refused(void) {
  keel_rate_limiter *l;
  keel_rate_limiter_new(&l, 1e-3, 1);
  keel_rate_allow(l);
  long n = 20000000, ok = 0;
  int64_t t0 = keel_now();
  for (long i = 0; i < n; i++) ok += keel_rate_allow(l);
  bench_report("rate_allow_refused_1thread", keel_now() - t0, n);
  sink = ok;
  keel_rate_limiter_free(l);
}

typedef struct arg {
  keel_rate_limiter *l;
  long n, ok;
  pthread_barrier_t *b;
} arg;

static void *hammer(void *p) {
  arg *a = p;
  pthread_barrier_wait(a->b);
  long ok = 0;
  for (long i = 0; i < a->n; i++) ok += keel_rate_allow(a->l);
  a->ok = ok;
  return NULL;
}

static void allow_2threads(void) {
  keel_rate_limiter *l;
  keel_rate_limiter_new(&l, 1e12, (int64_t)1 << 40);
  pthread_barrier_t b;
  pthread_barrier_init(&b, NULL, 3);
  long n = 10000000;
  arg a[2] = {{l, n, 0, &b}, {l, n, 0, &b}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, hammer, &a[i]);
  pthread_barrier_wait(&b);
  int64_t t0 = keel_now();
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  bench_report("rate_allow_2threads", keel_now() - t0, 2 * n);
  sink = a[0].ok + a[1].ok;
  pthread_barrier_destroy(&b);
  keel_rate_limiter_free(l);
}

static void reserve_cancel(void) {
  keel_rate_limiter *l;
  keel_rate_limiter_new(&l, 1e12, (int64_t)1 << 40);
  long n = 5000000, ok = 0;
  int64_t t0 = keel_now();
  for (long i = 0; i < n; i++) {
    keel_rate_reservation r;
    keel_rate_reserve(l, &r);
    ok += r.ok;
    keel_rate_reservation_cancel(&r);
  }
  bench_report("rate_reserve_cancel", keel_now() - t0, n);
  sink = ok;
  keel_rate_limiter_free(l);
}

static void keyed_100k(void) {
  keel_rate_keyed_options o = {.limit = 1e6, .burst = 100, .max_keys = 200000};
  keel_rate_keyed *k;
  keel_rate_keyed_new(&k, &o);
  enum { KEYS = 100000 };
  static char keys[KEYS][16];
  static int lens[KEYS];
  for (int i = 0; i < KEYS; i++) lens[i] = snprintf(keys[i], sizeof keys[i], "client-%d", i);
  long n = 5000000, ok = 0;
  uint64_t x = 1;
  for (int i = 0; i < KEYS; i++) ok += keel_rate_keyed_allow(k, keys[i], (size_t)lens[i]);
  int64_t t0 = keel_now();
  for (long i = 0; i < n; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    int j = (int)((x >> 33) % KEYS);
    ok += keel_rate_keyed_allow(k, keys[j], (size_t)lens[j]);
  }
  bench_report("rate_keyed_allow_100k_keys", keel_now() - t0, n);
  sink = ok;
  keel_rate_keyed_free(k);
}

int main(void) {
  allow_1thread();
  allow_refused();
  allow_2threads();
  reserve_cancel();
  keyed_100k();
  floor_clock();
  floor_clock_cas16();
  return 0;
}
