/* The waiter protocol (runtime/waiter.h) from tasks and threads: wakes,
 * timeouts, cancel tokens, and races between all three (exactly one claim
 * wins, park returns the winner's reason, nothing is lost or doubled). */
#include <pthread.h>
#include <sched.h>

#include "rt_test.h"
#include "runtime/waiter.h"

/* A waiter published through an atomic pointer, so wakers can find it. */
struct slot {
  keel_waiter *_Atomic w;
  pthread_mutex_t lock;   /* publication, as a channel's lock would */
  _Atomic int32_t result;
  _Atomic int done;
  int64_t deadline;
  keel_cancel *cancel;
};

static void park_on_slot(void *arg) {
  struct slot *s = arg;
  keel_waiter w;
  keel_waiter_init(&w);
  atomic_store(&s->w, &w);
  int32_t r = keel_waiter_park(&w, s->deadline, s->cancel);
  pthread_mutex_lock(&s->lock);
  atomic_store(&s->w, NULL);
  pthread_mutex_unlock(&s->lock);
  atomic_store(&s->result, r);
  atomic_store(&s->done, 1);
}

/* Waits until the parker published its waiter (or already finished). */
static keel_waiter *wait_published(struct slot *s) {
  keel_waiter *w;
  while (!(w = atomic_load(&s->w)) && !atomic_load(&s->done)) {
    if (keel_task_id()) keel_task_yield(); else sched_yield();
  }
  return w;
}

static void *thread_parker(void *arg) { park_on_slot(arg); return NULL; }

static void wake_slot_with(struct slot *s, int32_t reason) {
  keel_waiter *w = wait_published(s);
  KT_CHECK(keel_waiter_claim(w, reason));
  keel_waiter_wake(w);
}

KT_TEST(thread_parks_thread_wakes) {
  struct slot s = {.deadline = KEEL_FOREVER, .lock = PTHREAD_MUTEX_INITIALIZER};
  pthread_t th;
  pthread_create(&th, NULL, thread_parker, &s);
  wake_slot_with(&s, 7);
  pthread_join(th, NULL);
  KT_CHECK_EQ(atomic_load(&s.result), 7);
}

KT_TEST(task_parks_thread_wakes) {
  struct slot s = {.deadline = KEEL_FOREVER, .lock = PTHREAD_MUTEX_INITIALIZER};
  keel_task *h;
  KT_CHECK_EQ(keel_task_spawn(&h, park_on_slot, &s, NULL), 0);
  wake_slot_with(&s, 3);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&s.result), 3);
}

static void task_waker(void *arg) { wake_slot_with(arg, 11); }

KT_TEST(task_parks_task_wakes) {
  struct slot s = {.deadline = KEEL_FOREVER, .lock = PTHREAD_MUTEX_INITIALIZER};
  keel_task *h, *hw;
  KT_CHECK_EQ(keel_task_spawn(&h, park_on_slot, &s, NULL), 0);
  KT_CHECK_EQ(keel_task_spawn(&hw, task_waker, &s, NULL), 0);
  KT_CHECK_EQ(keel_task_join(hw, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&s.result), 11);
}

KT_TEST(claimed_before_park_returns_at_once) {
  keel_waiter w;
  keel_waiter_init(&w);
  KT_CHECK(keel_waiter_claim(&w, 5));
  KT_CHECK(!keel_waiter_claim(&w, 6));
  keel_waiter_wake(&w);
  KT_CHECK_EQ(keel_waiter_park(&w, KEEL_FOREVER, NULL), 5);
}

KT_TEST(timeouts_from_thread_and_task) {
  struct slot s = {.deadline = keel_deadline_in(3 * KEEL_MILLISECOND),
                   .lock = PTHREAD_MUTEX_INITIALIZER};
  park_on_slot(&s);
  KT_CHECK_EQ(atomic_load(&s.result), KEEL_ETIMEDOUT);
  KT_CHECK(keel_now() >= s.deadline);
  struct slot t = {.deadline = keel_deadline_in(3 * KEEL_MILLISECOND),
                   .lock = PTHREAD_MUTEX_INITIALIZER};
  keel_task *h;
  KT_CHECK_EQ(keel_task_spawn(&h, park_on_slot, &t, NULL), 0);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&t.result), KEEL_ETIMEDOUT);
  KT_CHECK(keel_now() >= t.deadline);
  struct slot u = {.deadline = KEEL_NOWAIT, .lock = PTHREAD_MUTEX_INITIALIZER};
  park_on_slot(&u);
  KT_CHECK_EQ(atomic_load(&u.result), KEEL_ETIMEDOUT);
}

