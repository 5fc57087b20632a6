/* helpers.c — ctx-aware blocking calls (keel/ctx.h).
 *
 * Channels know nothing of contexts, so the channel helpers are selects with
 * the context's done channel as one more case and the context's deadline as
 * the select's deadline. The runtime's calls (sleep, join, wait group here;
 * fd wait and offload in helpers_io.c) take the context's cancel token and
 * deadline directly.
 * Invariants:
 *   - a context already done returns its code before the operation is tried;
 *   - the channel helpers try the operation without blocking first, so the
 *     done channel is only made when a call really has to wait;
 *   - a deadline reported by the runtime (KEEL_ETIMEDOUT, or KEEL_EAGAIN for
 *     one already past) is the context's: it becomes the context's code if
 *     the timer already fired; else the helper ends the context itself with
 *     KEEL_EDEADLINE (ctx_code_at_deadline), so that keel_ctx_err, read next
 *     by the caller, tells the same story. */
#include <stdlib.h>
#include <string.h>

#include "ctx/ctx_internal.h"

/* A select also says KEEL_EAGAIN for a deadline already past. */
static int map_select(keel_ctx *c, int rc) {
  if (rc == KEEL_EAGAIN && c->deadline != KEEL_FOREVER) return ctx_code_at_deadline(c);
  return ctx_map_wait(c, rc);
}

/* One channel operation (the case at cases[0]) raced against c's end. */
static int one_op(keel_ctx *c, keel_select_case *op) {
  if (!c->src) {   /* never canceled: only the deadline, which is FOREVER */
    return op->op == KEEL_SELECT_RECV
               ? keel_chan_recv(op->chan, op->elem, KEEL_FOREVER)
               : keel_chan_send(op->chan, op->elem, KEEL_FOREVER);
  }
  keel_chan *done = keel_ctx_done(c);
  if (!done) return KEEL_ENOMEM;
  keel_select_case cs[2] = {
      *op, {.chan = done, .op = KEEL_SELECT_RECV, .elem = NULL, .result = 0}};
  int rc = keel_chan_select(cs, 2, c->deadline);
  if (rc == 0) return cs[0].result;
  if (rc == 1) {   /* done closes after the token fired: err is set */
    int e = keel_ctx_err(c);
    return e ? e : KEEL_ECANCELED;
  }
  return map_select(c, rc);
}

int keel_ctx_recv(keel_ctx *c, keel_chan *ch, void *out) {
  if (!c || !ch) return KEEL_EINVAL;
  int e = keel_ctx_err(c);
  if (e) return e;
  int rc = keel_chan_recv(ch, out, KEEL_NOWAIT);
  if (rc != KEEL_EAGAIN) return rc;
  keel_select_case op = {.chan = ch, .op = KEEL_SELECT_RECV, .elem = out};
  return one_op(c, &op);
}

int keel_ctx_send(keel_ctx *c, keel_chan *ch, const void *elem) {
  if (!c || !ch) return KEEL_EINVAL;
  int e = keel_ctx_err(c);
  if (e) return e;
  int rc = keel_chan_send(ch, elem, KEEL_NOWAIT);
  if (rc != KEEL_EAGAIN) return rc;
  keel_select_case op = {.chan = ch, .op = KEEL_SELECT_SEND,
                         .elem = (void *)elem};
  return one_op(c, &op);
}

int keel_ctx_select(keel_ctx *c, keel_select_case *cases, size_t n) {
  if (!c || (!cases && n)) return KEEL_EINVAL;
  int e = keel_ctx_err(c);
  if (e) return e;
  if (!c->src) return map_select(c, keel_chan_select(cases, n, c->deadline));
  keel_chan *done = keel_ctx_done(c);
  if (!done) return KEEL_ENOMEM;
  keel_select_case local[9], *cs = local;
  if (n + 1 > sizeof local / sizeof local[0]) {
    if (n > SIZE_MAX / sizeof *cs - 1) return KEEL_EINVAL;
    cs = malloc((n + 1) * sizeof *cs);
    if (!cs) return KEEL_ENOMEM;
  }
  if (n) memcpy(cs, cases, n * sizeof *cs);
  cs[n] = (keel_select_case){.chan = done, .op = KEEL_SELECT_RECV};
  int rc = keel_chan_select(cs, n + 1, c->deadline);
  if (rc >= 0 && (size_t)rc < n) {
    cases[rc].result = cs[rc].result;
  } else if (rc >= 0) {
    e = keel_ctx_err(c);
    rc = e ? e : KEEL_ECANCELED;
  } else {
    rc = map_select(c, rc);
  }
  if (cs != local) free(cs);
  return rc;
}

int keel_ctx_sleep(keel_ctx *c, int64_t duration) {
  if (!c) return KEEL_EINVAL;
  int e = keel_ctx_err(c);
  if (e || duration <= 0) return e;
  int64_t until = keel_deadline_in(duration);
  bool ctx_first = c->deadline < until;
  int rc = keel_sleep_until(ctx_first ? c->deadline : until, c->head.token);
  if (rc) return ctx_map_wait(c, rc);
  return ctx_first ? ctx_code_at_deadline(c) : 0;
}

int keel_ctx_join(keel_ctx *c, keel_task *task) {
  if (!c || !task) return KEEL_EINVAL;
  int e = keel_ctx_err(c);
  if (e) return e;
  return ctx_map_wait(c, keel_task_join(task, c->deadline, c->head.token));
}

int keel_ctx_waitgroup_wait(keel_ctx *c, keel_waitgroup *wg) {
  if (!c || !wg) return KEEL_EINVAL;
  int e = keel_ctx_err(c);
  if (e) return e;
  return ctx_map_wait(c, keel_waitgroup_wait(wg, c->deadline, c->head.token));
}
