/* run.c — the steward's loop: start wards in order, watch their pulses and
 * exits, halt and restart them by strategy, give up past the intensity, stop
 * them in reverse order at the end.
 *
 * Invariants:
 *   - a ward is RUNNING (it has a cancel context, a value context and maybe
 *     a heartbeat), WAITING (stopped, restart due at restart_at), IDLE
 *     (stopped, decision pending) or DONE (stopped for good). Only RUNNING
 *     wards hold references;
 *   - stop_ward always cancels first, then waits for the heartbeat to close
 *     (bounded by the stop timeout), then drops the references: a ward is
 *     never restarted while the steward still knows it to be running;
 *   - the steward's own pulse is serviced in every wait, including stops;
 *   - when the run's context is done nothing is restarted: every running
 *     ward is stopped, last started first. Ward contexts descend from the
 *     run's context through keel_ctx_without_cancel (values, no
 *     cancellation), so the steward alone decides the order of the stops;
 *   - silence is measured from the last pulse (or the start), so a restart
 *     happens one timeout after the last sign of life, not later. */
#include <stdlib.h>
#include <string.h>

#include "steward/steward_private.h"

enum { W_IDLE, W_RUNNING, W_WAITING, W_DONE };
enum { C_DONE, C_PULSE, C_EXIT };

struct ward_run {
  const keel_ward_spec *spec;
  int state;
  keel_ctx *cancel;      /* C: the steward halts the ward through it */
  keel_ctx *ctx;         /* below C, carries the ward key; given to start */
  keel_chan *hb;         /* the ward's heartbeat (a reference), or NULL */
  bool hb_closed;
  int64_t started_at, last_sign, progress_at, restart_at, delay;
  uint64_t progress, incarnation;
  unsigned attempt;
  keel_err *why;         /* why the pending restart happens (owned) */
};

struct run {
  keel_steward *s;
  keel_ctx *ctx;
  keel_ctx *shield;      /* ctx's values without its cancellation: the wards'
                            root, so that only the steward halts wards, in
                            reverse start order */
  keel_heartbeat *beat;  /* our own pulses, on the caller's channel, or NULL */
  keel_intensity *window;
  struct ward_run *w;
  keel_select_case *cases;
  int *case_kind;
  size_t *case_ward;
  keel_err *gave_up;
  keel_chan *ready;      /* closed after the first round of starts */
};

/* at: when it happened. A start's is the instant its silence starts to be
 * counted from, and a missed heartbeat's the instant the silence was
 * measured, so that at - silence is the last sign of life. */
static void emit(struct run *r, keel_steward_event_kind kind, size_t i,
                 int64_t at, keel_err *err, int64_t delay, int64_t silence) {
  keel_steward *s = r->s;
  if (s->opts.on_event == NULL && s->opts.events == NULL) return;
  keel_steward_event ev = {
      .kind = kind, .steward = s->name, .ward = NULL, .index = i,
      .at = at, .delay = delay, .silence = silence, .err = err};
  if (kind != KEEL_STEWARD_GAVE_UP) {
    ev.ward = r->w[i].spec->name;
    ev.incarnation = r->w[i].incarnation;
  }
  if (s->opts.on_event != NULL) s->opts.on_event(&ev, s->opts.event_arg);
  if (s->opts.events != NULL) {
    ev.err = err ? keel_err_retain(err) : NULL;
    if (keel_chan_send(s->opts.events, &ev, KEEL_NOWAIT) != 0)
      keel_err_release(ev.err);
  }
}

/* Every wait of the steward is a heartbeat-aware wait: its own timer pulses
 * for it while it is parked in one (see keel/heartbeat.h). */
static int select_pulsing(struct run *r, keel_select_case *c, size_t n,
                          int64_t deadline) {
  keel_heartbeat_waiting(r->beat, true);
  int k = keel_chan_select(c, n, deadline);
  keel_heartbeat_waiting(r->beat, false);
  return k;
}

static int64_t stop_timeout_of(const keel_ward_spec *spec) {
  return spec->stop_timeout == 0 ? KEEL_STEWARD_DEFAULT_STOP_TIMEOUT
                                 : spec->stop_timeout;
}

