/* Errors cross process boundaries: a child process (this binary, exec'ed
 * again, so with its own address-space layout) builds a rich error and writes
 * it as JSON to a pipe; the parent decodes it and checks that every part
 * survived, that lookups work on it, and that re-encoding gives the same
 * bytes. Two children, two layouts: same stack hash, same offsets. */
#include <math.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err_test.h"
#include "keel/time.h"

extern char **environ;

__attribute__((noinline)) static keel_err *lowlevel_stat(void) {
  keel_err *e = keel_err_from_errno("lowlevel", KEEL_ENOTFOUND, 2, "stat %s",
                                    "/bad/job/binary");
  keel_err_set_string(e, "path", "/bad/job/binary \"quoted\"\n\ttabbed \xc3\xa9\xe2\x82\xac");
  keel_err_set_int(e, "big", INT64_MIN);
  keel_err_set_float(e, "ratio", 0.1);
  keel_err_set_float(e, "whole", 3.0);
  keel_err_set_float(e, "inf", INFINITY);
  keel_err_set_float(e, "nan", NAN);
  keel_err_set_bool(e, "checked", true);
  return e;
}

__attribute__((noinline)) static keel_err *build_rich(void) {
  keel_err *low = lowlevel_stat();
  keel_err *mid = keel_err_wrap(low, "intermediate",
                                "cannot run job \"1\": requisite binaries not available",
                                "cannot run job %s", "\"1\"");
  keel_err_set_hint(mid, "install the job binary");
  keel_err_set_transient(mid, true);
  keel_err *parts[2] = {mid, keel_err_new("replica", KEEL_ETIMEDOUT, "replica b timed out")};
  keel_err *j = keel_err_join(parts, 2);
  return keel_err_wrap(j, "main", NULL, "all attempts failed");
}

/* In the child: write the error to the fd named by ERR_RT_FD. */
KT_TEST(child_writes_its_error) {
  const char *fd = getenv("ERR_RT_FD");
  if (!fd) return;
  keel_err *e = build_rich();
  char *json;
  size_t len;
  KT_CHECK_EQ(keel_err_encode(e, &json, &len), 0);
  KT_CHECK(write(atoi(fd), json, len) == (ssize_t)len);
  free(json);
  keel_err_release(e);
}

/* Runs a child and returns what it wrote (malloc'd), and its pid. */
static char *run_child(pid_t *pid_out, size_t *len_out) {
  int p[2];
  if (pipe(p) != 0) return NULL;
  char fdenv[32];
  snprintf(fdenv, sizeof fdenv, "ERR_RT_FD=%d", p[1]);
  char *env[256];
  size_t n = 0;
  for (char **e = environ; *e && n < 250; e++) env[n++] = *e;
  env[n++] = fdenv;
  env[n] = NULL;
  char *argv[] = {"roundtrip", "child_writes_its_error", NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int r = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (r != 0) { close(p[0]); return NULL; }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
    ssize_t k = read(p[0], buf + len, cap - len - 1);
    if (k <= 0) break;
    len += (size_t)k;
  }
  close(p[0]);
  int status;
  waitpid(pid, &status, 0);
  buf[len] = 0;
  *pid_out = pid;
  *len_out = len;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { free(buf); return NULL; }
  return buf;
}

