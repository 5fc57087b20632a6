/* keel/stage.h — pipeline stages: or, or_done, take, repeat, repeat_fn,
 * bridge, tee, merge (chapter 4 of Concurrency in Go, composed in chapter 5).
 *
 * Every stage has the same shape:
 *
 *     int keel_stage_<name>(keel_ctx *ctx, <inputs>, keel_chan **out...);
 *
 * It starts one detached task and returns at once with its output channel(s)
 * in *out (new unbuffered channels; the caller owns one reference to each and
 * releases it when done reading). The task:
 *   - holds its own references to ctx and to every channel it uses, and
 *     releases them when it ends;
 *   - stops when ctx is done or its input is closed (each stage says which),
 *     and then closes its outputs: a reader never hangs on a stage;
 *   - never outlives that: once its outputs are closed the task is about to
 *     end (keel_task_count() drops a moment later), so no task leaks.
 * A stage blocked sending to a reader that went away stays blocked until ctx
 * is done: cancel the context when you stop reading (Go's `defer cancel()`).
 *
 * Channels are element-size generic: elem_size must equal the channels'
 * (KEEL_EINVAL otherwise). Errors: KEEL_EINVAL, KEEL_ENOMEM, and the
 * runtime's spawn errors (KEEL_EMAPLIMIT, KEEL_ESHUTDOWN); on error nothing
 * was started, no reference was taken and *out is left as it was.
 * Any thread or task may call these. */
#ifndef KEEL_STAGE_H
#define KEEL_STAGE_H

#include <stddef.h>

#include "keel/chan.h"
#include "keel/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* or: *out (elem_size 0) is closed as soon as any of chans[0..n) is done
 * (closed, or delivers a value, which is consumed), or ctx is done. The
 * array is copied; n may be 0 (then only ctx closes it). */
int keel_stage_or(keel_ctx *ctx, keel_chan *const *chans, size_t n,
                  keel_chan **out);

/* or_done: forwards in's values to *out until in is closed or ctx is done. */
int keel_stage_or_done(keel_ctx *ctx, keel_chan *in, size_t elem_size,
                       keel_chan **out);

/* take: forwards the first n values of in, then closes *out (also when in
 * closes first, or ctx is done). take(0) closes at once. */
int keel_stage_take(keel_ctx *ctx, keel_chan *in, size_t elem_size, size_t n,
                    keel_chan **out);

/* repeat: sends values[0], values[1], ..., values[count-1], values[0], ...
 * until ctx is done. values (count * elem_size bytes, count >= 1) is copied. */
int keel_stage_repeat(keel_ctx *ctx, const void *values, size_t count,
                      size_t elem_size, keel_chan **out);

/* repeat_fn: calls fn(arg, elem) for each value to send (elem is an
 * elem_size buffer the function fills); fn returns 0 to send it, anything
 * else to stop (then *out closes). Stops when ctx is done too. fn runs on
 * the stage's task; arg is borrowed until *out is closed. */
typedef int (*keel_stage_gen_fn)(void *arg, void *elem);
int keel_stage_repeat_fn(keel_ctx *ctx, keel_stage_gen_fn fn, void *arg,
                         size_t elem_size, keel_chan **out);

/* bridge: streams carries keel_chan* elements; each inner channel received
 * passes one reference to the bridge, which releases it once drained; *out
 * is a new unbuffered channel (caller owns one reference), closed when
 * streams is closed and the last inner stream drained, or when ctx is done.
 * Inner streams still buffered in streams when the bridge stops are taken
 * out and released. */
int keel_stage_bridge(keel_ctx *ctx, keel_chan *streams, size_t elem_size,
                      keel_chan **out);

/* tee: every value of in goes to both *out1 and *out2 (to both before the
 * next value is read: the slower reader paces both). Ends when in is closed
 * or ctx is done; both outputs close then. */
int keel_stage_tee(keel_ctx *ctx, keel_chan *in, size_t elem_size,
                   keel_chan **out1, keel_chan **out2);

/* merge: fan-in of ins[0..n) into *out, in arrival order; *out closes when
 * every input is closed, or ctx is done. The array is copied. */
int keel_stage_merge(keel_ctx *ctx, keel_chan *const *ins, size_t n,
                     size_t elem_size, keel_chan **out);

#ifdef __cplusplus
}
#endif
#endif
