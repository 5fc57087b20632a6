/* ward.c — how a ward tells its steward it has ended.
 *
 * A steward gives each ward incarnation a cancel context C and, below it, a
 * value context carrying C under keel_steward_ward_key. keel_ward_exit finds
 * C from any context at or below it and cancels C with a cause of module
 * "ward": with an inner error for a failure, without one for a clean finish.
 * The steward watches C's done channel and reads the cause.
 *
 * Invariants: the caller's context holds a reference chain up to C, so C is
 * alive during the call; the first cancellation of C wins (a later exit, or
 * the steward's own halt, leaves the first cause in place). */
#include "steward/steward_private.h"

const char keel_steward_ward_key = 0;

int keel_ward_exit(keel_ctx *ctx, keel_err *err) {
  keel_ctx *ward = ctx ? keel_ctx_value(ctx, &keel_steward_ward_key) : NULL;
  if (ward == NULL) {
    keel_err_release(err);
    return KEEL_ENOTFOUND;
  }
  keel_err *cause;
  if (err != NULL)
    cause = keel_err_wrap(err, KEEL_WARD_MODULE, NULL, "ward failed");
  else
    cause = keel_err_new(KEEL_WARD_MODULE, 0, "ward finished");
  keel_ctx_cancel_cause(ward, KEEL_ECANCELED, cause);
  return 0;
}
