/* bench/chan.c — channels, select and timers; twin of bench/go/chan/main.go.
 *
 *   pingpong_unbuffered   two tasks bounce an int over two unbuffered
 *                         channels; ns per round trip.
 *   buffered_1024         a producer task sends ints to a consumer task
 *                         through a channel of capacity 1024; ns per message.
 *   select4_one_ready     a select over 4 receive cases, one channel holding
 *                         values (pre-filled), three empty; ns per select.
 *   timer_create_stop     keel_timer_after(1 hour), stop, free; ns per set. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "keel/chan.h"
#include "keel/task.h"
#include "keel/timer.h"

typedef struct pair {
  keel_chan *ping, *pong;
  long n;
  long sum;
  int64_t elapsed;
} pair;

__attribute__((noreturn)) static void die(const char *what, int rc) {
  fprintf(stderr, "bench/chan: %s: %s\n", what, keel_strerror(rc));
  exit(1);
}

static void spawn(keel_task **t, keel_task_fn fn, void *arg) {
  int rc = keel_task_spawn(t, fn, arg, NULL);
  if (rc) die("keel_task_spawn", rc);
}

static void join(keel_task *t) {
  int rc = keel_task_join(t, KEEL_FOREVER, NULL);
  if (rc) die("keel_task_join", rc);
}

/* ---- pingpong_unbuffered ------------------------------------------------------ */

static void pong_task(void *arg) {
  pair *p = arg;
  for (long i = 0; i < p->n; i++) {
    long v;
    keel_chan_recv(p->ping, &v, KEEL_FOREVER);
    v++;
    keel_chan_send(p->pong, &v, KEEL_FOREVER);
  }
}

static void ping_task(void *arg) {
  pair *p = arg;
  long v = 0;
  for (long i = 0; i < p->n; i++) {
    keel_chan_send(p->ping, &v, KEEL_FOREVER);
    keel_chan_recv(p->pong, &v, KEEL_FOREVER);
  }
  p->sum = v;
}

static int64_t pingpong(long n) {
  pair p = {.n = n};
  if (keel_chan_make(&p.ping, sizeof(long), 0) || keel_chan_make(&p.pong, sizeof(long), 0))
    die("keel_chan_make", KEEL_ENOMEM);
  keel_task *a, *b;
  int64_t t0 = keel_now();
  spawn(&a, pong_task, &p);
  spawn(&b, ping_task, &p);
  join(b);
  join(a);
  int64_t took = keel_now() - t0;
  if (p.sum != n) die("pingpong lost a value", KEEL_EFAILED);
  keel_chan_release(p.ping);
  keel_chan_release(p.pong);
  return took;
}

/* ---- buffered_1024 ------------------------------------------------------------------- */

static void producer_task(void *arg) {
  pair *p = arg;
  for (long i = 0; i < p->n; i++) keel_chan_send(p->ping, &i, KEEL_FOREVER);
}

static void consumer_task(void *arg) {
  pair *p = arg;
  long sum = 0;
  for (long i = 0; i < p->n; i++) {
    long v;
    keel_chan_recv(p->ping, &v, KEEL_FOREVER);
    sum += v;
  }
  p->sum = sum;
}

static int64_t buffered(long n) {
  pair p = {.n = n};
  if (keel_chan_make(&p.ping, sizeof(long), 1024)) die("keel_chan_make", KEEL_ENOMEM);
  keel_task *a, *b;
  int64_t t0 = keel_now();
  spawn(&a, producer_task, &p);
  spawn(&b, consumer_task, &p);
  join(b);
  join(a);
  int64_t took = keel_now() - t0;
  if (p.sum != n * (n - 1) / 2) die("buffered lost a value", KEEL_EFAILED);
  keel_chan_release(p.ping);
  return took;
}

/* ---- select4_one_ready ---------------------------------------------------------------- */

static void select_task(void *arg) {
  pair *p = arg;
  keel_chan *a, *b, *c;
  if (keel_chan_make(&a, sizeof(long), 0) || keel_chan_make(&b, sizeof(long), 0) ||
      keel_chan_make(&c, sizeof(long), 0))
    die("keel_chan_make", KEEL_ENOMEM);
  long v = 0, sum = 0;
  keel_select_case cs[4] = {
      {.chan = a, .op = KEEL_SELECT_RECV, .elem = &v},
      {.chan = p->ping, .op = KEEL_SELECT_RECV, .elem = &v},
      {.chan = b, .op = KEEL_SELECT_RECV, .elem = &v},
      {.chan = c, .op = KEEL_SELECT_RECV, .elem = &v},
  };
  int64_t t0 = keel_now();
  for (long i = 0; i < p->n; i++) {
    keel_chan_select(cs, 4, KEEL_FOREVER);
    sum += v;
  }
  p->elapsed = keel_now() - t0;
  p->sum = sum;
  keel_chan_release(a);
  keel_chan_release(b);
  keel_chan_release(c);
}

static int64_t select4(long n) {
  pair p = {.n = n};
  if (keel_chan_make(&p.ping, sizeof(long), (size_t)n)) die("keel_chan_make", KEEL_ENOMEM);
  for (long i = 0; i < n; i++) keel_chan_send(p.ping, &i, KEEL_NOWAIT);
  keel_task *t;
  spawn(&t, select_task, &p);
  join(t);
  if (p.sum != n * (n - 1) / 2) die("select lost a value", KEEL_EFAILED);
  keel_chan_release(p.ping);
  return p.elapsed;
}

/* ---- timer_create_stop -------------------------------------------------------------------- */

static void timer_task(void *arg) {
  pair *p = arg;
  int64_t t0 = keel_now();
  for (long i = 0; i < p->n; i++) {
    keel_timer *t;
    int rc = keel_timer_after(&t, KEEL_HOUR);
    if (rc) die("keel_timer_after", rc);
    keel_timer_stop(t);
    keel_timer_free(t);
  }
  p->elapsed = keel_now() - t0;
}

static int64_t timers(long n) {
  pair p = {.n = n};
  keel_task *t;
  spawn(&t, timer_task, &p);
  join(t);
  return p.elapsed;
}

/* argv[1], if given, runs only the case of that name (for profiling). */
int main(int argc, char **argv) {
  const char *only = argc > 1 ? argv[1] : NULL;
#define WANT(name) (!only || strcmp(only, name) == 0)
  pingpong(10000);  /* starts the runtime and warms the stacks */
  long n = 500000;
  if (WANT("pingpong_unbuffered")) bench_report("pingpong_unbuffered", pingpong(n), n);
  n = 4000000;
  if (WANT("buffered_1024")) bench_report("buffered_1024", buffered(n), n);
  n = 2000000;
  if (WANT("select4_one_ready")) bench_report("select4_one_ready", select4(n), n);
  n = 2000000;
  if (WANT("timer_create_stop")) bench_report("timer_create_stop", timers(n), n);
  keel_runtime_shutdown();
  return 0;
}
