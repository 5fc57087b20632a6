/* ctx_commit — modifying shared state under cancellation (the book's
 * writeTallyToState).
 *
 * The wrong way writes intermediate results to shared state as it goes: a
 * cancellation between two writes leaves the state half updated, and
 * somebody has to roll it back. The right way builds the result in memory,
 * checking for cancellation between steps, and commits it to the shared
 * state once, at the end: canceled before the commit, nothing changed;
 * after it, the whole result is there. Either way the state is consistent.
 *
 * Here a "canceler" cancels the context right after the worker's second
 * step, the same moment for both ways. */
#include <pthread.h>
#include <stdio.h>

#include "keel/chan.h"
#include "keel/ctx.h"
#include "keel/task.h"

/* The shared state: a tally and how many writes made it. */
typedef struct state {
  pthread_mutex_t mu;
  long tally;
  int writes;
} state;

static void write_tally(state *s, long tally) {
  pthread_mutex_lock(&s->mu);
  s->tally = tally;
  s->writes++;
  pthread_mutex_unlock(&s->mu);
}

static long add(long acc, long a, long b, long c) { return acc + a + b + c; }

typedef struct worker {
  keel_ctx *ctx;
  state *st;
  keel_chan *step_done;   /* the worker reports each step here... */
  keel_chan *go_on;       /* ...and waits for the go-ahead */
  int rc;
} worker;

/* Reports a finished step and waits until the canceler has had its say, so
 * the cancellation lands at the same point in every run. */
static void step(worker *w) {
  keel_chan_send(w->step_done, NULL, KEEL_FOREVER);
  keel_chan_recv(w->go_on, NULL, KEEL_FOREVER);
}

/* WRONG: three writes; a cancel after the second leaves tally = 21. */
static void wrong_way(void *arg) {
  worker *w = arg;
  long result = add(0, 1, 2, 3);
  write_tally(w->st, result);
  step(w);
  if ((w->rc = keel_ctx_err(w->ctx))) return;
  result = add(result, 4, 5, 6);
  write_tally(w->st, result);
  step(w);
  if ((w->rc = keel_ctx_err(w->ctx))) return;   /* canceled here */
  result = add(result, 7, 8, 9);
  write_tally(w->st, result);
  step(w);
}

/* RIGHT: compute in memory (still preemptable), commit once. */
static void right_way(void *arg) {
  worker *w = arg;
  long result = add(0, 1, 2, 3);
  step(w);
  if ((w->rc = keel_ctx_err(w->ctx))) return;
  result = add(result, 4, 5, 6);
  step(w);
  if ((w->rc = keel_ctx_err(w->ctx))) return;   /* canceled here */
  result = add(result, 7, 8, 9);
  step(w);
  if ((w->rc = keel_ctx_err(w->ctx))) return;   /* last chance: nothing written */
  write_tally(w->st, result);                   /* the one commit */
}

/* Runs fn; cancels its context after `cancel_after` steps (0: never). */
static void run(const char *name, keel_task_fn fn, int cancel_after) {
  state st = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
  keel_ctx *ctx;
  keel_chan *steps, *go_on;
  if (keel_ctx_with_cancel(keel_ctx_background(), &ctx) ||
      keel_chan_make(&steps, 0, 0) || keel_chan_make(&go_on, 0, 0))
    return;
  worker w = {ctx, &st, steps, go_on, 0};
  keel_task *t;
  if (keel_task_spawn(&t, fn, &w, NULL)) return;
  for (int step = 1; step <= 3; step++) {
    if (keel_chan_recv(steps, NULL, KEEL_FOREVER) != 0) break;
    if (step == cancel_after) keel_ctx_cancel(ctx);
    keel_chan_send(go_on, NULL, KEEL_FOREVER);
    if (step == cancel_after) break;
  }
  keel_task_join(t, KEEL_FOREVER, NULL);
  bool consistent = st.tally == 0 || st.tally == 45;
  printf("%-6s %-22s tally=%-3ld writes=%d  %s\n", name,
         w.rc ? "canceled after step 2:" : "not canceled:", st.tally,
         st.writes,
         consistent ? "consistent" : "HALF-WRITTEN: needs a rollback");
  keel_ctx_release(ctx);
  keel_chan_release(steps);
  keel_chan_release(go_on);
}

int main(void) {
  puts("the full tally is 1+2+...+9 = 45; a consistent state holds 0 or 45\n");
  run("wrong", wrong_way, 2);
  run("right", right_way, 2);
  run("wrong", wrong_way, 0);
  run("right", right_way, 0);
  keel_runtime_shutdown();
  return 0;
}
