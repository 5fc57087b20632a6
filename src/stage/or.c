/* or.c — keel_stage_or: one signal that fires when any of N does.
 *
 * One task waits in a single select over every input plus the context's
 * done channel (Go's recursive `or` builds a tree of goroutines; a select of
 * N cases needs one). Whatever wakes it, it closes the output and ends. */
#include "stage/stage_internal.h"

typedef struct or_stage {
  keel_ctx *ctx;
  keel_chan *out;
  size_t n;
  keel_select_case cases[];
} or_stage;

static void or_run(void *arg) {
  or_stage *s = arg;
  keel_ctx_select(s->ctx, s->cases, s->n);   /* any outcome: we are done */
  keel_chan_close(s->out);
  keel_chan_release(s->out);
  for (size_t i = 0; i < s->n; i++) keel_chan_release(s->cases[i].chan);
  keel_ctx_release(s->ctx);
  free(s);
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
  or_stage *s = malloc(sizeof *s + n * sizeof(keel_select_case));
  if (!s) return KEEL_ENOMEM;
  keel_chan *o;
  rc = keel_chan_make(&o, 0, 0);
  if (rc) {
    free(s);
    return rc;
  }
  s->ctx = keel_ctx_retain(ctx);
  s->out = keel_chan_retain(o);
  s->n = n;
  for (size_t i = 0; i < n; i++)
    s->cases[i] = (keel_select_case){.chan = keel_chan_retain(chans[i]),
                                     .op = KEEL_SELECT_RECV};
  rc = stage_spawn(or_run, s, "stage_or");
  if (rc) {
    for (size_t i = 0; i < n; i++) keel_chan_release(chans[i]);
    keel_ctx_release(ctx);
    keel_chan_release(o);
    keel_chan_release(o);
    free(s);
    return rc;
  }
  *out = o;
  return 0;
}
