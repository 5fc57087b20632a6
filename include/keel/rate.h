/* keel/rate.h — rate limits: token buckets with Go's exact semantics, composed
 * per tier, per resource and per key; and a concurrency limiter.
 *
 * THE TOKEN BUCKET (keel_rate_limiter) is golang.org/x/time/rate's Limiter,
 * answer for answer: a bucket of depth `burst`, refilled at `limit` tokens per
 * second, that a user can port Go code to and get the same results, including
 * the floating-point ones (tokens are a double updated by the same operations
 * in the same order as Go's). Three ways to take tokens:
 *   allow    take n tokens now or refuse (drop the event);
 *   reserve  take n tokens now, possibly into debt, and learn how long to wait
 *            before acting; a reservation can be canceled to give tokens back;
 *   wait     block (task or thread) until n tokens are available, with a
 *            context: fails at once if it could never succeed in time.
 *
 * Time. Every operation has a variant taking `now` (int64_t nanoseconds on the
 * monotonic clock; any int64 works with a fake clock); the variants without it
 * read keel_rate_now(). Go's time.Time arithmetic is mirrored on int64 with
 * saturation (no wrap-around, no undefined behaviour at the extremes), and
 * INT64_MIN stands for Go's zero Time ("never").
 *
 * Edge cases (all as Go's, see docs/rate.md for the table):
 *   limit KEEL_RATE_INF (or any limit >= DBL_MAX): every event is allowed,
 *     even with burst 0 and n > burst; tokens are not tracked.
 *   limit 0: no refill. The limiter then lets exactly `burst` more events
 *     through in total (Go decrements the burst itself: keel_rate_burst goes
 *     down), then refuses everything; wait fails at once.
 *   burst 0 (finite limit): every event with n >= 1 is refused; n == 0 is
 *     allowed.
 *   n > burst (finite limit): refused by allow and reserve; wait fails at once
 *     with KEEL_ELIMIT.
 *   n == 0: always allowed, takes nothing.
 *   a new limiter starts full: its first reading refills it from "never" (Go's
 *     zero Time), i.e. by limit x 292 years (Go's longest duration), capped at
 *     burst. That is full for every limit above burst / 9.2e9 per second; below
 *     that (absurdly small limits) it starts with fewer tokens, as Go's does.
 *   a `now` earlier than the last one: the bucket does not refill (no elapsed
 *     time) and the earlier time becomes the new reference, as in Go.
 *   very small limits: a wait that would not fit in int64 nanoseconds is
 *     "infinite" (KEEL_RATE_INF_DURATION, never OK within any deadline); it
 *     never wraps to a negative duration that would let events through (the
 *     overflow fixed in newer x/time releases is fixed here too).
 *   very large limits: refills saturate at burst; a wait shorter than 1 ns
 *     rounds to 0 (Go truncates durations), so a limit of r may admit up to
 *     r x 1 ns extra tokens of debt.
 *
 * Bad arguments never cause undefined behaviour: a NULL limiter, a negative n,
 * a NaN or negative limit, a negative burst give KEEL_EINVAL from functions
 * returning int, false from the allow functions, 0 from the accessors.
 *
 * Concurrency: every function may be called from any task or thread at once.
 * keel_rate_allow* takes no lock on its common path: the bucket's tokens and
 * last-update time live in one 16-byte word updated by compare-and-swap
 * (x86-64 cmpxchg16b), so concurrent allows never block one another and the
 * result is always one of Go's serial histories. An allow whose CAS lost a
 * race pauses a few microseconds (4 us, doubling up to 32 us) before trying
 * again, so that contending threads take turns in runs of allows instead of
 * moving the cache line on every one; some thread always progresses.
 * Reserve, cancel and the setters take the limiter's mutex and publish
 * through the same word.
 * In no window of length T does a limiter admit more than limit x T + burst
 * events (plus the sub-nanosecond rounding above), however many callers.
 *
 * Ownership: a limiter belongs to whoever made it; free it once nothing uses
 * it (no wait in progress, no reservation that will still be canceled).
 * Reservations are plain values the caller keeps (stack or heap); they borrow
 * their limiter. Multi-limiters borrow their members; keyed limiters own their
 * per-key limiters; every *_new pairs with its *_free. */
