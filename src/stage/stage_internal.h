/* stage_internal.h — what every stage shares (private).
 *
 * A stage is a heap block owned by its task: references to the context and
 * to every channel it touches, taken before the task is spawned and released
 * by the task as its last act (after closing its outputs). The launcher
 * makes the done channel up front, so a running stage never meets
 * KEEL_ENOMEM from the ctx-aware helpers. */
#ifndef KEEL_STAGE_INTERNAL_H
#define KEEL_STAGE_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keel/ctx.h"
#include "keel/stage.h"
#include "keel/task.h"

/* KEEL_EINVAL for a NULL ctx or a channel of another element size (ch may
 * be NULL: not checked), KEEL_ENOMEM if ctx's done channel cannot be made. */
int stage_check(keel_ctx *ctx, keel_chan *ch, size_t elem_size);

/* Spawns fn(arg) as a detached task named name. */
int stage_spawn(keel_task_fn fn, void *arg, const char *name);

#endif
