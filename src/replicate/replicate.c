/* replicate.c — in-process replicated and hedged requests.
 *
 * One call = one block of memory (struct call, its slots, a copy of the
 * handler list, per-replica stats and result buffers; on the caller's stack
 * when the call waits for its replicas) plus a context (child of the
 * caller's) that every replica's own context hangs from.
 *
 * Two ways to wait:
 *   - quiet (full replication, no hedge, no is_fatal, no detach): nothing a
 *     replica does needs the caller before every replica has stopped. The
 *     winner cancels the call's context itself; the caller parks once, on
 *     the wait group, and is woken once, by the last replica to end;
 *   - coordinated (the rest): each replica also sends its index on an
 *     events channel of capacity n, and the caller's loop reacts (starts the
 *     next handler after a failure, classifies failures, hedges, returns at
 *     a winner when detached).
 *
 * The initial replicas start as a chain: the caller spawns the first, and
 * each replica spawns the next before it runs its handler. A spawned task
 * runs next on its spawner's worker, so the burst stays on the caller's
 * worker (no queue, no wake of another worker, no state bounced between
 * cores); a replica whose handler blocks lets the next one start at once,
 * and an idle worker may still take a waiting one. Quiet calls only:
 * opts.spread, and every coordinated call, start them all from the caller
 * (Go's way: idle workers are woken to take them).
 *
 * Invariants:
 *   - each started replica ends with finish(): (coordinated) one send of its
 *     index on `events`, which never blocks (capacity n, one send per slot),
 *     then, as its very last act, done on the wait group: after that it
 *     touches nothing of the call. A slot that could not start is finished
 *     the same way by whoever tried to start it;
 *   - the wait group counts every slot handed to a starter (the chain's
 *     slots are counted before the first spawn);
 *   - `winner` goes NONE -> index (a replica's success claims it) or
 *     NONE -> CLOSED (the call ends without a winner); it never changes
 *     again. Only the claimer's result buffer is copied out; a replica that
 *     succeeds and loses the claim discards its own buffer;
 *   - a slot's fields are written by its replica (or its starter) before its
 *     finish() and read by the caller (or reaper) only after receiving its
 *     index or waiting for the wait group, which orders them;
 *   - a replica makes its own context when it starts, on its own worker,
 *     and releases it before it finishes. It is a value context below the
 *     call's: every replica is told at once by one cancel of the call's
 *     context (which has no children to walk), and shares its done channel;
 *     no replica is ever canceled alone;
 *   - the call's memory is freed by whoever waits for the wait group: the
 *     caller, or (detach) the reaper task; never while a replica runs. */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/decimal.h"
#include "keel/chan.h"
#include "keel/ctx.h"
#include "keel/replicate.h"
#include "keel/task.h"
#include "replicate/replicate_internal.h"

/* The key of the value each replica's context carries: its keel_replica. */
static const char replica_key;

#define WINNER_NONE ((size_t)-1)
#define WINNER_CLOSED ((size_t)-2)

struct call;

struct slot {
  keel_replica r;
  struct call *call;
  keel_err *err;         /* a failure's error, owned */
  int state;
  bool hedge;
  bool nostart;          /* its task could not be spawned */
  bool seen;             /* the caller received its event (or joined it) */
  int64_t started, ended;
  char defname[24];
};

struct call {
  keel_ctx *ctx;
  keel_chan *events;     /* coordinated calls only; NULL when quiet */
  keel_waitgroup wg;     /* one per started replica */
  _Atomic size_t winner;
  size_t n;
  size_t chain_end;      /* the chain starts slots [0, chain_end) */
  keel_replicate_options o;
  keel_replicate_handler *handlers;
  struct slot *slots;
  keel_replica_stat *stats;
  bool timed;            /* someone reads times: report, hedge, on_reaped */
  int64_t start, stopped_at;
  size_t next;           /* the next handler to start */
  size_t started, running, hedges, failed;
  int ctx_code;          /* the caller's context ended first: its code */
  size_t fatal;          /* index of a fatal failure, or WINNER_NONE */
  bool heap;             /* the block came from malloc (else the caller's stack) */
};

/* A call that waits for its replicas keeps its state on the caller's stack
 * when it fits: no allocation on the common path. */
#define LOCAL_CALL_BYTES 3072

static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

