/* The book's APIConnection with its two-tier limit (2 per second, 10 per
 * minute), but the limit lives in Redis, so any number of processes running
 * this program share it. 20 tasks call ReadFile / ResolveAddress once each;
 * the timestamps follow the book's: two a second for the first ten calls,
 * then one every six seconds (about a minute in all).
 *
 *   examples/rate_redis_book                 starts its own redis-server
 *   KEEL_REDIS_URL=redis://host:6379 examples/rate_redis_book   uses yours
 *                                            (run it on two machines at once:
 *                                             they share the limit) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "keel/rate_redis.h"
#include "keel/task.h"
#include "rate_redis_server.h"

typedef struct api_connection {
  keel_rate_redis_limiter *limiter;
} api_connection;

static int api_wait(api_connection *a, keel_ctx *ctx) {
  keel_rate_redis_result r;
  return keel_rate_redis_wait(a->limiter, ctx, "api", &r);
}

static void log_line(const char *what) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  printf("%02d:%02d:%02d %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec, what);
  fflush(stdout);
}

struct call { api_connection *api; const char *name; keel_waitgroup *wg; };

static void call_task(void *arg) {
  struct call *c = arg;
  int rc = api_wait(c->api, keel_ctx_background());
  if (rc) printf("cannot %s: %s\n", c->name, keel_strerror(rc));
  log_line(c->name);
  keel_waitgroup_done(c->wg);
}

int main(void) {
  demo_redis server = {0};
  const char *url = getenv("KEEL_REDIS_URL");
  if (!url) {
    if (!demo_redis_start(&server, false)) return 1;
    url = server.url;
  }
  keel_rate_redis_config cfg;
  keel_err *err = NULL;
  if (keel_rate_redis_config_from_url(&cfg, url, &err)) {
    fprintf(stderr, "%s\n", keel_err_message(err));
    return 1;
  }
  keel_rate_redis_pool *pool;
  keel_rate_redis_pool_new(&pool, &cfg, NULL, NULL);
  keel_rate_redis_tier tiers[] = {
      {"second", keel_rate_per(2, KEEL_SECOND), 1},   /* no burstiness */
      {"minute", keel_rate_per(10, KEEL_MINUTE), 10}, /* the users' initial pool */
  };
  keel_rate_redis_options o = {.prefix = "book", .tiers = tiers, .ntiers = 2,
                               .policy = KEEL_RATE_REDIS_FAIL_CLOSED};
  api_connection api;
  if (keel_rate_redis_limiter_new(&api.limiter, pool, &o, &err)) {
    fprintf(stderr, "%s\n", keel_err_message(err));
    return 1;
  }
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 20);
  struct call calls[20];
  for (int i = 0; i < 20; i++) {
    calls[i] = (struct call){&api, i < 10 ? "ReadFile" : "ResolveAddress", &wg};
    keel_task_spawn(NULL, call_task, &calls[i], NULL);
  }
  keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL);
  log_line("Done.");
  keel_rate_redis_limiter_free(api.limiter);
  keel_rate_redis_pool_free(pool);
  if (server.pid) demo_redis_stop(&server);
  return 0;
}
