/* Errors: creating with a stack, wrapping three times, formatting in full.
 * Twin: bench/go/err/main.go (github.com/pkg/errors, as the book uses).
 *   err_new_with_stack  keel_err_new (time, place, raw stack) + release
 *                       vs errors.New (stack via runtime.Callers)
 *   err_wrap3           new + three wraps, each capturing its own stack, then
 *                       release vs errors.New + 3x errors.Wrap
 *   err_format_full     the whole chain as text with symbolized stacks
 *                       (keel_err_format; symbols cached after the first)
 *                       vs fmt.Sprintf("%+v", err)
 * The calls sit three functions below main in both, so stacks are alike. */
#include <stdlib.h>

#include "bench.h"
#include "keel/err.h"

static volatile uintptr_t sink;

__attribute__((noinline)) static keel_err *make_new(void) {
  return keel_err_new("bench", 0, "something failed");
}

__attribute__((noinline)) static keel_err *make_wrap3(void) {
  keel_err *e = keel_err_new("bench", 0, "something failed");
  e = keel_err_wrap(e, "bench", NULL, "layer one");
  e = keel_err_wrap(e, "bench", NULL, "layer two");
  return keel_err_wrap(e, "bench", NULL, "layer three");
}

static int64_t run_new(int64_t n) {
  int64_t t0 = keel_now();
  for (int64_t i = 0; i < n; i++) {
    keel_err *e = make_new();
    sink += (uintptr_t)e;
    keel_err_release(e);
  }
  return keel_now() - t0;
}

static int64_t run_wrap3(int64_t n) {
  int64_t t0 = keel_now();
  for (int64_t i = 0; i < n; i++) {
    keel_err *e = make_wrap3();
    sink += (uintptr_t)e;
    keel_err_release(e);
  }
  return keel_now() - t0;
}

static int64_t run_format(int64_t n) {
  keel_err *e = make_wrap3();
  int64_t t0 = keel_now();
  for (int64_t i = 0; i < n; i++) {
    char *s = keel_err_format(e);
    sink += (uintptr_t)s;
    free(s);
  }
  int64_t dt = keel_now() - t0;
  keel_err_release(e);
  return dt;
}

/* Grows n until a run takes ~0.1 s, then reports the best of five such runs
 * (the machine is shared: the best run is the least disturbed; the Go twin
 * does the same). */
__attribute__((noinline)) static void bench(const char *name, int64_t (*fn)(int64_t)) {
  int64_t n = 1000, dt = fn(100);   /* warm up: caches, symbols */
  for (;;) {
    dt = fn(n);
    if (dt > 100 * KEEL_MILLISECOND || n > (INT64_C(1) << 30)) break;
    n = dt > 0 ? n * 2 > n * (120 * KEEL_MILLISECOND) / dt ? n * 2
                                                            : n * (120 * KEEL_MILLISECOND) / dt
               : n * 10;
  }
  for (int r = 0; r < 4; r++) {
    int64_t again = fn(n);
    if (again < dt) dt = again;
  }
  bench_report(name, dt, n);
}

__attribute__((noinline)) static void bench_all(void) {
  bench("err_new_with_stack", run_new);
  bench("err_wrap3", run_wrap3);
  bench("err_format_full", run_format);
}

int main(void) {
  bench_all();
  return 0;
}
