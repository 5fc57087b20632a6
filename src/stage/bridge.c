/* bridge.c — keel_stage_bridge: a channel of channels read as one channel.
 *
 * The task reads one inner stream at a time, to its end, forwarding every
 * value; then the next. Invariants:
 *   - each inner channel received carries one reference, which the task
 *     releases once that stream is drained (or the stage stops);
 *   - when the stage stops early, inner streams still buffered in `streams`
 *     are taken out and released, so their references do not leak;
 *   - an inner stream of another element size is released unread (copying
 *     it would overrun the buffer). */
#include "stage/stage_internal.h"

typedef struct bridge_stage {
  stage_base base;
  keel_chan *streams;
  unsigned char buf[];
} bridge_stage;

/* Forwards inner to out until it closes: 0, or the code that stopped us. */
static int drain(bridge_stage *s, keel_chan *inner) {
  for (;;) {
    int rc = keel_ctx_recv(s->base.ctx, inner, s->buf);
    if (rc == KEEL_ECLOSED) return 0;
    if (rc) return rc;
    rc = keel_ctx_send(s->base.ctx, s->base.out[0], s->buf);
    if (rc) return rc;
  }
}

static void bridge_drop(stage_base *b) {
  keel_chan_release(((bridge_stage *)b)->streams);
}

static void bridge_run(void *arg) {
  bridge_stage *s = arg;
  size_t elem_size = keel_chan_elem_size(s->base.out[0]);
  for (;;) {
    keel_chan *inner = NULL;
    if (keel_ctx_recv(s->base.ctx, s->streams, &inner) != 0) break;
    if (!inner) continue;
    int rc = keel_chan_elem_size(inner) == elem_size ? drain(s, inner) : 0;
    keel_chan_release(inner);
    if (rc) break;
  }
  keel_chan *left;   /* streams nobody will read now */
  while (keel_chan_recv(s->streams, &left, KEEL_NOWAIT) == 0)
    if (left) keel_chan_release(left);
  stage_end(&s->base);
}

int keel_stage_bridge(keel_ctx *ctx, keel_chan *streams, size_t elem_size,
                      keel_chan **out) {
  if (!streams || !out) return KEEL_EINVAL;
  int rc = stage_check(ctx, streams, sizeof(keel_chan *));
  if (rc) return rc;
  if (elem_size > SIZE_MAX - sizeof(bridge_stage)) return KEEL_EINVAL;
  bridge_stage *s = stage_new(sizeof *s + elem_size, ctx, elem_size, 1, &rc);
  if (!s) return rc;
  s->streams = keel_chan_retain(streams);
  return stage_launch(&s->base, bridge_run, "stage_bridge", bridge_drop, out, NULL);
}
