/* Property: in no window of length T does a limiter admit more than
 * r x T + b events, however many tasks and threads hammer it at once.
 * Workers (plain threads and keel tasks together) call allow and reserve
 * with the limiter's own clock and record the time each admitted event was
 * admitted at (the stamp allow acted at; a reservation's time to act); the
 * merged timeline is then checked over every window. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "keel/rate.h"
#include "keel/task.h"
#include "keel_test.h"

typedef struct worker {
  keel_rate_limiter *l;
  int64_t attempts;
  int64_t *stamps;
  int64_t n;
  int reserve_every;   /* 0: allow only */
  keel_waitgroup *wg;
} worker;

static void hammer(worker *w) {
  for (int64_t i = 0; i < w->attempts; i++) {
    if (w->reserve_every && i % w->reserve_every == 0) {
      keel_rate_reservation r;
      if (keel_rate_reserve_n(w->l, 1, &r) == 0 && r.ok) w->stamps[w->n++] = r.time_to_act;
      continue;
    }
    int64_t stamp;
    if (keel_rate_allow_stamped(w->l, 1, &stamp)) w->stamps[w->n++] = stamp;
  }
}

static void task_main(void *arg) {
  worker *w = arg;
  hammer(w);
  keel_waitgroup_done(w->wg);
}
static void *thread_main(void *arg) {
  hammer(arg);
  return NULL;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The largest excess over the bound: max over i <= j of
 * (j - i + 1) - r (t_j - t_i) - b, in O(n) with a running minimum. Events
 * closer than a nanosecond may be one sub-nanosecond debt early (Go's
 * truncation), hence the slack r x 1 ns in the caller's bound. */
static double worst_excess(int64_t *t, int64_t n, double r, int64_t b) {
  qsort(t, (size_t)n, sizeof *t, cmp64);
  double best = -INFINITY, min_f = INFINITY;
  for (int64_t j = 0; j < n; j++) {
    double fj = (double)j - r * (double)(t[j] - t[0]) * 1e-9;
    double fi = (double)j - r * (double)(t[j] - t[0]) * 1e-9;   /* i = j */
    if (fi < min_f) min_f = fi;
    double ex = fj - min_f + 1 - (double)b;
    if (ex > best) best = ex;
  }
  return best;
}

KT_TEST(checker_catches_a_violation) {
  /* r = 1/s, b = 2: three events within half a second break it. */
  int64_t t[] = {0, 100000000, 400000000, 5000000000};
  KT_CHECK(worst_excess(t, 4, 1.0, 2) > 0.4);
  int64_t ok[] = {0, 0, 1000000000, 2000000000, 3000000000};
  KT_CHECK(worst_excess(ok, 5, 1.0, 2) <= 1e-9);
}

static void run(double r, int64_t b, int threads, int tasks, int64_t attempts,
                int reserve_every, double *excess, int64_t *admitted) {
  keel_rate_limiter *l;
  *excess = 1e30; /* a failed setup must fail the caller's checks */
  *admitted = 0;
  if (keel_rate_limiter_new(&l, r, b)) return;
  int nw = threads + tasks;
  worker *w = calloc((size_t)nw, sizeof *w);
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  for (int i = 0; i < nw; i++) {
    w[i] = (worker){l, attempts, malloc(sizeof(int64_t) * (size_t)attempts), 0,
                    reserve_every, &wg};
  }
  pthread_t th[16];
  keel_waitgroup_add(&wg, tasks);
  for (int i = 0; i < tasks; i++) keel_task_spawn(NULL, task_main, &w[threads + i], NULL);
  for (int i = 0; i < threads; i++) pthread_create(&th[i], NULL, thread_main, &w[i]);
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL);
  int64_t total = 0;
  for (int i = 0; i < nw; i++) total += w[i].n;
  int64_t *all = malloc(sizeof(int64_t) * (size_t)(total ? total : 1));
  int64_t k = 0;
  for (int i = 0; i < nw; i++)
    for (int64_t j = 0; j < w[i].n; j++) all[k++] = w[i].stamps[j];
  *excess = total ? worst_excess(all, total, r, b) : 0;
  *admitted = total;
  for (int i = 0; i < nw; i++) free(w[i].stamps);
  free(all);
  free(w);
  keel_rate_limiter_free(l);
}

KT_TEST(no_window_admits_more_than_rt_plus_b_threads_and_tasks) {
  int64_t attempts = KT_SANITIZED() ? 20000 : 200000;
  double excess;
  int64_t admitted;
  /* A rate the hammering outruns, so most attempts are refused at the edge. */
  run(200000, 50, 3, 8, attempts, 0, &excess, &admitted);
  fprintf(stderr, "  allow: %lld admitted, worst excess %.9f\n", (long long)admitted, excess);
  KT_CHECK(admitted > 50);
  KT_CHECK(excess <= 200000 * 1e-9 + 1e-6);
  /* Reservations in the mix (their events happen at their time to act). */
  run(50000, 20, 2, 6, attempts / 2, 7, &excess, &admitted);
  fprintf(stderr, "  allow+reserve: %lld admitted, worst excess %.9f\n", (long long)admitted,
          excess);
  KT_CHECK(admitted > 20);
  KT_CHECK(excess <= 50000 * 1e-9 + 1e-6);
  keel_runtime_shutdown();
}

typedef struct flipper {
  keel_rate_limiter *l;
  _Atomic int stop;
  long flips;
} flipper;

static void *flip_main(void *p) {
  flipper *f = p;
  while (!atomic_load(&f->stop)) {
    keel_rate_set_limit(f->l, f->flips & 1 ? 20000 : 40000);
    keel_rate_set_burst(f->l, f->flips & 2 ? 10 : 20);
    f->flips++;
  }
  return NULL;
}

/* Limit and burst changing under the allows' feet (the config slots and
 * generations): the bound with the largest limit and burst still holds. */
KT_TEST(config_changes_racing_with_allows_keep_the_bound) {
  keel_rate_limiter *l;
  KT_CHECK_EQ(keel_rate_limiter_new(&l, 40000, 20), 0);
  flipper f = {l, 0, 0};
  pthread_t ft;
  pthread_create(&ft, NULL, flip_main, &f);
  int64_t attempts = KT_SANITIZED() ? 20000 : 200000;
  worker w[3];
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    w[i] = (worker){l, attempts, malloc(sizeof(int64_t) * (size_t)attempts), 0, 0, NULL};
    pthread_create(&th[i], NULL, thread_main, &w[i]);
  }
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  atomic_store(&f.stop, 1);
  pthread_join(ft, NULL);
  int64_t total = w[0].n + w[1].n + w[2].n, k = 0;
  int64_t *all = malloc(sizeof(int64_t) * (size_t)(total ? total : 1));
  for (int i = 0; i < 3; i++) {
    for (int64_t j = 0; j < w[i].n; j++) all[k++] = w[i].stamps[j];
    free(w[i].stamps);
  }
  double excess = total ? worst_excess(all, total, 40000, 20) : 0;
  fprintf(stderr, "  %lld admitted, %ld config changes, worst excess %.9f\n", (long long)total,
          f.flips, excess);
  free(all);
  keel_rate_limiter_free(l);
  KT_CHECK(total > 20);
  KT_CHECK(f.flips > 0);
  KT_CHECK(excess <= 40000 * 1e-9 + 1e-6);
}

KT_MAIN()
