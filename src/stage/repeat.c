/* repeat.c — generators: repeat (cycle through given values) and repeat_fn
 * (ask a function for each value). They never end by themselves (repeat_fn
 * ends when its function says so): the context stops them, which is why
 * they are nearly always read through take(). */
#include "stage/stage_internal.h"

typedef struct repeat_stage {
  keel_ctx *ctx;
  keel_chan *out;
  keel_stage_gen_fn fn;   /* NULL: cycle through values */
  void *arg;
  size_t count, elem_size;
  unsigned char values[]; /* count * elem_size bytes (fn: one buffer) */
} repeat_stage;

static void repeat_run(void *arg) {
  repeat_stage *s = arg;
  if (s->fn) {
    while (!keel_ctx_is_canceled(s->ctx) && s->fn(s->arg, s->values) == 0)
      if (keel_ctx_send(s->ctx, s->out, s->values) != 0) break;
  } else {
    for (size_t i = 0;; i = i + 1 == s->count ? 0 : i + 1)
      if (keel_ctx_send(s->ctx, s->out, s->values + i * s->elem_size) != 0)
        break;
  }
  keel_chan_close(s->out);
  keel_chan_release(s->out);
  keel_ctx_release(s->ctx);
  free(s);
}

static int repeat_start(keel_ctx *ctx, const void *values, size_t count,
                        keel_stage_gen_fn fn, void *arg, size_t elem_size,
                        keel_chan **out, const char *name) {
  if (!out) return KEEL_EINVAL;
  int rc = stage_check(ctx, NULL, 0);
  if (rc) return rc;
  size_t bytes;
  if (__builtin_mul_overflow(count, elem_size, &bytes) ||
      bytes > SIZE_MAX - sizeof(repeat_stage))
    return KEEL_EINVAL;
  repeat_stage *s = malloc(sizeof *s + bytes);
  if (!s) return KEEL_ENOMEM;
  keel_chan *o;
  rc = keel_chan_make(&o, elem_size, 0);
  if (rc) {
    free(s);
    return rc;
  }
  s->ctx = keel_ctx_retain(ctx);
  s->out = keel_chan_retain(o);
  s->fn = fn;
  s->arg = arg;
  s->count = count;
  s->elem_size = elem_size;
  if (!fn && values && bytes) memcpy(s->values, values, bytes);
  rc = stage_spawn(repeat_run, s, name);
  if (rc) {
    keel_ctx_release(ctx);
    keel_chan_release(o);
    keel_chan_release(o);
    free(s);
    return rc;
  }
  *out = o;
  return 0;
}

int keel_stage_repeat(keel_ctx *ctx, const void *values, size_t count,
                      size_t elem_size, keel_chan **out) {
  if (count == 0 || (!values && elem_size)) return KEEL_EINVAL;
  return repeat_start(ctx, values, count, NULL, NULL, elem_size, out,
                      "stage_repeat");
}

int keel_stage_repeat_fn(keel_ctx *ctx, keel_stage_gen_fn fn, void *arg,
                         size_t elem_size, keel_chan **out) {
  if (!fn) return KEEL_EINVAL;
  return repeat_start(ctx, NULL, 1, fn, arg, elem_size, out,
                      "stage_repeat_fn");
}
