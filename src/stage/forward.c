/* forward.c — or_done and take: copy values from one channel to another.
 *
 * or_done is take with no limit. The task receives and sends with the
 * context, so it ends as soon as the context is done, the input is closed
 * or the limit is reached; it then closes its output and lets go of
 * everything it held. */
#include <stdint.h>

#include "stage/stage_internal.h"

typedef struct forward {
  keel_ctx *ctx;
  keel_chan *in, *out;
  size_t left;            /* SIZE_MAX: no limit */
  unsigned char buf[];
} forward;

static void forward_run(void *arg) {
  forward *f = arg;
  while (f->left > 0) {
    if (keel_ctx_recv(f->ctx, f->in, f->buf) != 0) break;
    if (keel_ctx_send(f->ctx, f->out, f->buf) != 0) break;
    if (f->left != SIZE_MAX) f->left--;
  }
  keel_chan_close(f->out);
  keel_chan_release(f->out);
  keel_chan_release(f->in);
  keel_ctx_release(f->ctx);
  free(f);
}

static int forward_start(keel_ctx *ctx, keel_chan *in, size_t elem_size,
                         size_t limit, keel_chan **out, const char *name) {
  if (!in || !out) return KEEL_EINVAL;
  int rc = stage_check(ctx, in, elem_size);
  if (rc) return rc;
  forward *f = malloc(sizeof *f + elem_size);
  if (!f) return KEEL_ENOMEM;
  keel_chan *o;
  rc = keel_chan_make(&o, elem_size, 0);
  if (rc) {
    free(f);
    return rc;
  }
  f->ctx = keel_ctx_retain(ctx);
  f->in = keel_chan_retain(in);
  f->out = keel_chan_retain(o);
  f->left = limit;
  rc = stage_spawn(forward_run, f, name);
  if (rc) {
    keel_ctx_release(ctx);
    keel_chan_release(in);
    keel_chan_release(o);
    keel_chan_release(o);
    free(f);
    return rc;
  }
  *out = o;
  return 0;
}

int keel_stage_or_done(keel_ctx *ctx, keel_chan *in, size_t elem_size,
                       keel_chan **out) {
  return forward_start(ctx, in, elem_size, SIZE_MAX, out, "stage_or_done");
}

int keel_stage_take(keel_ctx *ctx, keel_chan *in, size_t elem_size, size_t n,
                    keel_chan **out) {
  return forward_start(ctx, in, elem_size, n, out, "stage_take");
}
