/* ctx_preemptable — a long computation made preemptable (the book's
 * "reallyLongCalculation").
 *
 * A computation that never looks at its context keeps its worker busy long
 * after everybody stopped caring. The fix is to define the period within
 * which it must notice cancellation, and check at least that often. The
 * check, keel_ctx_is_canceled, is one atomic load, so checking every
 * CHECK_EVERY iterations costs nothing measurable; this program measures
 * how long CHECK_EVERY iterations take (the preemption period), then runs
 * the computation under a 50 ms deadline and under a user's cancel, and
 * prints how long after the context ended the computation actually
 * stopped (the preemption latency). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "keel/ctx.h"
#include "keel/task.h"

enum { CHECK_EVERY = 4096 };   /* iterations between two checks */

/* The "really long calculation": the Leibniz series for pi, n terms.
 * Returns 0 with *out, or the context's code if it ended first. */
static int leibniz_pi(keel_ctx *ctx, long n, double *out, long *done_terms) {
  double sum = 0;
  for (long k = 0; k < n; k++) {
    if ((k & (CHECK_EVERY - 1)) == 0 && keel_ctx_is_canceled(ctx)) {
      *done_terms = k;
      return keel_ctx_err(ctx);
    }
    sum += (k & 1 ? -4.0 : 4.0) / (double)(2 * k + 1);
  }
  *out = sum;
  *done_terms = n;
  return 0;
}

typedef struct job {
  keel_ctx *ctx;
  long terms, done_terms;
  double pi;
  int rc;
  int64_t stopped_at;
} job;

static void run_job(void *arg) {
  job *j = arg;
  j->rc = leibniz_pi(j->ctx, j->terms, &j->pi, &j->done_terms);
  j->stopped_at = keel_now();
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int main(void) {
  /* 1. the period: how long CHECK_EVERY iterations take (median of 101) */
  int64_t t[101];
  double sink = 0;
  for (int i = 0; i < 101; i++) {
    double v = 0;
    long d;
    int64_t t0 = keel_now();
    leibniz_pi(keel_ctx_background(), CHECK_EVERY, &v, &d);
    t[i] = keel_now() - t0;
    sink += v;
  }
  qsort(t, 101, sizeof t[0], cmp_i64);
  double period_us = (double)t[50] / 1e3;
  printf("check every %d iterations: one period takes %.1f us (median)\n",
         CHECK_EVERY, period_us);
  printf("so the computation notices cancellation within about %.1f us\n\n",
         period_us);

  /* 2. under a deadline: 50 ms for a job that needs seconds */
  keel_ctx *ctx;
  if (keel_ctx_with_timeout(keel_ctx_background(), 50 * KEEL_MILLISECOND, &ctx))
    return 1;
  int64_t deadline = 0;
  keel_ctx_deadline(ctx, &deadline);
  job j = {.ctx = ctx, .terms = 40L * 1000 * 1000 * 1000};
  keel_task *task;
  if (keel_task_spawn(&task, run_job, &j, NULL)) return 1;
  keel_task_join(task, KEEL_FOREVER, NULL);
  printf("deadline: %s after %ld terms; stopped %.1f us after the deadline\n"
         "          (the timer's delivery included)\n",
         keel_status_name(j.rc), j.done_terms,
         (double)(j.stopped_at - deadline) / 1e3);
  keel_ctx_cancel(ctx);
  keel_ctx_release(ctx);

  /* 3. canceled by a user after 20 ms */
  if (keel_ctx_with_cancel(keel_ctx_background(), &ctx)) return 1;
  j = (job){.ctx = ctx, .terms = 40L * 1000 * 1000 * 1000};
  if (keel_task_spawn(&task, run_job, &j, NULL)) return 1;
  keel_sleep(20 * KEEL_MILLISECOND);
  int64_t canceled_at = keel_now();
  keel_ctx_cancel(ctx);
  keel_task_join(task, KEEL_FOREVER, NULL);
  printf("cancel:   %s after %ld terms; stopped %.1f us after the cancel\n",
         keel_status_name(j.rc), j.done_terms,
         (double)(j.stopped_at - canceled_at) / 1e3);
  keel_ctx_release(ctx);

  /* 4. and when nobody cancels, it finishes */
  j = (job){.ctx = keel_ctx_background(), .terms = 10 * 1000 * 1000};
  if (keel_task_spawn(&task, run_job, &j, NULL)) return 1;
  keel_task_join(task, KEEL_FOREVER, NULL);
  printf("no cancel: %s, pi ~ %.6f (error %.1e)\n", keel_status_name(j.rc),
         j.pi, fabs(j.pi - M_PI));
  if (sink == 0) puts("");
  keel_runtime_shutdown();
  return 0;
}
