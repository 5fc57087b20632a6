/* forward.c — or_done and take: copy values from one channel to another.
 *
 * or_done is take with no limit. The task receives and sends with the
 * context, so it ends as soon as the context is done, the input is closed
 * or the limit is reached; it then closes its output and lets go of
 * everything it held. */
#include <stdint.h>

#include "stage/stage_internal.h"

typedef struct forward {
  stage_base base;
  keel_chan *in;
  size_t left;            /* SIZE_MAX: no limit */
  unsigned char buf[];
} forward;

static void forward_drop(stage_base *b) { keel_chan_release(((forward *)b)->in); }

static void forward_run(void *arg) {
  forward *f = arg;
  keel_ctx *ctx = f->base.ctx;
  while (f->left > 0) {
    if (keel_ctx_recv(ctx, f->in, f->buf) != 0) break;
    if (keel_ctx_send(ctx, f->base.out[0], f->buf) != 0) break;
    if (f->left != SIZE_MAX) f->left--;
  }
  stage_end(&f->base);
}

static int forward_start(keel_ctx *ctx, keel_chan *in, size_t elem_size,
                         size_t limit, keel_chan **out, const char *name) {
  if (!in || !out) return KEEL_EINVAL;
  int rc = stage_check(ctx, in, elem_size);
  if (rc) return rc;
  if (elem_size > SIZE_MAX - sizeof(forward)) return KEEL_EINVAL;
  forward *f = stage_new(sizeof *f + elem_size, ctx, elem_size, 1, &rc);
  if (!f) return rc;
  f->in = keel_chan_retain(in);
  f->left = limit;
  return stage_launch(&f->base, forward_run, name, forward_drop, out, NULL);
}

int keel_stage_or_done(keel_ctx *ctx, keel_chan *in, size_t elem_size,
                       keel_chan **out) {
  return forward_start(ctx, in, elem_size, SIZE_MAX, out, "stage_or_done");
}

int keel_stage_take(keel_ctx *ctx, keel_chan *in, size_t elem_size, size_t n,
                    keel_chan **out) {
  return forward_start(ctx, in, elem_size, n, out, "stage_take");
}
