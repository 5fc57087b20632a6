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
  keel_ctx *ctx;
  keel_chan *streams, *out;
  unsigned char buf[];
} bridge_stage;

/* Forwards inner to out until it closes: 0, or the code that stopped us. */
static int drain(bridge_stage *s, keel_chan *inner) {
  for (;;) {
    int rc = keel_ctx_recv(s->ctx, inner, s->buf);
    if (rc == KEEL_ECLOSED) return 0;
    if (rc) return rc;
    rc = keel_ctx_send(s->ctx, s->out, s->buf);
    if (rc) return rc;
  }
}

static void bridge_run(void *arg) {
  bridge_stage *s = arg;
  size_t elem_size = keel_chan_elem_size(s->out);
  for (;;) {
    keel_chan *inner = NULL;
    if (keel_ctx_recv(s->ctx, s->streams, &inner) != 0) break;
    if (!inner) continue;
    int rc = keel_chan_elem_size(inner) == elem_size ? drain(s, inner) : 0;
    keel_chan_release(inner);
    if (rc) break;
  }
  keel_chan *left;
  while (keel_chan_recv(s->streams, &left, KEEL_NOWAIT) == 0)
    keel_chan_release(left);
  keel_chan_close(s->out);
  keel_chan_release(s->out);
  keel_chan_release(s->streams);
  keel_ctx_release(s->ctx);
  free(s);
}

int keel_stage_bridge(keel_ctx *ctx, keel_chan *streams, size_t elem_size,
                      keel_chan **out) {
  if (!streams || !out) return KEEL_EINVAL;
  int rc = stage_check(ctx, streams, sizeof(keel_chan *));
  if (rc) return rc;
  if (elem_size > SIZE_MAX - sizeof(bridge_stage)) return KEEL_EINVAL;
  bridge_stage *s = malloc(sizeof *s + elem_size);
  if (!s) return KEEL_ENOMEM;
  keel_chan *o;
  rc = keel_chan_make(&o, elem_size, 0);
  if (rc) {
    free(s);
    return rc;
  }
  s->ctx = keel_ctx_retain(ctx);
  s->streams = keel_chan_retain(streams);
  s->out = keel_chan_retain(o);
  rc = stage_spawn(bridge_run, s, "stage_bridge");
  if (rc) {
    keel_ctx_release(ctx);
    keel_chan_release(streams);
    keel_chan_release(o);
    keel_chan_release(o);
    free(s);
    return rc;
  }
  *out = o;
  return 0;
}
