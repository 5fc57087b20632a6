/* tee.c — keel_stage_tee: one input, two outputs carrying the same values.
 *
 * Each value is offered to both outputs in one select, and the output that
 * took it is dropped from the select until the other took it too (Go's
 * nil-channel trick), so neither reader waits on the other's order. The next
 * value is read only once both have this one. */
#include "stage/stage_internal.h"

typedef struct tee_stage {
  keel_ctx *ctx;
  keel_chan *in, *out1, *out2;
  unsigned char buf[];
} tee_stage;

static void tee_run(void *arg) {
  tee_stage *s = arg;
  while (keel_ctx_recv(s->ctx, s->in, s->buf) == 0) {
    keel_select_case cs[2] = {
        {.chan = s->out1, .op = KEEL_SELECT_SEND, .elem = s->buf},
        {.chan = s->out2, .op = KEEL_SELECT_SEND, .elem = s->buf}};
    int pending = 2, rc = 0;
    while (pending > 0 && (rc = keel_ctx_select(s->ctx, cs, 2)) >= 0) {
      cs[rc].chan = NULL;
      pending--;
    }
    if (pending > 0) break;
  }
  keel_chan_close(s->out1);
  keel_chan_close(s->out2);
  keel_chan_release(s->out1);
  keel_chan_release(s->out2);
  keel_chan_release(s->in);
  keel_ctx_release(s->ctx);
  free(s);
}

int keel_stage_tee(keel_ctx *ctx, keel_chan *in, size_t elem_size,
                   keel_chan **out1, keel_chan **out2) {
  if (!in || !out1 || !out2) return KEEL_EINVAL;
  int rc = stage_check(ctx, in, elem_size);
  if (rc) return rc;
  tee_stage *s = malloc(sizeof *s + elem_size);
  if (!s) return KEEL_ENOMEM;
  keel_chan *o1, *o2;
  rc = keel_chan_make(&o1, elem_size, 0);
  if (rc) {
    free(s);
    return rc;
  }
  rc = keel_chan_make(&o2, elem_size, 0);
  if (rc) {
    keel_chan_release(o1);
    free(s);
    return rc;
  }
  s->ctx = keel_ctx_retain(ctx);
  s->in = keel_chan_retain(in);
  s->out1 = keel_chan_retain(o1);
  s->out2 = keel_chan_retain(o2);
  rc = stage_spawn(tee_run, s, "stage_tee");
  if (rc) {
    keel_ctx_release(ctx);
    keel_chan_release(in);
    keel_chan_release(o1);
    keel_chan_release(o1);
    keel_chan_release(o2);
    keel_chan_release(o2);
    free(s);
    return rc;
  }
  *out1 = o1;
  *out2 = o2;
  return 0;
}
