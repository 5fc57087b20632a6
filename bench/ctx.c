/* bench/ctx.c — contexts against Go's context package (bench/go/ctx).
 *
 *   ctx_child_create_cancel  create a child of a parent that has 1,000 live
 *                            children, cancel it, release it; ns per child.
 *   ctx_is_canceled          the preemption-point check on a live context
 *                            (Go: select on ctx.Done() with a default).
 *   ctx_cancel_tree_100k     a complete 10-ary tree of 100,000 descendants,
 *                            every done channel made beforehand; wall time of
 *                            cancel(root) plus a receive on every done channel
 *                            (all closed); the median of 11 trees, in ns.
 *   ctx_recv / plain_recv    send then receive on a buffered channel (cap
 *                            1024), the receive with a context (Go: select on
 *                            the channel and ctx.Done()) or plain; ns per pair.
 * Everything runs on the main thread, as Go's twin runs on its main
 * goroutine. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "keel/chan.h"
#include "keel/ctx.h"

static void child_create_cancel(void) {
  keel_ctx *parent, *kids[1000];
  keel_ctx_with_cancel(keel_ctx_background(), &parent);
  for (int i = 0; i < 1000; i++) keel_ctx_with_cancel(parent, &kids[i]);
  const int n = 2000000;
  int64_t t0 = keel_now();
  for (int i = 0; i < n; i++) {
    keel_ctx *c;
    if (keel_ctx_with_cancel(parent, &c)) abort();
    keel_ctx_cancel(c);
    keel_ctx_release(c);
  }
  bench_report("ctx_child_create_cancel", keel_now() - t0, n);
  keel_ctx_cancel(parent);
  for (int i = 0; i < 1000; i++) keel_ctx_release(kids[i]);
  keel_ctx_release(parent);
}

static void is_canceled(void) {
  keel_ctx *c;
  keel_ctx_with_cancel(keel_ctx_background(), &c);
  const long n = 200000000;
  long hits = 0;
  int64_t t0 = keel_now();
  for (long i = 0; i < n; i++) hits += keel_ctx_is_canceled(c);
  int64_t el = keel_now() - t0;
  if (hits) abort();
  bench_report("ctx_is_canceled", el, n);
  keel_ctx_release(c);
}

enum { TREE = 100000, FANOUT = 10 };

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void cancel_tree(void) {
  keel_ctx **node = malloc(sizeof *node * (TREE + 1));
  keel_chan **done = malloc(sizeof *done * (TREE + 1));
  enum { REPS = 11 };
  int64_t took[REPS];
  for (int r = 0; r < REPS; r++) {
    keel_ctx_with_cancel(keel_ctx_background(), &node[0]);
    done[0] = keel_ctx_done(node[0]);
    for (int i = 1; i <= TREE; i++) {
      if (keel_ctx_with_cancel(node[(i - 1) / FANOUT], &node[i])) abort();
      done[i] = keel_ctx_done(node[i]);
    }
    int64_t t0 = keel_now();
    keel_ctx_cancel(node[0]);
    for (int i = 0; i <= TREE; i++)
      if (keel_chan_recv(done[i], NULL, KEEL_FOREVER) != KEEL_ECLOSED) abort();
    took[r] = keel_now() - t0;
    for (int i = TREE; i >= 0; i--) keel_ctx_release(node[i]);
  }
  qsort(took, REPS, sizeof took[0], cmp_i64);   /* the median tree */
  bench_report("ctx_cancel_tree_100k", took[REPS / 2], 1);
  free(node);
  free(done);
}

static void recv_overhead(void) {
  keel_chan *ch;
  keel_chan_make(&ch, sizeof(long), 1024);
  keel_ctx *c;
  keel_ctx_with_cancel(keel_ctx_background(), &c);
  keel_ctx_done(c);   /* as Go's select makes it */
  const long n = 10000000;
  long v = 0, sum = 0;
  int64_t t0 = keel_now();
  for (long i = 0; i < n; i++) {
    keel_chan_send(ch, &i, KEEL_FOREVER);
    if (keel_ctx_recv(c, ch, &v)) abort();
    sum += v;
  }
  bench_report("ctx_recv", keel_now() - t0, n);
  t0 = keel_now();
  for (long i = 0; i < n; i++) {
    keel_chan_send(ch, &i, KEEL_FOREVER);
    if (keel_chan_recv(ch, &v, KEEL_FOREVER)) abort();
    sum += v;
  }
  bench_report("plain_recv", keel_now() - t0, n);
  if (sum == 42) puts("");
  keel_ctx_release(c);
  keel_chan_release(ch);
}

int main(void) {
  child_create_cancel();
  is_canceled();
  cancel_tree();
  recv_overhead();
  return 0;
}
