/* keel/replicate.h — replicated and hedged requests: the first answer wins.
 *
 * Send one request to several handlers and take the first successful answer;
 * cancel the others. This is the book's "Replicated Requests" pattern, plus
 * what "The Tail at Scale" (Dean and Barroso, 2013), gRPC's hedging policy
 * and tower's Hedge added: start the extra copies only after a delay (a fixed
 * one, or the p95 of recent latencies), under a budget of extra load.
 *
 * Three parts:
 *   keel_replicate        in-process: handlers run as tasks, each with its own
 *                         child context; full replication or hedging.
 *   keel_hedge            the hedging policy: an adaptive delay from a latency
 *                         histogram that forgets old data, a maximum number of
 *                         copies, and a budget enforced with keel's rate
 *                         limiter. Every decision has a `_at(now)` variant.
 *   keel_replicate_procs  across processes: N commands, the first one to exit
 *                         0 gives its stdout; the others get SIGTERM, then
 *                         SIGKILL after a grace period; every child is reaped.
 *
 * Handlers should differ in their runtime conditions (the book's caveat): the
 * call takes a list of distinct handlers (different backends, paths, data
 * stores), not only N copies of one; list the same handler twice for copies.
 *
 * A short example (the book's, with keel):
 *
 *   static keel_err *lookup(keel_replica *r) {
 *     struct backend *b = r->arg;
 *     int answer;
 *     int rc = backend_query(b, r->ctx, &answer);     // returns early when
 *     if (keel_ctx_err(r->ctx))                        // r->ctx is canceled
 *       return keel_replica_stopped(r);
 *     if (rc < 0)
 *       return keel_err_new("lookup", rc, "%s: %s", r->name, keel_strerror(rc));
 *     memcpy(r->result, &answer, sizeof answer);
 *     return NULL;                                     // success
 *   }
 *
 *   keel_replicate_handler hs[] = {{lookup, &east, "east"}, {lookup, &west, "west"}};
 *   keel_replicate_options o = {.result_size = sizeof(int)};
 *   int answer; keel_err *err = NULL; keel_replicate_report rep = {0};
 *   int rc = keel_replicate(ctx, hs, 2, &o, &answer, &rep, &err);
 *   // rc == 0: answer from hs[rep.winner]; else err says why (caller releases)
 *
 * Threads: every function may be called from a task or a plain thread. */
#ifndef KEEL_REPLICATE_H
#define KEEL_REPLICATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/ctx.h"
#include "keel/err.h"
#include "keel/status.h"
#include "keel/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the hedging policy ---------------------------------------------------- */

typedef struct keel_hedge keel_hedge;

typedef struct keel_hedge_options {
  /* Fixed delay before each extra copy (0: at once). Used when percentile
   * is 0; an adaptive policy ignores it. */
  int64_t delay;
  /* Adaptive delay: this percentile, in (0, 1) (0.95 is p95), of the
   * latencies recorded in the last one to two windows. 0 = fixed delay. */
  double percentile;
  /* Adaptive only: no hedge while the histogram holds fewer samples.
   * 0 = 100. */
  size_t min_samples;
  /* How long the histogram remembers: two rotating windows of this length,
   * so a sample counts for between one and two windows. 0 = 10 s. */
  int64_t window;
  /* Extra load allowed: hedges per primary request, e.g. 0.05 for "at most
   * 5% more requests". 0 = 0.05. INFINITY = no budget. Negative: EINVAL.
   * Leave room: a p95 delay asks for about 5% hedges, and a budget of
   * exactly that runs dry when slowness is correlated; about twice
   * (1 - percentile) is a good start (docs/tail-at-scale.md). */
  double budget;
  /* Hedges the budget may save up while no hedge is needed (the limiter's
   * burst); it starts full. 0 = 10. */
  int64_t budget_burst;
  /* Replicas running at once, the primary included. 0 = 2. */
  size_t max_copies;
} keel_hedge_options;

