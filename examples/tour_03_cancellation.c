/* tour: Timeouts and cancellation */
/* Contexts in four short scenes:
 *   1. a deadline reaches a blocked receive: nobody sends, the call returns
 *      KEEL_EDEADLINE when the context's 20 ms run out;
 *   2. a cancel tree: a request context with three workers, each with two
 *      helpers, all blocked; canceling the root with a cause stops all nine,
 *      and any of them can read back why;
 *   3. a long computation made preemptable: it checks the context every
 *      4096 iterations (one atomic load), so a 30 ms timeout stops a job
 *      that would run for seconds;
 *   4. pipeline stages stop with their context: repeat | take(5).
 * main is a plain thread; the workers are tasks. */
#include <stdio.h>

#include "keel/chan.h"
#include "keel/ctx.h"
#include "keel/err.h"
#include "keel/stage.h"
#include "keel/task.h"

#define CHECK(call)                                                        \
  do {                                                                     \
    int rc_ = (call);                                                      \
    if (rc_ < 0) {                                                         \
      fprintf(stderr, "%s: %s\n", #call, keel_strerror(rc_));              \
      return 1;                                                            \
    }                                                                      \
  } while (0)

/* ---- 2. a cancel tree ---------------------------------------------------- */

typedef struct member {
  keel_ctx *ctx;       /* retained for the task; it releases it */
  keel_chan *never;    /* nobody ever sends here */
  keel_chan *report;   /* each member reports its result code */
} member;

static void helper(void *arg) {
  member *m = arg;
  int rc = keel_ctx_recv(m->ctx, m->never, NULL);   /* blocks until canceled */
  keel_chan_send(m->report, &rc, KEEL_FOREVER);
  keel_ctx_release(m->ctx);
}

typedef struct team { member boss; member helpers[2]; } team;

static void worker(void *arg) {
  team *tm = arg;
  keel_ctx *mine;   /* each worker scopes its helpers under its own child */
  if (keel_ctx_with_cancel(tm->boss.ctx, &mine) == 0) {
    for (int i = 0; i < 2; i++) {
      tm->helpers[i] = (member){keel_ctx_retain(mine), tm->boss.never,
                                tm->boss.report};
      keel_task_spawn(NULL, helper, &tm->helpers[i], NULL);
    }
    int rc = keel_ctx_sleep(mine, KEEL_HOUR);   /* "working" */
    keel_chan_send(tm->boss.report, &rc, KEEL_FOREVER);
    keel_ctx_cancel(mine);
    keel_ctx_release(mine);
  }
  keel_ctx_release(tm->boss.ctx);
}

/* ---- 3. preemptable ------------------------------------------------------ */

static int long_sum(keel_ctx *ctx, long n, long *out) {
  long s = 0;
  for (long i = 0; i < n; i++) {
    if ((i & 4095) == 0 && keel_ctx_is_canceled(ctx)) return keel_ctx_err(ctx);
    s += i % 7;
  }
  *out = s;
  return 0;
}

typedef struct job { keel_ctx *ctx; int rc; long sum; } job;
static void run_job(void *arg) {
  job *j = arg;
  j->rc = long_sum(j->ctx, 1L << 40, &j->sum);
}

int main(void) {
  /* 1. */
  keel_chan *never;
  CHECK(keel_chan_make(&never, 0, 0));
  keel_ctx *ctx;
  CHECK(keel_ctx_with_timeout(keel_ctx_background(), 20 * KEEL_MILLISECOND, &ctx));
  int64_t deadline = 0;
  keel_ctx_deadline(ctx, &deadline);
  int rc = keel_ctx_recv(ctx, never, NULL);   /* never returns early */
  printf("1. receive with a 20 ms deadline, nobody sending: %s (%s)\n",
         keel_status_name(rc),
         keel_now() >= deadline ? "at the deadline" : "TOO EARLY");
  keel_ctx_release(ctx);

  /* 2. */
  keel_ctx *request;
  keel_chan *report;
  CHECK(keel_ctx_with_cancel(keel_ctx_background(), &request));
  CHECK(keel_chan_make(&report, sizeof(int), 9));
  team teams[3];
  for (int i = 0; i < 3; i++) {
    teams[i].boss = (member){keel_ctx_retain(request), never, report};
    CHECK(keel_task_spawn(NULL, worker, &teams[i], NULL));
  }
  keel_ctx_cancel_cause(request, KEEL_ECANCELED,
                        keel_err_new("tour", KEEL_ECANCELED, "user pressed stop"));
  int canceled = 0;
  for (int i = 0; i < 9; i++) {
    CHECK(keel_chan_recv(report, &rc, KEEL_FOREVER));
    canceled += rc == KEEL_ECANCELED;
  }
  keel_err *why = keel_ctx_cause(request);
  printf("2. canceled a request: %d of 9 workers and helpers returned "
         "KEEL_ECANCELED; cause: \"%s\"\n", canceled, keel_err_message(why));
  keel_err_release(why);
  keel_ctx_release(request);
  keel_chan_release(report);

  /* 3. */
  CHECK(keel_ctx_with_timeout(keel_ctx_background(), 30 * KEEL_MILLISECOND, &ctx));
  job j = {ctx, 0, 0};
  keel_task *t;
  CHECK(keel_task_spawn(&t, run_job, &j, NULL));
  CHECK(keel_task_join(t, KEEL_FOREVER, NULL));
  printf("3. a 2^40-step computation (hours of work) under a 30 ms timeout: "
         "%s;\n   it checks its context every 4096 steps, so it stopped at the "
         "deadline\n", keel_status_name(j.rc));
  keel_ctx_release(ctx);

  /* 4. */
  CHECK(keel_ctx_with_cancel(keel_ctx_background(), &ctx));
  int vals[3] = {1, 2, 3};
  keel_chan *rep, *five;
  CHECK(keel_stage_repeat(ctx, vals, 3, sizeof(int), &rep));
  CHECK(keel_stage_take(ctx, rep, sizeof(int), 5, &five));
  printf("4. repeat(1,2,3) | take(5):");
  int v;
  while (keel_chan_recv(five, &v, KEEL_FOREVER) == 0) printf(" %d", v);
  keel_ctx_cancel(ctx);   /* stops the endless repeat */
  while (keel_chan_recv(rep, &v, KEEL_FOREVER) == 0) {}
  printf("; canceling the context stopped the repeat\n");
  keel_chan_release(rep);
  keel_chan_release(five);
  keel_ctx_release(ctx);
  keel_chan_release(never);
  keel_runtime_shutdown();
  return 0;
}
