/* concurrency.c — at most N operations in flight.
 *
 * A buffered channel of capacity N with empty elements is the semaphore: an
 * acquire sends (blocking, through the context, while the channel is full),
 * a release receives without waiting. The channel serves blocked senders
 * first come, first served and works from tasks and threads alike.
 * Invariant: keel_chan_len(slots) is the number of slots taken. */
#include <stdlib.h>

#include "keel/chan.h"
#include "keel/ctx.h"
#include "keel/rate.h"

struct keel_rate_concurrency {
  keel_chan *slots;
  int64_t max;
};

int keel_rate_concurrency_new(keel_rate_concurrency **out, int64_t max_in_flight) {
  if (!out) return KEEL_EINVAL;
  *out = NULL;
  if (max_in_flight < 1 || (uint64_t)max_in_flight > SIZE_MAX / 2) return KEEL_EINVAL;
  keel_rate_concurrency *c = malloc(sizeof *c);
  if (!c) return KEEL_ENOMEM;
  int rc = keel_chan_make(&c->slots, 0, (size_t)max_in_flight);
  if (rc) {
    free(c);
    return rc;
  }
  c->max = max_in_flight;
  *out = c;
  return 0;
}

void keel_rate_concurrency_free(keel_rate_concurrency *c) {
  if (!c) return;
  keel_chan_release(c->slots);
  free(c);
}

int keel_rate_concurrency_acquire(keel_rate_concurrency *c, keel_ctx *ctx) {
  if (!c || !ctx) return KEEL_EINVAL;
  return keel_ctx_send(ctx, c->slots, NULL);
}

bool keel_rate_concurrency_try_acquire(keel_rate_concurrency *c) {
  return c && keel_chan_send(c->slots, NULL, KEEL_NOWAIT) == 0;
}

int keel_rate_concurrency_release(keel_rate_concurrency *c) {
  if (!c) return KEEL_EINVAL;
  int rc = keel_chan_recv(c->slots, NULL, KEEL_NOWAIT);
  return rc == KEEL_EAGAIN ? KEEL_ESTATE : rc;
}

int64_t keel_rate_concurrency_in_flight(keel_rate_concurrency *c) {
  return c ? (int64_t)keel_chan_len(c->slots) : 0;
}

int64_t keel_rate_concurrency_max(keel_rate_concurrency *c) { return c ? c->max : 0; }
