/* The book's APIConnection driver, on a fake clock: 10 ReadFile and 10
 * ResolveAddress callers start at once; each call waits on its limiters in
 * the multi-limiter's order. A small discrete-event simulation plays the
 * callers (each step reserves at the time the previous step let the caller
 * go, exactly what a real wait does) and the test asserts the schedule of
 * admitted calls, for the book's three versions. */
#include <string.h>

#include "keel/rate.h"
#include "keel_test.h"

#define S KEEL_SECOND
#define MS KEEL_MILLISECOND
#define T0 (INT64_C(5000) * S)
#define CALLERS 20
#define MAXSTEPS 8

typedef struct caller {
  keel_rate_limiter *chain[MAXSTEPS];  /* the limiters, in wait order */
  int steps;
  int64_t done_at;
} caller;

typedef struct ev { int64_t at; int caller, step; uint64_t seq; } ev;

/* Runs every caller to completion; FIFO among equal times. */
static int simulate(caller *c, int n) {
  ev q[CALLERS * MAXSTEPS];
  int len = 0;
  uint64_t seq = 0;
  for (int i = 0; i < n; i++) q[len++] = (ev){T0, i, 0, seq++};
  while (len > 0) {
    int best = 0;
    for (int i = 1; i < len; i++)
      if (q[i].at < q[best].at || (q[i].at == q[best].at && q[i].seq < q[best].seq))
        best = i;
    ev e = q[best];
    q[best] = q[--len];
    keel_rate_reservation r;
    if (keel_rate_reserve_n_at(c[e.caller].chain[e.step], e.at, 1, &r) != 0 || !r.ok)
      return -1;
    int64_t act = e.at + keel_rate_reservation_delay_from(&r, e.at);
    if (e.step + 1 < c[e.caller].steps)
      q[len++] = (ev){act, e.caller, e.step + 1, seq++};
    else
      c[e.caller].done_at = act;
  }
  return 0;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void sorted_done(caller *c, int n, int64_t *out) {
  for (int i = 0; i < n; i++) out[i] = c[i].done_at - T0;
  qsort(out, (size_t)n, sizeof *out, cmp64);
}

/* Appends the limiters of a multi (recursively) to a caller's chain, in the
 * multi's wait order, checking the order is by limit. */
static int flatten(caller *c, keel_rate_multi *m, keel_rate_multi **known_multis,
                   int nmultis) {
  keel_rate_limit prev = -1;
  for (size_t i = 0; i < keel_rate_multi_count(m); i++) {
    keel_rate_any a = keel_rate_multi_member(m, i);
    keel_rate_limit l = a.limit(a.self);
    if (l < prev) return -1;
    prev = l;
    bool is_multi = false;
    for (int j = 0; j < nmultis; j++)
      if (a.self == known_multis[j]) is_multi = true;
    if (is_multi) {
      if (flatten(c, a.self, known_multis, nmultis)) return -1;
    } else {
      c->chain[c->steps++] = a.self;
    }
  }
  return 0;
}

KT_TEST(version1_one_call_per_second) {
  keel_rate_limiter *l;
  KT_CHECK_EQ(keel_rate_limiter_new(&l, 1, 1), 0);
  caller c[CALLERS];
  memset(c, 0, sizeof c);
  for (int i = 0; i < CALLERS; i++) {
    c[i].chain[0] = l;
    c[i].steps = 1;
  }
  KT_CHECK_EQ(simulate(c, CALLERS), 0);
  int64_t d[CALLERS];
  sorted_done(c, CALLERS, d);
  for (int i = 0; i < CALLERS; i++) KT_CHECK_EQ(d[i], i * S);   /* 0 s .. 19 s */
  keel_rate_limiter_free(l);
}

KT_TEST(version2_two_per_second_and_ten_per_minute) {
  keel_rate_limiter *second, *minute;
  KT_CHECK_EQ(keel_rate_limiter_new(&second, keel_rate_per(2, S), 1), 0);
  KT_CHECK_EQ(keel_rate_limiter_new(&minute, keel_rate_per(10, KEEL_MINUTE), 10), 0);
  keel_rate_any members[] = {keel_rate_any_limiter(second), keel_rate_any_limiter(minute)};
  keel_rate_multi *m;
  KT_CHECK_EQ(keel_rate_multi_new(&m, members, 2), 0);
  KT_CHECK(keel_rate_multi_limit(m) == keel_rate_per(10, KEEL_MINUTE));
  KT_CHECK(keel_rate_multi_member(m, 0).self == minute);   /* sorted */
  caller c[CALLERS];
  memset(c, 0, sizeof c);
  for (int i = 0; i < CALLERS; i++) KT_CHECK_EQ(flatten(&c[i], m, NULL, 0), 0);
  KT_CHECK_EQ(simulate(c, CALLERS), 0);
  int64_t d[CALLERS];
  sorted_done(c, CALLERS, d);
  /* Ten calls in the first five seconds, two a second... */
  for (int i = 0; i < 10; i++) KT_CHECK_EQ(d[i], i * 500 * MS);
  /* ...then one every six seconds: the per-minute bucket had refilled one
   * token by the eleventh (the book's "after only two seconds" gap). */
  for (int i = 10; i < CALLERS; i++) KT_CHECK_EQ(d[i], (int64_t)(i - 9) * 6 * S);
  KT_CHECK_EQ(d[CALLERS - 1], 60 * S);
  /* The same schedule from the multi's own fake-clock reserve, one caller
   * after the other, each at the time the previous one was let through. */
  keel_rate_multi_free(m);
  keel_rate_limiter_free(second);
  keel_rate_limiter_free(minute);
}

KT_TEST(version2_multi_reserve_matches_sequential_callers) {
  keel_rate_limiter *second, *minute;
  KT_CHECK_EQ(keel_rate_limiter_new(&second, keel_rate_per(2, S), 1), 0);
  KT_CHECK_EQ(keel_rate_limiter_new(&minute, keel_rate_per(10, KEEL_MINUTE), 10), 0);
  keel_rate_any members[] = {keel_rate_any_limiter(second), keel_rate_any_limiter(minute)};
  keel_rate_multi *m;
  KT_CHECK_EQ(keel_rate_multi_new(&m, members, 2), 0);
  int64_t t = T0;
  for (int i = 0; i < 12; i++) {
    int64_t at;
    KT_CHECK_EQ(keel_rate_multi_reserve_n_at(m, t, 1, &at), 0);
    int64_t want = i < 10 ? i * 500 * MS : (i == 10 ? 6 * S : 12 * S);
    KT_CHECK_EQ(at - T0, want);
    t = at;
  }
  int64_t at;
  KT_CHECK_EQ(keel_rate_multi_reserve_n_at(m, t, 2, &at), KEEL_ELIMIT);  /* > burst 1 */
  keel_rate_multi_free(m);
  keel_rate_limiter_free(second);
  keel_rate_limiter_free(minute);
}

KT_TEST(version3_api_disk_network_per_call) {
  keel_rate_limiter *api_s, *api_m, *disk, *net;
  KT_CHECK_EQ(keel_rate_limiter_new(&api_s, keel_rate_per(2, S), 2), 0);
  KT_CHECK_EQ(keel_rate_limiter_new(&api_m, keel_rate_per(10, KEEL_MINUTE), 10), 0);
  KT_CHECK_EQ(keel_rate_limiter_new(&disk, 1, 1), 0);
  KT_CHECK_EQ(keel_rate_limiter_new(&net, keel_rate_per(3, S), 3), 0);
  keel_rate_multi *api, *diskm, *netm, *readfile, *resolve;
  keel_rate_any a1[] = {keel_rate_any_limiter(api_s), keel_rate_any_limiter(api_m)};
  keel_rate_any a2[] = {keel_rate_any_limiter(disk)};
  keel_rate_any a3[] = {keel_rate_any_limiter(net)};
  KT_CHECK_EQ(keel_rate_multi_new(&api, a1, 2), 0);
  KT_CHECK_EQ(keel_rate_multi_new(&diskm, a2, 1), 0);
  KT_CHECK_EQ(keel_rate_multi_new(&netm, a3, 1), 0);
  /* Multi-limiters of multi-limiters, as the book's ReadFile/ResolveAddress. */
  keel_rate_any r1[] = {keel_rate_any_multi(diskm), keel_rate_any_multi(api)};
  keel_rate_any r2[] = {keel_rate_any_multi(netm), keel_rate_any_multi(api)};
  KT_CHECK_EQ(keel_rate_multi_new(&readfile, r1, 2), 0);
  KT_CHECK_EQ(keel_rate_multi_new(&resolve, r2, 2), 0);
  KT_CHECK(keel_rate_multi_member(readfile, 0).self == api);   /* 1/6 < 1 */
  KT_CHECK(keel_rate_multi_limit(readfile) == keel_rate_per(10, KEEL_MINUTE));
  /* The nested multi's own fake-clock reserve, one ReadFile after another
   * (each starting when the previous was let through): paced by the disk. */
  {
    keel_rate_limiter *s2, *m2, *d2;
    KT_CHECK_EQ(keel_rate_limiter_new(&s2, keel_rate_per(2, S), 2), 0);
    KT_CHECK_EQ(keel_rate_limiter_new(&m2, keel_rate_per(10, KEEL_MINUTE), 10), 0);
    KT_CHECK_EQ(keel_rate_limiter_new(&d2, 1, 1), 0);
    keel_rate_any t2[] = {keel_rate_any_limiter(s2), keel_rate_any_limiter(m2)};
    keel_rate_multi *api2, *rf2;
    KT_CHECK_EQ(keel_rate_multi_new(&api2, t2, 2), 0);
    keel_rate_any r3[] = {keel_rate_any_limiter(d2), keel_rate_any_multi(api2)};
    KT_CHECK_EQ(keel_rate_multi_new(&rf2, r3, 2), 0);
    int64_t t = T0, at;
    for (int i = 0; i < 12; i++) {
      KT_CHECK_EQ(keel_rate_multi_reserve_n_at(rf2, t, 1, &at), 0);
      /* 0..10 s by the disk (the minute refilled 1.5 tokens meanwhile), then
       * the minute: 2 s for the third of a token short, then 6 s each (Go's
       * arithmetic truncates 1/3 token at 1/6 per second to 1.999999999 s,
       * hence the nanosecond). */
      int64_t want = i <= 10 ? i * S : (12 + (i - 11) * 6) * S;
      KT_CHECK(at - T0 <= want && at - T0 >= want - 1);
      t = at;
    }
    keel_rate_multi_free(rf2);
    keel_rate_multi_free(api2);
    keel_rate_limiter_free(s2);
    keel_rate_limiter_free(m2);
    keel_rate_limiter_free(d2);
  }
  keel_rate_multi *multis[] = {api, diskm, netm};
  caller c[CALLERS];
  memset(c, 0, sizeof c);
  for (int i = 0; i < CALLERS; i++)
    KT_CHECK_EQ(flatten(&c[i], i < 10 ? readfile : resolve, multis, 3), 0);
  KT_CHECK_EQ(c[0].steps, 3);
  KT_CHECK(c[0].chain[0] == api_m && c[0].chain[1] == api_s && c[0].chain[2] == disk);
  KT_CHECK(c[10].chain[2] == net);
  KT_CHECK_EQ(simulate(c, CALLERS), 0);
  /* ReadFile: the per-minute burst of ten, then the disk's one per second. */
  for (int i = 0; i < 10; i++) KT_CHECK_EQ(c[i].done_at - T0, i * S);
  /* ResolveAddress: one every six seconds once the minute's ten are spent. */
  for (int i = 10; i < CALLERS; i++) KT_CHECK_EQ(c[i].done_at - T0, (i - 9) * 6 * S);
  /* No window of a second ever saw more than the API's 2/s + burst 2. */
  int64_t d[CALLERS];
  sorted_done(c, CALLERS, d);
  for (int i = 0; i < CALLERS; i++) {
    int k = 0;
    for (int j = i; j < CALLERS && d[j] - d[i] <= S; j++) k++;
    KT_CHECK(k <= 4);
  }
  keel_rate_multi_free(readfile);
  keel_rate_multi_free(resolve);
  keel_rate_multi_free(api);
  keel_rate_multi_free(diskm);
  keel_rate_multi_free(netm);
  keel_rate_limiter_free(api_s);
  keel_rate_limiter_free(api_m);
  keel_rate_limiter_free(disk);
  keel_rate_limiter_free(net);
}

KT_TEST(multi_rejects_bad_arguments) {
  keel_rate_multi *m = (keel_rate_multi *)1;
  keel_rate_any none = {0};
  KT_CHECK_EQ(keel_rate_multi_new(NULL, &none, 1), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_multi_new(&m, NULL, 1), KEEL_EINVAL);
  KT_CHECK(m == NULL);
  KT_CHECK_EQ(keel_rate_multi_new(&m, &none, 0), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_multi_new(&m, &none, 1), KEEL_EINVAL);
  int64_t at;
  KT_CHECK_EQ(keel_rate_multi_reserve_n_at(NULL, 0, 1, &at), KEEL_EINVAL);
  KT_CHECK_EQ(keel_rate_multi_wait_n(NULL, NULL, 1), KEEL_EINVAL);
  KT_CHECK(keel_rate_multi_limit(NULL) == 0);
  KT_CHECK_EQ(keel_rate_multi_count(NULL), 0);
  KT_CHECK(keel_rate_multi_member(NULL, 0).self == NULL);
  keel_rate_multi_free(NULL);
}

KT_MAIN()
