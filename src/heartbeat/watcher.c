/* watcher.c — telling a healthy worker from a silent or stuck one.
 *
 * Invariants:
 *   - every result and every pulse moves last_sign; silence is measured from
 *     it, so the watcher's timeout restarts after each sign (the book's
 *     `case <-time.After(timeout)` inside the loop);
 *   - progress only counts as moving when a pulse carries a higher count
 *     than any seen before, or a result arrives;
 *   - the verdict is a pure function of the state and `now`; the blocking
 *     wait only feeds it, so tests can run it on a fake clock. */
#include <string.h>

#include "heartbeat/heartbeat_private.h"

void keel_watcher_init(keel_watcher *w, keel_chan *heartbeat,
                       keel_chan *results, int64_t timeout, int64_t now) {
  memset(w, 0, sizeof *w);
  w->heartbeat = heartbeat;
  w->results = results;
  w->timeout = timeout;
  w->last_sign = now;
  w->progress_at = now;
}

void keel_watcher_note_pulse(keel_watcher *w, const keel_pulse *p, int64_t now) {
  w->last_sign = now;
  w->pulses++;
  if (p != NULL) {
    w->last_pulse = *p;
    if (p->progress > w->progress) {
      w->progress = p->progress;
      w->progress_at = now;
    }
  }
}

void keel_watcher_note_result(keel_watcher *w, int64_t now) {
  w->last_sign = now;
  w->progress_at = now;
  w->results_seen++;
}

static int64_t add_sat(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
  return a + b;
}

int64_t keel_watcher_deadline(const keel_watcher *w) {
  int64_t d = add_sat(w->last_sign, w->timeout);
  if (w->stuck_after > 0) {
    int64_t s = add_sat(w->progress_at, w->stuck_after);
    if (s < d) d = s;
  }
  return d;
}

int keel_watcher_verdict(const keel_watcher *w, int64_t now) {
  if (now >= add_sat(w->last_sign, w->timeout)) return KEEL_WATCH_UNHEALTHY;
  if (w->stuck_after > 0 && now >= add_sat(w->progress_at, w->stuck_after))
    return KEEL_WATCH_STUCK;
  return KEEL_WATCH_HEALTHY;
}

int keel_watcher_wait(keel_watcher *w, keel_ctx *ctx, void *result,
                      keel_err **err) {
  if (w == NULL || w->timeout <= 0 || (w->heartbeat == NULL && w->results == NULL))
    return KEEL_EINVAL;
  if (err != NULL) *err = NULL;
  keel_pulse pulse;
  unsigned char scratch[64];
  keel_chan *hb = w->heartbeat;
  bool pulse_fits = hb != NULL && keel_chan_elem_size(hb) <= sizeof scratch;
  for (;;) {
    keel_select_case cases[3] = {
        {.chan = w->results, .op = KEEL_SELECT_RECV, .elem = result},
        {.chan = hb, .op = KEEL_SELECT_RECV, .elem = pulse_fits ? scratch : NULL},
        {.chan = ctx ? keel_ctx_done(ctx) : NULL, .op = KEEL_SELECT_RECV},
    };
    int r = keel_chan_select(cases, 3, keel_watcher_deadline(w));
    int64_t now = keel_now();
    if (r == KEEL_ETIMEDOUT || r == KEEL_EAGAIN) {   /* EAGAIN: already past */
      int v = keel_watcher_verdict(w, now);
      if (v == KEEL_WATCH_HEALTHY) continue;   /* woke a hair early */
      if (err != NULL) {
        if (v == KEEL_WATCH_UNHEALTHY)
          *err = keel_err_new("heartbeat", KEEL_ETIMEDOUT,
                              "worker unhealthy: no pulse or result for %lld ms "
                              "(timeout %lld ms)",
                              (long long)((now - w->last_sign) / KEEL_MILLISECOND),
                              (long long)(w->timeout / KEEL_MILLISECOND));
        else
          *err = keel_err_new("heartbeat", KEEL_ETIMEDOUT,
                              "worker alive but stuck: progress %llu unchanged "
                              "for %lld ms",
                              (unsigned long long)w->progress,
                              (long long)((now - w->progress_at) / KEEL_MILLISECOND));
      }
      return v;
    }
    if (r < 0) return r;
    if (r == 0) {
      if (cases[0].result == KEEL_ECLOSED) return KEEL_ECLOSED;
      keel_watcher_note_result(w, now);
      return KEEL_WATCH_RESULT;
    }
    if (r == 1) {
      if (cases[1].result == KEEL_ECLOSED) {
        if (w->results == NULL) return KEEL_ECLOSED;
        w->heartbeat = hb = NULL;   /* its pulses ended; its results decide */
        continue;
      }
      if (pulse_fits && keel_chan_elem_size(w->heartbeat) == sizeof(keel_pulse)) {
        memcpy(&pulse, scratch, sizeof pulse);
        keel_watcher_note_pulse(w, &pulse, now);
      } else {
        keel_watcher_note_pulse(w, NULL, now);
      }
      return KEEL_WATCH_PULSE;
    }
    int code = keel_ctx_err(ctx);
    return code ? code : KEEL_ECANCELED;
  }
}
