/* The error value: constructors, chain, joins, lookups, fields, place, stack,
 * and out-of-memory behaviour of every constructor and setter. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err_test.h"
#include "keel/time.h"

KT_TEST(new_carries_what_when_where) {
  int64_t before = keel_wall_now();
  keel_err *e = keel_err_new("lowlevel", KEEL_ENOTFOUND, "stat %s: %s", "/x", "gone");
  int64_t after = keel_wall_now();
  KT_CHECK_STR(keel_err_message(e), "stat /x: gone");
  KT_CHECK_STR(keel_err_module(e), "lowlevel");
  KT_CHECK_EQ(keel_err_code(e), KEEL_ENOTFOUND);
  KT_CHECK(keel_err_inner(e) == NULL);
  KT_CHECK(keel_err_time(e) >= before && keel_err_time(e) <= after);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  KT_CHECK_STR(keel_err_host(e), host);
  KT_CHECK_EQ(keel_err_pid(e), getpid());
  KT_CHECK(keel_err_thread(e) > 0);
  KT_CHECK_EQ(keel_err_task(e), 0);   /* not in a task (no runtime linked) */
  KT_CHECK(!keel_err_transient(e));
  KT_CHECK(keel_err_friendly(e) == NULL);
  keel_err_release(e);
}

KT_TEST(long_messages_are_kept_whole) {
  char big[3000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  keel_err *e = keel_err_new("m", 0, "<%s>", big);
  KT_CHECK_EQ(strlen(keel_err_message(e)), sizeof big + 1);
  KT_CHECK(keel_err_message(e)[0] == '<');
  keel_err_release(e);
}

KT_TEST(wrap_keeps_the_chain_whole) {
  keel_err *low = keel_err_new("lowlevel", KEEL_ENOTFOUND, "stat failed");
  keel_err *mid = keel_err_wrap(low, "intermediate", "cannot run job \"1\"",
                                "run job %d", 1);
  keel_err *top = keel_err_wrap(mid, "main", NULL, "main failed");
  KT_CHECK_STR(keel_err_module(top), "main");
  KT_CHECK(keel_err_inner(top) == mid);
  KT_CHECK(keel_err_inner(mid) == low);
  KT_CHECK_STR(keel_err_friendly(mid), "cannot run job \"1\"");
  KT_CHECK_EQ(keel_err_code(top), KEEL_ENOTFOUND);   /* the cause's code */
  KT_CHECK(keel_err_has_code(top, KEEL_ENOTFOUND));
  KT_CHECK(!keel_err_has_code(top, KEEL_ETIMEDOUT));
  KT_CHECK(keel_err_has_module(top, "lowlevel"));
  KT_CHECK(keel_err_has_module(top, "intermediate"));
  KT_CHECK(!keel_err_has_module(top, "other"));
  KT_CHECK(keel_err_find_module(top, "lowlevel") == low);
  char *chain = keel_err_chain_message(top);
  KT_CHECK_STR(chain, "main failed: run job 1: stat failed");
  free(chain);
  keel_err_release(top);
}

KT_TEST(wrap_of_null_is_a_fresh_error) {
  keel_err *e = keel_err_wrap(NULL, "mod", "friendly", "msg %d", 7);
  KT_CHECK_STR(keel_err_message(e), "msg 7");
  KT_CHECK(keel_err_inner(e) == NULL);
  KT_CHECK_EQ(keel_err_code(e), 0);
  keel_err_release(e);
}

KT_TEST(joins_are_searched) {
  keel_err *errs[4] = {
      keel_err_new("replica", KEEL_ETIMEDOUT, "replica 1 timed out"),
      NULL,
      keel_err_wrap(keel_err_new("net", KEEL_EUNAVAILABLE, "refused"), "replica",
                    NULL, "replica 2 down"),
      keel_err_new("replica", KEEL_ETIMEDOUT, "replica 3 timed out"),
  };
  keel_err_set_string(errs[3], "replica", "r3");
  keel_err_set_transient(errs[3], true);
  keel_err *j = keel_err_join(errs, 4);
  KT_CHECK_EQ(keel_err_joined_count(j), 3);
  KT_CHECK_STR(keel_err_module(j), "replica");   /* all share the module */
  KT_CHECK_EQ(keel_err_code(j), 0);              /* codes differ */
  KT_CHECK(keel_err_has_code(j, KEEL_EUNAVAILABLE));
  KT_CHECK(keel_err_has_module(j, "net"));
  KT_CHECK(keel_err_any_transient(j));
  /* a wrap carries its cause's code: the outermost match is the wrap */
  KT_CHECK(keel_err_find_code(j, KEEL_EUNAVAILABLE) == keel_err_joined(j, 1));
  KT_CHECK(keel_err_find_module(j, "net") == keel_err_inner(keel_err_joined(j, 1)));
  keel_err_field f = keel_err_lookup(j, "replica");
  KT_CHECK_EQ(f.type, KEEL_ERR_FIELD_STRING);
  KT_CHECK_STR(f.value.s, "r3");
  keel_err *outer = keel_err_wrap(j, "top", NULL, "all replicas failed");
  KT_CHECK(keel_err_has_code(outer, KEEL_EUNAVAILABLE));
  char *chain = keel_err_chain_message(outer);
  KT_CHECK_STR(chain, "all replicas failed: 3 errors [replica 1 timed out; "
                      "replica 2 down: refused; replica 3 timed out]");
  free(chain);
  keel_err_release(outer);
  KT_CHECK(keel_err_join(NULL, 0) == NULL);
  keel_err *none[2] = {NULL, NULL};
  KT_CHECK(keel_err_join(none, 2) == NULL);
}

KT_TEST(fields_of_every_type) {
  keel_err *e = keel_err_new("m", 0, "x");
  KT_CHECK_EQ(keel_err_set_string(e, "job", "1"), 0);
  KT_CHECK_EQ(keel_err_set_int(e, "attempt", -3), 0);
  KT_CHECK_EQ(keel_err_set_float(e, "load", 0.25), 0);
  KT_CHECK_EQ(keel_err_set_bool(e, "retry", true), 0);
  KT_CHECK_EQ(keel_err_set_string(e, "job", "2"), 0);   /* replaces */
  KT_CHECK_EQ(keel_err_field_count(e), 4);
  keel_err_field f = keel_err_field_at(e, 0);
  KT_CHECK_STR(f.key, "job");
  KT_CHECK_STR(f.value.s, "2");
  KT_CHECK_EQ(keel_err_field_at(e, 1).value.i, -3);
  KT_CHECK(keel_err_field_at(e, 2).value.f == 0.25);
  KT_CHECK(keel_err_field_at(e, 3).value.b);
  KT_CHECK_EQ(keel_err_field_at(e, 4).type, KEEL_ERR_FIELD_NONE);
  KT_CHECK_EQ(keel_err_lookup(e, "nope").type, KEEL_ERR_FIELD_NONE);
  KT_CHECK_EQ(keel_err_set_int(e, NULL, 1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_err_set_hint(e, "check %s", "the disk"), 0);
  KT_CHECK_STR(keel_err_hint(e), "check the disk");
  KT_CHECK_EQ(keel_err_set_friendly(e, "disk full"), 0);
  KT_CHECK_EQ(keel_err_set_friendly(e, "disk is full"), 0);
  KT_CHECK_STR(keel_err_friendly(e), "disk is full");
  keel_err *w = keel_err_wrap(e, "up", NULL, "up");
  KT_CHECK_EQ(keel_err_lookup(w, "attempt").value.i, -3);   /* through the chain */
  keel_err_release(w);
}

KT_TEST(from_errno_names_the_errno) {
  keel_err *e = keel_err_from_errno("lowlevel", KEEL_ENOTFOUND, ENOENT, "stat %s",
                                    "/bad/job/binary");
  KT_CHECK_STR(keel_err_message(e), "stat /bad/job/binary: No such file or directory");
  KT_CHECK_EQ(keel_err_lookup(e, "errno").value.i, ENOENT);
  KT_CHECK_STR(keel_err_lookup(e, "errno_name").value.s, "ENOENT");
  keel_err_release(e);
}

KT_TEST(retain_and_release_share_an_error) {
  keel_err *e = keel_err_new("m", 0, "shared");
  keel_err *w1 = keel_err_wrap(keel_err_retain(e), "a", NULL, "a");
  keel_err *w2 = keel_err_wrap(keel_err_retain(e), "b", NULL, "b");
  keel_err_release(e);
  keel_err_release(w1);
  KT_CHECK_STR(keel_err_message(keel_err_inner(w2)), "shared");
  keel_err_release(w2);
  keel_err_release(NULL);
}

KT_TEST(long_chains_release_without_recursion) {
  keel_err *e = keel_err_new("m", 1, "bottom");
  int n = KT_SANITIZED() ? 20000 : 200000;
  for (int i = 0; i < n; i++) e = keel_err_wrap(e, "m", NULL, "level %d", i);
  KT_CHECK(keel_err_has_code(e, 1));
  keel_err_release(e);
}

__attribute__((noinline)) static keel_err *make_here(void) {
  keel_err *e = keel_err_new("m", 0, "here");
  __asm__ volatile("" ::: "memory");   /* keep the call from being a tail call */
  return e;
}

/* Two errors from one call site: same stack, same hash. */
__attribute__((noinline)) static keel_err *make_here_twice(void) {
  keel_err *inner = NULL;
  for (volatile int i = 0; i < 2; i++) inner = keel_err_wrap(inner, "m", NULL, "site");
  return inner;
}

KT_TEST(stack_starts_at_the_caller) {
  keel_err *e = make_here();
  KT_CHECK(keel_err_stack_depth(e) >= 2);
  keel_err_frame f[8];
  size_t n = keel_err_stack(e, f, 8);
  KT_CHECK(n >= 2);
  KT_CHECK_STR(f[0].function, "make_here");
  KT_CHECK(f[0].file != NULL && strstr(f[0].file, "core.c") != NULL);
  KT_CHECK(f[0].line > 0);
  KT_CHECK(f[0].object != NULL && strstr(f[0].object, "test_err_core") != NULL);
  KT_CHECK_STR(f[1].function, "kt_stack_starts_at_the_caller");
  keel_err *two[2];
  for (volatile int i = 0; i < 2; i++) two[i] = make_here();   /* one call site */
  keel_err *again = two[1];
  keel_err_release(two[0]);
  KT_CHECK(keel_err_stack_hash(e) != 0);
  KT_CHECK(keel_err_stack_hash(e) != keel_err_stack_hash(again));   /* other line */
  keel_err *three = make_here_twice();
  KT_CHECK_EQ(keel_err_stack_hash(three), keel_err_stack_hash(keel_err_inner(three)));
  keel_err_release(three);
  keel_err *other = keel_err_new("m", 0, "elsewhere");
  KT_CHECK(keel_err_stack_hash(e) != keel_err_stack_hash(other));
  keel_err_release(e);
  keel_err_release(again);
  keel_err_release(other);
}

KT_TEST(format_shows_everything) {
  keel_err *low = keel_err_new("lowlevel", KEEL_ENOTFOUND, "stat failed");
  keel_err_set_int(low, "attempt", 2);
  keel_err *top = keel_err_wrap(low, "intermediate", "cannot run job", "run job");
  keel_err_set_hint(top, "install the binary");
  char *s = keel_err_format(top);
  KT_CHECK(s != NULL);
  KT_CHECK(strstr(s, "[intermediate] run job") != NULL);
  KT_CHECK(strstr(s, "for the user: cannot run job") != NULL);
  KT_CHECK(strstr(s, "hint: install the binary") != NULL);
  KT_CHECK(strstr(s, "caused by:") != NULL);
  KT_CHECK(strstr(s, "[lowlevel] stat failed (code -18 KEEL_ENOTFOUND)") != NULL);
  KT_CHECK(strstr(s, "attempt = 2") != NULL);
  KT_CHECK(strstr(s, "kt_format_shows_everything") != NULL);
  KT_CHECK(strstr(s, "core.c:") != NULL);
  free(s);
  keel_err_release(top);
}

/* ---- out of memory ------------------------------------------------------------ */

KT_TEST(constructors_survive_allocation_failure) {
  const keel_err *oom = keel_err_out_of_memory();
  fail_from(0);
  keel_err *e = keel_err_new("m", 1, "x");
  KT_CHECK(e == oom);
  KT_CHECK_EQ(keel_err_code(e), KEEL_ENOMEM);
  KT_CHECK_STR(keel_err_message(e), "out of memory");
  keel_err_retain(e);
  keel_err_release(e);
  keel_err_release(e);
  KT_CHECK(keel_err_wrap(NULL, "m", "f", "x") == oom);
  KT_CHECK(keel_err_from_errno("m", 1, EIO, "x") == oom);
  KT_CHECK(keel_err_set_int(e, "k", 1) == KEEL_EINVAL);   /* static: unchanged */
  KT_CHECK_STR(keel_err_message(oom), "out of memory");
  stop_failing();

  /* wrap takes over its inner even when it fails (ASan proves no leak) */
  keel_err *inner = keel_err_new("m", 1, "inner");
  fail_from(0);
  KT_CHECK(keel_err_wrap(inner, "m", NULL, "outer") == oom);
  stop_failing();

  /* join: fail at every allocation in turn */
  for (long k = 0; k < 4; k++) {
    keel_err *parts[2] = {keel_err_new("a", 1, "a"), keel_err_new("b", 2, "b")};
    fail_from(k);
    keel_err *j = keel_err_join(parts, 2);
    stop_failing();
    if (j != oom) KT_CHECK_EQ(keel_err_joined_count(j), 2);
    keel_err_release(j);
  }
  /* from_errno: its fields may fail too */
  for (long k = 0; k < 6; k++) {
    fail_from(k);
    keel_err *x = keel_err_from_errno("m", 1, ENOENT, "f");
    stop_failing();
    KT_CHECK(x == oom || keel_err_lookup(x, "errno_name").type == KEEL_ERR_FIELD_STRING);
    keel_err_release(x);
  }
}

KT_TEST(setters_leave_the_error_unchanged_on_failure) {
  keel_err *e = keel_err_new("m", 0, "x");
  keel_err_set_string(e, "k", "v1");
  for (long k = 0; k < 3; k++) {
    fail_from(k);
    int r1 = keel_err_set_string(e, "k", "v2");
    int r2 = keel_err_set_string(e, "new", "v");
    int r3 = keel_err_set_hint(e, "h");
    int r4 = keel_err_set_friendly(e, "f");
    stop_failing();
    if (r1) KT_CHECK_STR(keel_err_lookup(e, "k").value.s, "v1");
    KT_CHECK(r1 == 0 || r1 == KEEL_ENOMEM);
    if (r2) KT_CHECK_EQ(keel_err_lookup(e, "new").type, KEEL_ERR_FIELD_NONE);
    KT_CHECK(r3 == 0 || r3 == KEEL_ENOMEM);
    KT_CHECK(r4 == 0 || r4 == KEEL_ENOMEM);
  }
  keel_err_release(e);
}

KT_TEST(format_and_encode_fail_cleanly) {
  keel_err *e = keel_err_wrap(keel_err_new("a", 1, "a"), "b", "f", "b");
  keel_err_set_string(e, "k", "v");
  for (long k = 0; k < 40; k++) {
    fail_from(k);
    char *s = keel_err_format(e);
    char *j = NULL;
    size_t len;
    int r = keel_err_encode(e, &j, &len);
    stop_failing();
    KT_CHECK(r == 0 || (r == KEEL_ENOMEM && j == NULL));
    free(s);
    free(j);
  }
  keel_err_release(e);
}

/* Times are written and read without libc's locale/tz machinery: check both
 * directions against gmtime_r for dates from 1870 to 2220. */
KT_TEST(times_match_gmtime) {
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 2000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int64_t sec = (int64_t)(x % (UINT64_C(350) * 365 * 86400)) - INT64_C(100) * 365 * 86400;  /* 1870..2220 */
    int64_t ns = sec * 1000000000 + (int64_t)(x % 1000000000);
    if (i == 0) ns = 0;
    if (i == 1) ns = -1;   /* 1969-12-31T23:59:59.999999999Z */
    time_t t = (time_t)(ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char want[64], json[160];
    snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long long)(((ns % 1000000000) + 1000000000) % 1000000000));
    snprintf(json, sizeof json, "{\"message\":\"x\",\"time\":\"%s\"}", want);
    keel_err *e = NULL;
    KT_CHECK_EQ(keel_err_decode(json, strlen(json), &e, NULL, NULL, 0), 0);
    KT_CHECK_EQ(keel_err_time(e), ns);
    char *out;
    size_t len;
    KT_CHECK_EQ(keel_err_encode(e, &out, &len), 0);
    KT_CHECK(strstr(out, want) != NULL);
    free(out);
    keel_err_release(e);
  }
}

KT_MAIN()
