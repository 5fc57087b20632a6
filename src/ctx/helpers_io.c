/* helpers_io.c — ctx-aware fd wait and offload (keel/ctx.h): the runtime's
 * netpoller and helper-thread calls, given the context's deadline and cancel
 * token. Same rules as helpers.c: a context already done returns its code
 * first; the runtime's KEEL_ETIMEDOUT at the context's deadline becomes the
 * context's code (ctx_code_at_deadline). */
#include "ctx/ctx_internal.h"

int keel_ctx_fd_wait(keel_ctx *c, int fd, unsigned events) {
  if (!c) return KEEL_EINVAL;
  int e = keel_ctx_err(c);
  if (e) return e;
  return ctx_map_wait(c, keel_fd_wait(fd, events, c->deadline, c->head.token));
}

int keel_ctx_offload(keel_ctx *c, keel_task_fn fn, void *arg,
                     keel_task_fn cleanup) {
  if (!c || !fn) return KEEL_EINVAL;
  int e = keel_ctx_err(c);
  if (e) return e;
  return ctx_map_wait(c, keel_offload(fn, arg, cleanup, c->deadline,
                                  c->head.token));
}
