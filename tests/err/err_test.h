/* Shared helpers of the errors module's tests: keel_test.h with a working
 * KT_TEST, and an allocator that fails on demand. */
#ifndef KEEL_ERR_TEST_H
#define KEEL_ERR_TEST_H

#include "keel_test.h"
#include "keel/err.h"

/* keel_test.h's KT_TEST names its parameter `name`, which also replaces the
 * `.name` member in its body. Same macro with a parameter that cannot clash. */
#undef KT_TEST
#define KT_TEST(test_)                                                  \
  static void kt_##test_(void);                                         \
  __attribute__((constructor)) static void kt_reg_##test_(void) {        \
    kt_cases[kt_ncases++] = (struct kt_case){#test_, kt_##test_};       \
  }                                                                     \
  static void kt_##test_(void)

/* -1: never fail; n: allocation calls after the n-th fail. */
static long et_fail_after = -1;
static long et_alloc_calls;

static inline void *et_alloc(size_t n) {
  if (et_fail_after >= 0 && et_alloc_calls++ >= et_fail_after) return NULL;
  return malloc(n);
}
static inline void *et_realloc(void *p, size_t n) {
  if (et_fail_after >= 0 && et_alloc_calls++ >= et_fail_after) return NULL;
  return realloc(p, n);
}

static inline void fail_from(long n) {
  static const keel_err_allocator failing = {et_alloc, et_realloc, free};
  et_fail_after = n;
  et_alloc_calls = 0;
  keel_err_set_allocator(&failing);
}

static inline void stop_failing(void) {
  et_fail_after = -1;
  keel_err_set_allocator(NULL);
}

/* Reads a whole file (NUL-terminated, malloc'd) or NULL. */
static inline char *et_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *p = malloc(cap);
  for (;;) {
    if (n + 1024 + 1 > cap) p = realloc(p, cap *= 2);
    size_t r = fread(p + n, 1, 1024, f);
    if (r == 0) break;
    n += r;
  }
  fclose(f);
  p[n] = 0;
  if (len) *len = n;
  return p;
}

#endif
