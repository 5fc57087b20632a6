/* stopped.c — the sentinel errors a canceled replica returns.
 *
 * Invariants: each sentinel is made at most once per process (a lost race
 * releases its candidate) and never freed; every caller gets its own
 * reference, so a call may release it like any other error. If making one
 * fails, keel_err_new's static out-of-memory error stands in (retain and
 * release are no-ops on it). */
#include <stdatomic.h>

#include "keel/replicate.h"

static _Atomic(keel_err *) sentinel_canceled, sentinel_deadline;

static keel_err *sentinel(_Atomic(keel_err *) *slot, int code) {
  keel_err *e = atomic_load_explicit(slot, memory_order_acquire);
  if (!e) {
    keel_err *made = keel_err_new("replicate", code,
                                  code == KEEL_EDEADLINE
                                      ? "replica stopped: its deadline passed"
                                      : "replica stopped: canceled (another answered, or the caller gave up)");
    keel_err *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(slot, &expected, made,
                                                memory_order_acq_rel,
                                                memory_order_acquire)) {
      e = made;
    } else {
      keel_err_release(made);
      e = expected;
    }
  }
  return keel_err_retain(e);
}

keel_err *keel_replica_stopped(const keel_replica *r) {
  int code = r && r->ctx ? keel_ctx_err(r->ctx) : 0;
  if (code == KEEL_EDEADLINE) return sentinel(&sentinel_deadline, KEEL_EDEADLINE);
  return sentinel(&sentinel_canceled, KEEL_ECANCELED);
}
