/* steward.c — making, sharing and starting stewards.
 *
 * Invariants:
 *   - make copies everything it keeps (names, ward specs) and retains the
 *     events channel, so the caller's arrays may go away at once;
 *   - each run holds a reference to the steward, so release while running
 *     is safe; the last reference frees it;
 *   - keel_steward_start hands its task a context reference and a heartbeat
 *     reference; the task closes the heartbeat only after the run (and so
 *     every ward's stop) has finished, then reports to its own steward. */
#include <stdlib.h>
#include <string.h>

#include "steward/steward_private.h"

static char *copy_name(const char *name, const char *fallback) {
  const char *src = name ? name : fallback;
  size_t len = strlen(src) + 1;
  char *dst = malloc(len);
  if (dst != NULL) memcpy(dst, src, len);
  return dst;
}

static void steward_free(keel_steward *s) {
  if (s->wards != NULL)
    for (size_t i = 0; i < s->n; i++) free((char *)s->wards[i].name);
  free(s->wards);
  keel_chan_release(s->opts.events);
  keel_err_release(s->last_err);
  pthread_mutex_destroy(&s->lock);
  free(s->name);
  free(s);
}

int keel_steward_make_group(keel_steward **out, const keel_ward_spec *wards,
                            size_t n, const keel_steward_options *opts) {
  if (out == NULL || wards == NULL || n == 0 || n > 4096) return KEEL_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (wards[i].start == NULL || wards[i].timeout < 0 ||
        wards[i].pulse_interval < 0 || wards[i].stuck_after < 0 ||
        (unsigned)wards[i].restart > KEEL_RESTART_TEMPORARY)
      return KEEL_EINVAL;
  }
  if (opts != NULL) {
    if ((unsigned)opts->strategy > KEEL_REST_FOR_ONE || opts->period < 0 ||
        (opts->period > 0 && opts->max_restarts < 0) ||
        opts->backoff.initial < 0 || opts->backoff.max < 0 ||
        opts->backoff.reset_after < 0)
      return KEEL_EINVAL;
    if (opts->events != NULL &&
        keel_chan_elem_size(opts->events) != sizeof(keel_steward_event))
      return KEEL_EINVAL;
  }
  keel_steward *s = calloc(1, sizeof *s);
  if (s == NULL) return KEEL_ENOMEM;
  if (pthread_mutex_init(&s->lock, NULL) != 0) {
    free(s);
    return KEEL_ENOMEM;
  }
  if (opts != NULL) s->opts = *opts;
  s->opts.events = NULL;
  s->name = copy_name(opts ? opts->name : NULL, "steward");
  s->wards = calloc(n, sizeof *s->wards);
  s->n = n;
  bool ok = s->name != NULL && s->wards != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    s->wards[i] = wards[i];
    s->wards[i].name = copy_name(wards[i].name, "ward");
    if (s->wards[i].name == NULL) ok = false;
  }
  if (!ok) {
    steward_free(s);
    return KEEL_ENOMEM;
  }
  s->opts.name = s->name;
  if (opts != NULL && opts->events != NULL)
    s->opts.events = keel_chan_retain(opts->events);
  atomic_init(&s->refs, 1);
  atomic_init(&s->restarts, 0);
  atomic_init(&s->seed, (uint64_t)keel_now() ^ (uint64_t)(uintptr_t)s);
  *out = s;
  return 0;
}

int keel_steward_make(keel_steward **out, int64_t timeout, keel_start_fn start,
                      void *arg, const keel_steward_options *opts) {
  if (timeout <= 0) return KEEL_EINVAL;
  keel_ward_spec w = {.name = "ward", .start = start, .arg = arg,
                      .restart = KEEL_RESTART_PERMANENT, .timeout = timeout};
  return keel_steward_make_group(out, &w, 1, opts);
}

