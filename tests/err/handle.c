/* The top-level handler: log IDs, the user's line, one JSON line per error in
 * the log, never interleaved under concurrency, and a fallback line when
 * memory runs out. */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err_test.h"

struct capture {
  char *text;
  size_t len, cap;
  int lines;
};

static void capture_line(void *arg, const char *line, size_t len) {
  struct capture *c = arg;
  if (c->len + len + 2 > c->cap) {
    c->cap = (c->len + len + 2) * 2;
    c->text = realloc(c->text, c->cap);
  }
  memcpy(c->text + c->len, line, len);
  c->len += len;
  c->text[c->len++] = '\n';
  c->text[c->len] = 0;
  c->lines++;
}

static bool crockford(const char *id) {
  return strlen(id) == KEEL_ERR_LOG_ID_LEN &&
         strspn(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") == KEEL_ERR_LOG_ID_LEN;
}

KT_TEST(well_formed_error_shows_its_friendly_message) {
  struct capture c = {0};
  keel_err_set_log_sink(capture_line, &c);
  keel_err *e = keel_err_wrap(keel_err_new("lowlevel", KEEL_ENOTFOUND, "stat"),
                              "intermediate", "cannot run job \"1\"", "run job");
  keel_err_handled h;
  KT_CHECK_EQ(keel_err_handle(e, "intermediate", NULL, &h), 0);
  KT_CHECK(h.well_formed);
  KT_CHECK(crockford(h.log_id));
  char want[100];
  snprintf(want, sizeof want, "[%s] cannot run job \"1\"", h.log_id);
  KT_CHECK_STR(h.user_line, want);
  KT_CHECK_EQ(c.lines, 1);
  keel_err *d = NULL;
  char id[16], why[200];
  KT_CHECK_EQ(keel_err_decode(c.text, c.len, &d, id, why, sizeof why), 0);
  KT_CHECK_STR(id, h.log_id);
  KT_CHECK(keel_err_has_module(d, "lowlevel"));
  KT_CHECK(strstr(c.text, "\"well_formed\":true") != NULL);
  KT_CHECK(strstr(c.text, "\"expected_module\":\"intermediate\"") != NULL);
  keel_err_release(d);
  keel_err_release(e);
  keel_err_set_log_fd(2);
  free(c.text);
}

KT_TEST(raw_error_is_a_bug) {
  struct capture c = {0};
  keel_err_set_log_sink(capture_line, &c);
  keel_err *e = keel_err_new("lowlevel", KEEL_ENOTFOUND, "stat /bad: gone");
  keel_err_handled h;
  keel_err_handle(e, "intermediate", NULL, &h);
  KT_CHECK(!h.well_formed);
  char want[120];
  snprintf(want, sizeof want, "[%s] %s", h.log_id, KEEL_ERR_BUG_MESSAGE);
  KT_CHECK_STR(h.user_line, want);
  KT_CHECK(strstr(c.text, "stat /bad: gone") != NULL);   /* the log has it all */
  KT_CHECK(strstr(c.text, h.log_id) != NULL);
  keel_err_release(e);
  keel_err_set_log_fd(2);
  free(c.text);
}

KT_TEST(no_friendly_message_shows_the_message) {
  keel_err_set_log_fd(-1);
  keel_err *e = keel_err_new("intermediate", 0, "plain message");
  keel_err_handled h;
  keel_err_handle(e, "intermediate", NULL, &h);
  KT_CHECK(strstr(h.user_line, "] plain message") != NULL);
  KT_CHECK_EQ(keel_err_handle(NULL, "x", NULL, &h), KEEL_EINVAL);
  keel_err_release(e);
  keel_err_set_log_fd(2);
}

KT_TEST(user_line_goes_to_the_stream) {
  keel_err_set_log_fd(-1);
  char buf[256] = {0};
  FILE *f = fmemopen(buf, sizeof buf, "w");
  keel_err *e = keel_err_new("m", 0, "shown");
  keel_err_handled h;
  keel_err_handle(e, "m", f, &h);
  fclose(f);
  char want[64];
  snprintf(want, sizeof want, "[%s] shown\n", h.log_id);
  KT_CHECK_STR(buf, want);
  keel_err_release(e);
  keel_err_set_log_fd(2);
}

static int cmp_ids(const void *a, const void *b) { return strcmp(a, b); }

KT_TEST(log_ids_are_unique_and_readable) {
  int n = KT_SANITIZED() ? 20000 : 200000;
  char (*ids)[KEEL_ERR_LOG_ID_LEN + 1] = malloc((size_t)n * sizeof *ids);
  for (int i = 0; i < n; i++) keel_err_new_log_id(ids[i]);
  /* a forked child (another pid, same counter state) */
  int p[2];
  KT_CHECK(pipe(p) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    for (int i = 0; i < 1000; i++) {
      char id[KEEL_ERR_LOG_ID_LEN + 1];
      keel_err_new_log_id(id);
      if (write(p[1], id, sizeof id) != (ssize_t)sizeof id) _exit(1);
    }
    _exit(0);
  }
  close(p[1]);
  char (*all)[KEEL_ERR_LOG_ID_LEN + 1] = malloc((size_t)(n + 1000) * sizeof *all);
  memcpy(all, ids, (size_t)n * sizeof *ids);
  int m = n;
  while (m < n + 1000 && read(p[0], all[m], sizeof all[m]) == (ssize_t)sizeof all[m]) m++;
  close(p[0]);
  waitpid(pid, NULL, 0);
  KT_CHECK_EQ(m, n + 1000);
  for (int i = 0; i < m; i++) KT_CHECK(crockford(all[i]));
  qsort(all, (size_t)m, sizeof all[0], cmp_ids);
  int dups = 0;
  for (int i = 1; i < m; i++) dups += strcmp(all[i - 1], all[i]) == 0;
  KT_CHECK_EQ(dups, 0);
  free(ids);
  free(all);
}

/* ---- concurrency: whole lines only ------------------------------------------ */

#define THREADS 4

static void *handler_thread(void *arg) {
  int n = *(int *)arg;
  char pad[600];
  memset(pad, 'x', sizeof pad - 1);
  pad[sizeof pad - 1] = 0;
  for (int i = 0; i < n; i++) {
    keel_err *e = keel_err_wrap(keel_err_new("low", 1, "%s %d", pad, i), "mid",
                                "friendly", "wrapped %d", i);
    keel_err_handle(e, "mid", NULL, NULL);
    keel_err_release(e);
  }
  return NULL;
}

KT_TEST(concurrent_lines_never_interleave) {
  char path[] = "/tmp/keel_err_handle_XXXXXX";
  int fd = mkstemp(path);
  KT_CHECK(fd >= 0);
  keel_err_set_log_fd(fd);
  int per = KT_SANITIZED() ? 100 : 500;
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, handler_thread, &per);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  keel_err_set_log_fd(2);
  close(fd);
  size_t len;
  char *text = et_read_file(path, &len);
  unlink(path);
  KT_CHECK(text != NULL);
  int lines = 0, bad = 0;
  for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
    keel_err *d = NULL;
    char id[16];
    if (keel_err_decode(line, (size_t)(nl - line), &d, id, NULL, 0) != 0 || !id[0])
      bad++;
    keel_err_release(d);
    lines++;
  }
  KT_CHECK_EQ(bad, 0);
  KT_CHECK_EQ(lines, THREADS * per);
  free(text);
}

KT_TEST(out_of_memory_still_logs_a_line) {
  struct capture c = {0};
  keel_err_set_log_sink(capture_line, &c);
  keel_err *e = keel_err_wrap(keel_err_new("low", 1, "low \"q\""), "mid", "f", "mid");
  int fallback = 0;
  for (long k = 0; k < 30; k++) {
    c.len = 0;
    c.lines = 0;
    keel_err_handled h;
    fail_from(k);
    int r = keel_err_handle(e, "mid", NULL, &h);
    stop_failing();
    KT_CHECK_EQ(c.lines, 1);
    KT_CHECK(crockford(h.log_id));
    keel_err *d = NULL;
    char id[16], why[120];
    int dr = keel_err_decode(c.text, c.len, &d, id, why, sizeof why);
    if (dr) fprintf(stderr, "%s\n%s", why, c.text);
    KT_CHECK_EQ(dr, 0);
    KT_CHECK_STR(id, h.log_id);
    KT_CHECK_STR(keel_err_module(d), "mid");
    if (r == KEEL_ENOMEM) fallback++;
    keel_err_release(d);
  }
  KT_CHECK(fallback > 0);
  keel_err_release(e);
  keel_err_set_log_fd(2);
  free(c.text);
}

KT_MAIN()
