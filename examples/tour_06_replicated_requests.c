/* tour: Replicated requests */
/* Ask several handlers, take the first answer, cancel the rest (the book's
 * "Replicated Requests"); hedge only when the first is slow (The Tail at
 * Scale); and the same across processes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/ctx.h"
#include "keel/replicate.h"
#include "keel/task.h"

#define UNIT (60 * KEEL_MILLISECOND)

/* A backend answers after `units` units of work, or stops when canceled;
 * units < 0: it stalls until canceled. */
static keel_err *backend(keel_replica *r) {
  long units = (long)(intptr_t)r->arg;
  r->intended = units < 0 ? 0 : units * UNIT;
  int rc = keel_ctx_sleep(r->ctx, units < 0 ? KEEL_HOUR : units * UNIT);
  if (rc != 0) return keel_replica_stopped(r);   /* canceled: stop at once */
  snprintf(r->result, r->result_size, "hello from %s", r->name);
  return NULL;
}

static keel_err *broken(keel_replica *r) {
  int code = (int)(intptr_t)r->arg;
  return keel_err_new("tour", code, "%s: %s", r->name, keel_strerror(code));
}

static const char *state_name(int s) {
  switch (s) {
    case KEEL_REPLICA_WON: return "won";
    case KEEL_REPLICA_CANCELED: return "canceled";
    case KEEL_REPLICA_FAILED: return "failed";
    case KEEL_REPLICA_LOST: return "lost";
    default: return "idle";
  }
}

int main(void) {
  keel_ctx *bg = keel_ctx_background();
  char answer[64];
  keel_replica_stat stats[3];

  /* 1. Full replication over three different backends. */
  keel_replicate_handler three[] = {
      {backend, (void *)(intptr_t)3, "east"},
      {backend, (void *)(intptr_t)1, "west"},
      {backend, (void *)(intptr_t)2, "south"},
  };
  keel_replicate_options o = {.result_size = sizeof answer};
  keel_replicate_report rep = {.replicas = stats};
  if (keel_replicate(bg, three, 3, &o, answer, &rep, NULL) == 0) {
    printf("answer: \"%s\"\n", answer);
    for (int i = 0; i < 3; i++)
      printf("  %-6s %-9s %s %lld unit(s)\n", three[i].name,
             state_name(stats[i].state),
             stats[i].state == KEEL_REPLICA_WON ? "took" : "would have taken",
             (long long)((stats[i].would_take + UNIT / 2) / UNIT));
  }

  /* 2. Hedging: the primary stalls; a copy goes out after 2 units. */
  keel_hedge *hedge;
  keel_hedge_new(&hedge, &(keel_hedge_options){.delay = 2 * UNIT, .budget = 0.05});
  keel_replicate_handler pair[] = {
      {backend, (void *)(intptr_t)-1, "primary"},
      {backend, (void *)(intptr_t)0, "backup"},
  };
  o.hedge = hedge;
  if (keel_replicate(bg, pair, 2, &o, answer, &rep, NULL) == 0)
    printf("hedged: \"%s\" (%zu hedge sent after %lld units; primary %s)\n",
           answer, rep.hedges, (long long)((stats[1].start + UNIT / 2) / UNIT),
           state_name(stats[0].state));
  keel_hedge_free(hedge);

  /* 3. Every replica fails: one error joins them all. */
  keel_replicate_handler bad[] = {
      {broken, (void *)(intptr_t)KEEL_EUNAVAILABLE, "east"},
      {broken, (void *)(intptr_t)KEEL_ELIMIT, "west"},
  };
  keel_err *err = NULL;
  int rc = keel_replicate(bg, bad, 2, NULL, NULL, NULL, &err);
  printf("all failed: %s; unavailable? %s; limited? %s\n", keel_status_name(rc),
         keel_err_has_code(err, KEEL_EUNAVAILABLE) ? "yes" : "no",
         keel_err_has_code(err, KEEL_ELIMIT) ? "yes" : "no");
  keel_err_release(err);

  /* 4. Across processes: the first to exit 0 wins; the other is stopped. */
  const char *slow[] = {"sh", "-c", "sleep 30; echo slow", NULL};
  const char *fast[] = {"sh", "-c", "echo fast", NULL};
  keel_replicate_cmd cmds[] = {{slow, "slow"}, {fast, "fast"}};
  keel_replicate_output out;
  rep.replicas = stats;
  if (keel_replicate_procs(bg, cmds, 2, NULL, &out, &rep, NULL) == 0) {
    out.data[strcspn(out.data, "\n")] = '\0';
    printf("processes: \"%s\" from %s; %s %s (exit %d), every child reaped\n",
           out.data, cmds[rep.winner].name, cmds[0].name,
           state_name(stats[0].state), stats[0].exit_status);
    free(out.data);
  }
  keel_runtime_shutdown();
  return 0;
}