/* Statistics since keel_hedge_new (monotonic counters). */
typedef struct keel_hedge_stats {
  uint64_t requests;   /* primary requests counted (keel_hedge_begin_at) */
  uint64_t hedges;     /* hedges the budget allowed */
  uint64_t denied;     /* hedges the budget refused */
  uint64_t samples;    /* latencies recorded (keel_hedge_record_at) */
} keel_hedge_stats;

/* Makes a policy (opts may be NULL: fixed delay 0, i.e. hedge at once, with
 * a 5% budget). The caller owns it and frees it with keel_hedge_free when no
 * call uses it any more. Thread-safe: many concurrent calls may share one
 * policy (an internal lock, held for a few hundred nanoseconds at most).
 * Errors: KEEL_EINVAL (percentile outside [0, 1), negative delay, window or
 * budget), KEEL_ENOMEM. */
int keel_hedge_new(keel_hedge **out, const keel_hedge_options *opts);
void keel_hedge_free(keel_hedge *h);   /* NULL is a no-op */

/* The maximum number of replicas running at once (options.max_copies). */
size_t keel_hedge_max_copies(const keel_hedge *h);

/* The delay before the next copy for a call made now: the fixed delay, or
 * the percentile of recent latencies; KEEL_FOREVER when an adaptive policy
 * has fewer than min_samples samples (no hedge yet). */
int64_t keel_hedge_delay(keel_hedge *h);
int64_t keel_hedge_delay_at(keel_hedge *h, int64_t now);

/* Counts one primary request: each one earns `budget` of a hedge. */
void keel_hedge_begin(keel_hedge *h);
void keel_hedge_begin_at(keel_hedge *h, int64_t now);

/* Asks the budget for one hedge: true (and spends it) or false. The budget is
 * keel's token-bucket rate limiter run on a clock that ticks once per
 * primary request, not per second: over any stretch, hedges <= budget *
 * requests + budget_burst. `now` only ages the histogram. */
bool keel_hedge_allow(keel_hedge *h);
bool keel_hedge_allow_at(keel_hedge *h, int64_t now);

/* Records a latency (ns, >= 0) into the histogram. keel_replicate records
 * the primary's latency: its time to answer, or, when it was canceled
 * because a hedge won, the time it had run (a lower bound, which keeps slow
 * primaries in the tail where they belong). */
void keel_hedge_record(keel_hedge *h, int64_t latency);
void keel_hedge_record_at(keel_hedge *h, int64_t now, int64_t latency);

/* How many samples the histogram holds now (the last one to two windows). */
size_t keel_hedge_samples_at(keel_hedge *h, int64_t now);
/* The p-quantile (0 < p <= 1) of the samples held now, rounded up to the
 * histogram's resolution (<= 6.25%); -1 when empty. */
int64_t keel_hedge_quantile_at(keel_hedge *h, int64_t now, double p);

void keel_hedge_stats_get(keel_hedge *h, keel_hedge_stats *out);

/* ---- in-process replication --------------------------------------------- */

/* What a handler sees of its replica. The call owns it; the handler may
 * read every field and write result[0..result_size) and intended. */
typedef struct keel_replica {
  keel_ctx *ctx;        /* the replica's own context (a child of the call's):
                           done when another replica won, when the call
                           failed, or when the caller's context ended.
                           Every replica's is done at the same moment: it
                           is a value context below the call's, which the
                           call cancels (keel_ctx_cancel on it is a no-op;
                           derive a child to cancel work of your own).
                           Borrowed: valid while the handler runs. */
  void *arg;            /* the handler's arg */
  const char *name;     /* the handler's name (never NULL: "#<index>") */
  size_t index;         /* position in the handler list */
  void *result;         /* this replica's own result buffer (result_size
                           bytes, zeroed); the winner's is copied out */
  size_t result_size;
  int64_t intended;     /* optional: how long the handler would have taken
                           (ns); reported as would_take when it was cut
                           short, as in the book's printout */
} keel_replica;

/* A handler: NULL for success (its answer in r->result), or an error it
 * made (owned by the call afterwards). It must return soon after r->ctx is
 * done: wait with keel_ctx_* calls or select on keel_ctx_done(r->ctx). */
typedef keel_err *(*keel_replica_fn)(keel_replica *r);

