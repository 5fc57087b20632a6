/* The channel stress test of issue 2: 1,000,000 values (100,000 under the
 * sanitizers) through 16 channels shared by 64 tasks and 2 plain threads,
 * every value delivered exactly once.
 *
 * Producers send each value until a send succeeds, by plain sends and by
 * selects over several channels, with random deadlines (and NOWAIT). Relays
 * hold up to four values and select over receive and send cases at once.
 * Sinks receive, mark the value in a bitmap (a second mark is a duplicate)
 * and count; the sink that counts the last value closes `done`, which every
 * relay and sink has as a select case. Half the channels are closed at random
 * moments, by several closers at once (closing twice must say KEEL_ECLOSED);
 * their buffered values must still be drained. A lost value shows as a count
 * that never completes: the main thread waits for `done` with a generous
 * deadline and then reports what is missing instead of hanging. */
#include <stdatomic.h>

#include "keel_test.h"

#include "chan_test_util.h"
#include "keel/task.h"

enum { NCHAN = 16, NSTABLE = 8, NTASKS = 64, NPRODUCERS = 16, NRELAYS = 16,
       HOLD = 4, CHUNK = 64 };

typedef struct stress {
  keel_chan *chans[NCHAN];
  keel_chan *done;
  uint64_t nvalues;
  _Atomic uint64_t *bitmap;
  _Atomic uint64_t next_value;
  _Atomic uint64_t delivered;
  _Atomic uint64_t checksum;
  _Atomic uint64_t duplicates;
  _Atomic uint64_t errors;
  _Atomic uint64_t closes, double_closes, timeouts, selects;
} stress;

typedef struct worker {
  stress *s;
  uint64_t rng;
  int role;       /* 0 producer, 1 relay, 2 sink */
  bool closer;
  uint32_t known_closed;  /* mortal channels this worker saw closed */
} worker;

static int64_t random_deadline(worker *w) {
  switch (ct_rand(&w->rng) % 8) {
    case 0: return KEEL_NOWAIT;
    case 1: return KEEL_FOREVER;
    case 2: return keel_now() - 1;  /* already past */
    default: return keel_deadline_in((int64_t)(ct_rand(&w->rng) % (300 * KEEL_MICROSECOND)));
  }
}

static int pick_channel(worker *w) {
  for (;;) {
    int i = (int)(ct_rand(&w->rng) % NCHAN);
    if (!(w->known_closed & (1u << i))) return i;
  }
}

static void note_result(worker *w, int chan_index, int rc) {
  if (rc == KEEL_ECLOSED) {
    if (chan_index < NSTABLE) atomic_fetch_add(&w->s->errors, 1);  /* never closed */
    w->known_closed |= 1u << chan_index;
  } else if (rc == KEEL_ETIMEDOUT) {
    atomic_fetch_add_explicit(&w->s->timeouts, 1, memory_order_relaxed);
  } else if (rc != 0 && rc != KEEL_EAGAIN) {
    atomic_fetch_add(&w->s->errors, 1);
  }
}

static void maybe_close(worker *w) {
  if (!w->closer || ct_rand(&w->rng) % 4096 != 0) return;
  int i = NSTABLE + (int)(ct_rand(&w->rng) % (NCHAN - NSTABLE));
  int rc = keel_chan_close(w->s->chans[i]);
  if (rc == 0) atomic_fetch_add(&w->s->closes, 1);
  else if (rc == KEEL_ECLOSED) atomic_fetch_add(&w->s->double_closes, 1);
  else atomic_fetch_add(&w->s->errors, 1);
}

/* Sends v somewhere; returns once a send succeeded. */
static void deliver(worker *w, uint64_t v) {
  stress *s = w->s;
  for (;;) {
    maybe_close(w);
    if (ct_rand(&w->rng) % 2) {
      int i = pick_channel(w);
      int rc = keel_chan_send(s->chans[i], &v, random_deadline(w));
      if (rc == 0) return;
      note_result(w, i, rc);
      continue;
    }
    keel_select_case cs[5];
    int idx[5];
    size_t n = 2 + ct_rand(&w->rng) % 3;
    for (size_t k = 0; k < n; k++) {
      idx[k] = pick_channel(w);
      cs[k] = (keel_select_case){.chan = s->chans[idx[k]], .op = KEEL_SELECT_SEND, .elem = &v};
    }
    cs[n] = (keel_select_case){.chan = NULL, .op = KEEL_SELECT_RECV};
    atomic_fetch_add_explicit(&s->selects, 1, memory_order_relaxed);
    int r = keel_chan_select(cs, n + 1, random_deadline(w));
    if (r >= 0 && cs[r].result == 0) return;
    if (r >= 0) note_result(w, idx[r], cs[r].result);
    else note_result(w, 0, r);
  }
}

