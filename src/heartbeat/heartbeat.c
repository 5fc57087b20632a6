/* heartbeat.c — making, pulsing and closing a heartbeat.
 *
 * Invariants:
 *   - a pulse is always a KEEL_NOWAIT send: the worker never blocks on it;
 *   - the pulse channel has a buffer of one, so a late watcher still finds
 *     a pulse, and a pulse is never lost for a result (they travel apart);
 *   - keel_heartbeat_close closes the pulse channel at most once (the flag
 *     is flipped with an exchange), so free after close is harmless. */
#include <stdlib.h>

#include "heartbeat/heartbeat_private.h"

int keel_heartbeat_make_opts(keel_heartbeat **out,
                             const keel_heartbeat_options *opts) {
  if (out == NULL) return KEEL_EINVAL;
  int64_t interval = opts ? opts->interval : 0;
  keel_chan *tick = opts ? opts->tick : NULL;
  if (interval < 0) return KEEL_EINVAL;
  if (tick != NULL && keel_chan_elem_size(tick) != sizeof(int64_t))
    return KEEL_EINVAL;
  keel_heartbeat *hb = calloc(1, sizeof *hb);
  if (hb == NULL) return KEEL_ENOMEM;
  int rc = keel_chan_make(&hb->chan, sizeof(keel_pulse), 1);
  if (rc < 0) {
    free(hb);
    return rc;
  }
  if (tick != NULL) {
    hb->tick = keel_chan_retain(tick);
    hb->own_tick = true;
  } else if (interval > 0) {
    rc = keel_timer_tick(&hb->timer, interval);
    if (rc < 0) {
      keel_chan_release(hb->chan);
      free(hb);
      return rc;
    }
    hb->tick = keel_timer_chan(hb->timer);
  }
  hb->interval = interval;
  atomic_init(&hb->seq, 0);
  atomic_init(&hb->progress, 0);
  atomic_init(&hb->closed, false);
  *out = hb;
  return 0;
}

int keel_heartbeat_make(keel_heartbeat **out, int64_t interval) {
  keel_heartbeat_options o = {.interval = interval};
  return keel_heartbeat_make_opts(out, &o);
}

void keel_heartbeat_free(keel_heartbeat *hb) {
  if (hb == NULL) return;
  keel_heartbeat_close(hb);
  if (hb->timer != NULL) keel_timer_free(hb->timer);
  if (hb->own_tick) keel_chan_release(hb->tick);
  keel_chan_release(hb->chan);
  free(hb);
}

keel_chan *keel_heartbeat_chan(const keel_heartbeat *hb) {
  return hb ? hb->chan : NULL;
}

keel_chan *keel_heartbeat_tick(const keel_heartbeat *hb) {
  return hb ? hb->tick : NULL;
}

int keel_heartbeat_pulse(keel_heartbeat *hb) {
  if (hb == NULL) return KEEL_EINVAL;
  keel_pulse p;
  p.seq = atomic_fetch_add_explicit(&hb->seq, 1, memory_order_relaxed) + 1;
  p.progress = atomic_load_explicit(&hb->progress, memory_order_relaxed);
  p.at = keel_now();
  return keel_chan_send(hb->chan, &p, KEEL_NOWAIT);
}

void keel_heartbeat_add_progress(keel_heartbeat *hb, uint64_t n) {
  if (hb != NULL) atomic_fetch_add_explicit(&hb->progress, n, memory_order_relaxed);
}

uint64_t keel_heartbeat_progress(const keel_heartbeat *hb) {
  return hb ? atomic_load_explicit(&((keel_heartbeat *)hb)->progress,
                                   memory_order_relaxed)
            : 0;
}

int keel_heartbeat_close(keel_heartbeat *hb) {
  if (hb == NULL) return KEEL_EINVAL;
  if (atomic_exchange(&hb->closed, true)) return 0;
  int rc = keel_chan_close(hb->chan);
  return rc == KEEL_ECLOSED ? 0 : rc;
}
