/* steward_private.h — the steward object and the ward key, shared by the
 * module's files.
 *
 * Invariants: a keel_steward is immutable after make except for refs, the
 * restart counter (atomic) and last_err (under lock). Each run keeps its own
 * mutable state (run.c), so several runs of one steward never share it. */
#ifndef KEEL_STEWARD_PRIVATE_H
#define KEEL_STEWARD_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "keel/steward.h"

struct keel_steward {
  _Atomic long refs;
  char *name;
  keel_ward_spec *wards;   /* names copied */
  size_t n;
  keel_steward_options opts;   /* name points at .name; events retained */
  _Atomic uint64_t restarts;
  _Atomic uint64_t seed;
  pthread_mutex_t lock;    /* guards last_err */
  keel_err *last_err;
};

/* The context value key marking a ward's context; its value is the ward's
 * own cancel context (struct keel_ctx *), which keel_ward_exit cancels. */
extern const char keel_steward_ward_key;

/* The module names of causes made by keel_ward_exit and by the steward. */
#define KEEL_WARD_MODULE "ward"

/* keel_steward_run, closing `ready` (if not NULL) once the first round of
 * starts is done (or the run ended before it). */
int keel_steward_run_ready(keel_steward *s, keel_ctx *ctx, int64_t pulse_interval,
                           keel_chan *heartbeat, keel_err **err, keel_chan *ready);

void keel_steward_set_err(keel_steward *s, keel_err *err);   /* takes err */
uint64_t keel_steward_random(keel_steward *s);

#endif