static void drop_refs(struct ward_run *w) {
  keel_chan_release(w->hb);
  keel_ctx_release(w->ctx);
  keel_ctx_release(w->cancel);
  w->hb = NULL;
  w->ctx = w->cancel = NULL;
}

/* Halts a running ward and waits (bounded) for its heartbeat to close. */
static void stop_ward(struct run *r, size_t i, bool announce) {
  struct ward_run *w = &r->w[i];
  if (w->state != W_RUNNING) return;
  keel_ctx_cancel(w->cancel);
  keel_err *err = NULL;
  int64_t limit = stop_timeout_of(w->spec);
  if (!w->hb_closed && w->hb != NULL && limit > 0) {
    int64_t deadline = keel_deadline_in(limit);
    for (;;) {   /* drain its last pulses until the close */
      keel_select_case c = {.chan = w->hb, .op = KEEL_SELECT_RECV, .elem = NULL};
      int k = select_pulsing(r, &c, 1, deadline);
      if (k == 0 && c.result == KEEL_ECLOSED) break;
      if (k == KEEL_ETIMEDOUT || k == KEEL_EAGAIN) {   /* EAGAIN: already past */
        err = keel_err_new("steward", KEEL_ETIMEDOUT,
                           "ward %s did not stop within %lld ms",
                           w->spec->name, (long long)(limit / KEEL_MILLISECOND));
        break;
      }
      if (k < 0) break;
    }
  }
  drop_refs(w);
  w->state = W_IDLE;
  if (announce) emit(r, KEEL_STEWARD_STOPPED, i, keel_now(), err, 0, 0);
  keel_err_release(err);
}

/* Starts ward i; on failure returns the error (owned) and leaves it IDLE. */
static keel_err *start_ward(struct run *r, size_t i) {
  struct ward_run *w = &r->w[i];
  const keel_ward_spec *spec = w->spec;
  int rc = keel_ctx_with_cancel(r->shield, &w->cancel);
  if (rc == 0) {
    rc = keel_ctx_with_value(w->cancel, &keel_steward_ward_key, w->cancel, &w->ctx);
    if (rc < 0) {
      keel_ctx_cancel(w->cancel);
      keel_ctx_release(w->cancel);
      w->cancel = NULL;
    }
  }
  w->incarnation++;
  if (rc == 0) {
    int64_t interval = spec->pulse_interval ? spec->pulse_interval : spec->timeout / 2;
    keel_chan *hb = NULL;
    rc = spec->start(w->ctx, interval, spec->arg, &hb);
    if (rc < 0) {
      keel_chan_release(hb);
      keel_ctx_cancel(w->cancel);
      drop_refs(w);
    } else {
      w->hb = hb;
    }
  }
  if (rc < 0) {
    w->state = W_IDLE;
    return keel_err_new("steward", rc, "ward %s failed to start: %s",
                        spec->name, keel_strerror(rc));
  }
  int64_t now = keel_now();
  w->state = W_RUNNING;
  w->hb_closed = w->hb == NULL;
  w->started_at = w->last_sign = w->progress_at = now;
  w->progress = 0;
  if (w->incarnation == 1) {
    emit(r, KEEL_STEWARD_STARTED, i, now, NULL, 0, 0);
  } else {
    emit(r, KEEL_STEWARD_RESTARTED, i, now, w->why, w->delay, 0);
  }
  keel_err_release(w->why);
  w->why = NULL;
  return NULL;
}

static void group_of(const struct run *r, size_t i, size_t *from, size_t *to) {
  switch (r->s->opts.strategy) {
    case KEEL_ONE_FOR_ALL: *from = 0; *to = r->s->n - 1; break;
    case KEEL_REST_FOR_ONE: *from = i; *to = r->s->n - 1; break;
    default: *from = *to = i; break;
  }
}

/* Ward i has ended (kind EXITED) or fallen silent (MISSED_HEARTBEAT; it is
 * still running and gets halted). Decides its fate and its group's. Takes
 * err. Returns KEEL_ELIMIT when the steward gives up. */
