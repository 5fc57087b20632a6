/* keel/heartbeat.h — heartbeats: a worker's way to say "I am alive".
 *
 * The pattern of "Concurrency in Go" (ch. 5, Heartbeats), as a small API.
 *
 * A worker owns a keel_heartbeat and hands its pulse channel (elements are
 * keel_pulse) to whoever watches it. Two kinds, as in the book:
 *
 *   - interval heartbeats (interval > 0): a pulse every interval while the
 *     worker waits for work or to send a result. Every wait of the worker
 *     must service the pulse, so use the helpers below for every wait:
 *       keel_heartbeat_send_result  send a result    (pulsing while it waits)
 *       keel_heartbeat_recv         receive work     (pulsing while it waits)
 *       keel_heartbeat_sleep        wait a while     (pulsing while it waits)
 *       keel_heartbeat_select       any select       (pulsing while it waits)
 *     Each returns when its own operation completes or the context is done.
 *     How the pulse is serviced: the book's worker wakes at every tick to
 *     pulse and goes back to its select. keel's heartbeat owns a runtime
 *     timer that pulses on the worker's behalf while the worker is parked in
 *     one of these waits (and, for a tick that came while the worker was
 *     busy, at the start of its next wait, as Go's buffered tick would). So
 *     a pulse still means "the worker reached a wait and sits in it", an
 *     idle worker is never woken just to pulse, and a worker that is busy,
 *     stuck in a computation or gone does not pulse. A worker with its own
 *     select brackets it with keel_heartbeat_waiting(hb, true/false).
 *
 *   - work-unit heartbeats (interval == 0): call keel_heartbeat_pulse at the
 *     start of each unit of work, in its own statement, separate from the
 *     send of the result, so a watcher that is not ready for the result gets
 *     the pulse and no result is lost.
 *
 * A pulse is a non-blocking send on a channel with a buffer of one: nobody
 * listening never blocks the worker, and a watcher that comes late still
 * finds a pulse waiting (the oldest one nobody took; newer ones were dropped).
 *
 * Pulses carry progress: keel_heartbeat_add_progress counts finished units,
 * and every pulse carries the count, so a watcher can tell "alive but stuck"
 * (pulses, no progress: a livelock) from "alive and working".
 *
 * Watchers: keel_watcher waits for a result or a pulse and reports the worker
 * unhealthy (a keel_err) when neither comes within its timeout (the book's
 * 2 x interval), or stuck when pulses come but progress does not.
 *
 * Ownership and threads: keel_heartbeat_make returns a heartbeat the worker
 * owns and frees (keel_heartbeat_free, which also closes the pulse channel:
 * the book's `defer close(heartbeat)`). keel_heartbeat_chan is borrowed:
 * retain it (keel_chan_retain) to hand it out; the receiver releases it.
 * keel_heartbeat_pulse and keel_heartbeat_add_progress may be called from any
 * task or thread; the waiting helpers by one caller at a time (the worker).
 * A NULL context means "never canceled". */
#ifndef KEEL_HEARTBEAT_H
#define KEEL_HEARTBEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/chan.h"
#include "keel/ctx.h"
#include "keel/err.h"
#include "keel/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What travels on a pulse channel. */
typedef struct keel_pulse {
  uint64_t seq;       /* 1, 2, 3, ... per heartbeat (gaps: pulses nobody took) */
  uint64_t progress;  /* units of work finished so far, as the worker counted */
  int64_t at;         /* keel_now() of the tick (interval pulses) or of the
                         send (keel_heartbeat_pulse) */
} keel_pulse;

typedef struct keel_heartbeat keel_heartbeat;

typedef struct keel_heartbeat_options {
  /* > 0: pulse every interval (a timer). 0: work-unit pulses only. */
  int64_t interval;
  /* Optional tick source used instead of the timer: a channel of int64_t
   * whose every element means "pulse now, stamped with this time"; the waits
   * select on it and pulse themselves, as the book's loop does (tests drive
   * pulses deterministically with it). Retained by the heartbeat. */
  keel_chan *tick;
  /* Optional pulse channel (keel_pulse elements, retained) instead of a new
   * one; the heartbeat does not close a channel it did not make. */
  keel_chan *chan;
} keel_heartbeat_options;

/* A new heartbeat with a pulse channel of capacity 1 (elements: keel_pulse).
 * interval > 0 starts a timer; 0 makes a work-unit heartbeat. Errors:
 * KEEL_EINVAL (out NULL, interval < 0), KEEL_ENOMEM. Any thread. */
int keel_heartbeat_make(keel_heartbeat **out, int64_t interval);
int keel_heartbeat_make_opts(keel_heartbeat **out,
                             const keel_heartbeat_options *opts);

/* Stops the timer, closes the pulse channel (if the heartbeat made it and it
 * is still open), drops the heartbeat's references. NULL is a no-op. The
 * worker calls it last. */
void keel_heartbeat_free(keel_heartbeat *hb);

/* The pulse channel (borrowed; keel_chan_retain it to hand it out). */
keel_chan *keel_heartbeat_chan(const keel_heartbeat *hb);
/* The injected tick channel (options.tick), or NULL. A worker that writes its
 * own select with an injected tick adds it as a case and, on a tick, calls
 * keel_heartbeat_pulse. */
keel_chan *keel_heartbeat_tick(const keel_heartbeat *hb);

/* For a worker that writes its own select (interval heartbeats with the
 * timer): call with true just before the select and false just after; the
 * timer pulses for the worker in between. Calls nest. Any task. */
