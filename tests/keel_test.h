/* keel's tiny test harness: one binary per file, each test a function.
 *
 *   KT_TEST(channel_closes) { KT_CHECK(x == 1); KT_CHECK_EQ(a, b); }
 *   KT_MAIN()
 *
 * A failed check reports file, line and the expression, marks the test
 * failed and returns from it. The binary prints "N passed, N failed" and
 * exits non-zero when any test failed. KT_SANITIZED() tells a test it runs
 * under ASan or TSan, so heavy tests can scale down (never skip). It is also
 * true under an emulator (qemu-user in the aarch64 cross check, which sets
 * KEEL_TEST_EMULATOR): like a sanitizer, it slows code down many times and
 * runs threads of its own. KT_EMULATED() tells the emulator case apart. */
#ifndef KEEL_TEST_H
#define KEEL_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*kt_fn)(void);
struct kt_case { const char *name; kt_fn fn; };
static struct kt_case kt_cases[512];
static int kt_ncases;
static int kt_failed_now;

#define KT_TEST(test_name)                                              \
  static void kt_##test_name(void);                                     \
  __attribute__((constructor)) static void kt_reg_##test_name(void) {   \
    kt_cases[kt_ncases].name = #test_name;                              \
    kt_cases[kt_ncases++].fn = kt_##test_name;                          \
  }                                                                     \
  static void kt_##test_name(void)

#define KT_FAIL(...)                                                    \
  do {                                                                  \
    fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                   \
    fprintf(stderr, __VA_ARGS__);                                       \
    fprintf(stderr, "\n");                                              \
    kt_failed_now = 1;                                                  \
    return;                                                             \
  } while (0)

#define KT_CHECK(cond)                                                  \
  do { if (!(cond)) KT_FAIL("check failed: %s", #cond); } while (0)

#define KT_CHECK_EQ(a, b)                                               \
  do {                                                                  \
    long long kt_a_ = (long long)(a), kt_b_ = (long long)(b);           \
    if (kt_a_ != kt_b_)                                                 \
      KT_FAIL("%s == %s failed: %lld != %lld", #a, #b, kt_a_, kt_b_);   \
  } while (0)

#define KT_CHECK_STR(a, b)                                              \
  do {                                                                  \
    const char *kt_a_ = (a), *kt_b_ = (b);                              \
    if (!kt_a_ || !kt_b_ || strcmp(kt_a_, kt_b_) != 0)                  \
      KT_FAIL("%s == %s failed: \"%s\" != \"%s\"", #a, #b,              \
              kt_a_ ? kt_a_ : "(null)", kt_b_ ? kt_b_ : "(null)");      \
  } while (0)

static inline bool KT_EMULATED(void) {
  const char *e = getenv("KEEL_TEST_EMULATOR");
  return e && *e;
}

static inline bool KT_SANITIZED(void) {
  const char *s = getenv("KEEL_TEST_SANITIZE");
  return (s && *s && strcmp(s, "none") != 0) || KT_EMULATED();
}

#define KT_MAIN()                                                       \
  int main(int argc, char **argv) {                                     \
    int passed = 0, failed = 0;                                         \
    for (int i = 0; i < kt_ncases; i++) {                               \
      if (argc > 1 && strstr(kt_cases[i].name, argv[1]) == NULL)        \
        continue;                                                       \
      kt_failed_now = 0;                                                \
      kt_cases[i].fn();                                                 \
      fprintf(stderr, "%s %s\n", kt_failed_now ? "FAIL" : "ok  ",       \
              kt_cases[i].name);                                        \
      if (kt_failed_now) failed++; else passed++;                       \
    }                                                                   \
    printf("%d passed, %d failed\n", passed, failed);                   \
    return failed ? 1 : 0;                                              \
  }

#endif