#ifndef KEEL_RATE_H
#define KEEL_RATE_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/ctx.h"
#include "keel/status.h"
#include "keel/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits ---------------------------------------------------------------- */

/* Events per second. 0 allows no refill; KEEL_RATE_INF allows everything. */
typedef double keel_rate_limit;
#define KEEL_RATE_INF ((keel_rate_limit)INFINITY)
/* The delay of a reservation that is not OK (Go's InfDuration). */
#define KEEL_RATE_INF_DURATION INT64_MAX

/* Go's rate.Every: one event per interval. interval <= 0 gives KEEL_RATE_INF. */
keel_rate_limit keel_rate_every(int64_t interval_ns);

/* The book's Per(n, d) = Every(d / n) (integer division, as the book does):
 * n events per duration. n <= 0 gives 0 (no events); duration <= 0, or
 * n > duration_ns (so that d / n is 0), gives KEEL_RATE_INF, as the book's. */
keel_rate_limit keel_rate_per(int64_t n, int64_t duration_ns);

/* True for KEEL_RATE_INF and every limit >= DBL_MAX (Go's rate.Inf). */
bool keel_rate_limit_is_inf(keel_rate_limit limit);

/* The clock every variant without `now` reads: keel_now()'s monotonic clock,
 * interpolated from the CPU's invariant time-stamp counter when the kernel
 * uses it as its clocksource (re-anchored to keel_now() every millisecond, so
 * the two agree to well under a microsecond), else keel_now() itself. About a
 * third of the cost of clock_gettime. Any thread. */
int64_t keel_rate_now(void);

/* ---- the token bucket ------------------------------------------------------ */

typedef struct keel_rate_limiter keel_rate_limiter;

/* A limiter of `limit` events per second with bursts of at most `burst`
 * tokens, starting full. KEEL_EINVAL: out NULL, limit NaN or negative, burst
 * negative. KEEL_ENOMEM. The caller owns *out. */
int keel_rate_limiter_new(keel_rate_limiter **out, keel_rate_limit limit,
                          int64_t burst);
/* Frees l (NULL is a no-op). Nothing may use it any more. */
void keel_rate_limiter_free(keel_rate_limiter *l);

/* The current limit and burst (Go's Limit() and Burst()); 0 for NULL. */
keel_rate_limit keel_rate_limiter_limit(keel_rate_limiter *l);
int64_t keel_rate_limiter_burst(keel_rate_limiter *l);

/* Tokens available at now (Go's TokensAt): at most burst, negative while
 * reservations are in debt. With an infinite limit tokens are not taken, and
 * this reports the bucket as it would refill (Go does the same). Does not
 * change the limiter; 0 for NULL. Lock-free. */
double keel_rate_tokens(keel_rate_limiter *l);
double keel_rate_tokens_at(keel_rate_limiter *l, int64_t now);

/* Go's Allow / AllowN: true if n tokens could be taken at now (they are);
 * false otherwise (nothing changes). false for NULL or n < 0. Lock-free.
 *
 * The variants without `now` read keel_rate_now() themselves and, unlike
 * Go's, never move the bucket's time backwards: they act at
 * max(reading, bucket's last update). A caller whose reading went stale while
 * others got in first acts as of their time instead of making the bucket
 * refill the same interval twice (Go's Allow, which reads time.Now() before
 * its lock, can), so the r x T + b bound holds against the times used.
 * keel_rate_allow_stamped also reports that time (for logs and for tests).
 * With an explicit `now` the semantics are Go's exactly, earlier readings
 * included. */
