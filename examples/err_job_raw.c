/* The book's error-propagation example, first version: the intermediate
 * module forgets to wrap the lowlevel module's error at its boundary.
 *
 * main expects errors well-formed for "intermediate" (the module it calls).
 * The lowlevel error passes through raw, so the user sees the bug message
 * with a log ID, and the log (stderr) holds the whole raw error as one JSON
 * line under that ID. examples/err_job.c is the corrected version. */
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
  bool executable = false;
  keel_err *err = is_globally_exec(job_bin_path, &executable);
  if (err) return err;   /* the bug: passed on without wrapping */
  if (!executable)
    return keel_err_new("intermediate", KEEL_EFAILED, "job binary is not executable");
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