static struct call *call_alloc(size_t n, size_t result_size, void *local) {
  size_t a = alignof(max_align_t);
  size_t off_slots = round_up(sizeof(struct call), a);
  size_t off_handlers = off_slots + round_up(n * sizeof(struct slot), a);
  size_t off_stats = off_handlers + round_up(n * sizeof(keel_replicate_handler), a);
  size_t off_buffers = off_stats + round_up(n * sizeof(keel_replica_stat), a);
  size_t each = round_up(result_size, a);
  if (result_size && n > (SIZE_MAX - off_buffers) / each) return NULL;
  size_t total = off_buffers + n * each;
  char *m;
  if (local && total <= LOCAL_CALL_BYTES) {
    /* Stats are filled whole before they are read: no need to zero them. */
    memset(local, 0, off_stats);
    if (result_size) memset(local + off_buffers, 0, n * each);
    m = local;
  } else {
    m = calloc(1, total);
    if (!m) return NULL;
  }
  struct call *c = (struct call *)m;
  c->heap = m != local;
  c->slots = (struct slot *)(m + off_slots);
  c->handlers = (keel_replicate_handler *)(m + off_handlers);
  c->stats = (keel_replica_stat *)(m + off_stats);
  for (size_t i = 0; i < n; i++)
    c->slots[i].r.result = result_size ? m + off_buffers + i * each : NULL;
  return c;
}

static void call_free(struct call *c) {
  /* Replicas released their contexts; only failures left errors. */
  for (size_t i = 0; i < c->next; i++)
    if (c->slots[i].err) keel_err_release(c->slots[i].err);
  keel_chan_release(c->events);
  keel_ctx_release(c->ctx);
  if (c->heap) free(c);
}

/* "#<i>" for an unnamed handler, without snprintf's cost. */
static void default_name(char *buf, size_t i) {
  *buf++ = '#';
  buf[keel__decimal(buf, i)] = '\0';
}

/* A slot's last act: tell the caller (coordinated calls), then leave the
 * wait group. After the done, s and c may be freed at any moment. */
static void finish(struct call *c, struct slot *s) {
  if (c->events) {
    size_t idx = s->r.index;
    /* Capacity n and one send per slot: this never blocks. */
    (void)keel_chan_send(c->events, &idx, KEEL_FOREVER);
  }
  keel_waitgroup_done(&c->wg);
}

static void replica_main(void *p);

/* Starts slot i, or, when its task cannot be spawned, finishes it as a
 * failure (non-fatal, with the spawn's code) and tries the next slot while
 * i < end. Each slot tried is already counted in the wait group. */
static void start_from(struct call *c, size_t i, size_t end) {
  for (; i < end; i++) {
    struct slot *s = &c->slots[i];
    if (c->timed) s->started = keel_now();
    /* Unnamed handlers spawn without options: naming a task copies the name. */
    keel_task_options to = {.name = s->r.name};
    int rc = keel_task_spawn(NULL, replica_main, s,
                             c->handlers[i].name ? &to : NULL);
    if (rc == 0) return;
    s->ended = s->started;
    s->state = KEEL_REPLICA_FAILED;
    s->nostart = true;
    s->err = keel_err_new("replicate", rc, "replica %s could not start: %s",
                          s->r.name, keel_strerror(rc));
    finish(c, s);
  }
}

static void replica_main(void *p) {
  struct slot *s = p;
  struct call *c = s->call;
  size_t i = s->r.index;
  /* The chain: start the next one first, so it runs as soon as this one
   * blocks or ends (or another worker takes it). */
  if (i + 1 < c->chain_end) start_from(c, i + 1, c->chain_end);
  keel_err *e;
  /* Its own context: a value child of the call's (no lock, no link, no
   * token of its own; canceled with the call's), carrying the replica. */
  int rc = keel_ctx_with_value(c->ctx, &replica_key, &s->r, &s->r.ctx);
  if (rc == 0)
    e = c->handlers[i].fn(&s->r);
  else
    e = keel_err_new("replicate", rc, "replica %s has no context: %s",
                     s->r.name, keel_strerror(rc));
  if (c->timed) s->ended = keel_now();
  if (!e) {
    /* A success after the call's context ended (another won, or the
     * caller's ended) is too late: it cannot claim. */
    size_t none = WINNER_NONE;
    if (keel_ctx_err(c->ctx) == 0 &&
        atomic_compare_exchange_strong(&c->winner, &none, i)) {
      s->state = KEEL_REPLICA_WON;
      keel_ctx_cancel(c->ctx);     /* tell the others at once */
    } else {
      s->state = KEEL_REPLICA_LOST;
      if (c->o.discard && c->o.result_size) c->o.discard(s->r.result, c->o.user);
    }
  } else {
    s->err = e;
    s->state = keel_ctx_err(rc == 0 ? s->r.ctx : c->ctx) ? KEEL_REPLICA_CANCELED
                                                         : KEEL_REPLICA_FAILED;
  }
  keel_ctx_release(s->r.ctx);
  s->r.ctx = NULL;
  finish(c, s);
}

