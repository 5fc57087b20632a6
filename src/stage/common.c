/* common.c — argument checks and spawning shared by the stages. */
#include "stage/stage_internal.h"

int stage_check(keel_ctx *ctx, keel_chan *ch, size_t elem_size) {
  if (!ctx) return KEEL_EINVAL;
  if (ch && keel_chan_elem_size(ch) != elem_size) return KEEL_EINVAL;
  if (!keel_ctx_done(ctx)) return KEEL_ENOMEM;
  return 0;
}

int stage_spawn(keel_task_fn fn, void *arg, const char *name) {
  keel_task_options opts = {.stack_size = 0, .name = name};
  return keel_task_spawn(NULL, fn, arg, &opts);
}