KT_TEST(decoded_in_another_process) {
  int64_t before = keel_wall_now();
  pid_t pid;
  size_t len;
  char *json = run_child(&pid, &len);
  int64_t after = keel_wall_now();
  KT_CHECK(json != NULL && len > 0);
  keel_err *e = NULL;
  char why[200], id[16];
  int r = keel_err_decode(json, len, &e, id, why, sizeof why);
  if (r) fprintf(stderr, "decode: %s\n", why);
  KT_CHECK_EQ(r, 0);
  KT_CHECK_STR(id, "");

  KT_CHECK_STR(keel_err_module(e), "main");
  KT_CHECK_STR(keel_err_message(e), "all attempts failed");
  const keel_err *j = keel_err_inner(e);
  KT_CHECK_EQ(keel_err_joined_count(j), 2);
  const keel_err *mid = keel_err_joined(j, 0);
  KT_CHECK_STR(keel_err_module(mid), "intermediate");
  KT_CHECK_STR(keel_err_friendly(mid), "cannot run job \"1\": requisite binaries not available");
  KT_CHECK_STR(keel_err_hint(mid), "install the job binary");
  KT_CHECK(keel_err_transient(mid));
  const keel_err *low = keel_err_inner(mid);
  KT_CHECK_STR(keel_err_module(low), "lowlevel");
  KT_CHECK_EQ(keel_err_code(low), KEEL_ENOTFOUND);
  KT_CHECK_STR(keel_err_message(low), "stat /bad/job/binary: No such file or directory");
  KT_CHECK(keel_err_time(low) >= before && keel_err_time(low) <= after);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  KT_CHECK_STR(keel_err_host(low), host);
  KT_CHECK_EQ(keel_err_pid(low), pid);
  KT_CHECK(keel_err_thread(low) > 0);

  /* lookups on the decoded error */
  KT_CHECK(keel_err_has_code(e, KEEL_ENOTFOUND));
  KT_CHECK(keel_err_has_code(e, KEEL_ETIMEDOUT));
  KT_CHECK(keel_err_has_module(e, "lowlevel"));
  KT_CHECK(keel_err_has_module(e, "replica"));
  KT_CHECK(keel_err_any_transient(e));
  KT_CHECK_STR(keel_err_lookup(e, "path").value.s,
               "/bad/job/binary \"quoted\"\n\ttabbed \xc3\xa9\xe2\x82\xac");
  KT_CHECK_EQ(keel_err_lookup(e, "big").type, KEEL_ERR_FIELD_INT);
  KT_CHECK(keel_err_lookup(e, "big").value.i == INT64_MIN);
  KT_CHECK(keel_err_lookup(e, "ratio").value.f == 0.1);
  KT_CHECK_EQ(keel_err_lookup(e, "whole").type, KEEL_ERR_FIELD_FLOAT);
  KT_CHECK(keel_err_lookup(e, "inf").value.f == INFINITY);
  KT_CHECK(isnan(keel_err_lookup(e, "nan").value.f));
  KT_CHECK(keel_err_lookup(e, "checked").value.b);
  KT_CHECK_EQ(keel_err_lookup(e, "errno").value.i, 2);

  /* the stack, symbolized in the child */
  keel_err_frame f[8];
  size_t n = keel_err_stack(low, f, 8);
  KT_CHECK(n >= 3);
  KT_CHECK_STR(f[0].function, "lowlevel_stat");
  KT_CHECK_STR(f[1].function, "build_rich");
  KT_CHECK(f[0].file && strstr(f[0].file, "roundtrip.c"));
  KT_CHECK(f[0].line > 0);
  KT_CHECK(keel_err_stack_hash(low) != 0);

  /* re-encoding gives the same bytes */
  char *again;
  size_t again_len;
  KT_CHECK_EQ(keel_err_encode(e, &again, &again_len), 0);
  KT_CHECK_EQ(again_len, len);
  KT_CHECK(memcmp(again, json, len) == 0);
  free(again);

  /* another child, another address-space layout: same hash and offsets */
  pid_t pid2;
  size_t len2;
  char *json2 = run_child(&pid2, &len2);
  keel_err *e2 = NULL;
  KT_CHECK_EQ(keel_err_decode(json2, len2, &e2, NULL, NULL, 0), 0);
  const keel_err *low2 = keel_err_inner(keel_err_joined(keel_err_inner(e2), 0));
  KT_CHECK_EQ(keel_err_stack_hash(low2), keel_err_stack_hash(low));
  keel_err_frame g[8];
  KT_CHECK_EQ(keel_err_stack(low2, g, 8), n);
  KT_CHECK_EQ(g[0].offset, f[0].offset);
  KT_CHECK_STR(g[0].function, f[0].function);
  keel_err_release(e2);
  free(json2);
  keel_err_release(e);
  free(json);
}

KT_TEST(local_hash_equals_the_decoded_hash) {
  keel_err *e = keel_err_new("m", 1, "x");
  char *json;
  size_t len;
  KT_CHECK_EQ(keel_err_encode(e, &json, &len), 0);
  keel_err *d = NULL;
  KT_CHECK_EQ(keel_err_decode(json, len, &d, NULL, NULL, 0), 0);
  KT_CHECK_EQ(keel_err_stack_hash(d), keel_err_stack_hash(e));
  KT_CHECK_EQ(keel_err_stack_depth(d), keel_err_stack_depth(e));
  free(json);
  keel_err_release(d);
  keel_err_release(e);
}

KT_TEST(decode_survives_allocation_failure) {
  keel_err *e = build_rich();
  char *json;
  size_t len;
  KT_CHECK_EQ(keel_err_encode(e, &json, &len), 0);
  keel_err_release(e);
  int ok = 0;
  for (long k = 0; k < 400; k++) {
    keel_err *d = NULL;
    char why[100];
    fail_from(k);
    int r = keel_err_decode(json, len, &d, NULL, why, sizeof why);
    stop_failing();
    KT_CHECK(r == 0 || (r == KEEL_ENOMEM && d == NULL));
    if (r == 0) { ok++; keel_err_release(d); }
  }
  KT_CHECK(ok > 0);
  free(json);
}

KT_MAIN()
