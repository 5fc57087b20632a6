/* common.c — the launch and the end every stage shares (see
 * stage_internal.h for the reference protocol). */
#include "stage/stage_internal.h"

int stage_check(keel_ctx *ctx, keel_chan *ch, size_t elem_size) {
  if (!ctx) return KEEL_EINVAL;
  if (ch && keel_chan_elem_size(ch) != elem_size) return KEEL_EINVAL;
  if (!keel_ctx_done(ctx)) return KEEL_ENOMEM;
  return 0;
}

void *stage_new(size_t size, keel_ctx *ctx, size_t elem_size, int nout, int *rc) {
  stage_base *b = calloc(1, size);
  if (!b) {
    *rc = KEEL_ENOMEM;
    return NULL;
  }
  for (int i = 0; i < nout; i++) {
    *rc = keel_chan_make(&b->out[i], elem_size, 0);
    if (*rc) {
      if (i) keel_chan_release(b->out[0]);
      free(b);
      return NULL;
    }
    keel_chan_retain(b->out[i]);   /* the task's; the first is the caller's */
  }
  b->ctx = keel_ctx_retain(ctx);
  *rc = 0;
  return b;
}

int stage_launch(stage_base *b, keel_task_fn run, const char *name,
                 stage_drop_fn drop, keel_chan **out1, keel_chan **out2) {
  b->drop = drop;
  keel_task_options opts = {.stack_size = 0, .name = name};
  keel_chan *o1 = b->out[0], *o2 = b->out[1];   /* b may be gone once spawned */
  int rc = keel_task_spawn(NULL, run, b, &opts);
  if (rc) {
    for (int i = 0; i < 2; i++)
      if (b->out[i]) keel_chan_release(b->out[i]);   /* the caller's */
    stage_end(b);
    return rc;
  }
  *out1 = o1;
  if (out2) *out2 = o2;
  return 0;
}

void stage_end(stage_base *b) {
  for (int i = 0; i < 2; i++)
    if (b->out[i]) keel_chan_close(b->out[i]);
  for (int i = 0; i < 2; i++)
    if (b->out[i]) keel_chan_release(b->out[i]);
  if (b->drop) b->drop(b);
  keel_ctx_release(b->ctx);
  free(b);
}
