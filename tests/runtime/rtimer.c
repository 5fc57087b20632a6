/* The runtime's callback timers (runtime/rtimer.h): one-shot, periodic,
 * stop (also from the callback, and while the callback runs), re-arm, and
 * the lateness of 100,000 armed timers. */
#include <pthread.h>
#include <stdlib.h>

#include "rt_test.h"
#include "runtime/rtimer.h"
#include "runtime/waiter.h"

struct fired { _Atomic int n; _Atomic int64_t at; keel_waitgroup *wg; };

static void on_fire(void *arg, int64_t now) {
  struct fired *f = arg;
  atomic_store(&f->at, keel_now());
  (void)now;
  if (atomic_fetch_add(&f->n, 1) == 0 && f->wg) keel_waitgroup_done(f->wg);
}

KT_TEST(one_shot_fires_once_after_its_time) {
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  struct fired f = {.wg = &wg};
  keel_rtimer t;
  keel_rtimer_init(&t, on_fire, &f);
  KT_CHECK_EQ(keel_rtimer_start(&t, 0, -1), KEEL_EINVAL);
  int64_t when = keel_deadline_in(2 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_rtimer_start(&t, when, 0), 0);
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL), 0);
  KT_CHECK(atomic_load(&f.at) >= when);
  KT_CHECK(!keel_rtimer_stop(&t));  /* already fired */
  KT_CHECK_EQ(atomic_load(&f.n), 1);
}

KT_TEST(stopped_timer_never_fires) {
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  struct fired a = {0}, sentinel = {.wg = &wg};
  keel_rtimer ta, ts;
  keel_rtimer_init(&ta, on_fire, &a);
  keel_rtimer_init(&ts, on_fire, &sentinel);
  int64_t now = keel_now();
  KT_CHECK_EQ(keel_rtimer_start(&ta, now + 2 * KEEL_MILLISECOND, 0), 0);
  KT_CHECK_EQ(keel_rtimer_start(&ts, now + 4 * KEEL_MILLISECOND, 0), 0);
  KT_CHECK(keel_rtimer_stop(&ta));
  KT_CHECK(!keel_rtimer_stop(&ta));
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&a.n), 0);  /* it was earlier than the sentinel */
  keel_rtimer_stop(&ts);  /* the contract: stop before the storage goes */
}

KT_TEST(rearm_moves_the_timer) {
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  struct fired a = {.wg = &wg};
  keel_rtimer t;
  keel_rtimer_init(&t, on_fire, &a);
  KT_CHECK_EQ(keel_rtimer_start(&t, keel_deadline_in(KEEL_HOUR), 0), 0);
  int64_t when = keel_deadline_in(KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_rtimer_start(&t, when, 0), 0);  /* earlier */
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL), 0);
  KT_CHECK(atomic_load(&a.at) >= when);
  KT_CHECK_EQ(atomic_load(&a.n), 1);
  keel_rtimer_stop(&t);
}

struct periodic { keel_rtimer t; _Atomic int n; keel_waitgroup wg; int64_t last; bool ordered; };
static void on_tick(void *arg, int64_t now) {
  struct periodic *p = arg;
  if (now < p->last) p->ordered = false;
  p->last = now;
  if (atomic_fetch_add(&p->n, 1) + 1 == 5) {
    keel_rtimer_stop(&p->t);  /* stop from inside the callback */
    keel_waitgroup_done(&p->wg);
  }
}

KT_TEST(periodic_ticks_until_stopped_from_callback) {
  struct periodic p = {.ordered = true};
  keel_waitgroup_init(&p.wg);
  keel_waitgroup_add(&p.wg, 1);
  keel_rtimer_init(&p.t, on_tick, &p);
  KT_CHECK_EQ(keel_rtimer_start(&p.t, keel_deadline_in(KEEL_MILLISECOND), KEEL_MILLISECOND), 0);
  KT_CHECK_EQ(keel_waitgroup_wait(&p.wg, KEEL_FOREVER, NULL), 0);
  /* A later sentinel proves no sixth tick comes. */
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  struct fired s = {.wg = &wg};
  keel_rtimer ts;
  keel_rtimer_init(&ts, on_fire, &s);
  keel_rtimer_start(&ts, keel_deadline_in(5 * KEEL_MILLISECOND), 0);
  keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL);
  keel_rtimer_stop(&ts);
  keel_rtimer_stop(&p.t);
  KT_CHECK_EQ(atomic_load(&p.n), 5);
  KT_CHECK(p.ordered);
}

/* stop() returns only after a running callback finished. */
struct slow { _Atomic int entered, release, finished, stop_saw_finished; keel_rtimer t; };
static void slow_cb(void *arg, int64_t now) {
  (void)now;
  struct slow *s = arg;
  atomic_store(&s->entered, 1);
  while (!atomic_load(&s->release)) sched_yield();
  atomic_store(&s->finished, 1);
}
static void *stopper(void *arg) {
  struct slow *s = arg;
  keel_rtimer_stop(&s->t);
  atomic_store(&s->stop_saw_finished, atomic_load(&s->finished) + 1);
  return NULL;
}

KT_TEST(stop_waits_for_running_callback) {
  int rounds = KT_SANITIZED() ? 5 : 20;
  for (int i = 0; i < rounds; i++) {
    struct slow s = {0};
    keel_rtimer_init(&s.t, slow_cb, &s);
    KT_CHECK_EQ(keel_rtimer_start(&s.t, keel_now(), 0), 0);
    while (!atomic_load(&s.entered)) sched_yield();
    pthread_t th;
    pthread_create(&th, NULL, stopper, &s);
    for (int k = 0; k < 50; k++) sched_yield();
    atomic_store(&s.release, 1);
    pthread_join(th, NULL);
    KT_CHECK_EQ(atomic_load(&s.stop_saw_finished), 2);  /* finished == 1 */
  }
}

