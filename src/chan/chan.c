/* chan.c — channels: make, send, receive, close (keel/chan.h).
 *
 * As Go's runtime/chan.go: one lock per channel; a ring buffer of capacity
 * elements; queues of blocked senders and receivers (chan_internal.h gives
 * their invariants). A send that finds a blocked receiver copies straight
 * into the receiver's buffer (and a receive from a full channel with a blocked
 * sender takes the head and moves the sender's value into the freed slot), so
 * a value is copied once and the woken side has nothing left to do.
 *
 * Blocking send and receive are the one-case fast path of select: same queue
 * entries, same claim protocol, without the sorting and the scratch arrays.
 * Wakes always happen after the lock is released. */
#include <stdlib.h>

#include "chan/chan_internal.h"

int chan_make_with_extra(keel_chan **out, size_t elem_size, size_t capacity,
                         size_t extra, void **extra_out) {
  if (!out) return KEEL_EINVAL;
  *out = NULL;
  size_t head = (sizeof(keel_chan) + 15) & ~(size_t)15, bufsize, total;
  if (__builtin_mul_overflow(elem_size, capacity, &bufsize)) return KEEL_EINVAL;
  bufsize = (bufsize + 15) & ~(size_t)15;
  if (__builtin_add_overflow(head, bufsize, &total) ||
      __builtin_add_overflow(total, extra, &total) || total > PTRDIFF_MAX)
    return KEEL_EINVAL;
  unsigned char *mem = malloc(total);
  if (!mem) return KEEL_ENOMEM;
  keel_chan *c = (keel_chan *)mem;
  /* Field by field: a memset of the header compiles to `rep stos`, whose
   * start-up cost showed in timer create/stop. */
  chan_lock_init(&c->lock);
  atomic_init(&c->closed, false);
  atomic_init(&c->count, 0);
  atomic_init(&c->refs, 1);
  c->head = c->tail = 0;
  c->recvq.head = c->recvq.tail = NULL;
  c->sendq.head = c->sendq.tail = NULL;
  atomic_init(&c->recvq.len, 0);
  atomic_init(&c->sendq.len, 0);
  c->capacity = capacity;
  c->elem_size = elem_size;
  c->buf = mem + head;
  if (extra_out) *extra_out = extra ? mem + head + bufsize : NULL;
  *out = c;
  return 0;
}

int keel_chan_make(keel_chan **out, size_t elem_size, size_t capacity) {
  return chan_make_with_extra(out, elem_size, capacity, 0, NULL);
}

keel_chan *keel_chan_retain(keel_chan *c) {
  if (c) atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
  return c;
}

void keel_chan_release(keel_chan *c) {
  if (!c) return;
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
    free(c);
}

/* ---- shared locked steps ---------------------------------------------------- */

static inline void buf_take(keel_chan *c, void *out) {
  chan_copy(out, chan_slot(c, c->head), c->elem_size);
  if (++c->head == c->capacity) c->head = 0;
}

static inline void buf_put(keel_chan *c, const void *elem) {
  chan_copy(chan_slot(c, c->tail), elem, c->elem_size);
  if (++c->tail == c->capacity) c->tail = 0;
}

static inline size_t count_get(keel_chan *c) {
  return atomic_load_explicit(&c->count, memory_order_relaxed);
}

static inline void count_set(keel_chan *c, size_t n) {
  atomic_store_explicit(&c->count, n, memory_order_relaxed);
}

chan_entry *chan_recv_locked(keel_chan *c, void *out, bool *done) {
  chan_entry *e = chan_queue_claim(&c->sendq);
  if (e) {
    if (c->capacity == 0) {
      chan_copy(out, e->elem, c->elem_size);
    } else {
      /* Full buffer: take the head, the sender's value goes to the tail
       * (which is the slot just freed), so FIFO order holds. */
      buf_take(c, out);
      buf_put(c, e->elem);
    }
    e->result = 0;
    *done = true;
    return e;
  }
  size_t n = count_get(c);
  if (n > 0) {
    buf_take(c, out);
    count_set(c, n - 1);
    *done = true;
    return NULL;
  }
  *done = false;
  return NULL;
}

chan_entry *chan_send_locked(keel_chan *c, const void *elem, bool *done) {
  chan_entry *e = chan_queue_claim(&c->recvq);
  if (e) {
    chan_copy(e->elem, elem, c->elem_size);
    e->result = 0;
    *done = true;
    return e;
  }
  size_t n = count_get(c);
  if (n < c->capacity) {
    buf_put(c, elem);
    count_set(c, n + 1);
    *done = true;
    return NULL;
  }
  *done = false;
  return NULL;
}

/* Parks on entry e (already queued on q under c's lock, which is held) and
 * returns the operation's result. */
