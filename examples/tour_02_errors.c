/* tour: Errors that explain themselves */
/* The book's "Error Propagation" scenario: a job whose binary
 * /bad/job/binary is missing. The lowlevel module makes a well-formed error
 * (message, errno, time, host, pid, thread, stack); the intermediate module
 * should wrap it at its boundary. main hands whatever arrives to
 * keel_err_handle, which logs the whole error as one JSON line under a fresh
 * log ID and tells the user one line:
 *   1. intermediate forgets to wrap: the user gets the bug message;
 *   2. intermediate wraps: the user gets its crafted message.
 * Then the log line is read back (keel_err_decode) and shown for a person,
 * as `keel err show <log>` does. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keel/err.h"

/* ---- "lowlevel" module ---- */

static keel_err *is_globally_exec(const char *path, bool *exec) {
  struct stat st;
  if (stat(path, &st) != 0)
    return keel_err_from_errno("lowlevel", KEEL_ENOTFOUND, errno, "stat %s", path);
  *exec = (st.st_mode & 0100) != 0;
  return NULL;
}

/* ---- "intermediate" module ---- */

static keel_err *run_job(const char *id, bool wrap_at_boundary) {
  bool executable = false;
  keel_err *err = is_globally_exec("/bad/job/binary", &executable);
  if (err && wrap_at_boundary) {
    char friendly[200];
    snprintf(friendly, sizeof friendly,
             "cannot run job \"%s\": requisite binaries not available", id);
    err = keel_err_wrap(err, "intermediate", friendly, "%s", friendly);
    keel_err_set_string(err, "job", id);
    keel_err_set_hint(err, "install the job binary at /bad/job/binary");
  }
  return err;
}

/* ---- main ---- */

/* The log sink: keep the lines, to show where they went. */
static char log_lines[2][16384];
static int log_count;
static void keep_line(void *arg, const char *line, size_t len) {
  FILE *log = arg;
  fprintf(log, "%.*s\n", (int)len, line);
  if (log_count < 2) {
    snprintf(log_lines[log_count++], sizeof log_lines[0], "%.*s", (int)len, line);
  }
}

int main(void) {
  char log_path[] = "/tmp/keel-tour-errors-XXXXXX";
  int fd = mkstemp(log_path);
  FILE *log = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!log) {
    perror("log file");
    return 1;
  }
  keel_err_set_log_sink(keep_line, log);

  keel_err_handled h[2];
  for (int version = 0; version < 2; version++) {
    printf("%s\n  user sees: ", version == 0 ? "1. intermediate forgets to wrap"
                                             : "2. intermediate wraps at its boundary");
    fflush(stdout);
    keel_err *err = run_job("1", version == 1);
    keel_err_handle(err, "intermediate", stdout, &h[version]);
    keel_err_release(err);
  }
  fclose(log);

  printf("\nthe log (%s), one JSON line per error:\n", log_path);
  for (int i = 0; i < log_count; i++) printf("  %.100s...\n", log_lines[i]);

  printf("\nlog line %s read back, for a person:\n", h[1].log_id);
  keel_err *back = NULL;
  char why[200];
  if (keel_err_decode(log_lines[1], strlen(log_lines[1]), &back, NULL, why,
                      sizeof why) != 0) {
    printf("  cannot decode: %s\n", why);
    return 1;
  }
  char *text = keel_err_format(back);
  /* the first lines of each error; stacks below main are libc's */
  for (char *line = text, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
    *nl = 0;
    if (strstr(line, "__libc_start") || strstr(line, "_start ") ||
        strstr(line, " _start"))
      continue;
    printf("  %s\n", line);
  }
  free(text);
  printf("\nkeel_err_has_module(\"lowlevel\") on the decoded chain: %s\n",
         keel_err_has_module(back, "lowlevel") ? "yes" : "no");
  keel_err_release(back);
  printf("(the whole log: keel err show %s)\n", log_path);
  return 0;
}
