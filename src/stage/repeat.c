/* repeat.c — generators: repeat (cycle through given values) and repeat_fn
 * (ask a function for each value). They never end by themselves (repeat_fn
 * ends when its function says so): the context stops them, which is why
 * they are nearly always read through take(). */
#include "stage/stage_internal.h"

typedef struct repeat_stage {
  stage_base base;
  keel_stage_gen_fn fn;   /* NULL: cycle through values */
  void *arg;
  size_t count, elem_size;
  unsigned char values[]; /* count * elem_size bytes (fn: one buffer) */
} repeat_stage;

static void repeat_run(void *arg) {
  repeat_stage *s = arg;
  keel_ctx *ctx = s->base.ctx;
  keel_chan *out = s->base.out[0];
  if (s->fn) {
    while (!keel_ctx_is_canceled(ctx) && s->fn(s->arg, s->values) == 0)
      if (keel_ctx_send(ctx, out, s->values) != 0) break;
  } else {
    for (size_t i = 0;; i = i + 1 == s->count ? 0 : i + 1)
      if (keel_ctx_send(ctx, out, s->values + i * s->elem_size) != 0) break;
  }
  stage_end(&s->base);
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
  repeat_stage *s = stage_new(sizeof *s + bytes, ctx, elem_size, 1, &rc);
  if (!s) return rc;
  s->fn = fn;
  s->arg = arg;
  s->count = count;
  s->elem_size = elem_size;
  if (!fn && values && bytes) memcpy(s->values, values, bytes);
  return stage_launch(&s->base, repeat_run, name, NULL, out, NULL);
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
