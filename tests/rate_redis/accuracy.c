/* Accuracy across processes: 4 processes (this binary re-executed in child
 * mode), each with several tasks waiting on one shared limit in Redis for
 * 10 seconds. From the first admission on, the admitted total must be within
 * 1% of rate x time + burst (and never above it), and no 1-second window may
 * admit more than the tier allows (rate x 1 s + burst).
 * Admission times are Redis's own clock, as the replies report it, so the
 * processes' clocks play no part. */
#include <stdatomic.h>

#include "keel/rate_redis.h"
#include "keel/task.h"
#include "redis_harness.h"
#include "rr_test.h"

/* A burst of half a second's worth: while every waiter of every process is
 * descheduled (a loaded 2-core machine under a sanitizer), tokens pile up in
 * the bucket instead of being lost, for up to BURST / RATE = 0.5 s. */
enum { PROCS = 4, TASKS = 4, RATE = 100, BURST = 50 };

/* ---- child mode -------------------------------------------------------------- */

struct child {
  keel_rate_redis_limiter *l;
  int64_t stop_us;             /* Redis time at which to stop */
  int64_t *times;              /* admissions (Redis µs) */
  _Atomic long n;
  long cap;
  _Atomic int errors;
  keel_waitgroup wg;
};

static void child_task(void *arg) {
  struct child *c = arg;
  for (;;) {
    keel_rate_redis_result r;
    int rc = keel_rate_redis_wait(c->l, NULL, "shared", &r);
    if (rc != 0 || r.source != KEEL_RATE_REDIS_BY_REDIS) {
      atomic_fetch_add(&c->errors, 1);
      break;
    }
    if (r.redis_time_us >= c->stop_us) break;
    long i = atomic_fetch_add(&c->n, 1);
    if (i < c->cap) c->times[i] = r.redis_time_us;
  }
  keel_waitgroup_done(&c->wg);
}

/* Run by the children only (the parent sets KEEL_RR_CHILD). */
KT_TEST(child_mode) {
  const char *spec = getenv("KEEL_RR_CHILD");
  if (!spec) return;   /* in the parent this test does nothing */
  char url[200], out[256];
  long long stop_us;
  if (sscanf(spec, "%199[^|]|%lld|%255s", url, &stop_us, out) != 3) KT_FAIL("bad spec %s", spec);
  keel_rate_redis_config cfg;
  KT_CHECK_EQ(keel_rate_redis_config_from_url(&cfg, url, NULL), 0);
  keel_rate_redis_pool *p;
  KT_CHECK_EQ(keel_rate_redis_pool_new(&p, &cfg, NULL, NULL), 0);
  keel_rate_redis_tier tier = {"1s", (double)RATE, BURST};
  keel_rate_redis_options o = {.prefix = "acc", .tiers = &tier, .ntiers = 1};
  static struct child c;
  KT_CHECK_EQ(keel_rate_redis_limiter_new(&c.l, p, &o, NULL), 0);
  c.stop_us = stop_us;
  c.cap = 100000;
  c.times = calloc((size_t)c.cap, sizeof *c.times);
  keel_waitgroup_init(&c.wg);
  keel_waitgroup_add(&c.wg, TASKS);
  for (int i = 0; i < TASKS; i++) KT_CHECK_EQ(keel_task_spawn(NULL, child_task, &c, NULL), 0);
  KT_CHECK_EQ(keel_waitgroup_wait(&c.wg, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&c.errors), 0);
  FILE *f = fopen(out, "wb");
  KT_CHECK(f != NULL);
  long n = atomic_load(&c.n);
  fwrite(c.times, sizeof *c.times, (size_t)n, f);
  fclose(f);
  free(c.times);
  keel_rate_redis_limiter_free(c.l);
  keel_rate_redis_pool_free(p);
  keel_runtime_shutdown();
}

/* ---- the parent --------------------------------------------------------------- */

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int64_t redis_now_us(const rrh_server *s) {
  redisReply *t = rrh_command(s, "TIME");
  if (!t || t->elements != 2) return 0;
  int64_t v = atoll(t->element[0]->str) * 1000000 + atoll(t->element[1]->str);
  freeReplyObject(t);
  return v;
}

KT_TEST(four_processes_share_one_limit) {
  if (getenv("KEEL_RR_CHILD")) return;
  rrh_server s;
  if (!rrh_start(&s, 0, NULL)) KT_FAIL("%s", rrh_why);
  /* 10 s in every mode: a stall of every waiter at the window's end costs
   * rate x stall, so 1% of the total is a 100 ms stall at 10 s (50 ms at
   * 5 s, which a loaded machine under a sanitizer does reach) */
  int seconds = 10;
  /* children get a second to start; they stop a little after the window */
  int64_t stop_us = redis_now_us(&s) + (int64_t)(seconds + 2) * 1000000;
  pid_t pids[PROCS];
  char outs[PROCS][320];
  for (int i = 0; i < PROCS; i++) {
    snprintf(outs[i], sizeof outs[i], "%s/child%d.bin", s.dir, i);
    char spec[1024];
    snprintf(spec, sizeof spec, "%s|%lld|%s", s.url, (long long)stop_us, outs[i]);
    pids[i] = fork();
    if (pids[i] == 0) {
      setenv("KEEL_RR_CHILD", spec, 1);
      execl("/proc/self/exe", "accuracy-child", "child_mode", (char *)NULL);
      _exit(127);
    }
    KT_CHECK(pids[i] > 0);
  }
  bool ok = true;
  for (int i = 0; i < PROCS; i++) {
    int st;
    waitpid(pids[i], &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) ok = false;
  }
  KT_CHECK(ok);
  int64_t *all = calloc(PROCS * 100000, sizeof *all);
  size_t n = 0;
  for (int i = 0; i < PROCS; i++) {
    FILE *f = fopen(outs[i], "rb");
    KT_CHECK(f != NULL);
    n += fread(all + n, sizeof *all, 100000, f);
    fclose(f);
    unlink(outs[i]);
  }
  qsort(all, n, sizeof *all, cmp64);
  KT_CHECK(n > 0);
  int64_t first = all[0], span = (int64_t)seconds * 1000000;
  double want = (double)RATE * seconds + BURST;
  /* rate x time + burst from the first admission on: never more (+1: the
   * window is closed at both ends), and within 1% */
  size_t total = 0;
  for (size_t i = 0; i < n; i++) total += all[i] <= first + span;
  /* the largest count in any 1-second window [t, t + 1 s) */
  size_t worst = 0;
  for (size_t i = 0, j = 0; i < n; i++) {
    while (j < n && all[j] < all[i] + 1000000) j++;
    if (j - i > worst) worst = j - i;
  }
  fprintf(stderr, "  %zu admitted in %d s (want %.0f +-1%%), busiest 1 s window %zu (tier %d)\n",
          total, seconds, want, worst, RATE + BURST);
  free(all);
  rrh_stop(&s);
  KT_CHECK((double)total >= want * 0.99 && (double)total <= want + 1);
  KT_CHECK(worst <= (size_t)(RATE + BURST));
}

KT_MAIN()
