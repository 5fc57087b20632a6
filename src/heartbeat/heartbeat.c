/* heartbeat.c — making, pulsing and closing a heartbeat.
 *
 * Invariants:
 *   - a pulse is always a KEEL_NOWAIT send: neither the worker nor the timer
 *     thread ever blocks on it;
 *   - the pulse channel has a buffer of one, so a late watcher still finds
 *     a pulse, and a pulse is never lost for a result (they travel apart);
 *   - an interval heartbeat's timer pulses on the worker's behalf only while
 *     the worker waits inside a heartbeat-aware wait (see wait.c): a worker
 *     that is busy, stuck in a computation, or gone, does not pulse;
 *   - interval timers fire on multiples of their interval (phase-aligned),
 *     so many heartbeats cost one timer-thread wakeup per interval;
 *   - keel_heartbeat_free stops the timer first (its callback is then not
 *     running), so the callback never touches a freed heartbeat;
 *   - the pulse channel is closed at most once (exchange on `closed`). */
#include <stdlib.h>

#include "heartbeat/heartbeat_private.h"

static void on_tick(void *arg, int64_t now) {
  keel_heartbeat *hb = arg;
  if (atomic_load(&hb->waiting) > 0)
    keel_heartbeat_pulse_at(hb, now);
  else
    atomic_store(&hb->missed_at, now ? now : 1);   /* serviced by the next wait */
}

int keel_heartbeat_make_opts(keel_heartbeat **out,
                             const keel_heartbeat_options *opts) {
  if (out == NULL) return KEEL_EINVAL;
  keel_heartbeat_options o = {0};
  if (opts != NULL) o = *opts;
  if (o.interval < 0) return KEEL_EINVAL;
  if (o.tick != NULL && keel_chan_elem_size(o.tick) != sizeof(int64_t))
    return KEEL_EINVAL;
  if (o.chan != NULL && keel_chan_elem_size(o.chan) != sizeof(keel_pulse))
    return KEEL_EINVAL;
  keel_heartbeat *hb = calloc(1, sizeof *hb);
  if (hb == NULL) return KEEL_ENOMEM;
  if (o.chan != NULL) {
    hb->chan = keel_chan_retain(o.chan);
  } else {
    int rc = keel_chan_make(&hb->chan, sizeof(keel_pulse), 1);
    if (rc < 0) {
      free(hb);
      return rc;
    }
    hb->own_chan = true;
  }
  hb->interval = o.interval;
  atomic_init(&hb->waiting, 0);
  atomic_init(&hb->missed_at, 0);
  atomic_init(&hb->seq, 0);
  atomic_init(&hb->progress, 0);
  atomic_init(&hb->closed, false);
  if (o.tick != NULL) {
    hb->tick = keel_chan_retain(o.tick);
  } else if (o.interval > 0) {
    keel_rtimer_init(&hb->timer, on_tick, hb);
    /* Fire on multiples of the interval: heartbeats of equal interval tick
     * together, so the timer thread wakes once for all of them. */
    int64_t now = keel_now();
    int64_t first = now - now % o.interval + o.interval;
    int rc = keel_rtimer_start(&hb->timer, first, o.interval);
    if (rc < 0) {
      keel_chan_release(hb->chan);
      free(hb);
      return rc;
    }
    hb->has_timer = true;
  }
  *out = hb;
  return 0;
}

int keel_heartbeat_make(keel_heartbeat **out, int64_t interval) {
  keel_heartbeat_options o = {.interval = interval};
  return keel_heartbeat_make_opts(out, &o);
}

void keel_heartbeat_free(keel_heartbeat *hb) {
  if (hb == NULL) return;
  if (hb->has_timer) keel_rtimer_stop(&hb->timer);
  if (hb->own_chan) keel_heartbeat_close(hb);
  keel_chan_release(hb->tick);
  keel_chan_release(hb->chan);
  free(hb);
}

keel_chan *keel_heartbeat_chan(const keel_heartbeat *hb) {
  return hb ? hb->chan : NULL;
}

keel_chan *keel_heartbeat_tick(const keel_heartbeat *hb) {
  return hb ? hb->tick : NULL;
}

int keel_heartbeat_pulse_at(keel_heartbeat *hb, int64_t at) {
  keel_pulse p;
  p.seq = atomic_fetch_add_explicit(&hb->seq, 1, memory_order_relaxed) + 1;
  p.progress = atomic_load_explicit(&hb->progress, memory_order_relaxed);
  p.at = at;
  return keel_chan_send(hb->chan, &p, KEEL_NOWAIT);
}

int keel_heartbeat_pulse(keel_heartbeat *hb) {
  if (hb == NULL) return KEEL_EINVAL;
  return keel_heartbeat_pulse_at(hb, keel_now());
}

void keel_heartbeat_add_progress(keel_heartbeat *hb, uint64_t n) {
  if (hb != NULL) atomic_fetch_add_explicit(&hb->progress, n, memory_order_relaxed);
}

uint64_t keel_heartbeat_progress(const keel_heartbeat *hb) {
  return hb ? atomic_load_explicit(&((keel_heartbeat *)hb)->progress,
                                   memory_order_relaxed)
            : 0;
}

uint64_t keel_heartbeat_pulses(const keel_heartbeat *hb) {
  return hb ? atomic_load_explicit(&((keel_heartbeat *)hb)->seq, memory_order_relaxed)
            : 0;
}

void keel_heartbeat_waiting(keel_heartbeat *hb, bool waiting) {
  if (hb == NULL || !hb->has_timer) return;
  if (!waiting) {
    atomic_fetch_sub(&hb->waiting, 1);
    return;
  }
  /* Announce first, then take a tick that came while we were busy: a tick
   * racing with us is either seen as waiting or left in missed_at. */
  atomic_fetch_add(&hb->waiting, 1);
  int64_t missed = atomic_exchange(&hb->missed_at, 0);
  if (missed != 0) keel_heartbeat_pulse_at(hb, missed);
}

int keel_heartbeat_close(keel_heartbeat *hb) {
  if (hb == NULL) return KEEL_EINVAL;
  if (atomic_exchange(&hb->closed, true)) return 0;
  int rc = keel_chan_close(hb->chan);
  return rc == KEEL_ECLOSED ? 0 : rc;
}
