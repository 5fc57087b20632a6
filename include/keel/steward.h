/* keel/steward.h — stewards and supervisors: healing unhealthy tasks.
 *
 * The pattern of "Concurrency in Go" (ch. 5, Healing Unhealthy Goroutines),
 * grown into what Erlang/OTP supervisors do.
 *
 * WARDS. A ward is started by a keel_start_fn: given a context and a pulse
 * interval it starts its task(s) and returns its heartbeat channel (elements
 * keel_pulse, see keel/heartbeat.h; NULL for a ward that never pulses). The
 * ward must stop when the context is done, and should close its heartbeat
 * channel when its last task ends (keel_heartbeat_free does), so its steward
 * knows it has stopped. A ward ends in one of three ways:
 *   - it finishes cleanly: it calls keel_ward_exit(ctx, NULL), or closes its
 *     heartbeat channel without calling it;
 *   - it fails: it calls keel_ward_exit(ctx, err) with a keel_err;
 *   - it falls silent: no pulse within the steward's timeout (the book's
 *     unhealthy ward; also livelock, with stuck_after and progress).
 *
 * STEWARDS. A steward starts its ward(s), watches them, and halts and
 * restarts them (halting through the ward's context). A steward is itself
 * started by a keel_start_fn (keel_steward_start), so a steward can be the
 * ward of another steward: stewards nest into a tree. When a steward gives up
 * (restart intensity exceeded) it stops its wards, ends, and reports a
 * well-formed keel_err to its own steward through keel_ward_exit: escalation
 * up the tree, as in OTP.
 *
 *   keel_steward_make         one ward (the book's newSteward)
 *   keel_steward_make_group   several wards with a strategy (OTP supervisor):
 *     KEEL_ONE_FOR_ONE   restart only the ward that ended;
 *     KEEL_ONE_FOR_ALL   stop all wards (reverse order), restart all (in order);
 *     KEEL_REST_FOR_ONE  stop the ward and those started after it, restart them.
 *   Wards start in order and stop in reverse order, each stop bounded by the
 *   ward's stop timeout.
 *
 * Restart types (per ward): PERMANENT (always restarted), TRANSIENT
 * (restarted only after a failure or silence, not after a clean finish),
 * TEMPORARY (never restarted). Restart intensity: more than max_restarts
 * restarts within period makes the steward give up. Backoff: the delay before
 * a restart grows exponentially (with jitter) and starts over once the ward
 * was healthy for reset_after.
 *
 * Events (started, missed heartbeat, exited, stopped, restarted, gave up) go
 * to a callback and/or a channel, each with a keel_err where something
 * failed. The decisions (restart or not, intensity, backoff) are pure
 * functions below, so tests can drive them with any clock.
 *
 * Ownership: keel_steward_make* returns one reference; every running steward
 * holds its own, so keel_steward_release may be called while it runs. The
 * heartbeat channel from keel_steward_start is a new reference the caller
 * releases; it closes when the steward has ended (after stopping its wards).
 * Any thread or task may call any function. */
#ifndef KEEL_STEWARD_H
#define KEEL_STEWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/chan.h"
#include "keel/ctx.h"
#include "keel/err.h"
#include "keel/heartbeat.h"
#include "keel/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- wards -------------------------------------------------------------- */

/* Starts a ward under ctx; pulse_interval is how often it should pulse (the
 * steward's timeout / 2, or 0 when the steward does not watch pulses). On
 * success returns 0 and sets *heartbeat to a new reference of the ward's
 * pulse channel (or NULL); the steward releases it. The ward keeps ctx
 * (keel_ctx_retain) for as long as it runs. A negative return is a failed
 * start, handled like a failure of the ward. */
typedef int (*keel_start_fn)(keel_ctx *ctx, int64_t pulse_interval, void *arg,
                             keel_chan **heartbeat);

/* Called by a ward (any of its tasks, any time, with its context or one
 * derived from it) to say it has ended: err == NULL for a clean finish, else
 * a failure (err owned, passed on to the steward's events). The first call
 * wins; it also cancels the ward's context. KEEL_ENOTFOUND (err released)
 * when ctx does not belong to a ward of a steward. */
int keel_ward_exit(keel_ctx *ctx, keel_err *err);