static int ward_ended(struct run *r, size_t i, keel_steward_event_kind kind,
                      bool failed, keel_err *err, int64_t at, int64_t silence) {
  struct ward_run *w = &r->w[i];
  emit(r, kind, i, at, err, 0, silence);
  stop_ward(r, i, kind == KEEL_STEWARD_MISSED_HEARTBEAT);
  if (!keel_restart_wanted(w->spec->restart, failed)) {
    w->state = W_DONE;
    keel_err_release(err);
    return 0;
  }
  int64_t now = keel_now();
  if (r->window != NULL && keel_intensity_record(r->window, now) == KEEL_ELIMIT) {
    const keel_steward_options *o = &r->s->opts;
    /* gave up (module steward) -> [limit (KEEL_ELIMIT), the last failure] */
    keel_err *parts[2] = {
        keel_err_new("steward", KEEL_ELIMIT,
                     "more than %d restart%s within %lld ms (the last for %s)",
                     o->max_restarts, o->max_restarts == 1 ? "" : "s",
                     (long long)(o->period / KEEL_MILLISECOND), w->spec->name),
        err};
    r->gave_up = keel_err_wrap(keel_err_join(parts, 2), "steward",
                               "a part of the service failed too often and was stopped",
                               "%s gave up", r->s->name);
    emit(r, KEEL_STEWARD_GAVE_UP, i, now, r->gave_up, 0, 0);
    w->state = W_DONE;
    return KEEL_ELIMIT;
  }
  atomic_fetch_add(&r->s->restarts, 1);
  size_t from, to;
  group_of(r, i, &from, &to);
  for (size_t j = to + 1; j-- > from;) {
    if (j == i || r->w[j].state != W_RUNNING) continue;
    stop_ward(r, j, true);
    if (r->w[j].spec->restart == KEEL_RESTART_TEMPORARY) r->w[j].state = W_DONE;
  }
  const keel_backoff *b = &r->s->opts.backoff;
  w->attempt = keel_backoff_attempt(b, w->attempt, w->started_at, now);
  int64_t delay = keel_backoff_delay(b, w->attempt, keel_steward_random(r->s));
  if (w->attempt < 64) w->attempt++;
  for (size_t j = from; j <= to; j++) {
    struct ward_run *x = &r->w[j];
    if (x->state != W_IDLE) continue;
    x->state = W_WAITING;
    x->restart_at = now + delay;
    x->delay = delay;
    keel_err_release(x->why);
    x->why = err ? keel_err_retain(err) : NULL;
  }
  keel_err_release(err);
  return 0;
}

/* Starts every WAITING ward whose time has come, in order. */
static int start_due(struct run *r) {
  for (size_t i = 0; i < r->s->n; i++) {
    struct ward_run *w = &r->w[i];
    if (w->state != W_WAITING || keel_now() < w->restart_at) continue;
    if (keel_ctx_err(r->ctx) != 0) return 0;
    keel_err *err = start_ward(r, i);
    if (err != NULL && ward_ended(r, i, KEEL_STEWARD_EXITED, true, err, keel_now(), 0) < 0)
      return KEEL_ELIMIT;
  }
  return 0;
}

/* Why did ward i's context end? Sets *failed and returns the error (owned). */
static keel_err *exit_reason(struct ward_run *w, bool *failed) {
  keel_err *cause = keel_ctx_cause(w->cancel);
  const char *module = cause ? keel_err_module(cause) : NULL;
  keel_err *err = NULL;
  if (module != NULL && strcmp(module, KEEL_WARD_MODULE) == 0) {
    const keel_err *inner = keel_err_inner(cause);
    *failed = inner != NULL;
    err = inner ? keel_err_retain((keel_err *)inner) : NULL;
    keel_err_release(cause);
  } else {
    *failed = true;
    err = keel_err_wrap(cause, "steward", NULL, "ward %s was canceled",
                        w->spec->name);
  }
  return err;
}

static int64_t sat_add(int64_t a, int64_t b) {
  return (b > 0 && a > INT64_MAX - b) ? INT64_MAX : a + b;
}

