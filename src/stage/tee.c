/* tee.c — keel_stage_tee: one input, two outputs carrying the same values.
 *
 * Each value is offered to both outputs in one select, and the output that
 * took it is dropped from the select until the other took it too (Go's
 * nil-channel trick), so neither reader waits on the other's order. The next
 * value is read only once both have this one. */
#include "stage/stage_internal.h"

typedef struct tee_stage {
  stage_base base;
  keel_chan *in;
  unsigned char buf[];
} tee_stage;

static void tee_drop(stage_base *b) { keel_chan_release(((tee_stage *)b)->in); }

static void tee_run(void *arg) {
  tee_stage *s = arg;
  keel_ctx *ctx = s->base.ctx;
  while (keel_ctx_recv(ctx, s->in, s->buf) == 0) {
    keel_select_case cs[2] = {
        {.chan = s->base.out[0], .op = KEEL_SELECT_SEND, .elem = s->buf},
        {.chan = s->base.out[1], .op = KEEL_SELECT_SEND, .elem = s->buf}};
    int pending = 2, rc = 0;
    while (pending > 0 && (rc = keel_ctx_select(ctx, cs, 2)) >= 0) {
      cs[rc].chan = NULL;
      pending--;
    }
    if (pending > 0) break;
  }
  stage_end(&s->base);
}

int keel_stage_tee(keel_ctx *ctx, keel_chan *in, size_t elem_size,
                   keel_chan **out1, keel_chan **out2) {
  if (!in || !out1 || !out2) return KEEL_EINVAL;
  int rc = stage_check(ctx, in, elem_size);
  if (rc) return rc;
  if (elem_size > SIZE_MAX - sizeof(tee_stage)) return KEEL_EINVAL;
  tee_stage *s = stage_new(sizeof *s + elem_size, ctx, elem_size, 2, &rc);
  if (!s) return rc;
  s->in = keel_chan_retain(in);
  return stage_launch(&s->base, tee_run, "stage_tee", tee_drop, out1, out2);
}
