/* keel/chan.h — channels and select, with Go's semantics.
 *
 * A channel carries fixed-size elements (elem_size bytes, copied in and out).
 * Capacity 0 is a rendezvous: a send hands its value straight to a waiting
 * receiver. Close has Go's meaning: receivers drain what is buffered, then get
 * KEEL_ECLOSED; sending on a closed channel or closing twice returns
 * KEEL_ECLOSED (never a crash).
 *
 * Blocking calls take an absolute deadline (keel/time.h: KEEL_FOREVER,
 * KEEL_NOWAIT, keel_deadline_in(d)) and work from tasks and plain threads.
 * Results: 0; KEEL_ECLOSED; KEEL_ETIMEDOUT when a real deadline passed;
 * KEEL_EAGAIN when KEEL_NOWAIT (or a deadline already in the past) found
 * nothing ready; KEEL_EINVAL for bad arguments.
 *
 * Cancellation: channels know nothing of contexts (keel/ctx.h sits above).
 * To make a wait cancelable, add a receive case on a cancel channel (a
 * context's done channel) to a select.
 *
 * Ownership: keel_chan_make returns one reference. keel_chan_retain /
 * keel_chan_release count references; the last release frees the channel
 * (it must have no blocked callers then). A keel_chan* sent through a channel
 * of channels passes one reference to the receiver, by keel convention.
 * Element memory stays the caller's: send copies from it before returning,
 * receive copies into it; a blocked caller's buffer must stay valid until the
 * call returns (it is written by the sender that completes the receive).
 *
 * Threads: every call on a channel may be made from any number of tasks and
 * threads at once. Blocking calls park a task (freeing its worker) or block
 * a thread on a futex; tasks and threads may share a channel freely.
 *
 *   keel_chan *c;
 *   keel_chan_make(&c, sizeof(int), 16);          // buffered, 16 ints
 *   int v = 42;
 *   keel_chan_send(c, &v, KEEL_FOREVER);          // 0
 *   keel_chan_recv(c, &v, keel_deadline_in(10 * KEEL_MILLISECOND));
 *   keel_chan_close(c);                           // receivers drain, then KEEL_ECLOSED
 *   keel_chan_release(c);
 *
 * Cost: a send or receive that does not block takes the channel's lock once
 * and copies the element once; a blocked receiver is handed the value
 * directly by the sender (no second copy, no buffer trip). Design notes:
 * docs/channels.md. */
#ifndef KEEL_CHAN_H
#define KEEL_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/status.h"
#include "keel/time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct keel_chan keel_chan;

/* elem_size may be 0 (signal-only channels). KEEL_EINVAL, KEEL_ENOMEM. */
int keel_chan_make(keel_chan **out, size_t elem_size, size_t capacity);
keel_chan *keel_chan_retain(keel_chan *c);
void keel_chan_release(keel_chan *c);   /* NULL is a no-op */

/* Copies elem_size bytes from elem into the channel. */
int keel_chan_send(keel_chan *c, const void *elem, int64_t deadline);
/* Copies one element into out (may be NULL to discard it). */
int keel_chan_recv(keel_chan *c, void *out, int64_t deadline);
/* Closes c; waiting receivers get KEEL_ECLOSED, waiting senders too. */
int keel_chan_close(keel_chan *c);

size_t keel_chan_len(const keel_chan *c);
size_t keel_chan_cap(const keel_chan *c);
size_t keel_chan_elem_size(const keel_chan *c);
bool keel_chan_is_closed(const keel_chan *c);

/* ---- select ---------------------------------------------------------------- */

enum keel_select_op { KEEL_SELECT_SEND = 1, KEEL_SELECT_RECV = 2 };

typedef struct keel_select_case {
  keel_chan *chan;  /* NULL: the case is never ready (Go's nil channel) */
  int op;           /* KEEL_SELECT_SEND or KEEL_SELECT_RECV */
  void *elem;       /* send: the value; recv: where to copy (may be NULL) */
  int result;       /* out: 0, or KEEL_ECLOSED for the chosen case */
} keel_select_case;

/* Waits until one case can proceed, performs it, and returns its index (>= 0)
 * with cases[i].result set (a receive from a closed channel, or a send on
 * one, is chosen with result KEEL_ECLOSED). When several are ready the choice
 * is uniformly random. Returns KEEL_EAGAIN (KEEL_NOWAIT: Go's default case),
 * KEEL_ETIMEDOUT, or KEEL_EINVAL (cases NULL with n > 0, a bad op, a send
 * case without a value, n > 65536). Only the chosen case is performed and
 * only its result is written. NULL channels are never ready, so a select
 * with none but NULL cases waits for its deadline (with KEEL_FOREVER, for
 * ever, as in Go). A channel may appear in several cases, also as a send and
 * a receive at once (a select never meets itself). Up to 8 cases need no
 * allocation; larger selects allocate once and may return KEEL_ENOMEM.
 *
 *   int job; keel_timer *t; keel_timer_after(&t, KEEL_SECOND);   // keel/timer.h
 *   keel_select_case cs[3] = {
 *     {.chan = jobs, .op = KEEL_SELECT_RECV, .elem = &job},
 *     {.chan = done, .op = KEEL_SELECT_RECV},               // a cancel channel
 *     {.chan = keel_timer_chan(t), .op = KEEL_SELECT_RECV},
 *   };
 *   switch (keel_chan_select(cs, 3, KEEL_FOREVER)) {
 *     case 0: if (cs[0].result == KEEL_ECLOSED) ...no more jobs...; break;
 *     case 1: ...canceled...; break;
 *     case 2: ...a second passed...; break;
 *   }
 *   keel_timer_free(t); */
int keel_chan_select(keel_select_case *cases, size_t n, int64_t deadline);

#ifdef __cplusplus
}
#endif
#endif
