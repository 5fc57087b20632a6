/* heartbeat_private.h — the heartbeat object, shared by the module's files.
 *
 * Invariants:
 *   - chan (keel_pulse elements) lives as long as the heartbeat holds its
 *     reference; own_chan says whether the heartbeat made it (and so closes
 *     it on free);
 *   - an interval heartbeat without an injected tick has a periodic runtime
 *     timer (has_timer). Its callback pulses while `waiting` > 0 (the worker
 *     is parked in a heartbeat-aware wait) and otherwise records the tick in
 *     missed_at, which the next wait services at once (Go's buffered tick);
 *   - with an injected tick channel, waits select on it instead (tick);
 *   - seq, progress, waiting and missed_at are atomics: the timer thread and
 *     any task may touch them; closed flips once. */
#ifndef KEEL_HEARTBEAT_PRIVATE_H
#define KEEL_HEARTBEAT_PRIVATE_H

#include <stdatomic.h>

#include "keel/heartbeat.h"
#include "runtime/rtimer.h"

struct keel_heartbeat {
  keel_chan *chan;          /* the pulse channel (one reference) */
  bool own_chan;
  keel_chan *tick;          /* an injected tick source (retained), or NULL */
  keel_rtimer timer;        /* the ticker of an interval heartbeat */
  bool has_timer;
  int64_t interval;
  _Atomic int waiting;
  _Atomic int64_t missed_at;
  _Atomic uint64_t seq;
  _Atomic uint64_t progress;
  _Atomic bool closed;
};

/* Sends one pulse stamped `at`, without blocking. */
int keel_heartbeat_pulse_at(keel_heartbeat *hb, int64_t at);

#endif