bool keel_rate_allow(keel_rate_limiter *l);                  /* n = 1, now */
bool keel_rate_allow_n(keel_rate_limiter *l, int64_t n);     /* now */
bool keel_rate_allow_n_at(keel_rate_limiter *l, int64_t now, int64_t n);
bool keel_rate_allow_stamped(keel_rate_limiter *l, int64_t n, int64_t *stamp);

/* Go's SetLimitAt / SetBurstAt: the bucket is first brought up to date at
 * now with the old values (the variants without `now` act at max(reading,
 * last update), as allow does, so a racing setter cannot make the bucket
 * refill an interval twice). Reservations already made keep their time to act.
 * KEEL_EINVAL for NULL, a NaN or negative limit, a negative burst. */
int keel_rate_set_limit(keel_rate_limiter *l, keel_rate_limit limit);
int keel_rate_set_limit_at(keel_rate_limiter *l, int64_t now,
                           keel_rate_limit limit);
int keel_rate_set_burst(keel_rate_limiter *l, int64_t burst);
int keel_rate_set_burst_at(keel_rate_limiter *l, int64_t now, int64_t burst);

/* ---- reservations ---------------------------------------------------------- */

/* What reserve returns (Go's Reservation), by value. Read it through the
 * functions below; the fields are public so it can live on the stack. */
typedef struct keel_rate_reservation {
  bool ok;                    /* the tokens were granted */
  int64_t tokens;             /* tokens reserved (Go's bookkeeping value) */
  int64_t time_to_act;        /* when the holder may act (monotonic ns) */
  keel_rate_limit limit;      /* the limit at reservation time */
  keel_rate_limiter *limiter; /* borrowed */
} keel_rate_reservation;

/* Go's ReserveN(now, n) (the variants without `now` act at max(reading,
 * last update), as allow does): takes n tokens now, into debt if need be, and fills
 * *r with when the holder may act. r->ok is false (and nothing changes) when
 * n > burst with a finite limit, or with limit 0 when the remaining burst is
 * short. KEEL_EINVAL (and r->ok false) for NULL l or r, or n < 0. */
int keel_rate_reserve(keel_rate_limiter *l, keel_rate_reservation *r);
int keel_rate_reserve_n(keel_rate_limiter *l, int64_t n,
                        keel_rate_reservation *r);
int keel_rate_reserve_n_at(keel_rate_limiter *l, int64_t now, int64_t n,
                           keel_rate_reservation *r);
/* As reserve_n_at, but refuses (r->ok false, nothing taken) when the wait
 * would be longer than max_wait (Go's internal reserveN with
 * maxFutureReserve; allow is max_wait 0). */
int keel_rate_reserve_n_within_at(keel_rate_limiter *l, int64_t now, int64_t n,
                                  int64_t max_wait, keel_rate_reservation *r);

bool keel_rate_reservation_ok(const keel_rate_reservation *r);
/* How long the holder must wait after now before acting: 0 to act at once,
 * KEEL_RATE_INF_DURATION when the reservation is not OK. */
int64_t keel_rate_reservation_delay(const keel_rate_reservation *r);
int64_t keel_rate_reservation_delay_from(const keel_rate_reservation *r,
                                         int64_t now);

/* Go's CancelAt: the holder will not act; gives back the reserved tokens, as
 * far as later reservations allow (tokens reserved after this one are not
 * restored), and winds the limiter's last event back when this reservation
 * was the last. No effect for a reservation that is not OK, with an infinite
 * limit, with no tokens, or once its time to act is before now. Cancel a
 * reservation at most once (as in Go, a second cancel gives tokens again). */
void keel_rate_reservation_cancel(keel_rate_reservation *r);   /* max(reading, last) */
void keel_rate_reservation_cancel_at(keel_rate_reservation *r, int64_t now);

/* ---- waiting --------------------------------------------------------------- */