KT_TEST(cancel_wakes_every_waiter_with_its_code) {
  keel_cancel c;
  keel_cancel_init(&c);
  enum { N = 8 };
  struct slot s[N];
  keel_task *h[N / 2];
  pthread_t th[N / 2];
  for (int i = 0; i < N; i++)
    s[i] = (struct slot){.deadline = KEEL_FOREVER, .cancel = &c,
                         .lock = PTHREAD_MUTEX_INITIALIZER};
  for (int i = 0; i < N / 2; i++) {
    KT_CHECK_EQ(keel_task_spawn(&h[i], park_on_slot, &s[i], NULL), 0);
    pthread_create(&th[i], NULL, thread_parker, &s[N / 2 + i]);
  }
  for (int i = 0; i < N; i++) wait_published(&s[i]);
  KT_CHECK(keel_cancel_fire(&c, KEEL_EDEADLINE));
  KT_CHECK(!keel_cancel_fire(&c, KEEL_ECANCELED));  /* first code wins */
  KT_CHECK_EQ(keel_cancel_code(&c), KEEL_EDEADLINE);
  for (int i = 0; i < N / 2; i++) {
    KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
    pthread_join(th[i], NULL);
  }
  for (int i = 0; i < N; i++) KT_CHECK_EQ(atomic_load(&s[i].result), KEEL_EDEADLINE);
  /* Already fired: a new park returns the code at once. */
  struct slot late = {.deadline = KEEL_FOREVER, .cancel = &c,
                      .lock = PTHREAD_MUTEX_INITIALIZER};
  park_on_slot(&late);
  KT_CHECK_EQ(atomic_load(&late.result), KEEL_EDEADLINE);
  KT_CHECK(!keel_cancel_fire(&c, 5));  /* codes must be negative */
  keel_cancel_destroy(&c);
}

/* Concurrent fires: exactly one wins, and the token keeps the winner's code. */
struct firing {
  keel_cancel *c;
  _Atomic int *ready;   /* firers spin until all are ready, then fire at once */
  int code;
  bool won;
};

static void *fire_at_once(void *arg) {
  struct firing *f = arg;
  atomic_fetch_sub(f->ready, 1);
  /* spin (yielding now and then, so a busy or 1-core machine still makes
   * progress) */
  for (unsigned spins = 0; atomic_load(f->ready) > 0;)
    if (++spins % 1024 == 0) sched_yield();
  f->won = keel_cancel_fire(f->c, f->code);
  return NULL;
}

KT_TEST(concurrent_fires_have_one_winner) {
  enum { FIRERS = 2 };   /* one per core of a 2-core machine: both spin, then race */
  int rounds = KT_SANITIZED() ? 200 : 1000;
  for (int r = 0; r < rounds; r++) {
    keel_cancel c;
    keel_cancel_init(&c);
    _Atomic int ready = FIRERS;
    struct firing f[FIRERS];
    pthread_t th[FIRERS];
    for (int i = 0; i < FIRERS; i++) {
      f[i] = (struct firing){.c = &c, .ready = &ready, .code = -1 - i};
      pthread_create(&th[i], NULL, fire_at_once, &f[i]);
    }
    int winners = 0, code = 0;
    for (int i = 0; i < FIRERS; i++) {
      pthread_join(th[i], NULL);
      if (f[i].won) {
        winners++;
        code = f[i].code;
      }
    }
    KT_CHECK_EQ(winners, 1);
    KT_CHECK_EQ(keel_cancel_code(&c), code);
    keel_cancel_destroy(&c);
    if (winners != 1) break;
  }
}

/* Claim races: one parker, a waker (claims with a case index), a canceller,
 * and a short deadline, all at once. Exactly one claim wins per round and
 * park returns it. Parkers and wakers alternate between tasks and threads. */
