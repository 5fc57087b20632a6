/* Duplicate messages (the book, "Timeouts and Cancellation"): a generator
 * replaces stage A while it runs; the replacement resumes from the last
 * checkpoint, so results A already delivered reach stage B again. B takes
 * the first result for each sequence number only. This proves that no
 * duplicate is accepted, that every item is accepted once with the right
 * value, and that duplicates really were sent (a naive B would have taken
 * them), over many random replacement schedules. */
#include <stdlib.h>

#include "stage_test.h"

enum { ITEMS = 300, CHECKPOINT = 10 };

typedef struct result { int seq; long value; int instance; } result;

typedef struct stage_a {
  keel_ctx *ctx;
  keel_chan *out, *stalled;
  int start, stall_after, id;
} stage_a;

/* Stage A: squares seq = start, start+1, ...; after stall_after results it
 * hangs (reports where it stopped, then waits for its context). */
static void run_stage_a(void *arg) {
  stage_a *a = arg;
  int sent = 0;
  for (int seq = a->start; seq < ITEMS; seq++) {
    result r = {seq, (long)seq * seq, a->id};
    if (keel_ctx_send(a->ctx, a->out, &r) != 0) break;
    if (++sent == a->stall_after && seq < ITEMS - 1) {   /* not on the last */
      if (keel_ctx_send(a->ctx, a->stalled, &seq) == 0)
        keel_ctx_sleep(a->ctx, KEEL_HOUR);   /* unhealthy until replaced */
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
  unsigned seed;
  int replacements;      /* out */
  long expected_dups;    /* out: results sent twice */
} generator;

/* The generator: starts A, and each time A stalls, cancels it and starts a
 * new instance from the last checkpoint before where A stopped. */
static void run_generator(void *arg) {
  generator *g = arg;
  int start = 0;
  for (int id = 0;; id++) {
    keel_ctx *ctx;
    keel_chan *out;
    stage_a *a = malloc(sizeof *a);
    if (!a || keel_ctx_with_cancel(g->root, &ctx)) abort();
    if (keel_chan_make(&out, sizeof(result), 0)) abort();
    g->seed = g->seed * 1103515245u + 12345u;
    int stall = id < 12 ? 5 + (int)((g->seed >> 8) % 40) : 0;   /* then healthy */
    *a = (stage_a){keel_ctx_retain(ctx), keel_chan_retain(out),
                   keel_chan_retain(g->stalled), start, stall, id};
    if (keel_ctx_send(g->root, g->streams, &out) != 0) {   /* ref to bridge */
      keel_chan_release(out);
      keel_ctx_release(a->ctx);
      keel_chan_release(a->out);
      keel_chan_release(a->stalled);
      free(a);
      keel_ctx_release(ctx);
      break;
    }
    if (keel_task_spawn(NULL, run_stage_a, a, NULL)) abort();
    int last;
    int rc = keel_ctx_recv(g->root, g->stalled, &last);
    keel_ctx_cancel(ctx);   /* replace A (or stop it: the root is done) */
    keel_ctx_release(ctx);
    if (rc != 0) break;
    start = last / CHECKPOINT * CHECKPOINT;
    g->expected_dups += last - start + 1;
    g->replacements++;
  }
  keel_chan_close(g->streams);
}

static void one_schedule(unsigned seed) {
  size_t base = keel_task_count();
  keel_ctx *root;
  KT_CHECK_EQ(keel_ctx_with_cancel(keel_ctx_background(), &root), 0);
  generator g = {root, NULL, NULL, seed, 0, 0};
  KT_CHECK_EQ(keel_chan_make(&g.streams, sizeof(keel_chan *), 0), 0);
  KT_CHECK_EQ(keel_chan_make(&g.stalled, sizeof(int), 0), 0);
  keel_chan *from_a;
  KT_CHECK_EQ(keel_stage_bridge(root, g.streams, sizeof(result), &from_a), 0);
  keel_task *gen;
  KT_CHECK_EQ(keel_task_spawn(&gen, run_generator, &g, NULL), 0);

  /* Stage B: first result wins. */
  static int accepted_times[ITEMS];
  memset(accepted_times, 0, sizeof accepted_times);
  int accepted = 0;
  long offered = 0, discarded = 0;
  result r;
  while (accepted < ITEMS && keel_chan_recv(from_a, &r, KEEL_FOREVER) == 0) {
    offered++;
    KT_CHECK(r.seq >= 0 && r.seq < ITEMS);
    KT_CHECK_EQ(r.value, (long)r.seq * r.seq);
    if (accepted_times[r.seq]) {
      discarded++;
      continue;
    }
    accepted_times[r.seq]++;
    accepted++;
  }
  keel_ctx_cancel(root);   /* B has everything: stop the pipeline */
  st_drain(from_a);
  KT_CHECK_EQ(keel_task_join(gen, KEEL_FOREVER, NULL), 0);

  KT_CHECK_EQ(accepted, ITEMS);
  for (int i = 0; i < ITEMS; i++) KT_CHECK_EQ(accepted_times[i], 1);
  KT_CHECK(g.replacements > 0);
  KT_CHECK_EQ(discarded, g.expected_dups);   /* each resent result seen, dropped */
  KT_CHECK_EQ(offered, ITEMS + g.expected_dups);   /* a naive B takes these */
  KT_CHECK(kt_tasks_settle(base, 30 * KEEL_SECOND));
  keel_chan_release(from_a);
  keel_chan_release(g.streams);
  keel_chan_release(g.stalled);
  keel_ctx_release(root);
}

KT_TEST(replaced_stage_duplicates_are_never_accepted) {
  int schedules = KT_SANITIZED() ? 10 : 60;
  for (int s = 0; s < schedules; s++) one_schedule(1000u + (unsigned)s);
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