/* Coordinated calls: starts handler c->next (a hedge, a replacement after a
 * failure, or the primary). A spawn failure reaches the loop as an event. */
static void start_next(struct call *c, bool hedge) {
  struct slot *s = &c->slots[c->next++];
  c->started++;
  c->running++;
  s->hedge = hedge;
  if (hedge) c->hedges++;
  keel_waitgroup_add(&c->wg, 1);
  start_from(c, s->r.index, s->r.index + 1);
}

/* Only slots marked seen are read: the others may still be running. */
static void fill_stats(struct call *c, int64_t now) {
  for (size_t i = 0; i < c->n; i++) {
    struct slot *s = &c->slots[i];
    keel_replica_stat *st = &c->stats[i];
    st->hedge = s->hedge;
    st->exit_status = -1;
    if (i >= c->next) {
      st->state = KEEL_REPLICA_IDLE;
      st->start = -1;
      st->took = st->would_take = 0;
      st->code = 0;
      continue;
    }
    st->start = s->started - c->start;
    if (!s->seen) {
      st->state = KEEL_REPLICA_RUNNING;
      st->took = st->would_take = now - s->started;
      st->code = 0;
      continue;
    }
    st->state = s->state;
    st->took = s->ended - s->started;
    st->would_take = s->r.intended > st->took ? s->r.intended : st->took;
    st->code = s->err ? keel_err_code(s->err) : 0;
  }
}

static void fill_report(struct call *c, keel_replicate_report *rep, int64_t now,
                        keel_replica_stat *dst) {
  size_t w = atomic_load(&c->winner);
  (void)now;
  rep->winner = w < c->n ? w : KEEL_REPLICATE_NONE;
  rep->started = c->started;
  rep->hedges = c->hedges;
  rep->failed = 0;
  for (size_t i = 0; i < c->next; i++)
    if (c->stats[i].state == KEEL_REPLICA_FAILED) rep->failed++;
  rep->elapsed = now - c->start;
  if (dst && dst != c->stats) memcpy(dst, c->stats, c->n * sizeof *dst);
  rep->replicas = dst;
}

/* Teaches the hedge policy the primary's latency: its time to answer, or,
 * canceled because another won, how long it had run (a lower bound). */
static void record_primary(struct call *c) {
  if (!c->o.hedge || c->next == 0) return;
  struct slot *s = &c->slots[0];
  int64_t lat;
  if (s->state == KEEL_REPLICA_WON || s->state == KEEL_REPLICA_LOST)
    lat = s->ended - s->started;
  else if (s->state == KEEL_REPLICA_CANCELED && atomic_load(&c->winner) < c->n)
    lat = c->stopped_at - s->started;
  else
    return;
  keel_hedge_record_at(c->o.hedge, s->ended, lat);
}

/* Waits until every started replica has stopped (Go's wg.Wait()). */
static void join_all(struct call *c) {
  (void)keel_waitgroup_wait(&c->wg, KEEL_FOREVER, NULL);
  for (size_t i = 0; i < c->next; i++) c->slots[i].seen = true;
  c->running = 0;
}

/* Takes the events already sent, without waiting; with `until` set, waits
 * for that slot's event (a winner that claimed but has not sent yet). */
static void drain_events(struct call *c, size_t until) {
  for (;;) {
    bool wait = until < c->n && !c->slots[until].seen;
    size_t idx;
    if (keel_chan_recv(c->events, &idx, wait ? KEEL_FOREVER : KEEL_NOWAIT) != 0) return;
    c->slots[idx].seen = true;
    c->running--;
  }
}