struct race {
  struct slot s;
  keel_cancel c;
  _Atomic int wake_won, go;
};

static void race_waker(void *arg) {
  struct race *r = arg;
  wait_published(&r->s);
  pthread_mutex_lock(&r->s.lock);
  keel_waiter *w = atomic_load(&r->s.w);
  if (w && keel_waiter_claim(w, 42)) {
    atomic_store(&r->wake_won, 1);
    keel_waiter_wake(w);
  }
  pthread_mutex_unlock(&r->s.lock);
}
static void *race_waker_thread(void *arg) { race_waker(arg); return NULL; }
static void race_cancel(void *arg) {
  struct race *r = arg;
  wait_published(&r->s);
  keel_cancel_fire(&r->c, KEEL_ECANCELED);
}
static void *race_cancel_thread(void *arg) { race_cancel(arg); return NULL; }

KT_TEST(claim_races_timeout_wake_cancel) {
  int rounds = KT_SANITIZED() ? 300 : 3000;
  int counts[3] = {0};
  for (int i = 0; i < rounds; i++) {
    struct race r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.s.lock, NULL);
    keel_cancel_init(&r.c);
    r.s.deadline = keel_deadline_in((i % 5) * 20 * KEEL_MICROSECOND);
    r.s.cancel = &r.c;
    keel_task *hp = NULL, *hw = NULL, *hc = NULL;
    pthread_t tp, tw, tc;
    bool task_parker = i & 1, task_waker = i & 2, task_cancel = i & 4;
    if (task_parker) KT_CHECK_EQ(keel_task_spawn(&hp, park_on_slot, &r.s, NULL), 0);
    else pthread_create(&tp, NULL, thread_parker, &r.s);
    if (task_waker) KT_CHECK_EQ(keel_task_spawn(&hw, race_waker, &r, NULL), 0);
    else pthread_create(&tw, NULL, race_waker_thread, &r);
    if (task_cancel) KT_CHECK_EQ(keel_task_spawn(&hc, race_cancel, &r, NULL), 0);
    else pthread_create(&tc, NULL, race_cancel_thread, &r);
    if (hw) keel_task_join(hw, KEEL_FOREVER, NULL); else pthread_join(tw, NULL);
    if (hc) keel_task_join(hc, KEEL_FOREVER, NULL); else pthread_join(tc, NULL);
    if (hp) keel_task_join(hp, KEEL_FOREVER, NULL); else pthread_join(tp, NULL);
    int32_t res = atomic_load(&r.s.result);
    if (atomic_load(&r.wake_won)) {
      KT_CHECK_EQ(res, 42);
      counts[0]++;
    } else if (res == KEEL_ECANCELED) {
      counts[1]++;
    } else {
      KT_CHECK_EQ(res, KEEL_ETIMEDOUT);
      counts[2]++;
    }
  }
  KT_CHECK_EQ(counts[0] + counts[1] + counts[2], rounds);
  fprintf(stderr, "  wake %d, cancel %d, timeout %d\n", counts[0], counts[1], counts[2]);
}

KT_TEST(sleep_and_sleep_until) {
  KT_CHECK_EQ(keel_sleep(0), 0);
  KT_CHECK_EQ(keel_sleep(-5), 0);
  int64_t d = keel_deadline_in(2 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_sleep_until(d, NULL), 0);
  KT_CHECK(keel_now() >= d);
  keel_cancel c;
  keel_cancel_init(&c);
  keel_cancel_fire(&c, KEEL_ECANCELED);
  KT_CHECK_EQ(keel_sleep_until(KEEL_FOREVER, &c), KEEL_ECANCELED);
}

struct sleeper { keel_cancel *c; int rc; int64_t deadline; int64_t woke; };
static void task_sleeper(void *arg) {
  struct sleeper *s = arg;
  s->rc = keel_sleep_until(s->deadline, s->c);
  s->woke = keel_now();
}

