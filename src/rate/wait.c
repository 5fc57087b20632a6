/* wait.c — Go's WaitN on a keel limiter: reserve within the context's
 * deadline, then sleep (task or thread) until the time to act or until the
 * context is done, in which case the reservation is canceled.
 *
 * Invariants: nothing is taken when the wait fails at once (n > burst, a
 * context already done, a wait that would pass the deadline); a wait cut
 * short gives its tokens back through Go's CancelAt before returning. */
#include "keel/ctx.h"
#include "keel/rate.h"
#include "rate/bucket.h"
#include "rate/limiter.h"

int keel_rate_wait_n(keel_rate_limiter *l, keel_ctx *ctx, int64_t n) {
  if (!l || !ctx || n < 0) return KEEL_EINVAL;
  int64_t t = keel_rate_now();
  int64_t burst = keel_rate_limiter_burst(l);
  keel_rate_limit limit = keel_rate_limiter_limit(l);
  if (n > burst && !rate_is_inf(limit)) return KEEL_ELIMIT;
  int e = keel_ctx_err(ctx);
  if (e) return e;
  int64_t wait_limit = KEEL_RATE_INF_DURATION, deadline;
  if (keel_ctx_deadline(ctx, &deadline)) wait_limit = rate_sub(deadline, t);
  keel_rate_reservation r;
  int rc = rate_reserve_n_within_now(l, t, n, wait_limit, &r);
  if (rc) return rc;
  if (!r.ok) return n > keel_rate_limiter_burst(l) ? KEEL_ELIMIT : KEEL_EDEADLINE;
  int64_t delay = keel_rate_reservation_delay_from(&r, t);  /* from our reading */
  if (delay == 0) return 0;
  rc = keel_ctx_sleep(ctx, delay);
  if (rc) keel_rate_reservation_cancel(&r);
  return rc;
}

int keel_rate_wait(keel_rate_limiter *l, keel_ctx *ctx) {
  return keel_rate_wait_n(l, ctx, 1);
}