static void reaper_main(void *p) {
  struct call *c = p;
  join_all(c);
  record_primary(c);
  if (c->o.on_reaped) {
    int64_t now = keel_now();
    fill_stats(c, now);
    keel_replicate_report rep;
    fill_report(c, &rep, now, c->stats);
    rep.elapsed = c->stopped_at - c->start;
    c->o.on_reaped(&rep, c->o.user);
  }
  call_free(c);
}

static bool is_fatal(struct call *c, struct slot *s) {
  return c->o.is_fatal && c->o.is_fatal(s->err, c->o.user);
}

/* Starts the initial replicas: as a chain (see the top of the file), or
 * all from the caller, so idle workers take them at once. */
static void start_chain(struct call *c, size_t initial) {
  c->next = c->started = c->running = initial;
  keel_waitgroup_add(&c->wg, (int64_t)initial);
  if (c->o.spread || c->events) {
    /* Coordinated calls start from the caller: a detached call's report
     * reads the start of every replica it counts as started. */
    for (size_t i = 0; i < initial; i++) start_from(c, i, i + 1);
  } else {
    c->chain_end = initial;
    start_from(c, 0, initial);
  }
}

/* The coordinator's loop: until a winner, a fatal failure, every replica
 * failed, or the caller's context ended. */
static void coordinate(struct call *c, size_t max_running, int64_t delay) {
  int64_t next_hedge = KEEL_FOREVER;
  if (c->o.hedge && delay != KEEL_FOREVER && c->n > 1) {
    next_hedge = delay > KEEL_FOREVER - c->start ? KEEL_FOREVER : c->start + delay;
  }
  for (;;) {
    if (atomic_load(&c->winner) != WINNER_NONE) return;
    if (c->running == 0) {
      if (c->next >= c->n) return;               /* every replica failed */
      start_next(c, false);
      continue;
    }
    size_t idx = 0;
    keel_select_case cases[2] = {
      {.chan = c->events, .op = KEEL_SELECT_RECV, .elem = &idx},
      {.chan = keel_ctx_done(c->ctx), .op = KEEL_SELECT_RECV, .elem = NULL},
    };
    int r = keel_chan_select(cases, 2, next_hedge);
    if (r == 0) {
      c->slots[idx].seen = true;
      c->running--;
    }
    /* The winner cancels the call's context itself: check for one first. */
    if (atomic_load(&c->winner) != WINNER_NONE) return;
    if (r == 1 || keel_ctx_err(c->ctx)) {
      c->ctx_code = keel_ctx_err(c->ctx);
      if (c->ctx_code == 0) c->ctx_code = KEEL_ECANCELED;
      return;
    }
    if (r == KEEL_ETIMEDOUT || r == KEEL_EAGAIN) {
      int64_t now = keel_now();
      if (c->next < c->n && c->running < max_running &&
          keel_hedge_allow_at(c->o.hedge, now)) {
        start_next(c, true);
        next_hedge = delay > KEEL_FOREVER - now ? KEEL_FOREVER : now + delay;
      } else {
        next_hedge = KEEL_FOREVER;   /* no copies left, at the cap, or no budget */
      }
      continue;
    }
    if (r != 0) {                    /* cannot happen with valid cases */
      c->ctx_code = KEEL_ECANCELED;
      return;
    }
    struct slot *s = &c->slots[idx];
    if (s->state == KEEL_REPLICA_FAILED || s->state == KEEL_REPLICA_CANCELED) {
      s->state = KEEL_REPLICA_FAILED;
      c->failed++;
      if (!s->nostart && is_fatal(c, s)) {
        c->fatal = idx;
        return;
      }
      if (c->next < c->n) start_next(c, false);
    }
  }
}

/* A quiet call ended without a winner: if a replica stopped because its
 * context was done, or succeeded too late, the caller's context ended
 * first, and its code is the call's. */
static void quiet_ctx_code(struct call *c) {
  for (size_t i = 0; i < c->next; i++)
    if (c->slots[i].state == KEEL_REPLICA_CANCELED ||
        c->slots[i].state == KEEL_REPLICA_LOST) {
      c->ctx_code = keel_ctx_err(c->ctx);
      if (c->ctx_code == 0) c->ctx_code = KEEL_ECANCELED;
      return;
    }
}

