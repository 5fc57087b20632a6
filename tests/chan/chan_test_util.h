/* Helpers for the channel tests: plain threads, and a look at a channel's wait
 * queues so a test can know that a caller is really blocked before it acts
 * (polling with sched_yield, never sleeping for a guessed time). */
#ifndef KEEL_CHAN_TEST_UTIL_H
#define KEEL_CHAN_TEST_UTIL_H

#include <pthread.h>
#include <sched.h>

#include "keel_test.h"

#include "chan/chan_internal.h"
#include "keel/chan.h"
#include "keel/time.h"

static inline size_t ct_queue_len(keel_chan *c, bool receivers) {
  chan_lock_acquire(&c->lock);
  size_t n = 0;
  for (chan_entry *e = (receivers ? c->recvq : c->sendq).head; e; e = e->next) n++;
  chan_lock_release(&c->lock);
  return n;
}

/* Waits until at least n callers are queued (receivers or senders) on c;
 * false after 30 s (a bug: the test then fails instead of hanging). */
static inline bool ct_wait_queued(keel_chan *c, bool receivers, size_t n) {
  int64_t give_up = keel_deadline_in(30 * KEEL_SECOND);
  while (ct_queue_len(c, receivers) < n) {
    if (keel_now() > give_up) return false;
    sched_yield();
  }
  return true;
}

typedef struct ct_thread {
  pthread_t id;
} ct_thread;

static inline void ct_start(ct_thread *t, void *(*fn)(void *), void *arg) {
  if (pthread_create(&t->id, NULL, fn, arg) != 0) {
    fprintf(stderr, "pthread_create failed\n");
    exit(2);
  }
}

static inline void ct_join(ct_thread *t) { pthread_join(t->id, NULL); }

/* xorshift64*: a test's own deterministic-enough PRNG. */
static inline uint64_t ct_rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

#endif
