/* limiter.h — the token bucket's layout (private to the rate module).
 *
 * Invariants (see limiter.c for the protocol):
 *   - `state` is Go's (tokens, last, lastEvent == last?) packed in 16 bytes and
 *     changed only by 16-byte compare-and-swap: word 0 is the tokens' double,
 *     word 1 is [gen:15][event_is_last:1][last - base: 48-bit signed];
 *   - cfg[gen & 1] holds the limit, burst and base that go with a state of
 *     generation gen; only a holder of `mu` writes a slot, and only the slot
 *     of the next generation, before publishing that generation;
 *   - last_event is read and written under `mu` only and is meaningful only
 *     while the state's event_is_last bit is clear.
 * The keyed limiter embeds limiters, hence this header. */
#ifndef KEEL_RATE_LIMITER_H
#define KEEL_RATE_LIMITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "keel/rate.h"

typedef struct rate_cfg {
  _Atomic uint64_t limit_bits;  /* the double's bits */
  _Atomic int64_t burst;
  _Atomic int64_t base;         /* last = base + offset */
} rate_cfg;

struct keel_rate_limiter {
  _Alignas(64) _Alignas(16) uint64_t state[2];  /* see above; CAS only */
  rate_cfg cfg[2];
  _Alignas(64) pthread_mutex_t mu;
  int64_t last_event;           /* under mu */
#if !defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_16)
  _Atomic int state_lock;       /* no 16-byte CAS: a spin lock guards state */
#endif
};

/* Initialises an embedded limiter (the arguments are valid). */
void rate_limiter_init(keel_rate_limiter *l, keel_rate_limit limit,
                       int64_t burst);
void rate_limiter_destroy(keel_rate_limiter *l);

/* reserve_n_within_at with `now` a keel_rate_now() reading of ours: the
 * bucket's time is then max(now, last), as keel_rate_allow does. */
int rate_reserve_n_within_now(keel_rate_limiter *l, int64_t now, int64_t n,
                              int64_t max_wait, keel_rate_reservation *r);

#endif
