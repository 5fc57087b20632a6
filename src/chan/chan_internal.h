/* chan_internal.h — the channel's layout, its lock and its wait queues,
 * shared by chan.c (send, recv, close), select.c and timer.c. Not public.
 *
 * Invariants (all under c->lock):
 *   - a channel with waiting receivers has an empty buffer, and one with
 *     waiting senders has a full buffer (capacity 0 counts as both): a sender
 *     that finds a queued receiver hands its value over directly;
 *   - a queue may hold stale entries, whose waiter was already claimed by
 *     another case, a timeout or a close. Whoever pops one tries to claim it;
 *     a failed claim just drops the entry (its owner finds queued == false);
 *   - an entry is written (data copied into e->elem, e->result set) only by
 *     the party that won the claim on its waiter, and only under the lock of
 *     the entry's channel, before that party calls keel_waiter_wake;
 *   - once closed, a channel stays closed and both queues are empty. */
#ifndef KEEL_CHAN_INTERNAL_H
#define KEEL_CHAN_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "chan/lock.h"
#include "keel/chan.h"
#include "runtime/waiter.h"

/* ---- wait queues ------------------------------------------------------------ */

/* One blocked send or receive: Go's sudog. Lives on the blocked caller's
 * stack (or in select's scratch block) until its park returns. */
typedef struct chan_entry {
  struct chan_entry *next, *prev;
  keel_waiter *waiter;
  void *elem;                /* send: the value; recv: where to copy (or NULL) */
  int32_t index;             /* the claim reason: the select case index */
  int32_t result;            /* written by the claimer: 0 or KEEL_ECLOSED */
  bool queued;               /* on its channel's queue (under the lock) */
  struct chan_entry *wake_next; /* close's list of entries to wake */
} chan_entry;

typedef struct chan_queue {
  chan_entry *head, *tail;
  /* Entries queued (stale ones included). Written under the lock; read
   * without it only as a hint (select's lock-free first look). */
  _Atomic uint32_t len;
} chan_queue;

static inline void chan_queue_len_add(chan_queue *q, int32_t d) {
  uint32_t n = atomic_load_explicit(&q->len, memory_order_relaxed);
  atomic_store_explicit(&q->len, n + (uint32_t)d, memory_order_relaxed);
}

static inline void chan_queue_push(chan_queue *q, chan_entry *e) {
  e->next = NULL;
  e->prev = q->tail;
  if (q->tail) q->tail->next = e; else q->head = e;
  q->tail = e;
  e->queued = true;
  chan_queue_len_add(q, 1);
}

static inline void chan_queue_remove(chan_queue *q, chan_entry *e) {
  if (!e->queued) return;
  if (e->prev) e->prev->next = e->next; else q->head = e->next;
  if (e->next) e->next->prev = e->prev; else q->tail = e->prev;
  e->next = e->prev = NULL;
  e->queued = false;
  chan_queue_len_add(q, -1);
}

/* Pops entries until one whose waiter this caller claims; NULL if none.
 * Stale entries met on the way are dropped. */
static inline chan_entry *chan_queue_claim(chan_queue *q) {
  chan_entry *e;
  while ((e = q->head) != NULL) {
    chan_queue_remove(q, e);
    if (keel_waiter_claim(e->waiter, e->index)) return e;
  }
  return NULL;
}

/* ---- the channel ------------------------------------------------------------ */

struct keel_chan {
  chan_lock lock;
  _Atomic bool closed;      /* written under the lock; read anywhere */
  _Atomic size_t count;     /* elements buffered; written under the lock */
  size_t head;              /* next slot to receive from */
  size_t tail;              /* next slot to send into */
  size_t capacity;
  size_t elem_size;
  chan_queue recvq;         /* blocked receivers (buffer empty) */
  chan_queue sendq;         /* blocked senders (buffer full) */
  _Atomic size_t refs;
  unsigned char *buf;       /* capacity * elem_size bytes, after the struct */
};

/* Allocates a channel followed by `extra` bytes for the caller (aligned to
 * 16), returned in *extra_out; both go with the channel's last release. */
int chan_make_with_extra(keel_chan **out, size_t elem_size, size_t capacity,
                         size_t extra, void **extra_out);

/* Copies one element; constant-size cases let the compiler inline the
 * common small sizes instead of calling memcpy. dst NULL discards. */
static inline void chan_copy(void *dst, const void *src, size_t n) {
  if (!dst) return;
  switch (n) {
    case 0: return;
    case 1: memcpy(dst, src, 1); return;
    case 2: memcpy(dst, src, 2); return;
    case 4: memcpy(dst, src, 4); return;
    case 8: memcpy(dst, src, 8); return;
    case 16: memcpy(dst, src, 16); return;
    default: memcpy(dst, src, n); return;
  }
}

static inline unsigned char *chan_slot(keel_chan *c, size_t i) {
  return c->buf + i * c->elem_size;
}

/* Under the lock: the operations every path shares. They return the entry
 * whose waiter the caller must wake after unlocking, or NULL. */

/* Receive when the buffer is non-empty or a sender waits. *done is set to
 * false if neither holds (caller decides: closed, wait or give up). */
chan_entry *chan_recv_locked(keel_chan *c, void *out, bool *done);
/* Send when a receiver waits or there is room; see chan_recv_locked. */
chan_entry *chan_send_locked(keel_chan *c, const void *elem, bool *done);

/* True when a wait with this deadline should not block (KEEL_NOWAIT or past). */
static inline bool chan_deadline_passed(int64_t deadline) {
  if (deadline == KEEL_FOREVER) return false;
  if (deadline == KEEL_NOWAIT) return true;
  return deadline <= keel_now();
}

#endif
