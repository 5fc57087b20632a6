/* merge.c — keel_stage_merge: fan-in of N channels into one.
 *
 * One task selects over every input still open (a closed input's case is
 * set to NULL, a never-ready case) and forwards what it receives. The output
 * closes when the last input has closed, or when the context is done.
 * Values of one input keep their order; across inputs, arrival order. */
#include "stage/stage_internal.h"

typedef struct merge_stage {
  stage_base base;
  keel_chan **ins;          /* references held, for the final release */
  size_t n;
  unsigned char *buf;
  keel_select_case cases[];
} merge_stage;

static void merge_drop(stage_base *b) {
  merge_stage *s = (merge_stage *)b;
  for (size_t i = 0; i < s->n; i++) keel_chan_release(s->ins[i]);
}

static void merge_run(void *arg) {
  merge_stage *s = arg;
  size_t open = s->n;
  while (open > 0) {
    int rc = keel_ctx_select(s->base.ctx, s->cases, s->n);
    if (rc < 0) break;
    if (s->cases[rc].result == KEEL_ECLOSED) {
      s->cases[rc].chan = NULL;
      open--;
      continue;
    }
    if (keel_ctx_send(s->base.ctx, s->base.out[0], s->buf) != 0) break;
  }
  stage_end(&s->base);
}

int keel_stage_merge(keel_ctx *ctx, keel_chan *const *ins, size_t n,
                     size_t elem_size, keel_chan **out) {
  if (!out || (n && !ins)) return KEEL_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!ins[i] || keel_chan_elem_size(ins[i]) != elem_size) return KEEL_EINVAL;
  int rc = stage_check(ctx, NULL, 0);
  if (rc) return rc;
  size_t per = sizeof(keel_select_case) + sizeof(keel_chan *), bytes;
  if (__builtin_mul_overflow(n, per, &bytes) ||
      __builtin_add_overflow(bytes, sizeof(merge_stage) + elem_size, &bytes))
    return KEEL_EINVAL;
  merge_stage *s = stage_new(bytes, ctx, elem_size, 1, &rc);
  if (!s) return rc;
  s->n = n;
  s->ins = (keel_chan **)(void *)&s->cases[n];
  s->buf = (unsigned char *)&s->ins[n];
  for (size_t i = 0; i < n; i++) {
    s->ins[i] = keel_chan_retain(ins[i]);
    s->cases[i] = (keel_select_case){
        .chan = ins[i], .op = KEEL_SELECT_RECV, .elem = s->buf};
  }
  return stage_launch(&s->base, merge_run, "stage_merge", merge_drop, out, NULL);
}