/* Go's WaitN: blocks the calling task or thread until n tokens are available.
 * Returns 0 when the caller may act, or
 *   KEEL_EINVAL   NULL l or ctx, n < 0;
 *   KEEL_ELIMIT   n > burst with a finite limit (at once, nothing taken);
 *   KEEL_EDEADLINE  the wait would end after ctx's deadline (at once, nothing
 *                 taken), or the deadline passed while waiting;
 *   KEEL_ECANCELED  ctx was canceled before or while waiting;
 *   (the context's own code in general: keel_ctx_err).
 * When the wait ends early the reservation is canceled (tokens given back). */
int keel_rate_wait(keel_rate_limiter *l, keel_ctx *ctx);     /* n = 1 */
int keel_rate_wait_n(keel_rate_limiter *l, keel_ctx *ctx, int64_t n);

/* ---- composition: the book's multiLimiter ----------------------------------- */

/* Anything that can be waited on and has a limit (the book's RateLimiter
 * interface). keel_rate_any_limiter / keel_rate_any_multi wrap keel's own;
 * users may fill one in for their own kinds. reserve_n_at is optional: it
 * takes n tokens at now and sets *act_at to when the caller may act (the
 * deterministic, fake-clock twin of wait_n); NULL makes multi reserve_at
 * return KEEL_ENOTSUP. */
typedef struct keel_rate_any {
  void *self;
  int (*wait_n)(void *self, keel_ctx *ctx, int64_t n);
  keel_rate_limit (*limit)(void *self);
  int (*reserve_n_at)(void *self, int64_t now, int64_t n, int64_t *act_at);
} keel_rate_any;

typedef struct keel_rate_multi keel_rate_multi;

keel_rate_any keel_rate_any_limiter(keel_rate_limiter *l);
keel_rate_any keel_rate_any_multi(keel_rate_multi *m);

/* A limiter made of `count` members (limiters or multi-limiters, copied into
 * the multi; the objects they point to are borrowed and must outlive it),
 * sorted by limit, most restrictive first (stable). KEEL_EINVAL: out NULL,
 * count 0, members NULL or a member without wait_n or limit. KEEL_ENOMEM. */
int keel_rate_multi_new(keel_rate_multi **out, const keel_rate_any *members,
                        size_t count);
void keel_rate_multi_free(keel_rate_multi *m);   /* NULL is a no-op */

/* Waits on every member in order, so the caller waits as long as the longest
 * wait (the earlier waits refill the later buckets). Stops at the first
 * error and returns it (tokens taken from earlier members are kept, as in the
 * book). */
int keel_rate_multi_wait(keel_rate_multi *m, keel_ctx *ctx);
int keel_rate_multi_wait_n(keel_rate_multi *m, keel_ctx *ctx, int64_t n);
/* What multi_wait_n does, on a fake clock: reserves n from each member in
 * order at the time the previous one would have let the caller go, and sets
 * *act_at to when the caller acts. KEEL_ELIMIT when a member refuses (n above
 * its burst); KEEL_ENOTSUP for a member without reserve_n_at. */
int keel_rate_multi_reserve_n_at(keel_rate_multi *m, int64_t now, int64_t n,
                                 int64_t *act_at);
/* The most restrictive member limit (the smallest, read now). */
keel_rate_limit keel_rate_multi_limit(keel_rate_multi *m);
size_t keel_rate_multi_count(const keel_rate_multi *m);
/* The i-th member in wait order (a zeroed keel_rate_any when out of range). */
keel_rate_any keel_rate_multi_member(const keel_rate_multi *m, size_t i);

/* ---- keyed limiters ----------------------------------------------------------- */

/* A limiter per key (client, tenant, address: any bytes), created on first use
 * with the options' limit and burst. Memory stays bounded:
 *   - a key unused for a second whose bucket is full again is dropped: a new
 *     limiter for it would start full, so nothing is lost;
 *     this is checked as keys are used (a few least recently used keys of the
 *     shard per operation) and by keel_rate_keyed_sweep_at;
 *   - a key idle for longer than idle_timeout (if > 0) is dropped as well;
 *   - beyond max_keys the least recently used key is dropped even if its
 *     bucket is not full (counted in keel_rate_keyed_stats' forced).
 * Keys are spread over shards, each with its own lock, hash table and LRU
 * list, so many tasks and threads use it at once. */
