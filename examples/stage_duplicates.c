/* stage_duplicates — duplicate messages from a stage replaced while running
 * (the book, "Timeouts and Cancellation", Figure 5-1).
 *
 * A pipeline: a generator runs stage A, which squares the numbers 0..29 and
 * sends each result to stage B. When A stalls, the generator cancels it and
 * starts a new instance, A#2, from its last checkpoint (every 10 items). A
 * had already sent some results past that checkpoint, so A#2 sends them
 * again: B receives duplicates. A#1 and A#2 write to their own channels,
 * bridged into one stream for B (keel_stage_bridge).
 *
 * The book's advice: make such races unlikely (heartbeats), or let the
 * downstream stage accept the first (or the last) result. B here accepts
 * the first result for each sequence number and discards the rest. */
#include <stdio.h>
#include <stdlib.h>

#include "keel/chan.h"
#include "keel/ctx.h"
#include "keel/stage.h"
#include "keel/task.h"

enum { ITEMS = 30, CHECKPOINT = 10, STALL_AFTER = 17 };

typedef struct result { int seq; long value; int instance; } result;

typedef struct stage_a {
  keel_ctx *ctx;
  keel_chan *out, *stalled;
  int start, id;
  bool healthy;
} stage_a;

static void run_stage_a(void *arg) {
  stage_a *a = arg;
  printf("A#%d: starting at item %d\n", a->id, a->start);
  for (int seq = a->start; seq < ITEMS; seq++) {
    result r = {seq, (long)seq * seq, a->id};
    if (keel_ctx_send(a->ctx, a->out, &r) != 0) break;
    if (!a->healthy && seq == STALL_AFTER) {
      printf("A#%d: sent item %d, then stalls\n", a->id, seq);
      if (keel_ctx_send(a->ctx, a->stalled, &seq) == 0)
        keel_ctx_sleep(a->ctx, KEEL_HOUR);   /* stuck until replaced */
      printf("A#%d: canceled\n", a->id);
      break;
    }
  }
  keel_chan_close(a->out);
  keel_chan_release(a->out);
  keel_chan_release(a->stalled);
  keel_ctx_release(a->ctx);
  free(a);
}

typedef struct generator {
  keel_ctx *root;
  keel_chan *streams, *stalled;
} generator;

static int start_a(generator *g, int id, int start, bool healthy,
                   keel_ctx **ctx) {
  keel_chan *out;
  stage_a *a = malloc(sizeof *a);
  if (!a || keel_ctx_with_cancel(g->root, ctx)) return -1;
  if (keel_chan_make(&out, sizeof(result), 0)) return -1;
  *a = (stage_a){keel_ctx_retain(*ctx), keel_chan_retain(out),
                 keel_chan_retain(g->stalled), start, id, healthy};
  keel_ctx_send(g->root, g->streams, &out);   /* the bridge takes this ref */
  return keel_task_spawn(NULL, run_stage_a, a, NULL);
}

static void run_generator(void *arg) {
  generator *g = arg;
  keel_ctx *a1, *a2;
  if (start_a(g, 1, 0, false, &a1)) abort();
  int last;
  if (keel_ctx_recv(g->root, g->stalled, &last) == 0) {
    int resume = last / CHECKPOINT * CHECKPOINT;
    printf("generator: A#1 is stuck after item %d; replacing it, resuming "
           "from checkpoint %d\n", last, resume);
    keel_ctx_cancel(a1);
    if (start_a(g, 2, resume, true, &a2)) abort();
    keel_ctx_recv(g->root, g->stalled, &last);   /* until the root ends */
    keel_ctx_cancel(a2);
    keel_ctx_release(a2);
  }
  keel_ctx_cancel(a1);
  keel_ctx_release(a1);
  keel_chan_close(g->streams);
}

int main(void) {
  keel_ctx *root;
  generator g;
  keel_chan *to_b;
  if (keel_ctx_with_cancel(keel_ctx_background(), &root) ||
      keel_chan_make(&g.streams, sizeof(keel_chan *), 0) ||
      keel_chan_make(&g.stalled, sizeof(int), 0))
    return 1;
  g.root = root;
  if (keel_stage_bridge(root, g.streams, sizeof(result), &to_b)) return 1;
  keel_task *gen;
  if (keel_task_spawn(&gen, run_generator, &g, NULL)) return 1;

  /* Stage B: the first result for each item wins. */
  bool have[ITEMS] = {false};
  int accepted = 0, discarded = 0, first_dup = -1, last_dup = -1;
  long sum = 0;
  result r;
  while (accepted < ITEMS && keel_chan_recv(to_b, &r, KEEL_FOREVER) == 0) {
    if (have[r.seq]) {
      if (first_dup < 0) first_dup = r.seq;
      last_dup = r.seq;
      discarded++;
      continue;
    }
    have[r.seq] = true;
    accepted++;
    sum += r.value;
  }
  keel_ctx_cancel(root);
  while (keel_chan_recv(to_b, &r, KEEL_FOREVER) == 0) {}
  keel_task_join(gen, KEEL_FOREVER, NULL);

  printf("B: discarded %d duplicates (items %d..%d, sent again by A#2)\n",
         discarded, first_dup, last_dup);
  printf("B: accepted %d items once each; sum of squares 0..%d = %ld "
         "(expected %ld)\n", accepted, ITEMS - 1, sum,
         (long)(ITEMS - 1) * ITEMS * (2 * ITEMS - 1) / 6);
  keel_chan_release(to_b);
  keel_chan_release(g.streams);
  keel_chan_release(g.stalled);
  keel_ctx_release(root);
  keel_runtime_shutdown();
  return 0;
}