/* Handles a deadline: silent or stuck wards. */
static int check_silence(struct run *r) {
  int64_t now = keel_now();
  for (size_t i = 0; i < r->s->n; i++) {
    struct ward_run *w = &r->w[i];
    if (w->state != W_RUNNING) continue;
    const keel_ward_spec *spec = w->spec;
    keel_err *err = NULL;
    int64_t silence = now - w->last_sign;
    if (spec->timeout > 0 && now >= sat_add(w->last_sign, spec->timeout)) {
      err = keel_err_new("steward", KEEL_ETIMEDOUT,
                         "ward %s is unhealthy: no pulse for %lld ms (timeout %lld ms)",
                         spec->name, (long long)(silence / KEEL_MILLISECOND),
                         (long long)(spec->timeout / KEEL_MILLISECOND));
    } else if (spec->stuck_after > 0 &&
               now >= sat_add(w->progress_at, spec->stuck_after)) {
      silence = now - w->progress_at;
      err = keel_err_new("steward", KEEL_ETIMEDOUT,
                         "ward %s is alive but stuck: no progress for %lld ms",
                         spec->name, (long long)(silence / KEEL_MILLISECOND));
    }
    if (err != NULL &&
        ward_ended(r, i, KEEL_STEWARD_MISSED_HEARTBEAT, true, err, now, silence) < 0)
      return KEEL_ELIMIT;
  }
  return 0;
}

static void signal_ready(struct run *r) {
  if (r->ready != NULL) keel_chan_close(r->ready);
  r->ready = NULL;
}

static int loop(struct run *r) {
  keel_steward *s = r->s;
  unsigned char scratch[64];
  for (size_t i = 0; i < s->n; i++) {
    if (keel_ctx_err(r->ctx) != 0) return 0;
    keel_err *err = start_ward(r, i);
    if (err != NULL && ward_ended(r, i, KEEL_STEWARD_EXITED, true, err, keel_now(), 0) < 0)
      return KEEL_ELIMIT;
  }
  signal_ready(r);
  for (;;) {
    if (keel_ctx_err(r->ctx) != 0) return 0;
    if (start_due(r) < 0) return KEEL_ELIMIT;
    size_t k = 0;
    int64_t deadline = KEEL_FOREVER;
    bool alive = false;
    r->cases[k] = (keel_select_case){.chan = keel_ctx_done(r->ctx), .op = KEEL_SELECT_RECV};
    r->case_ward[k] = 0;
    r->case_kind[k++] = C_DONE;
    for (size_t i = 0; i < s->n; i++) {
      struct ward_run *w = &r->w[i];
      if (w->state == W_WAITING) {
        alive = true;
        if (w->restart_at < deadline) deadline = w->restart_at;
      }
      if (w->state != W_RUNNING) continue;
      alive = true;
      if (!w->hb_closed) {
        size_t es = keel_chan_elem_size(w->hb);
        r->cases[k] = (keel_select_case){.chan = w->hb, .op = KEEL_SELECT_RECV,
                                         .elem = es <= sizeof scratch ? scratch : NULL};
        r->case_kind[k] = C_PULSE;
        r->case_ward[k++] = i;
      }
      r->cases[k] = (keel_select_case){.chan = keel_ctx_done(w->cancel),
                                       .op = KEEL_SELECT_RECV};
      r->case_kind[k] = C_EXIT;
      r->case_ward[k++] = i;
      if (w->spec->timeout > 0) {
        int64_t d = sat_add(w->last_sign, w->spec->timeout);
        if (d < deadline) deadline = d;
      }
      if (w->spec->stuck_after > 0) {
        int64_t d = sat_add(w->progress_at, w->spec->stuck_after);
        if (d < deadline) deadline = d;
      }
    }
    if (!alive) return 0;   /* every ward ended for good */
    int c = select_pulsing(r, r->cases, k, deadline);
    if (c == KEEL_ETIMEDOUT || c == KEEL_EAGAIN) {   /* EAGAIN: already past */
      if (check_silence(r) < 0) return KEEL_ELIMIT;
      continue;
    }
    if (c < 0) return c;
    size_t i = r->case_ward[c];
    struct ward_run *w = &r->w[i];
    switch (r->case_kind[c]) {
      case C_DONE:
        return 0;
      case C_PULSE:
        if (r->cases[c].result == KEEL_ECLOSED) {
          w->hb_closed = true;
          /* A ward that reported its exit first is handled by C_EXIT. */
          if (keel_ctx_err(w->cancel) == 0 &&
              ward_ended(r, i, KEEL_STEWARD_EXITED, false, NULL, keel_now(), 0) < 0)
            return KEEL_ELIMIT;
          break;
        }
        w->last_sign = keel_now();
        keel_heartbeat_add_progress(r->beat, 1);   /* our pulses: wards' pulses seen */
        if (keel_chan_elem_size(w->hb) == sizeof(keel_pulse)) {
          keel_pulse p;
          memcpy(&p, scratch, sizeof p);
          if (p.progress > w->progress) {
            w->progress = p.progress;
            w->progress_at = w->last_sign;
          }
        } else {
          w->progress_at = w->last_sign;
        }
        break;
      case C_EXIT: {
        if (keel_ctx_err(r->ctx) != 0) return 0;
        bool failed;
        keel_err *err = exit_reason(w, &failed);
        if (ward_ended(r, i, KEEL_STEWARD_EXITED, failed, err, keel_now(), 0) < 0)
          return KEEL_ELIMIT;
        break;
      }
    }
  }
}

