/* offload.c — running blocking code on helper threads (keel_offload).
 *
 * A job is heap-allocated and holds the caller's waiter, so it outlives a
 * caller that gave up. `state` decides who owns the outcome:
 *   RUNNING -> DONE       the helper finished fn first; it claims and wakes
 *                         the caller (if the caller's deadline/cancel did not
 *                         win the claim, the caller sees DONE and returns 0);
 *   RUNNING -> ABANDONED  the caller gave up first (deadline or cancel); the
 *                         helper calls cleanup(arg) after fn.
 * Both sides drop a reference; the last one frees the job. The helper never
 * touches the caller's stack, only the job.
 *
 * Helpers are started on demand (up to KEEL_OFFLOAD_MAX_THREADS) when no
 * helper is idle, wait on a condition variable, and are joined at shutdown
 * after draining the queue (abandoned jobs still run, and clean up). */
#include <stdlib.h>

#include "runtime/internal.h"

#define KEEL_OFFLOAD_MAX_THREADS 64

enum { JOB_RUNNING = 0, JOB_DONE = 1, JOB_ABANDONED = 2 };

typedef struct job {
  keel_waiter w;
  keel_task_fn fn, cleanup;
  void *arg;
  _Atomic int state;
  _Atomic int refs;
  struct job *next;
} job;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  job *head, *tail;
  int nthreads, nidle;
  bool stopping;
  pthread_t threads[KEEL_OFFLOAD_MAX_THREADS];
} ol = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void job_release(job *j) {
  if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) == 1) free(j);
}

static void run_job(job *j) {
  j->fn(j->arg);
  int expected = JOB_RUNNING;
  if (atomic_compare_exchange_strong_explicit(&j->state, &expected, JOB_DONE,
                                              memory_order_acq_rel,
                                              memory_order_acquire)) {
    if (keel_waiter_claim(&j->w, 0)) keel_waiter_wake(&j->w);
  } else if (j->cleanup) {
    j->cleanup(j->arg);  /* the caller gave up and will not touch arg */
  }
  job_release(j);
}

static void *helper_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&ol.lock);
  for (;;) {
    while (!ol.head && !ol.stopping) {
      ol.nidle++;
      pthread_cond_wait(&ol.cond, &ol.lock);
      ol.nidle--;
    }
    if (!ol.head) break;  /* stopping and drained */
    job *j = ol.head;
    ol.head = j->next;
    if (!ol.head) ol.tail = NULL;
    pthread_mutex_unlock(&ol.lock);
    run_job(j);
    pthread_mutex_lock(&ol.lock);
  }
  pthread_mutex_unlock(&ol.lock);
  return NULL;
}

int keel_offload(keel_task_fn fn, void *arg, keel_task_fn cleanup,
                 int64_t deadline, const keel_cancel *cancel) {
  if (!fn) return KEEL_EINVAL;
  int rc = keel__rt_ensure();
  if (rc) return rc;
  job *j = malloc(sizeof *j);
  if (!j) return KEEL_ENOMEM;
  keel_waiter_init(&j->w);
  j->fn = fn;
  j->cleanup = cleanup;
  j->arg = arg;
  atomic_init(&j->state, JOB_RUNNING);
  atomic_init(&j->refs, 2);
  j->next = NULL;

  pthread_mutex_lock(&ol.lock);
  if (ol.stopping) {
    pthread_mutex_unlock(&ol.lock);
    free(j);
    return KEEL_ESHUTDOWN;
  }
  /* Start a helper when none is idle (bounded); a helper that fails to
   * start is not an error while another one exists to run the job. */
  if (ol.nidle == 0 && ol.nthreads < KEEL_OFFLOAD_MAX_THREADS) {
    if (pthread_create(&ol.threads[ol.nthreads], NULL, helper_main, NULL) == 0) {
      pthread_setname_np(ol.threads[ol.nthreads], "keel-offload");
      ol.nthreads++;
    } else if (ol.nthreads == 0) {
      pthread_mutex_unlock(&ol.lock);
      free(j);
      return KEEL_ENOMEM;
    }
  }
  if (ol.tail) ol.tail->next = j; else ol.head = j;
  ol.tail = j;
  pthread_cond_signal(&ol.cond);
  pthread_mutex_unlock(&ol.lock);

  int32_t r = keel_waiter_park(&j->w, deadline, cancel);
  if (r != 0) {
    int expected = JOB_RUNNING;
    if (!atomic_compare_exchange_strong_explicit(&j->state, &expected, JOB_ABANDONED,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire))
      r = 0;  /* fn finished while our deadline/cancel won the claim */
  }
  job_release(j);
  return r;
}

void keel__offload_stop(void) {
  pthread_mutex_lock(&ol.lock);
  ol.stopping = true;
  pthread_cond_broadcast(&ol.cond);
  int n = ol.nthreads;
  pthread_mutex_unlock(&ol.lock);
  for (int i = 0; i < n; i++) pthread_join(ol.threads[i], NULL);
  pthread_mutex_lock(&ol.lock);
  ol.nthreads = 0;
  ol.nidle = 0;
  ol.stopping = false;
  pthread_mutex_unlock(&ol.lock);
}
