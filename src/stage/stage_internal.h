/* stage_internal.h — what every stage shares (private).
 *
 * A stage is a heap block that starts with a stage_base and is owned by its
 * task. The launcher's steps are always the same:
 *     stage_check(...)                    validate the arguments
 *     s = stage_new(size, ctx, ...)       block + outputs + ctx reference
 *     s->in = keel_chan_retain(in) ...    the stage's own references
 *     return stage_launch(&s->base, run, name, drop, out1, out2);
 * and the task's last act is stage_end(&s->base).
 *
 * Invariants:
 *   - the task holds one reference to ctx and to each output (taken by
 *     stage_new) and to each input (taken by the launcher, given back by the
 *     stage's drop function); stage_end closes the outputs before releasing
 *     anything, so a reader never waits on a stage that is ending;
 *   - the outputs are made (and the done channel too) before the task
 *     starts, so a running stage never meets KEEL_ENOMEM from the
 *     ctx-aware helpers;
 *   - a failed launch gives back every reference the launch took and frees
 *     the block: on error nothing was started and nothing is held. */
#ifndef KEEL_STAGE_INTERNAL_H
#define KEEL_STAGE_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keel/ctx.h"
#include "keel/stage.h"
#include "keel/task.h"

typedef struct stage_base stage_base;

/* Gives back the stage's references to its inputs (and whatever else only
 * this stage holds). Called once: by stage_end, or by a failed launch. */
typedef void (*stage_drop_fn)(stage_base *b);

struct stage_base {
  keel_ctx *ctx;
  keel_chan *out[2];    /* out[1] NULL for one output */
  stage_drop_fn drop;   /* NULL: nothing to give back */
};

/* KEEL_EINVAL for a NULL ctx or a channel of another element size (ch may
 * be NULL: not checked), KEEL_ENOMEM if ctx's done channel cannot be made. */
int stage_check(keel_ctx *ctx, keel_chan *ch, size_t elem_size);

/* A zeroed block of `size` bytes (a struct starting with stage_base) with
 * nout (1 or 2) new unbuffered outputs of elem_size and a reference to ctx.
 * NULL with *rc set (KEEL_ENOMEM, or keel_chan_make's code) on failure. */
void *stage_new(size_t size, keel_ctx *ctx, size_t elem_size, int nout, int *rc);

/* Starts run(b) as a detached task named name. On success the caller's
 * references to the outputs go to *out1 (and *out2) and it returns 0; on
 * failure drop(b) runs, every reference is released, b is freed, and the
 * spawn's code is returned. */
int stage_launch(stage_base *b, keel_task_fn run, const char *name,
                 stage_drop_fn drop, keel_chan **out1, keel_chan **out2);

/* The task's last act: closes and releases the outputs, drops the inputs,
 * releases ctx, frees the block. */
void stage_end(stage_base *b);

#endif
