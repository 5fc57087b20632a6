/* The book's error-propagation example, corrected: the intermediate module
 * wraps the lowlevel error at its boundary, in an error of its own module
 * with a message crafted for the user. The user sees
 *     [ID] cannot run job "1": requisite binaries not available
 * and the log (stderr) holds the whole chain as one JSON line under that ID:
 * the intermediate error and, inside it, the lowlevel one with its errno,
 * each with its own time, place and stack. (See examples/err_job_raw.c.) */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
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

static keel_err *run_job(const char *id) {
  const char *job_bin_path = "/bad/job/binary";
  char friendly[256];
  bool executable = false;
  keel_err *err = is_globally_exec(job_bin_path, &executable);
  if (err) {
    snprintf(friendly, sizeof friendly,
             "cannot run job \"%s\": requisite binaries not available", id);
    err = keel_err_wrap(err, "intermediate", friendly, "%s", friendly);
    keel_err_set_string(err, "job", id);
    return err;
  }
  if (!executable) {
    snprintf(friendly, sizeof friendly,
             "cannot run job \"%s\": requisite binaries are not executable", id);
    return keel_err_wrap(NULL, "intermediate", friendly, "%s", friendly);
  }
  execl(job_bin_path, job_bin_path, "--id", id, (char *)NULL);
  return keel_err_from_errno("intermediate", KEEL_ESYS, errno, "exec %s", job_bin_path);
}

/* ---- main: the user-facing top level ---- */

int main(void) {
  keel_err *err = run_job("1");
  if (err) {
    keel_err_handle(err, "intermediate", stdout, NULL);
    keel_err_release(err);
    return 1;
  }
  return 0;
}