void keel_heartbeat_waiting(keel_heartbeat *hb, bool waiting);

/* Sends one pulse without blocking. 0 when it went out, KEEL_EAGAIN when the
 * buffer was full (nobody took the last one: dropped, by design),
 * KEEL_ECLOSED after keel_heartbeat_close. Any task or thread. */
int keel_heartbeat_pulse(keel_heartbeat *hb);

/* Counts n more finished units; later pulses carry the new total. */
void keel_heartbeat_add_progress(keel_heartbeat *hb, uint64_t n);
uint64_t keel_heartbeat_progress(const keel_heartbeat *hb);
/* Pulses attempted so far (sent or dropped): the last pulse's seq. */
uint64_t keel_heartbeat_pulses(const keel_heartbeat *hb);

/* Closes the pulse channel now (watchers see KEEL_ECLOSED: the worker ended).
 * Later pulses return KEEL_ECLOSED. Idempotent. */
int keel_heartbeat_close(keel_heartbeat *hb);

/* ---- waiting while pulsing (interval heartbeats) ---------------------------
 * Each loops select { tick -> pulse; the operation; ctx done } until the
 * operation completes (0, or KEEL_ECLOSED when its channel is closed) or ctx
 * is done (KEEL_ECANCELED / KEEL_EDEADLINE). KEEL_EINVAL on bad arguments. */

/* Sends *value on out (the book's sendResult). */
int keel_heartbeat_send_result(keel_heartbeat *hb, keel_ctx *ctx,
                               keel_chan *out, const void *value);
/* Receives one element from in into *value (may be NULL). */
int keel_heartbeat_recv(keel_heartbeat *hb, keel_ctx *ctx, keel_chan *in,
                        void *value);
/* Waits duration (simulated or real work that can be interleaved), pulsing.
 * 0 when the time has passed. */
int keel_heartbeat_sleep(keel_heartbeat *hb, keel_ctx *ctx, int64_t duration);

#define KEEL_HEARTBEAT_MAX_CASES 16
/* Like keel_chan_select over the caller's n cases (n <= 16), plus the tick and
 * ctx's done. Returns the index of the caller's case that proceeded (its
 * result set), or ctx's code. Never returns for a tick. */
int keel_heartbeat_select(keel_heartbeat *hb, keel_ctx *ctx,
                          keel_select_case *cases, size_t n);

/* ---- watching a worker --------------------------------------------------------
 * A watcher listens to a worker's pulse channel and, optionally, its results.
 * Every result and every pulse is a sign of life; silence longer than timeout
 * means unhealthy. With stuck_after > 0, pulses whose progress has not moved
 * (and no result) for stuck_after mean "alive but stuck".
 *
 * The fields are the watcher's state: read them freely, set them through
 * keel_watcher_init. One watcher per caller; it borrows the channels. */
typedef struct keel_watcher {
  keel_chan *heartbeat;   /* pulse channel (borrowed), or NULL */
  keel_chan *results;     /* results channel (borrowed), or NULL */
  int64_t timeout;        /* silence that means unhealthy (> 0) */
  int64_t stuck_after;    /* no progress this long means stuck; 0: off */
  int64_t last_sign;      /* keel_now() of the last pulse or result */
  int64_t progress_at;    /* keel_now() when progress last moved */
  uint64_t progress;      /* the highest progress seen */
  keel_pulse last_pulse;  /* the most recent pulse */
  uint64_t pulses;        /* pulses received */
  uint64_t results_seen;  /* results received */
} keel_watcher;

enum keel_watch_event {
  KEEL_WATCH_HEALTHY = 0,    /* (verdict only) nothing wrong yet */
  KEEL_WATCH_RESULT = 1,     /* a result was copied into *result */
  KEEL_WATCH_PULSE = 2,      /* a pulse came (w->last_pulse) */
  KEEL_WATCH_UNHEALTHY = 3,  /* neither within the timeout */
  KEEL_WATCH_STUCK = 4,      /* pulses, but no progress within stuck_after */
};

/* Starts watching at now (the worker is presumed alive at now). */
void keel_watcher_init(keel_watcher *w, keel_chan *heartbeat,
                       keel_chan *results, int64_t timeout, int64_t now);

/* Waits for the next event: KEEL_WATCH_RESULT, KEEL_WATCH_PULSE,
 * KEEL_WATCH_UNHEALTHY or KEEL_WATCH_STUCK (then *err, if err is not NULL,
 * gets a new keel_err of module "heartbeat", code KEEL_ETIMEDOUT, that the
 * caller releases); KEEL_ECLOSED when the results channel (or, without one,
 * the pulse channel) is closed and drained; ctx's code when ctx is done;
 * KEEL_EINVAL. A closed pulse channel with results still open is only
 * silence. result receives the element (may be NULL). */
int keel_watcher_wait(keel_watcher *w, keel_ctx *ctx, void *result,
                      keel_err **err);

/* The decisions behind keel_watcher_wait, pure functions of `now`, for fake
 * clocks and tests. */
void keel_watcher_note_pulse(keel_watcher *w, const keel_pulse *p, int64_t now);
void keel_watcher_note_result(keel_watcher *w, int64_t now);
/* KEEL_WATCH_HEALTHY, KEEL_WATCH_UNHEALTHY or KEEL_WATCH_STUCK at now. */
int keel_watcher_verdict(const keel_watcher *w, int64_t now);
/* The instant the verdict turns bad if nothing comes before it. */
int64_t keel_watcher_deadline(const keel_watcher *w);

#ifdef __cplusplus
}
#endif
#endif