int keel_replicate(keel_ctx *ctx, const keel_replicate_handler *handlers,
                   size_t n, const keel_replicate_options *opts, void *result,
                   keel_replicate_report *report, keel_err **err) {
  if (err) *err = NULL;
  if (!handlers || n == 0 || n > SIZE_MAX / 4) return KEEL_EINVAL;
  keel_replicate_options o = {0};
  if (opts) o = *opts;
  if (o.result_size && !result) return KEEL_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!handlers[i].fn) return KEEL_EINVAL;
  if (!ctx) ctx = keel_ctx_background();

  size_t initial = o.initial == 0 || o.initial > n ? n : o.initial;
  if (o.hedge) initial = 1;
  /* Quiet: nothing needs the caller before every replica has stopped. */
  bool quiet = initial == n && !o.hedge && !o.is_fatal && !o.detach;

  alignas(max_align_t) char local[LOCAL_CALL_BYTES];
  struct call *c = call_alloc(n, o.result_size, o.detach ? NULL : local);
  if (!c) return KEEL_ENOMEM;
  c->n = n;
  c->o = o;
  c->fatal = WINNER_NONE;
  atomic_init(&c->winner, WINNER_NONE);
  keel_waitgroup_init(&c->wg);
  memcpy(c->handlers, handlers, n * sizeof *handlers);
  int rc = keel_ctx_with_cancel(ctx, &c->ctx);
  if (rc == 0 && !quiet) rc = keel_chan_make(&c->events, sizeof(size_t), n);
  if (rc < 0) {
    call_free(c);
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    struct slot *s = &c->slots[i];
    s->call = c;
    s->r.arg = handlers[i].arg;
    s->r.index = i;
    s->r.result_size = o.result_size;
    if (handlers[i].name) {
      s->r.name = handlers[i].name;
    } else {
      default_name(s->defname, i);
      s->r.name = s->defname;
    }
  }

  c->timed = report || o.hedge || (o.detach && o.on_reaped);
  c->start = c->timed ? keel_now() : 0;
  size_t max_running = n;
  int64_t delay = KEEL_FOREVER;
  if (o.hedge) {
    keel_hedge_begin_at(o.hedge, c->start);
    delay = keel_hedge_delay_at(o.hedge, c->start);
    max_running = keel_hedge_max_copies(o.hedge);
    if (max_running < 1) max_running = 1;
  }
  start_chain(c, initial);
  if (quiet) {
    join_all(c);                       /* one wake: the last replica's */
  } else {
    coordinate(c, max_running, delay);
  }

  /* End the call: no late winner after this, and every replica is told. */
  size_t none = WINNER_NONE;
  atomic_compare_exchange_strong(&c->winner, &none, WINNER_CLOSED);
  size_t w = atomic_load(&c->winner);
  c->stopped_at = c->timed ? keel_now() : 0;
  keel_ctx_cancel(c->ctx);
  if (quiet && w >= n) quiet_ctx_code(c);

  if (w < n) {
    if (o.result_size) memcpy(result, c->slots[w].r.result, o.result_size);
    if (o.detach) drain_events(c, w);
    if (o.detach && c->running > 0) {
      int64_t now = keel_now();
      fill_stats(c, now);
      if (report) fill_report(c, report, now, report->replicas);
      if (keel_task_spawn(NULL, reaper_main, c, NULL) == 0) return 0;
      /* No reaper: reap here instead; still no leak. */
    }
  }

  join_all(c);
  record_primary(c);
  int64_t now = c->timed ? keel_now() : 0;
  if (c->timed) fill_stats(c, now);
  if (report) fill_report(c, report, now, report->replicas);
  if (o.detach && o.on_reaped) {
    keel_replicate_report rep;
    fill_report(c, &rep, now, c->stats);
    o.on_reaped(&rep, o.user);
  }

  if (w < n) {
    call_free(c);
    return 0;
  }
  rc = c->ctx_code && c->fatal == WINNER_NONE ? c->ctx_code : KEEL_EFAILED;
  if (err) {
    keel_err **fails = malloc(n * sizeof *fails);
    size_t k = 0;
    if (fails) {
      for (size_t i = 0; i < c->next; i++)
        if (c->slots[i].state == KEEL_REPLICA_FAILED && c->slots[i].err) {
          fails[k++] = c->slots[i].err;
          c->slots[i].err = NULL;
        }
    }
    *err = keel_replicate_make_error(
        fails, k, c->started, n, rc == KEEL_EFAILED ? 0 : rc,
        c->fatal != WINNER_NONE ? c->slots[c->fatal].r.name : NULL);
    free(fails);
  }
  call_free(c);
  return rc;
}