static void producer(worker *w) {
  stress *s = w->s;
  for (;;) {
    uint64_t first = atomic_fetch_add(&s->next_value, CHUNK);
    if (first >= s->nvalues) return;
    uint64_t end = first + CHUNK < s->nvalues ? first + CHUNK : s->nvalues;
    for (uint64_t v = first; v < end; v++) deliver(w, v);
  }
}

static void sink_take(worker *w, uint64_t v) {
  stress *s = w->s;
  if (v >= s->nvalues) {
    atomic_fetch_add(&s->errors, 1);
    return;
  }
  uint64_t bit = 1ull << (v % 64);
  if (atomic_fetch_or(&s->bitmap[v / 64], bit) & bit) atomic_fetch_add(&s->duplicates, 1);
  atomic_fetch_add_explicit(&s->checksum, v, memory_order_relaxed);
  if (atomic_fetch_add(&s->delivered, 1) + 1 == s->nvalues) keel_chan_close(s->done);
}

/* A consumer never waits forever: once the producers are done, the last
 * values may sit in a channel that every consumer, parked forever on other
 * channels, leaves alone (a real deadlock of the program, as in Go; it
 * happened under qemu with 296 values left in one channel). A long deadline
 * instead sends the consumer back to pick channels again. Producers still
 * wait forever: consumers keep coming round to every channel. */
static int64_t consumer_deadline(worker *w) {
  int64_t d = random_deadline(w);
  return d == KEEL_FOREVER ? keel_deadline_in(20 * KEEL_MILLISECOND) : d;
}

/* Relays and sinks: select over receive cases (and, for a relay holding
 * values, a send case) plus `done`, until done closes. */
static void consumer(worker *w) {
  stress *s = w->s;
  uint64_t held[HOLD];
  int nheld = 0;
  for (;;) {
    maybe_close(w);
    if (w->role == 2 && ct_rand(&w->rng) % 4 == 0) {
      /* A plain receive now and then (done is not watched: short deadline). */
      int i = pick_channel(w);
      uint64_t v;
      int rc = keel_chan_recv(s->chans[i], &v,
                              keel_deadline_in((int64_t)(ct_rand(&w->rng) % (200 * KEEL_MICROSECOND))));
      if (rc == 0) sink_take(w, v);
      else note_result(w, i, rc);
      if (keel_chan_is_closed(s->done)) return;
      continue;
    }
    keel_select_case cs[6];
    int idx[6];
    uint64_t in[6];
    size_t n = 0;
    bool can_recv = nheld < HOLD, can_send = nheld > 0;
    size_t nrecv = can_recv ? 1 + ct_rand(&w->rng) % 3 : 0;
    for (size_t k = 0; k < nrecv; k++, n++) {
      idx[n] = pick_channel(w);
      cs[n] = (keel_select_case){.chan = s->chans[idx[n]], .op = KEEL_SELECT_RECV, .elem = &in[n]};
    }
    if (can_send) {
      idx[n] = pick_channel(w);
      cs[n] = (keel_select_case){.chan = s->chans[idx[n]], .op = KEEL_SELECT_SEND,
                                 .elem = &held[nheld - 1]};
      n++;
    }
    idx[n] = -1;
    cs[n++] = (keel_select_case){.chan = s->done, .op = KEEL_SELECT_RECV, .elem = NULL};
    atomic_fetch_add_explicit(&s->selects, 1, memory_order_relaxed);
    int r = keel_chan_select(cs, n, consumer_deadline(w));
    if (r < 0) {
      note_result(w, 0, r);
      continue;
    }
    if (idx[r] < 0) {  /* done: nothing may be left in hand */
      if (nheld != 0) atomic_fetch_add(&s->errors, 1);
      return;
    }
    if (cs[r].result != 0) {
      note_result(w, idx[r], cs[r].result);
      continue;
    }
    if (cs[r].op == KEEL_SELECT_SEND) {
      nheld--;
    } else if (w->role == 2) {
      sink_take(w, in[r]);
    } else {
      held[nheld++] = in[r];
    }
  }
}

static void run_worker(void *arg) {
  worker *w = arg;
  if (w->role == 0) producer(w);
  else consumer(w);
}

static void *run_worker_thread(void *arg) {
  run_worker(arg);
  return NULL;
}

