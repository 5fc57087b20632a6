/* The book's rate-limited APIConnection ("Rate Limiting", Concurrency in Go,
 * chapter 5), in keel. A driver reads 10 files and resolves 10 addresses from
 * 20 concurrent tasks; the connection waits on its rate limiters before each
 * call. Run one of the book's versions:
 *
 *   rate_api_connection 0   no limit: all 20 calls at once
 *   rate_api_connection 1   one limiter, 1 call per second        (~19 s)
 *   rate_api_connection 2   2 per second and 10 per minute        (~60 s)
 *   rate_api_connection 3   API (2/s, 10/min) x disk (1/s) for ReadFile,
 *                           API x network (3/s) for ResolveAddress (~60 s)
 *
 * (or KEEL_RATE_VERSION=N). An optional second argument speeds time up by
 * that factor (limits are multiplied by it): `rate_api_connection 3 10`
 * runs version 3 in ~6 s; timestamps then show milliseconds. Output lines
 * are the book's: "HH:MM:SS ReadFile", UTC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keel/ctx.h"
#include "keel/rate.h"
#include "keel/task.h"

static double scale = 1;

static keel_rate_limit per(int64_t n, int64_t d) {   /* the book's Per */
  return keel_rate_per(n, d) * scale;
}

/* ---- the API connection ------------------------------------------------------ */

typedef struct api_connection {
  keel_rate_any read_file_limit, resolve_limit;   /* what each call waits on */
  keel_rate_limiter *limiters[8];
  keel_rate_multi *multis[8];
  int nlimiters, nmultis;
} api_connection;

static keel_rate_limiter *limiter(api_connection *a, keel_rate_limit r, int64_t b) {
  keel_rate_limiter *l = NULL;
  if (keel_rate_limiter_new(&l, r, b) == 0) a->limiters[a->nlimiters++] = l;
  return l;
}

static keel_rate_multi *multi(api_connection *a, keel_rate_any *members, size_t n) {
  keel_rate_multi *m = NULL;
  if (keel_rate_multi_new(&m, members, n) == 0) a->multis[a->nmultis++] = m;
  return m;
}

static void api_open(api_connection *a, int version) {
  memset(a, 0, sizeof *a);
  if (version == 0) {
    keel_rate_limiter *none = limiter(a, KEEL_RATE_INF, 0);
    a->read_file_limit = a->resolve_limit = keel_rate_any_limiter(none);
  } else if (version == 1) {
    keel_rate_limiter *l = limiter(a, 1 * scale, 1);
    a->read_file_limit = a->resolve_limit = keel_rate_any_limiter(l);
  } else if (version == 2) {
    keel_rate_any tiers[] = {
        keel_rate_any_limiter(limiter(a, per(2, KEEL_SECOND), 1)),
        keel_rate_any_limiter(limiter(a, per(10, KEEL_MINUTE), 10)),
    };
    a->read_file_limit = a->resolve_limit = keel_rate_any_multi(multi(a, tiers, 2));
  } else {
    keel_rate_any api_tiers[] = {
        keel_rate_any_limiter(limiter(a, per(2, KEEL_SECOND), 2)),
        keel_rate_any_limiter(limiter(a, per(10, KEEL_MINUTE), 10)),
    };
    keel_rate_any disk[] = {keel_rate_any_limiter(limiter(a, 1 * scale, 1))};
    keel_rate_any network[] = {keel_rate_any_limiter(limiter(a, per(3, KEEL_SECOND), 3))};
    keel_rate_any api = keel_rate_any_multi(multi(a, api_tiers, 2));
    keel_rate_any read_file[] = {api, keel_rate_any_multi(multi(a, disk, 1))};
    keel_rate_any resolve[] = {api, keel_rate_any_multi(multi(a, network, 1))};
    a->read_file_limit = keel_rate_any_multi(multi(a, read_file, 2));
    a->resolve_limit = keel_rate_any_multi(multi(a, resolve, 2));
  }
}

static void api_close(api_connection *a) {
  for (int i = a->nmultis - 1; i >= 0; i--) keel_rate_multi_free(a->multis[i]);
  for (int i = 0; i < a->nlimiters; i++) keel_rate_limiter_free(a->limiters[i]);
}

static int read_file(api_connection *a, keel_ctx *ctx) {
  int rc = a->read_file_limit.wait_n(a->read_file_limit.self, ctx, 1);
  if (rc) return rc;
  /* Pretend we do work here */
  return 0;
}

static int resolve_address(api_connection *a, keel_ctx *ctx) {
  int rc = a->resolve_limit.wait_n(a->resolve_limit.self, ctx, 1);
  if (rc) return rc;
  /* Pretend we do work here */
  return 0;
}

/* ---- the driver --------------------------------------------------------------- */

static void log_line(const char *what) {   /* log.Ltime | log.LUTC */
  int64_t now = keel_wall_now();
  time_t secs = (time_t)(now / KEEL_SECOND);
  struct tm tm;
  gmtime_r(&secs, &tm);
  if (scale == 1)
    printf("%02d:%02d:%02d %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, what);
  else
    printf("%02d:%02d:%02d.%03d %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
           (int)(now % KEEL_SECOND / KEEL_MILLISECOND), what);
  fflush(stdout);
}

typedef struct call {
  api_connection *api;
  bool read;
  keel_waitgroup *wg;
} call;

static void caller(void *p) {
  call *c = p;
  int rc = c->read ? read_file(c->api, keel_ctx_background())
                   : resolve_address(c->api, keel_ctx_background());
  if (rc) {
    char msg[96];
    snprintf(msg, sizeof msg, "cannot %s: %s", c->read ? "ReadFile" : "ResolveAddress",
             keel_strerror(rc));
    log_line(msg);
  }
  log_line(c->read ? "ReadFile" : "ResolveAddress");
  keel_waitgroup_done(c->wg);
}

int main(int argc, char **argv) {
  const char *v = argc > 1 ? argv[1] : getenv("KEEL_RATE_VERSION");
  int version = v ? atoi(v) : 1;
  if (argc > 2) scale = atof(argv[2]);
  if (version < 0 || version > 3 || !(scale > 0)) {
    fprintf(stderr, "usage: %s [0|1|2|3] [speed-up]\n", argv[0]);
    return 2;
  }
  api_connection api;
  api_open(&api, version);
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 20);
  call calls[20];
  for (int i = 0; i < 20; i++) {
    calls[i] = (call){&api, i < 10, &wg};
    int rc = keel_task_spawn(NULL, caller, &calls[i], NULL);
    if (rc) {
      fprintf(stderr, "spawn: %s\n", keel_strerror(rc));
      return 1;
    }
  }
  keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL);
  log_line("Done.");
  api_close(&api);
  keel_runtime_shutdown();
  return 0;
}