int keel_steward_run(keel_steward *s, keel_ctx *ctx, int64_t pulse_interval,
                     keel_chan *heartbeat, keel_err **err) {
  return keel_steward_run_ready(s, ctx, pulse_interval, heartbeat, err, NULL);
}

int keel_steward_run_ready(keel_steward *s, keel_ctx *ctx, int64_t pulse_interval,
                           keel_chan *heartbeat, keel_err **err, keel_chan *ready) {
  if (err != NULL) *err = NULL;
  if (s == NULL || ctx == NULL || pulse_interval < 0 ||
      (heartbeat != NULL && keel_chan_elem_size(heartbeat) != sizeof(keel_pulse))) {
    if (ready != NULL) keel_chan_close(ready);
    return KEEL_EINVAL;
  }
  struct run r = {.s = s, .ctx = ctx, .ready = ready};
  size_t ncases = 1 + 2 * s->n;
  r.w = calloc(s->n, sizeof *r.w);
  r.cases = calloc(ncases, sizeof *r.cases);
  r.case_kind = calloc(ncases, sizeof *r.case_kind);
  r.case_ward = calloc(ncases, sizeof *r.case_ward);
  int rc = 0;
  if (r.w == NULL || r.cases == NULL || r.case_kind == NULL || r.case_ward == NULL)
    rc = KEEL_ENOMEM;
  if (rc == 0) rc = keel_ctx_without_cancel(ctx, &r.shield);
  if (rc == 0 && s->opts.period > 0)
    rc = keel_intensity_make(&r.window, s->opts.max_restarts, s->opts.period);
  if (rc == 0 && heartbeat != NULL && pulse_interval > 0) {
    keel_heartbeat_options ho = {.interval = pulse_interval, .chan = heartbeat};
    rc = keel_heartbeat_make_opts(&r.beat, &ho);
  }
  if (rc == 0) {
    keel_steward_retain(s);
    for (size_t i = 0; i < s->n; i++) r.w[i].spec = &s->wards[i];
    rc = loop(&r);
    signal_ready(&r);
    for (size_t i = s->n; i-- > 0;) stop_ward(&r, i, true);
    for (size_t i = 0; i < s->n; i++) keel_err_release(r.w[i].why);
    if (r.gave_up != NULL) {
      rc = KEEL_ELIMIT;
      keel_steward_set_err(s, keel_err_retain(r.gave_up));
      if (err != NULL)
        *err = r.gave_up;
      else
        keel_err_release(r.gave_up);
    }
    keel_steward_release(s);
  }
  signal_ready(&r);
  keel_heartbeat_free(r.beat);
  keel_ctx_release(r.shield);
  keel_intensity_free(r.window);
  free(r.case_ward);
  free(r.case_kind);
  free(r.cases);
  free(r.w);
  return rc;
}