/* 100,000 armed timers: each fires once, close to its time. */
static _Atomic int64_t *lateness;
static _Atomic int fired_count;
static keel_waitgroup many_wg;
struct many { keel_rtimer t; int64_t when, armed; int idx; };
static void many_cb(void *arg, int64_t now) {
  (void)now;
  struct many *m = arg;
  /* Late relative to its time, or to when it was armed if arming (slow
   * under sanitizers) ran past it. */
  int64_t due = m->when > m->armed ? m->when : m->armed;
  atomic_store(&lateness[m->idx], keel_now() - due);
  atomic_fetch_add(&fired_count, 1);
  keel_waitgroup_done(&many_wg);
}
static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* True when 20 sleeps of 1 ms oversleep by less than 200 us at the median
 * and 1 ms at the worst: the timer thread will get a CPU when it needs one. */
static bool machine_is_quiet(void) {
  int64_t over[20];
  for (int i = 0; i < 20; i++) {
    int64_t d = keel_deadline_in(KEEL_MILLISECOND);
    keel_sleep_until(d, NULL);
    over[i] = keel_now() - d;
  }
  qsort(over, 20, sizeof over[0], cmp64);
  return over[10] < 200 * KEEL_MICROSECOND && over[19] < KEEL_MILLISECOND;
}

/* Time the hypervisor took from this VM's CPUs (the "steal" column of
 * /proc/stat, in 1/100 s; summed over CPUs, so exact to 10 ms), or -1 when
 * unknown. On an oversubscribed host a vCPU is descheduled for milliseconds
 * at a time: a plain clock_nanosleep loop then also wakes up to 4 ms late. */
static long steal_ticks(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return -1;
  long v[8] = {0};
  int got = fscanf(f, "cpu %ld %ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7]);
  fclose(f);
  return got == 8 ? v[7] : -1;
}

KT_TEST(hundred_thousand_timers_fire_on_time) {
  bool quiet_before = machine_is_quiet();
  int n = KT_SANITIZED() ? 20000 : 100000;
  struct many *m = calloc((size_t)n, sizeof *m);
  lateness = calloc((size_t)n, sizeof *lateness);
  keel_waitgroup_init(&many_wg);
  keel_waitgroup_add(&many_wg, n);
  /* Firing starts after arming is over (arming takes ~100 ms, more when
   * the machine is loaded), so lateness measures the timer thread, not
   * the test's own contention on the heap lock. */
  int64_t base = keel_deadline_in(400 * KEEL_MILLISECOND);
  int64_t span = (KT_SANITIZED() ? 1000 : 200) * KEEL_MILLISECOND;
  for (int i = 0; i < n; i++) {
    m[i].idx = i;
    /* spread over 200 ms (1 s instrumented), in a scrambled order */
    m[i].when = base + (int64_t)((i * 7919L) % n) * (span / n);
    keel_rtimer_init(&m[i].t, many_cb, &m[i]);
    m[i].armed = keel_now();
    KT_CHECK_EQ(keel_rtimer_start(&m[i].t, m[i].when, 0), 0);
  }
  /* Arming that ran past the first timers' time means a starved test. */
  bool armed_in_time = keel_now() < base;
  long steal_before = steal_ticks();
  /* Every tenth timer is stopped: those must not fire. */
  int stopped = 0;
  for (int i = 0; i < n; i += 10) {
    if (keel_rtimer_stop(&m[i].t)) { stopped++; keel_waitgroup_done(&many_wg); }
  }
  KT_CHECK_EQ(keel_waitgroup_wait(&many_wg, KEEL_FOREVER, NULL), 0);
  long steal_after = steal_ticks();
  KT_CHECK_EQ(atomic_load(&fired_count), n - stopped);
  for (int i = 0; i < n; i++) keel_rtimer_stop(&m[i].t);
  int64_t *l = malloc(sizeof(int64_t) * (size_t)n);
  int k = 0;
  for (int i = 0; i < n; i++) if (i % 10 != 0 || !stopped) l[k++] = atomic_load(&lateness[i]);
  qsort(l, (size_t)k, sizeof *l, cmp64);
  KT_CHECK(l[0] >= 0);  /* never early */
  int64_t p50 = l[k / 2], p99 = l[(k * 99) / 100], max = l[k - 1];
  fprintf(stderr, "  %d timers: lateness p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", k,
          p50 / 1e6, p99 / 1e6, max / 1e6);
  /* Within 1 ms on a quiet machine. On a loaded one (make check runs tests
   * in parallel, beside other work) the timer thread waits for a CPU like
   * everyone else, so the bound is only strict when a probe taken before
   * (and after) showed the scheduler delivering wakeups promptly, and the
   * hypervisor took (almost) no CPU time while the timers fired: under 10
   * ms of steal, stalls cannot push the median past 1 ms on their own. */
  long steal = steal_before >= 0 && steal_after >= 0 ? steal_after - steal_before : 0;
  bool quiet = quiet_before && armed_in_time && steal == 0 && machine_is_quiet();
  fprintf(stderr, "  machine %s (steal %ld0 ms): %s bounds\n", quiet ? "quiet" : "loaded",
          steal, quiet ? "strict" : "loose");
  if (quiet && !KT_SANITIZED()) {
    KT_CHECK(p50 < KEEL_MILLISECOND);
    KT_CHECK(p99 < 10 * KEEL_MILLISECOND);
  } else {
    KT_CHECK(p50 < 1000 * KEEL_MILLISECOND);
  }
  free(l);
  free(m);
  free(lateness);
}

KT_MAIN()
