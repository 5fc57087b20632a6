/* wait.c — waiting while pulsing: every wait of an interval-heartbeat worker
 * also services the pulse (the book's for-select with `case <-pulse`).
 *
 * Two ways to service it:
 *   - the heartbeat's own timer (the usual case): the wait announces itself
 *     (keel_heartbeat_waiting) and selects only over the caller's cases and
 *     ctx's done; the timer pulses on the worker's behalf while it is
 *     parked, so an idle worker is never woken just to pulse;
 *   - an injected tick channel (tests, custom clocks): the wait also selects
 *     on the tick and pulses itself, looping, as the book's code does.
 *
 * Invariants:
 *   - the caller's cases come first in the select array, so their indexes
 *     are returned unchanged; the tick and ctx's done follow;
 *   - a tick never ends the wait; a closed tick channel is dropped from the
 *     select, not spun on;
 *   - `waiting` is raised for exactly the duration of the select calls. */
#include "heartbeat/heartbeat_private.h"

static int ctx_code(keel_ctx *ctx) {
  int code = ctx ? keel_ctx_err(ctx) : 0;
  return code ? code : KEEL_ECANCELED;
}

/* Selects over cases[0..n) plus tick and done until a caller's case
 * proceeds, ctx is done, or deadline passes (KEEL_ETIMEDOUT). */
static int pulse_select(keel_heartbeat *hb, keel_ctx *ctx,
                        keel_select_case *cases, size_t n, int64_t deadline) {
  keel_select_case all[KEEL_HEARTBEAT_MAX_CASES + 2];
  int64_t tick_value;
  for (size_t i = 0; i < n; i++) all[i] = cases[i];
  all[n] = (keel_select_case){.chan = hb->tick, .op = KEEL_SELECT_RECV,
                              .elem = &tick_value};
  all[n + 1] = (keel_select_case){.chan = ctx ? keel_ctx_done(ctx) : NULL,
                                  .op = KEEL_SELECT_RECV};
  keel_heartbeat_waiting(hb, true);
  int r;
  for (;;) {
    r = keel_chan_select(all, n + 2, deadline);
    /* A deadline that passed between two ticks reads as "would block". */
    if (r == KEEL_EAGAIN && deadline != KEEL_NOWAIT) r = KEEL_ETIMEDOUT;
    if (r < 0) break;
    if ((size_t)r < n) {
      cases[r].result = all[r].result;
      break;
    }
    if ((size_t)r == n) {
      if (all[n].result == KEEL_ECLOSED)
        all[n].chan = NULL;
      else
        keel_heartbeat_pulse_at(hb, tick_value);
      continue;
    }
    r = ctx_code(ctx);
    break;
  }
  keel_heartbeat_waiting(hb, false);
  return r;
}

int keel_heartbeat_select(keel_heartbeat *hb, keel_ctx *ctx,
                          keel_select_case *cases, size_t n) {
  if (hb == NULL || n > KEEL_HEARTBEAT_MAX_CASES || (n > 0 && cases == NULL))
    return KEEL_EINVAL;
  if (ctx != NULL && keel_ctx_err(ctx) != 0) return keel_ctx_err(ctx);
  return pulse_select(hb, ctx, cases, n, KEEL_FOREVER);
}

int keel_heartbeat_send_result(keel_heartbeat *hb, keel_ctx *ctx,
                               keel_chan *out, const void *value) {
  if (out == NULL) return KEEL_EINVAL;
  keel_select_case c = {.chan = out, .op = KEEL_SELECT_SEND,
                        .elem = (void *)value};
  int r = keel_heartbeat_select(hb, ctx, &c, 1);
  return r == 0 ? c.result : r;
}

int keel_heartbeat_recv(keel_heartbeat *hb, keel_ctx *ctx, keel_chan *in,
                        void *value) {
  if (in == NULL) return KEEL_EINVAL;
  keel_select_case c = {.chan = in, .op = KEEL_SELECT_RECV, .elem = value};
  int r = keel_heartbeat_select(hb, ctx, &c, 1);
  return r == 0 ? c.result : r;
}

int keel_heartbeat_sleep(keel_heartbeat *hb, keel_ctx *ctx, int64_t duration) {
  if (hb == NULL) return KEEL_EINVAL;
  if (ctx != NULL && keel_ctx_err(ctx) != 0) return keel_ctx_err(ctx);
  if (duration <= 0) return 0;
  int r = pulse_select(hb, ctx, NULL, 0, keel_deadline_in(duration));
  return r == KEEL_ETIMEDOUT ? 0 : r;
}
