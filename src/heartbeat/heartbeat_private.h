/* heartbeat_private.h — the heartbeat object, shared by the module's files.
 *
 * Invariants: chan (capacity 1, keel_pulse elements) lives as long as the
 * heartbeat holds its reference; tick is either the timer's channel (timer
 * != NULL) or a retained channel given by the user (own_tick). seq and
 * progress are atomics so any task may pulse; closed flips once. */
#ifndef KEEL_HEARTBEAT_PRIVATE_H
#define KEEL_HEARTBEAT_PRIVATE_H

#include <stdatomic.h>

#include "keel/heartbeat.h"
#include "keel/timer.h"

struct keel_heartbeat {
  keel_chan *chan;          /* the pulse channel (one reference) */
  keel_chan *tick;          /* borrowed from timer, or retained (own_tick) */
  keel_timer *timer;        /* the ticker of an interval heartbeat, or NULL */
  bool own_tick;
  int64_t interval;
  _Atomic uint64_t seq;
  _Atomic uint64_t progress;
  _Atomic bool closed;
};

#endif