/* What a handler returns when it stops because r->ctx is done: a shared
 * sentinel error (like Go's context.Canceled) with the context's code,
 * KEEL_ECANCELED or KEEL_EDEADLINE. Cheap: a reference count, no stack
 * capture, so losers stop fast. A new reference, owned by the call once
 * returned. Any thread. */
keel_err *keel_replica_stopped(const keel_replica *r);

typedef struct keel_replicate_handler {
  keel_replica_fn fn;
  void *arg;             /* borrowed: must live until every replica stopped */
  const char *name;      /* borrowed likewise; NULL: "#<index>" */
} keel_replicate_handler;

enum keel_replica_state {
  KEEL_REPLICA_IDLE = 0,   /* never started */
  KEEL_REPLICA_RUNNING,    /* still running (a detached call's report) */
  KEEL_REPLICA_WON,        /* its answer was taken */
  KEEL_REPLICA_LOST,       /* succeeded after another won; answer discarded */
  KEEL_REPLICA_FAILED,     /* returned an error while the call was live */
  KEEL_REPLICA_CANCELED,   /* returned after its context was done */
};

typedef struct keel_replica_stat {
  int state;            /* enum keel_replica_state */
  bool hedge;           /* started by a hedge delay (not at once, not after
                           a failure) */
  int64_t start;        /* ns after the call began; -1 when never started */
  int64_t took;         /* how long it ran (ns) */
  int64_t would_take;   /* max(took, the handler's `intended`) */
  int code;             /* failed or canceled: its error's code, else 0 */
  int exit_status;      /* processes: exit code, 128 + signal; -1 none */
} keel_replica_stat;

#define KEEL_REPLICATE_NONE ((size_t)-1)

typedef struct keel_replicate_report {
  size_t winner;        /* index of the winner, or KEEL_REPLICATE_NONE */
  size_t started;       /* replicas started */
  size_t hedges;        /* of which started by a hedge delay */
  size_t failed;        /* replicas that failed (not canceled) */
  int64_t elapsed;      /* the call's duration until it returned (ns) */
  /* The caller's array of n entries to fill, or NULL. In a detached call,
   * losers still running show KEEL_REPLICA_RUNNING; on_reaped gets the
   * final version. */
  keel_replica_stat *replicas;
} keel_replicate_report;

typedef struct keel_replicate_options {
  /* Bytes of each replica's result buffer; the winner's is copied to the
   * caller's `result`. 0: no result. To pass answers by pointer, make the
   * result a pointer (result_size = sizeof(T *)): the winner's pointer (and
   * what it owns) passes to the caller, and every other replica that
   * succeeded has its buffer given to `discard` to free what it owns.
   * discard runs on the losing replicas' tasks, possibly several at once. */
  size_t result_size;
  void (*discard)(void *result, void *user);
  /* Classifies a failure: true = fatal (the call ends at once with that
   * error; the others are canceled), false = try on (the next handler not
   * yet started starts at once). NULL: every failure is non-fatal. Called
   * on the caller's task or thread, one failure at a time. */
  bool (*is_fatal)(const keel_err *err, void *user);
  void *user;           /* passed to discard, is_fatal and on_reaped */
  /* Replicas started at once (without hedge); 0 = all n (full replication).
   * With a hedge policy it is always 1 (the primary). */
  size_t initial;
  /* Hedging: start the next handler after the policy's delay, under its
   * budget and max_copies. Borrowed; must outlive the call (and, when
   * detached, its reaping). NULL: no hedging. */
  keel_hedge *hedge;
  /* Return as soon as there is a winner, leaving the losers to stop in the
   * background: a detached reaper task waits for them (the call's wait
   * group), records the primary's latency, calls on_reaped (if set, on the
   * reaper task) with the final report, and frees the call. Handler args
   * must live until then. No task or memory is leaked. */
  bool detach;
  void (*on_reaped)(const keel_replicate_report *report, void *user);
  /* How the initial replicas start. Default (false): as a chain on the
   * caller's worker: each replica spawns the next just before its handler
   * runs, and a spawned task runs as soon as its spawner blocks or ends, so
   * handlers that wait (I/O, channels, timers, their context) all start
   * within microseconds, without waking another worker or moving the
   * call's state between cores; an idle worker that is awake may take a
   * waiting one. A handler that computes without blocking delays the next
   * start until it blocks, ends, or another worker takes it (the runtime's
   * monitor wakes one after about a millisecond). true: the caller spawns
   * every initial replica itself and idle workers are woken to take them
   * at once (Go's way), for handlers that compute; it costs cross-core
   * hand-offs on every call. The chain applies to calls that wait for every
   * replica with no hedge, no is_fatal and initial = n; the others always
   * start their replicas from the caller. */
  bool spread;
} keel_replicate_options;

