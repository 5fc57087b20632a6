/* or.c — keel_stage_or: one signal that fires when any of N does.
 *
 * One task waits in a single select over every input plus the context's
 * done channel (Go's recursive `or` builds a tree of goroutines; a select of
 * N cases needs one). Whatever wakes it, it closes the output and ends.
 * Each case holds a reference to its channel (select leaves .chan as is). */
#include "stage/stage_internal.h"

typedef struct or_stage {
  stage_base base;
  size_t n;
  keel_select_case cases[];
} or_stage;

static void or_drop(stage_base *b) {
  or_stage *s = (or_stage *)b;
  for (size_t i = 0; i < s->n; i++) keel_chan_release(s->cases[i].chan);
}

static void or_run(void *arg) {
  or_stage *s = arg;
  keel_ctx_select(s->base.ctx, s->cases, s->n);   /* any outcome: we are done */
  stage_end(&s->base);
}

int keel_stage_or(keel_ctx *ctx, keel_chan *const *chans, size_t n,
                  keel_chan **out) {
  if (!out || (n && !chans)) return KEEL_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!chans[i]) return KEEL_EINVAL;
  int rc = stage_check(ctx, NULL, 0);
  if (rc) return rc;
  if (n > (SIZE_MAX - sizeof(or_stage)) / sizeof(keel_select_case))
    return KEEL_EINVAL;
  or_stage *s = stage_new(sizeof *s + n * sizeof(keel_select_case), ctx, 0, 1, &rc);
  if (!s) return rc;
  s->n = n;
  for (size_t i = 0; i < n; i++)
    s->cases[i] = (keel_select_case){.chan = keel_chan_retain(chans[i]),
                                     .op = KEEL_SELECT_RECV};
  return stage_launch(&s->base, or_run, "stage_or", or_drop, out, NULL);
}
