/* The book's example, both versions, run as the built programs
 * (examples/err_job_raw and examples/err_job, found through KEEL_BUILD_DIR):
 * the user's line on stdout and the JSON log line on stderr, tied by the log
 * ID. Raw: the bug message, and the log holds the whole raw lowlevel error.
 * Corrected: the crafted message, and the log holds the whole chain. */
#include <sys/wait.h>

#include "err_test.h"

/* "[ID] rest\n" -> ID (returns false when the shape is wrong). */
static bool user_line(const char *out, char id[KEEL_ERR_LOG_ID_LEN + 1], const char **rest) {
  if (out[0] != '[' || strlen(out) < KEEL_ERR_LOG_ID_LEN + 3 ||
      out[KEEL_ERR_LOG_ID_LEN + 1] != ']' || out[KEEL_ERR_LOG_ID_LEN + 2] != ' ')
    return false;
  memcpy(id, out + 1, KEEL_ERR_LOG_ID_LEN);
  id[KEEL_ERR_LOG_ID_LEN] = 0;
  *rest = out + KEEL_ERR_LOG_ID_LEN + 3;
  return true;
}

static bool has_frame(const keel_err *e, const char *fn) {
  keel_err_frame f[32];
  size_t n = keel_err_stack(e, f, 32);
  for (size_t i = 0; i < n; i++)
    if (f[i].function && strcmp(f[i].function, fn) == 0) return true;
  return false;
}

KT_TEST(forgotten_wrap_shows_the_bug_message) {
  struct et_run r;
  KT_CHECK(et_run_example("err_job_raw", &r));
  KT_CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
  char id[KEEL_ERR_LOG_ID_LEN + 1];
  const char *rest;
  KT_CHECK(user_line(r.out, id, &rest));
  KT_CHECK_STR(rest, "There was an unexpected issue; please report this as a bug.\n");
  /* the log: one JSON line under that ID with the whole raw error */
  KT_CHECK(strchr(r.err, '\n') == r.err + strlen(r.err) - 1);
  keel_err *e = NULL;
  char log_id[16], why[200];
  int rc = keel_err_decode(r.err, strlen(r.err), &e, log_id, why, sizeof why);
  if (rc) fprintf(stderr, "  %s\n", why);
  KT_CHECK_EQ(rc, 0);
  KT_CHECK_STR(log_id, id);
  KT_CHECK(strstr(r.err, "\"well_formed\":false") != NULL);
  KT_CHECK_STR(keel_err_module(e), "lowlevel");
  KT_CHECK_EQ(keel_err_code(e), KEEL_ENOTFOUND);
  KT_CHECK_STR(keel_err_message(e), "stat /bad/job/binary: No such file or directory");
  KT_CHECK_STR(keel_err_lookup(e, "errno_name").value.s, "ENOENT");
  KT_CHECK(has_frame(e, "main"));
  KT_CHECK(has_frame(e, "is_globally_exec"));
  KT_CHECK(keel_err_stack_hash(e) != 0);
  keel_err_release(e);
}

KT_TEST(corrected_wrap_shows_the_crafted_message) {
  struct et_run r;
  KT_CHECK(et_run_example("err_job", &r));
  KT_CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1);
  char id[KEEL_ERR_LOG_ID_LEN + 1];
  const char *rest;
  KT_CHECK(user_line(r.out, id, &rest));
  KT_CHECK_STR(rest, "cannot run job \"1\": requisite binaries not available\n");
  keel_err *e = NULL;
  char log_id[16];
  KT_CHECK_EQ(keel_err_decode(r.err, strlen(r.err), &e, log_id, NULL, 0), 0);
  KT_CHECK_STR(log_id, id);
  KT_CHECK(strstr(r.err, "\"well_formed\":true") != NULL);
  KT_CHECK_STR(keel_err_module(e), "intermediate");
  KT_CHECK_STR(keel_err_lookup(e, "job").value.s, "1");
  const keel_err *low = keel_err_inner(e);
  KT_CHECK_STR(keel_err_module(low), "lowlevel");
  KT_CHECK_STR(keel_err_message(low), "stat /bad/job/binary: No such file or directory");
  KT_CHECK(has_frame(e, "run_job"));
  KT_CHECK(has_frame(low, "is_globally_exec"));
  KT_CHECK(keel_err_stack_hash(e) != keel_err_stack_hash(low));
  keel_err_release(e);
}

KT_MAIN()