KT_TEST(sleep_in_task_and_cancel_it) {
  struct sleeper s = {.deadline = keel_deadline_in(2 * KEEL_MILLISECOND)};
  keel_task *h;
  KT_CHECK_EQ(keel_task_spawn(&h, task_sleeper, &s, NULL), 0);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(s.rc, 0);
  KT_CHECK(s.woke >= s.deadline);
  keel_cancel c;
  keel_cancel_init(&c);
  struct sleeper t = {.deadline = KEEL_FOREVER, .c = &c};
  KT_CHECK_EQ(keel_task_spawn(&h, task_sleeper, &t, NULL), 0);
  /* Joining with a deadline proves the sleeper is parked, not finished. */
  KT_CHECK_EQ(keel_task_join(h, keel_deadline_in(KEEL_MILLISECOND), NULL), KEEL_ETIMEDOUT);
  keel_cancel_fire(&c, KEEL_ECANCELED);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(t.rc, KEEL_ECANCELED);
}

/* A one-waiter event built on waiters (what a channel does inside), used
 * for ping-pong: the wake-to-runnext path, where the waker often runs before
 * the parker finished switching out. Every round must arrive. */
#define SIGNALED ((keel_waiter *)1)
struct event { keel_waiter *_Atomic w; };

static void event_wait(struct event *e) {
  for (;;) {
    keel_waiter *old = atomic_load(&e->w);
    if (old == SIGNALED) {
      if (atomic_compare_exchange_strong(&e->w, &old, NULL)) return;
      continue;
    }
    keel_waiter w;
    keel_waiter_init(&w);
    if (atomic_compare_exchange_strong(&e->w, &old, &w)) {
      keel_waiter_park(&w, KEEL_FOREVER, NULL);
      return;
    }
  }
}

static void event_signal(struct event *e) {
  for (;;) {
    keel_waiter *old = atomic_load(&e->w);
    if (old == NULL) {
      if (atomic_compare_exchange_strong(&e->w, &old, SIGNALED)) return;
    } else if (old != SIGNALED) {
      if (atomic_compare_exchange_strong(&e->w, &old, NULL)) {
        if (keel_waiter_claim(old, 0)) keel_waiter_wake(old);
        return;
      }
    } else {
      return;  /* already signaled: rounds never overlap in this test */
    }
  }
}

struct pingpong { struct event ev[2]; int rounds; _Atomic int count[2]; };

static void pp_side(struct pingpong *p, int me) {
  for (int i = 0; i < p->rounds; i++) {
    if (me == 0) {
      event_signal(&p->ev[1]);
      event_wait(&p->ev[0]);
    } else {
      event_wait(&p->ev[1]);
      event_signal(&p->ev[0]);
    }
    atomic_fetch_add(&p->count[me], 1);
  }
}
static void pp_task0(void *arg) { pp_side(arg, 0); }
static void pp_task1(void *arg) { pp_side(arg, 1); }
static void *pp_thread1(void *arg) { pp_side(arg, 1); return NULL; }

KT_TEST(pingpong_wakes_never_lost) {
  struct pingpong p;
  memset(&p, 0, sizeof p);
  p.rounds = KT_SANITIZED() ? 20000 : 200000;
  keel_task *a, *b;
  KT_CHECK_EQ(keel_task_spawn(&a, pp_task0, &p, NULL), 0);
  KT_CHECK_EQ(keel_task_spawn(&b, pp_task1, &p, NULL), 0);
  KT_CHECK_EQ(keel_task_join(a, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(keel_task_join(b, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&p.count[0]), p.rounds);
  KT_CHECK_EQ(atomic_load(&p.count[1]), p.rounds);
  /* task <-> thread */
  memset(&p, 0, sizeof p);
  p.rounds = KT_SANITIZED() ? 2000 : 20000;
  pthread_t th;
  KT_CHECK_EQ(keel_task_spawn(&a, pp_task0, &p, NULL), 0);
  pthread_create(&th, NULL, pp_thread1, &p);
  KT_CHECK_EQ(keel_task_join(a, KEEL_FOREVER, NULL), 0);
  pthread_join(th, NULL);
  KT_CHECK_EQ(atomic_load(&p.count[0]), p.rounds);
  KT_CHECK_EQ(atomic_load(&p.count[1]), p.rounds);
}

KT_MAIN()