keel_steward *keel_steward_retain(keel_steward *s) {
  if (s != NULL) atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

void keel_steward_release(keel_steward *s) {
  if (s == NULL) return;
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
    steward_free(s);
}

void keel_steward_set_err(keel_steward *s, keel_err *err) {
  pthread_mutex_lock(&s->lock);
  keel_err *old = s->last_err;
  s->last_err = err;
  pthread_mutex_unlock(&s->lock);
  keel_err_release(old);
}

keel_err *keel_steward_err(keel_steward *s) {
  if (s == NULL) return NULL;
  pthread_mutex_lock(&s->lock);
  keel_err *e = s->last_err ? keel_err_retain(s->last_err) : NULL;
  pthread_mutex_unlock(&s->lock);
  return e;
}

uint64_t keel_steward_restarts(const keel_steward *s) {
  return s ? atomic_load(&((keel_steward *)s)->restarts) : 0;
}

const char *keel_steward_name(const keel_steward *s) {
  return s ? s->name : NULL;
}

/* splitmix64 over an atomic counter: good enough for jitter, any thread. */
uint64_t keel_steward_random(keel_steward *s) {
  if (s->opts.random != NULL) return s->opts.random(s->opts.random_arg);
  uint64_t z = atomic_fetch_add(&s->seed, UINT64_C(0x9e3779b97f4a7c15)) +
               UINT64_C(0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* ---- keel_steward_start: a steward as a ward ------------------------------ */

struct start_args {
  keel_steward *s;
  keel_ctx *ctx;
  keel_chan *heartbeat;
  keel_chan *ready;   /* closed once the wards' first starts are done */
  int64_t pulse_interval;
};

static void steward_task(void *p) {
  struct start_args *a = p;
  keel_err *err = NULL;
  int rc = keel_steward_run_ready(a->s, a->ctx, a->pulse_interval, a->heartbeat,
                                  &err, a->ready);
  keel_chan_release(a->ready);
  /* Report before closing the heartbeat: a parent seeing the close first
   * would take it for a clean finish. */
  if (rc == KEEL_ELIMIT && err != NULL) {
    keel_ward_exit(a->ctx, err);   /* escalate to our own steward, if any */
  } else {
    keel_err_release(err);
  }
  keel_chan_close(a->heartbeat);
  keel_chan_release(a->heartbeat);
  keel_ctx_release(a->ctx);
  keel_steward_release(a->s);
  free(a);
}

int keel_steward_start(keel_ctx *ctx, int64_t pulse_interval, void *steward,
                       keel_chan **heartbeat) {
  keel_steward *s = steward;
  if (ctx == NULL || s == NULL || heartbeat == NULL || pulse_interval < 0)
    return KEEL_EINVAL;
  struct start_args *a = calloc(1, sizeof *a);
  if (a == NULL) return KEEL_ENOMEM;
  int rc = keel_chan_make(&a->heartbeat, sizeof(keel_pulse), 1);
  if (rc == 0) {
    rc = keel_chan_make(&a->ready, 0, 0);
    if (rc < 0) keel_chan_release(a->heartbeat);
  }
  if (rc < 0) {
    free(a);
    return rc;
  }
  keel_chan *ready = keel_chan_retain(a->ready);
  a->s = keel_steward_retain(s);
  a->ctx = keel_ctx_retain(ctx);
  a->pulse_interval = pulse_interval;
  keel_chan *mine = keel_chan_retain(a->heartbeat);
  keel_task_options to = {.name = s->name};
  rc = keel_task_spawn(NULL, steward_task, a, &to);
  if (rc < 0) {
    keel_chan_release(mine);
    keel_chan_release(ready);
    keel_chan_release(a->ready);
    keel_chan_release(a->heartbeat);
    keel_ctx_release(a->ctx);
    keel_steward_release(a->s);
    free(a);
    return rc;
  }
  /* Like an OTP start_link: return once the wards have been started, so
   * stewards nested in a group start depth-first, in order. */
  keel_chan_recv(ready, NULL, KEEL_FOREVER);
  keel_chan_release(ready);
  *heartbeat = mine;
  return 0;
}