/* ---- policies -------------------------------------------------------------- */

typedef enum keel_restart_type {
  KEEL_RESTART_PERMANENT = 0,  /* always restarted (the book's steward) */
  KEEL_RESTART_TRANSIENT = 1,  /* only after a failure or a missed heartbeat */
  KEEL_RESTART_TEMPORARY = 2,  /* never restarted */
} keel_restart_type;

typedef enum keel_strategy {
  KEEL_ONE_FOR_ONE = 0,
  KEEL_ONE_FOR_ALL = 1,
  KEEL_REST_FOR_ONE = 2,
} keel_strategy;

/* Should a ward of this type that ended (failed or not) be restarted? */
bool keel_restart_wanted(keel_restart_type type, bool failed);

/* Restart intensity: the last max_restarts + 1 restart times. */
typedef struct keel_intensity keel_intensity;
/* max_restarts >= 0 and period > 0; KEEL_EINVAL, KEEL_ENOMEM. */
int keel_intensity_make(keel_intensity **out, int max_restarts, int64_t period);
void keel_intensity_free(keel_intensity *w);   /* NULL is a no-op */
/* Records a restart at now (non-decreasing). Returns 0, or KEEL_ELIMIT when
 * more than max_restarts restarts now fall within (now - period, now]. */
int keel_intensity_record(keel_intensity *w, int64_t now);
/* Restarts recorded within (now - period, now]. */
int keel_intensity_count(const keel_intensity *w, int64_t now);

/* Backoff between restarts. All zero: restart at once (the book's steward). */
typedef struct keel_backoff {
  int64_t initial;      /* delay before the first restart; 0: no backoff */
  int64_t max;          /* cap on the delay; 0: no cap */
  double multiplier;    /* growth per restart; < 1 means 2 */
  double jitter;        /* 0..1: the delay is drawn from [d*(1-jitter), d] */
  int64_t reset_after;  /* healthy this long since its start: start over;
                         * 0: 10 x initial */
} keel_backoff;

/* The delay before restart number attempt (0 for the first), with random a
 * uniformly random 64-bit value (for the jitter). Pure. */
int64_t keel_backoff_delay(const keel_backoff *b, unsigned attempt,
                           uint64_t random);
/* The attempt number to use for a ward that started at started_at and
 * ended at now after `attempt` earlier restarts: 0 once it was healthy for
 * reset_after, else attempt. Pure. */
unsigned keel_backoff_attempt(const keel_backoff *b, unsigned attempt,
                              int64_t started_at, int64_t now);

/* ---- events ------------------------------------------------------------------- */

typedef enum keel_steward_event_kind {
  KEEL_STEWARD_STARTED = 1,          /* a ward started (its first start) */
  KEEL_STEWARD_MISSED_HEARTBEAT = 2, /* no pulse within the timeout (err) */
  KEEL_STEWARD_EXITED = 3,           /* ended by itself; err: its failure or
                                        NULL for a clean finish */
  KEEL_STEWARD_STOPPED = 4,          /* halted by the steward; err when it did
                                        not end within its stop timeout */
  KEEL_STEWARD_RESTARTED = 5,        /* started again; err: why */
  KEEL_STEWARD_GAVE_UP = 6,          /* intensity exceeded (err); the steward
                                        stops its wards and ends */
} keel_steward_event_kind;

typedef struct keel_steward_event {
  keel_steward_event_kind kind;
  const char *steward;   /* the steward's name (lives as long as it does) */
  const char *ward;      /* the ward's name, or NULL (GAVE_UP) */
  size_t index;          /* the ward's position in its group */
  uint64_t incarnation;  /* 1 for a ward's first start, 2 after a restart, ... */
  int64_t at;            /* keel_now() when it happened; STARTED, RESTARTED:
                            the instant silence is counted from */
  int64_t delay;         /* RESTARTED: the backoff waited before it */
  int64_t silence;       /* MISSED_HEARTBEAT: time since the last sign of life
                            (at - silence: that pulse, or the start's at) */
  keel_err *err;         /* callback: borrowed; channel: owned by the receiver */
} keel_steward_event;

/* Called on the steward's task; must not block for long. */
typedef void (*keel_steward_event_fn)(const keel_steward_event *ev, void *arg);