typedef struct keel_rate_keyed keel_rate_keyed;

typedef struct keel_rate_keyed_options {
  keel_rate_limit limit;  /* per key */
  int64_t burst;          /* per key */
  size_t max_keys;        /* 0: 1,048,576 */
  int64_t idle_timeout;   /* ns; 0: only full buckets and max_keys evict */
  unsigned shards;        /* rounded up to a power of two; 0: 64 */
} keel_rate_keyed_options;

/* KEEL_EINVAL for NULL, a bad limit or burst. KEEL_ENOMEM. */
int keel_rate_keyed_new(keel_rate_keyed **out,
                        const keel_rate_keyed_options *opts);
void keel_rate_keyed_free(keel_rate_keyed *k);   /* NULL is a no-op */

/* Allow n events for key at now: 1 allowed, 0 refused, or KEEL_EINVAL (NULL,
 * n < 0, key NULL with key_len > 0) or KEEL_ENOMEM (new key, no memory: the
 * event is not admitted). The key is copied. */
int keel_rate_keyed_allow_n_at(keel_rate_keyed *k, const void *key,
                               size_t key_len, int64_t now, int64_t n);
/* n = 1 at keel_rate_now(); false also on errors (fails closed). */
bool keel_rate_keyed_allow(keel_rate_keyed *k, const void *key,
                           size_t key_len);
/* Waits for n tokens of key's limiter (keel_rate_wait_n's results). The
 * key's limiter is kept alive while its caller waits. */
int keel_rate_keyed_wait_n(keel_rate_keyed *k, const void *key,
                           size_t key_len, keel_ctx *ctx, int64_t n);
/* Tokens of key at now; the burst for a key not present (it would start full). */
double keel_rate_keyed_tokens_at(keel_rate_keyed *k, const void *key,
                                 size_t key_len, int64_t now);
/* Drops every key idle enough (full bucket, or idle_timeout) at now; returns
 * how many were dropped. */
size_t keel_rate_keyed_sweep_at(keel_rate_keyed *k, int64_t now);

typedef struct keel_rate_keyed_stats {
  size_t keys;       /* keys present now */
  uint64_t created;  /* keys created so far */
  uint64_t evicted;  /* dropped as idle (full bucket or idle_timeout) */
  uint64_t forced;   /* dropped by max_keys before they were idle */
} keel_rate_keyed_stats;
void keel_rate_keyed_stats_get(keel_rate_keyed *k, keel_rate_keyed_stats *out);

/* ---- concurrency limiter ------------------------------------------------------ */

/* At most max_in_flight operations at once: acquire before, release after.
 * Waiters are served first come, first served. */
typedef struct keel_rate_concurrency keel_rate_concurrency;

/* KEEL_EINVAL: out NULL, max_in_flight < 1. KEEL_ENOMEM. */
int keel_rate_concurrency_new(keel_rate_concurrency **out,
                              int64_t max_in_flight);
/* Nothing may wait on it any more. NULL is a no-op. */
void keel_rate_concurrency_free(keel_rate_concurrency *c);
/* Takes a slot, waiting (task or thread) while all are taken: 0, or the
 * context's code (KEEL_ECANCELED, KEEL_EDEADLINE); KEEL_EINVAL for NULL. */
int keel_rate_concurrency_acquire(keel_rate_concurrency *c, keel_ctx *ctx);
/* Takes a slot if one is free now. */
bool keel_rate_concurrency_try_acquire(keel_rate_concurrency *c);
/* Gives a slot back: 0, or KEEL_ESTATE when none is taken. */
int keel_rate_concurrency_release(keel_rate_concurrency *c);
int64_t keel_rate_concurrency_in_flight(keel_rate_concurrency *c);
int64_t keel_rate_concurrency_max(keel_rate_concurrency *c);

#ifdef __cplusplus
}
#endif
#endif
