/* Test wards for the steward tests, and event helpers.
 *
 * A tward logs +id when started (in its start function, so in start order)
 * and -id when its task ends (before it closes its heartbeat, so in stop
 * order), on a shared log channel. Behaviours:
 *   HEALTHY   pulses every interval until halted, and obeys pokes on its
 *             poke channel: 'f' fail, 'c' finish cleanly, 'x' return without
 *             a word (heartbeat closes), 's' fall silent;
 *   SILENT    never pulses (the book's irresponsible ward), stops when halted;
 *   FAIL      reports a failure at once (keel_ward_exit with an error);
 *   FINISH    finishes cleanly at once;
 *   STUBBORN  pulses, but lingers `linger` after being halted. */
#ifndef STEWARD_WARDS_H
#define STEWARD_WARDS_H

#include <stdatomic.h>
#include <stdlib.h>

#include "keel/ctx.h"
#include "keel/heartbeat.h"
#include "keel/steward.h"
#include "keel/task.h"
#include "keel_test.h"
#include "keel_test_tasks.h"

enum { HEALTHY, SILENT, FAIL, FINISH, STUBBORN };

struct tward {
  int id;
  _Atomic int mode;
  int64_t linger;
  keel_chan *log;           /* int elements; may be NULL */
  keel_chan *poke;          /* int elements, for HEALTHY wards; may be NULL */
  _Atomic int starts;
  _Atomic int ends;
};

struct tward_run {
  struct tward *w;
  keel_ctx *ctx;
  keel_heartbeat *hb;
  int mode;
};

static void tward_log(struct tward *w, int v) {
  if (w->log != NULL) keel_chan_send(w->log, &v, KEEL_NOWAIT);
}

static void tward_task(void *p) {
  struct tward_run *r = p;
  switch (r->mode) {
    case HEALTHY:
      for (;;) {
        int cmd = 0;
        int rc = r->w->poke ? keel_heartbeat_recv(r->hb, r->ctx, r->w->poke, &cmd)
                            : keel_heartbeat_sleep(r->hb, r->ctx, KEEL_SECOND);
        if (rc != 0) break;
        if (cmd == 'f') {
          keel_ward_exit(r->ctx, keel_err_new("tward", KEEL_EFAILED,
                                              "ward %d failed", r->w->id));
          break;
        }
        if (cmd == 'c') {
          keel_ward_exit(r->ctx, NULL);
          break;
        }
        if (cmd == 'x') break;
        if (cmd == 's') {
          keel_chan_recv(keel_ctx_done(r->ctx), NULL, KEEL_FOREVER);
          break;
        }
      }
      break;
    case STUBBORN:
      while (keel_heartbeat_sleep(r->hb, r->ctx, KEEL_SECOND) == 0) {}
      keel_sleep(r->w->linger);
      break;
    case SILENT:
      keel_chan_recv(keel_ctx_done(r->ctx), NULL, KEEL_FOREVER);
      break;
    case FAIL:
      keel_ward_exit(r->ctx, keel_err_new("tward", KEEL_EFAILED,
                                          "ward %d failed", r->w->id));
      break;
    case FINISH:
      keel_ward_exit(r->ctx, NULL);
      break;
  }
  atomic_fetch_add(&r->w->ends, 1);
  tward_log(r->w, -r->w->id);
  keel_heartbeat_free(r->hb);   /* closes: the steward knows we ended */
  keel_ctx_release(r->ctx);
  free(r);
}

__attribute__((unused)) static int tward_start(keel_ctx *ctx, int64_t interval, void *arg,
                       keel_chan **heartbeat) {
  struct tward *w = arg;
  struct tward_run *r = calloc(1, sizeof *r);
  if (r == NULL) return KEEL_ENOMEM;
  r->w = w;
  r->mode = atomic_load(&w->mode);
  int rc = keel_heartbeat_make(&r->hb, r->mode == SILENT ? 0 : interval);
  if (rc < 0) {
    free(r);
    return rc;
  }
  r->ctx = keel_ctx_retain(ctx);
  *heartbeat = keel_chan_retain(keel_heartbeat_chan(r->hb));
  atomic_fetch_add(&w->starts, 1);
  tward_log(w, w->id);
  rc = keel_task_spawn(NULL, tward_task, r, NULL);
  if (rc < 0) {
    keel_chan_release(*heartbeat);
    *heartbeat = NULL;
    keel_heartbeat_free(r->hb);
    keel_ctx_release(r->ctx);
    free(r);
  }
  return rc;
}

/* ---- events ---------------------------------------------------------------- */

#define EV_WAIT (20 * KEEL_SECOND)

/* Next event from ch, or kind 0 on timeout. The caller releases ev.err. */
static inline keel_steward_event next_event(keel_chan *ch) {
  keel_steward_event ev = {0};
  if (keel_chan_recv(ch, &ev, keel_deadline_in(EV_WAIT)) != 0) ev.kind = 0;
  return ev;
}

/* Reads the next event and checks its kind and ward index (-1: any). */
static inline bool expect_event(keel_chan *ch, keel_steward_event_kind kind,
                                long index) {
  keel_steward_event ev = next_event(ch);
  bool ok = ev.kind == kind && (index < 0 || (long)ev.index == index);
  if (!ok)
    fprintf(stderr, "  expected %s/%ld, got %s/%zu\n", keel_steward_event_name(kind),
            index, ev.kind ? keel_steward_event_name(ev.kind) : "(timeout)", ev.index);
  keel_err_release(ev.err);
  return ok;
}

static inline int next_log(keel_chan *log) {
  int v = 0;
  if (keel_chan_recv(log, &v, keel_deadline_in(EV_WAIT)) != 0) return 0;
  return v;
}

/* Sends a command to a HEALTHY ward (it must be running). */
static inline bool poke(struct tward *w, int cmd) {
  return keel_chan_send(w->poke, &cmd, keel_deadline_in(EV_WAIT)) == 0;
}

static inline void drain_events(keel_chan *ch) {
  keel_steward_event ev;
  while (keel_chan_recv(ch, &ev, KEEL_NOWAIT) == 0) keel_err_release(ev.err);
}

#endif