/* Human-readable kind ("started", "missed heartbeat", ...). */
const char *keel_steward_event_name(keel_steward_event_kind kind);

/* ---- making stewards --------------------------------------------------------- */

#define KEEL_STEWARD_DEFAULT_STOP_TIMEOUT (5 * KEEL_SECOND)

typedef struct keel_ward_spec {
  const char *name;         /* copied; NULL: "ward" */
  keel_start_fn start;      /* required */
  void *arg;                /* passed to start; the caller keeps it alive */
  keel_restart_type restart;
  int64_t timeout;          /* no pulse within it: unhealthy. 0: pulses are
                               not watched, only exits */
  int64_t pulse_interval;   /* given to start; 0: timeout / 2 (the book) */
  int64_t stuck_after;      /* > 0: pulses without progress for this long
                               count as unhealthy ("alive but stuck") */
  int64_t stop_timeout;     /* how long a stop waits for the ward's heartbeat
                               to close; 0: the default; < 0: do not wait */
} keel_ward_spec;

typedef struct keel_steward_options {
  const char *name;         /* copied; NULL: "steward" */
  keel_strategy strategy;   /* groups only */
  int max_restarts;         /* with period > 0: more restarts than this */
  int64_t period;           /*   within period -> give up. period 0: never */
  keel_backoff backoff;
  keel_steward_event_fn on_event;  /* optional */
  void *event_arg;
  keel_chan *events;        /* optional, retained: keel_steward_event
                               elements, sent without blocking (a full
                               channel drops the event; give it room) */
  uint64_t (*random)(void *arg);   /* jitter source; NULL: internal */
  void *random_arg;
} keel_steward_options;

typedef struct keel_steward keel_steward;

/* The book's steward: one ward, started with start(ctx, timeout/2, arg, ..),
 * restarted when no pulse comes within timeout. opts may be NULL (book
 * defaults: permanent, no intensity limit, no backoff, no events). For a
 * ward that never closes its heartbeat, set ward stop_timeout < 0 through
 * keel_steward_make_group. KEEL_EINVAL, KEEL_ENOMEM. */
int keel_steward_make(keel_steward **out, int64_t timeout, keel_start_fn start,
                      void *arg, const keel_steward_options *opts);

/* A supervisor of n wards (copied), started in order. */
int keel_steward_make_group(keel_steward **out, const keel_ward_spec *wards,
                            size_t n, const keel_steward_options *opts);

keel_steward *keel_steward_retain(keel_steward *s);
void keel_steward_release(keel_steward *s);   /* NULL is a no-op */

/* A keel_start_fn (arg is the keel_steward *): runs the steward on a new
 * task under ctx, pulsing every pulse_interval (0: never) on the returned
 * channel, which closes when the steward has ended. Returns once the first
 * round of ward starts is done (as OTP's start_link), so stewards nested in
 * a group start depth-first, in order. When ctx is done the steward stops
 * its wards (reverse order) and ends. When it gives up, it reports its error
 * to its own steward (keel_ward_exit on ctx) before its heartbeat closes.
 * A ward that ended for good (not restarted) stays stopped, also when a
 * one_for_all or rest_for_one restart of its group happens later. */
int keel_steward_start(keel_ctx *ctx, int64_t pulse_interval, void *steward,
                       keel_chan **heartbeat);

/* Runs the steward on the calling task or thread until ctx is done (0), all
 * its wards ended for good (0), or it gives up (KEEL_ELIMIT; *err, if err is
 * not NULL, gets a new reference to the reason). Pulses go to heartbeat
 * (borrowed, may be NULL; not closed) every pulse_interval. KEEL_ENOMEM. */
int keel_steward_run(keel_steward *s, keel_ctx *ctx, int64_t pulse_interval,
                     keel_chan *heartbeat, keel_err **err);

/* Why the most recent run gave up (a new reference), or NULL. */
keel_err *keel_steward_err(keel_steward *s);
/* Restarts done so far by all runs of s. */
uint64_t keel_steward_restarts(const keel_steward *s);
const char *keel_steward_name(const keel_steward *s);

#ifdef __cplusplus
}
#endif
#endif
