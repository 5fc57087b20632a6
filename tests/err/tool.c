/* The keel command ($KEEL_BUILD_DIR/bin/keel): version, strerror, err show,
 * err find, with their exit codes and messages on bad input. */
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err_test.h"

extern char **environ;

struct out {
  char out[65536], err[8192];
  int code;   /* exit code, or -1 */
};

static void slurp(int fd, char *buf, size_t cap) {
  lseek(fd, 0, SEEK_SET);
  size_t n = 0;
  ssize_t k;
  while (n + 1 < cap && (k = read(fd, buf + n, cap - 1 - n)) > 0) n += (size_t)k;
  buf[n] = 0;
  close(fd);
}

/* Runs keel with args (NULL-terminated); stdin from in_path (NULL: /dev/null). */
static void keel(struct out *o, const char *in_path, const char *a1, const char *a2,
                 const char *a3, const char *a4) {
  char bin[1024];
  snprintf(bin, sizeof bin, "%s/bin/keel", getenv("KEEL_BUILD_DIR") ? getenv("KEEL_BUILD_DIR") : ".");
  char *argv[] = {bin, (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
  char op[] = "/tmp/keel_tool_out_XXXXXX", ep[] = "/tmp/keel_tool_err_XXXXXX";
  int of = mkstemp(op), ef = mkstemp(ep);
  unlink(op);
  unlink(ep);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, of, 1);
  posix_spawn_file_actions_adddup2(&fa, ef, 2);
  pid_t pid;
  int status = 0;
  o->code = -1;
  if (posix_spawn(&pid, bin, &fa, NULL, argv, environ) == 0 && waitpid(pid, &status, 0) == pid &&
      WIFEXITED(status))
    o->code = WEXITSTATUS(status);
  posix_spawn_file_actions_destroy(&fa);
  slurp(of, o->out, sizeof o->out);
  slurp(ef, o->err, sizeof o->err);
}

static struct out o;   /* big: not on the stack */

KT_TEST(version_and_help) {
  keel(&o, NULL, "version", NULL, NULL, NULL);
  KT_CHECK_EQ(o.code, 0);
  KT_CHECK_STR(o.out, "keel 0.1.0\n");
  keel(&o, NULL, "help", NULL, NULL, NULL);
  KT_CHECK_EQ(o.code, 0);
  KT_CHECK(strstr(o.out, "err find <log-id>") != NULL);
  keel(&o, NULL, NULL, NULL, NULL, NULL);
  KT_CHECK_EQ(o.code, 2);
  keel(&o, NULL, "frobnicate", NULL, NULL, NULL);
  KT_CHECK_EQ(o.code, 2);
  KT_CHECK(strstr(o.err, "unknown command \"frobnicate\"") != NULL);
}

KT_TEST(strerror_by_code_and_name) {
  keel(&o, NULL, "strerror", "-3", NULL, NULL);
  KT_CHECK_EQ(o.code, 0);
  KT_CHECK_STR(o.out, "KEEL_ETIMEDOUT (-3): timed out\n");
  keel(&o, NULL, "strerror", "KEEL_EDEADLINE", NULL, NULL);
  KT_CHECK_STR(o.out, "KEEL_EDEADLINE (-6): deadline exceeded\n");
  keel(&o, NULL, "strerror", "enomem", NULL, NULL);
  KT_CHECK_STR(o.out, "KEEL_ENOMEM (-2): out of memory\n");
  keel(&o, NULL, "strerror", "18", NULL, NULL);
  KT_CHECK_STR(o.out, "KEEL_ENOTFOUND (-18): not found\n");
  keel(&o, NULL, "strerror", "-999", NULL, NULL);
  KT_CHECK_EQ(o.code, 1);
  KT_CHECK(strstr(o.err, "-999 is not a keel status code") != NULL);
  keel(&o, NULL, "strerror", "EBOGUS", NULL, NULL);
  KT_CHECK_EQ(o.code, 1);
  keel(&o, NULL, "strerror", "12x", NULL, NULL);
  KT_CHECK_EQ(o.code, 1);
  keel(&o, NULL, "strerror", NULL, NULL, NULL);
  KT_CHECK_EQ(o.code, 2);
}

/* A log with two errors and a line that is not one. */
static char log_path[64];
static keel_err_handled ids[2];

__attribute__((noinline)) static void write_log(void) {
  strcpy(log_path, "/tmp/keel_tool_log_XXXXXX");
  int fd = mkstemp(log_path);
  keel_err_set_log_fd(fd);
  keel_err *low = keel_err_new("lowlevel", KEEL_ENOTFOUND, "stat /bad/job/binary: gone");
  keel_err_set_int(low, "attempt", 3);
  keel_err *mid = keel_err_wrap(low, "intermediate", "cannot run job \"1\"", "run job 1");
  keel_err_handle(mid, "intermediate", NULL, &ids[0]);
  keel_err *raw = keel_err_new("net", KEEL_EUNAVAILABLE, "connection refused");
  keel_err_handle(raw, "intermediate", NULL, &ids[1]);
  keel_err_set_log_fd(2);
  if (write(fd, "this is not json\n", 17) != 17) KT_FAIL("write");
  close(fd);
  keel_err_release(mid);
  keel_err_release(raw);
}

KT_TEST(err_show_prints_every_error) {
  write_log();
  keel(&o, NULL, "err", "show", log_path, NULL);
  KT_CHECK_EQ(o.code, 1);   /* one bad line */
  KT_CHECK(strstr(o.err, ":3: invalid JSON") != NULL);
  KT_CHECK(strstr(o.out, ids[0].log_id) != NULL);
  KT_CHECK(strstr(o.out, ids[1].log_id) != NULL);
  KT_CHECK(strstr(o.out, "[intermediate] run job 1") != NULL);
  KT_CHECK(strstr(o.out, "caused by:") != NULL);
  KT_CHECK(strstr(o.out, "[lowlevel] stat /bad/job/binary: gone (code -18 KEEL_ENOTFOUND)") != NULL);
  KT_CHECK(strstr(o.out, "attempt = 3") != NULL);
  KT_CHECK(strstr(o.out, "write_log") != NULL);           /* the stack */
  KT_CHECK(strstr(o.out, "tool.c:") != NULL);
  KT_CHECK(strstr(o.out, "NOT well-formed (a bug)") != NULL);
  KT_CHECK(strstr(o.out, "pid ") != NULL);
  KT_CHECK(strstr(o.out, ", no task") != NULL);
  /* from standard input too */
  keel(&o, log_path, "err", "show", NULL, NULL);
  KT_CHECK_EQ(o.code, 1);
  KT_CHECK(strstr(o.out, ids[1].log_id) != NULL);
  keel(&o, NULL, "err", "show", "/nonexistent/log", NULL);
  KT_CHECK_EQ(o.code, 2);
  KT_CHECK(strstr(o.err, "cannot open /nonexistent/log") != NULL);
  unlink(log_path);
}

KT_TEST(err_find_by_log_id) {
  write_log();
  keel(&o, NULL, "err", "find", ids[1].log_id, log_path);
  KT_CHECK_EQ(o.code, 0);
  KT_CHECK(strstr(o.out, "connection refused") != NULL);
  KT_CHECK(strstr(o.out, "run job 1") == NULL);
  /* read over the phone: lower case, O for 0, I for 1 */
  char spoken[KEEL_ERR_LOG_ID_LEN + 1];
  for (int i = 0; i <= KEEL_ERR_LOG_ID_LEN; i++) {
    char c = ids[0].log_id[i];
    spoken[i] = c == '0' ? 'o' : c == '1' ? 'I' : (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  keel(&o, log_path, "err", "find", spoken, NULL);
  KT_CHECK_EQ(o.code, 0);
  KT_CHECK(strstr(o.out, "run job 1") != NULL);
  keel(&o, NULL, "err", "find", "0000000000", log_path);
  KT_CHECK_EQ(o.code, 1);
  KT_CHECK(strstr(o.err, "not found") != NULL);
  keel(&o, NULL, "err", "find", "not-an-id!", log_path);
  KT_CHECK_EQ(o.code, 2);
  keel(&o, NULL, "err", "find", NULL, NULL);
  KT_CHECK_EQ(o.code, 2);
  keel(&o, NULL, "err", "bogus", NULL, NULL);
  KT_CHECK_EQ(o.code, 2);
  unlink(log_path);
}

KT_MAIN()