/* Replicates one request over handlers[0..n) (n >= 1).
 *
 * Policy: the first success wins; its result_size bytes are copied to
 * `result` and the others are canceled through their contexts (by the
 * winner itself, at once). A failure the
 * caller classifies non-fatal starts the next handler at once; a fatal one
 * ends the call. The caller's ctx (its deadline) spans every attempt. Unless
 * opts->detach, the call returns only after every replica has stopped.
 *
 * Returns 0 (result filled), or:
 *   KEEL_EFAILED   every replica failed, or one failed fatally: *err joins
 *                  their errors (keel_err_has_code finds each code);
 *   KEEL_ECANCELED / KEEL_EDEADLINE  ctx ended first: *err wraps the
 *                  failures so far and says so (has that code too);
 *   KEEL_EINVAL    bad arguments; KEEL_ENOMEM (nothing was started).
 * A replica that cannot start (its task: KEEL_ENOMEM, KEEL_ESHUTDOWN, ...)
 * counts as a non-fatal failure with that code.
 * err may be NULL; otherwise *err is set (the caller releases it) whenever
 * the result is not 0 and left NULL on success. opts may be NULL (all at
 * once, no result). report may be NULL. */
int keel_replicate(keel_ctx *ctx, const keel_replicate_handler *handlers,
                   size_t n, const keel_replicate_options *opts, void *result,
                   keel_replicate_report *report, keel_err **err);

/* ---- across processes ------------------------------------------------------- */

typedef struct keel_replicate_cmd {
  const char *const *argv;  /* program and arguments, NULL-terminated;
                               argv[0] without '/' is searched in PATH.
                               Borrowed for the call. */
  const char *name;         /* for reports and errors; NULL: argv[0] */
} keel_replicate_cmd;

typedef struct keel_replicate_proc_options {
  int64_t grace;        /* SIGTERM, then SIGKILL after this; 0 = 1 s */
  size_t max_output;    /* bytes of stdout kept per child; more fails that
                           child; 0 = 1 MiB */
  bool quiet;           /* children's stderr to /dev/null (else inherited) */
} keel_replicate_proc_options;

typedef struct keel_replicate_output {
  char *data;           /* the winner's stdout, NUL-terminated; the caller
                           frees it with free(). NULL when there is none. */
  size_t len;
} keel_replicate_output;

/* Runs cmds[0..n) at once, each in its own process group with stdin from
 * /dev/null and stdout on a pipe; the first child to exit with status 0
 * wins and its whole stdout is returned. The others are stopped (SIGTERM to
 * their process group, SIGKILL after the grace period). Returns only after
 * every child has been reaped: no zombie, no orphan (children also get
 * PR_SET_PDEATHSIG(SIGKILL), so they die with this process), no descriptor
 * leaked (every descriptor is O_CLOEXEC and closed). Waiting never blocks a
 * worker thread: pipes and pidfds are watched with keel_fd_wait.
 * Failures (exit status != 0, a signal, too much output, a program not
 * found) are non-fatal; results as keel_replicate (KEEL_EFAILED when every
 * child failed). report->replicas, when set, has n entries. */
int keel_replicate_procs(keel_ctx *ctx, const keel_replicate_cmd *cmds,
                         size_t n, const keel_replicate_proc_options *opts,
                         keel_replicate_output *out,
                         keel_replicate_report *report, keel_err **err);

#ifdef __cplusplus
}
#endif
#endif