static int park_one(keel_chan *c, chan_queue *q, chan_entry *e, int64_t deadline) {
  chan_lock_release(&c->lock);
  int32_t reason = keel_waiter_park(e->waiter, deadline, NULL);
  if (reason == 0) return e->result;  /* the claimer dequeued e */
  chan_lock_acquire(&c->lock);
  chan_queue_remove(q, e);
  chan_lock_release(&c->lock);
  return reason < 0 ? reason : KEEL_ETIMEDOUT;
}

/* ---- the public calls ----------------------------------------------------------- */

int keel_chan_send(keel_chan *c, const void *elem, int64_t deadline) {
  if (!c || (!elem && c->elem_size)) return KEEL_EINVAL;
  chan_lock_acquire(&c->lock);
  if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
    chan_lock_release(&c->lock);
    return KEEL_ECLOSED;
  }
  bool done;
  chan_entry *e = chan_send_locked(c, elem, &done);
  if (done) {
    chan_lock_release(&c->lock);
    if (e) keel_waiter_wake(e->waiter);
    return 0;
  }
  if (chan_deadline_passed(deadline)) {
    chan_lock_release(&c->lock);
    return KEEL_EAGAIN;
  }
  keel_waiter w;
  keel_waiter_init(&w);
  chan_entry self = {.waiter = &w, .elem = (void *)elem, .index = 0};
  chan_queue_push(&c->sendq, &self);
  return park_one(c, &c->sendq, &self, deadline);
}

/* A receive's result on a closed, drained channel: the zero value. */
static int recv_closed(const keel_chan *c, void *out) {
  if (out && c->elem_size) memset(out, 0, c->elem_size);
  return KEEL_ECLOSED;
}

int keel_chan_recv(keel_chan *c, void *out, int64_t deadline) {
  if (!c) return KEEL_EINVAL;
  /* Closed and drained stays so (a send on a closed channel fails, and close
   * failed the parked senders), so seeing it takes no lock: a receive on a
   * done channel then has no locked instruction, and many such receives
   * overlap their cache misses. The acquire pairs with close's release, after
   * every send that filled the buffer. */
  if (atomic_load_explicit(&c->closed, memory_order_acquire) &&
      atomic_load_explicit(&c->count, memory_order_relaxed) == 0)
    return recv_closed(c, out);
  chan_lock_acquire(&c->lock);
  bool done;
  chan_entry *e = chan_recv_locked(c, out, &done);
  if (done) {
    chan_lock_release(&c->lock);
    if (e) keel_waiter_wake(e->waiter);
    return 0;
  }
  if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
    chan_lock_release(&c->lock);
    return recv_closed(c, out);
  }
  if (chan_deadline_passed(deadline)) {
    chan_lock_release(&c->lock);
    return KEEL_EAGAIN;
  }
  keel_waiter w;
  keel_waiter_init(&w);
  chan_entry self = {.waiter = &w, .elem = out, .index = 0};
  chan_queue_push(&c->recvq, &self);
  return park_one(c, &c->recvq, &self, deadline);
}

/* Claims every waiter of q for the close and links the winners on *list. */
static void close_queue(keel_chan *c, chan_queue *q, bool zero, chan_entry **list) {
  chan_entry *e;
  while ((e = chan_queue_claim(q)) != NULL) {
    if (zero && e->elem && c->elem_size) memset(e->elem, 0, c->elem_size);
    e->result = KEEL_ECLOSED;
    e->wake_next = *list;
    *list = e;
  }
}

int keel_chan_close(keel_chan *c) {
  if (!c) return KEEL_EINVAL;
  chan_lock_acquire(&c->lock);
  if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
    chan_lock_release(&c->lock);
    return KEEL_ECLOSED;
  }
  atomic_store_explicit(&c->closed, true, memory_order_release);
  chan_entry *list = NULL;
  close_queue(c, &c->recvq, true, &list);
  close_queue(c, &c->sendq, false, &list);
  chan_lock_release(&c->lock);
  while (list) {
    chan_entry *next = list->wake_next;  /* read before the wake frees it */
    keel_waiter_wake(list->waiter);
    list = next;
  }
  return 0;
}

size_t keel_chan_len(const keel_chan *c) {
  return c ? atomic_load_explicit(&((keel_chan *)c)->count, memory_order_relaxed) : 0;
}

size_t keel_chan_cap(const keel_chan *c) { return c ? c->capacity : 0; }

size_t keel_chan_elem_size(const keel_chan *c) { return c ? c->elem_size : 0; }

bool keel_chan_is_closed(const keel_chan *c) {
  return c && atomic_load_explicit(&((keel_chan *)c)->closed, memory_order_acquire);
}
