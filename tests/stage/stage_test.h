/* The stage tests' common include: keel_test.h and a few helpers. No sleeps:
 * a test waits for a stage through its closed output, then for the task
 * count to drop back (kt_tasks_settle) (the task releases its references
 * just after closing its output, so it ends a moment later). */
#ifndef KEEL_STAGE_TEST_H
#define KEEL_STAGE_TEST_H

#include "keel/chan.h"
#include "keel/ctx.h"
#include "keel/stage.h"
#include "keel/task.h"
#include "keel_test.h"
#include "keel_test_tasks.h"

/* Reads ch until it is closed; returns how many values it carried. */
static inline size_t st_drain(keel_chan *ch) {
  size_t n = 0;
  unsigned char buf[256];
  while (keel_chan_recv(ch, buf, KEEL_FOREVER) == 0) n++;
  return n;
}

/* A closed buffered channel holding the ints from, from+1, ..., from+n-1. */
static inline keel_chan *st_ints(int from, int n) {
  keel_chan *ch;
  if (keel_chan_make(&ch, sizeof(int), (size_t)(n > 0 ? n : 1))) abort();
  for (int i = 0; i < n; i++) {
    int v = from + i;
    keel_chan_send(ch, &v, KEEL_NOWAIT);
  }
  keel_chan_close(ch);
  return ch;
}

static inline keel_ctx *st_cancelable(void) {
  keel_ctx *c;
  if (keel_ctx_with_cancel(keel_ctx_background(), &c)) abort();
  return c;
}

#endif