static void report_missing(stress *s) {
  uint64_t missing = 0, first = UINT64_MAX;
  for (uint64_t v = 0; v < s->nvalues; v++)
    if (!(atomic_load(&s->bitmap[v / 64]) & (1ull << (v % 64)))) {
      missing++;
      if (first == UINT64_MAX) first = v;
    }
  fprintf(stderr, "  stuck: delivered %llu of %llu, %llu missing (first %llu), next %llu\n",
          (unsigned long long)atomic_load(&s->delivered), (unsigned long long)s->nvalues,
          (unsigned long long)missing, (unsigned long long)first,
          (unsigned long long)atomic_load(&s->next_value));
  for (int i = 0; i < NCHAN; i++)
    fprintf(stderr, "  chan %d: len %zu closed %d queued r%zu s%zu\n", i,
            keel_chan_len(s->chans[i]), keel_chan_is_closed(s->chans[i]),
            ct_queue_len(s->chans[i], true), ct_queue_len(s->chans[i], false));
}

KT_TEST(million_values_through_tasks_and_threads_exactly_once) {
  static stress s;
  memset(&s, 0, sizeof s);
  s.nvalues = KT_SANITIZED() ? 100000 : 1000000;
  s.bitmap = calloc((s.nvalues + 63) / 64, sizeof *s.bitmap);
  KT_CHECK(s.bitmap != NULL);
  static const size_t caps[NCHAN] = {0, 1, 4, 64, 0, 2, 16, 1024, 0, 1, 8, 0, 32, 0, 3, 256};
  for (int i = 0; i < NCHAN; i++) KT_CHECK_EQ(keel_chan_make(&s.chans[i], sizeof(uint64_t), caps[i]), 0);
  KT_CHECK_EQ(keel_chan_make(&s.done, 0, 0), 0);

  static worker w[NTASKS + 2];
  for (int i = 0; i < NTASKS + 2; i++) {
    w[i] = (worker){.s = &s, .rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1)};
    w[i].role = i < NPRODUCERS ? 0 : i < NPRODUCERS + NRELAYS ? 1 : 2;
    w[i].closer = i % 5 == 0;
  }
  /* The two plain threads: a producer that also closes, and a relay. */
  w[NTASKS] = (worker){.s = &s, .rng = 77, .role = 0, .closer = true};
  w[NTASKS + 1] = (worker){.s = &s, .rng = 78, .role = 1, .closer = true};

  int64_t t0 = keel_now();
  keel_task *tasks[NTASKS];
  for (int i = 0; i < NTASKS; i++)
    KT_CHECK_EQ(keel_task_spawn(&tasks[i], run_worker, &w[i], NULL), 0);
  ct_thread threads[2];
  ct_start(&threads[0], run_worker_thread, &w[NTASKS]);
  ct_start(&threads[1], run_worker_thread, &w[NTASKS + 1]);

  int rc = keel_chan_recv(s.done, NULL, keel_deadline_in(120 * KEEL_SECOND));
  if (rc != KEEL_ECLOSED) {
    report_missing(&s);
    fprintf(stderr, "  giving up: a value was lost (or the machine is stalled)\n");
    exit(1);
  }
  for (int i = 0; i < NTASKS; i++) KT_CHECK_EQ(keel_task_join(tasks[i], KEEL_FOREVER, NULL), 0);
  ct_join(&threads[0]);
  ct_join(&threads[1]);
  int64_t took = keel_now() - t0;

  uint64_t n = s.nvalues, marked = 0;
  for (uint64_t i = 0; i < (n + 63) / 64; i++) marked += (uint64_t)__builtin_popcountll(atomic_load(&s.bitmap[i]));
  fprintf(stderr, "  %llu values in %.2f s: %llu selects, %llu timeouts, %llu closes (+%llu twice)\n",
          (unsigned long long)n, (double)took / 1e9, (unsigned long long)s.selects,
          (unsigned long long)s.timeouts, (unsigned long long)s.closes,
          (unsigned long long)s.double_closes);
  KT_CHECK_EQ(s.duplicates, 0);
  KT_CHECK_EQ(s.errors, 0);
  KT_CHECK_EQ(marked, n);
  KT_CHECK_EQ(s.delivered, n);
  KT_CHECK_EQ(s.checksum, n * (n - 1) / 2);
  for (int i = 0; i < NCHAN; i++) {
    KT_CHECK_EQ(keel_chan_len(s.chans[i]), 0);
    KT_CHECK_EQ(ct_queue_len(s.chans[i], true) + ct_queue_len(s.chans[i], false), 0);
    keel_chan_release(s.chans[i]);
  }
  keel_chan_release(s.done);
  free(s.bitmap);
}

KT_MAIN()
