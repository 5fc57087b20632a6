/* bench/rate_redis.c — the distributed limiter against its own redis-server.
 *
 *   redis_checks_per_sec_1conn      one task, one connection, one check per round trip
 *   redis_ping_per_sec              redis-benchmark -t ping -c 1 -P 1 on the same server
 *                                   (or a PING loop through the pool without it)
 *   redis_checks_per_sec_pipelined  256 tasks on one connection: batched round trips
 *   redis_added_latency             a check's latency minus a bare EVALSHA round trip
 *                                   (hiredis's blocking client, same script, same args)
 *
 * No Go twin: the comparison that matters is with Redis itself. */
#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../examples/rate_redis_server.h"
#include "bench.h"
#include "keel/rate_redis.h"
#include "keel/task.h"

static keel_rate_redis_limiter *lim;
static int64_t run_for = 1 * KEEL_SECOND;

struct seq { int64_t ops, elapsed; };

static void sequential(void *arg) {
  struct seq *s = arg;
  keel_rate_redis_result r;
  for (int i = 0; i < 200; i++) keel_rate_redis_allow(lim, NULL, "bench", &r);   /* warm up */
  int64_t t0 = keel_now(), ops = 0;
  while (keel_now() - t0 < run_for) {
    for (int i = 0; i < 100; i++) keel_rate_redis_allow(lim, NULL, "bench", &r);
    ops += 100;
  }
  s->elapsed = keel_now() - t0;
  s->ops = ops;
}

static _Atomic bool stop;
static _Atomic int64_t pipelined_ops;

static void hammer(void *arg) {
  keel_waitgroup *wg = arg;
  keel_rate_redis_result r;
  char key[16];
  snprintf(key, sizeof key, "k%d", (int)(keel_task_id() % 64));
  int64_t n = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    keel_rate_redis_allow(lim, NULL, key, &r);
    n++;
  }
  atomic_fetch_add(&pipelined_ops, n);
  keel_waitgroup_done(wg);
}

struct lat { int port; double check, bare; };

/* Runs in a task: the hiredis calls block its worker, which is what a bare
 * round trip is; the checks park the task and let the connection task run. */
static void latency_task(void *arg) {
  struct lat *l = arg;
  redisContext *c = redisConnect("127.0.0.1", l->port);
  extern const char keel_rate_redis_script[];
  redisReply *sha = c && !c->err ? redisCommand(c, "SCRIPT LOAD %s", keel_rate_redis_script) : NULL;
  if (sha && sha->type == REDIS_REPLY_STRING) {
    char key[64];
    keel_rate_redis_key_name(lim, "bench", 0, key, sizeof key);
    /* the same script and arguments keel sends for this limiter */
    const char *argv[] = {"EVALSHA", sha->str, "1", key, "1", "1", "1", "9.9999999999999995e-07", "1000000000"};
    keel_rate_redis_result r;
    for (int i = 0; i < 200; i++) freeReplyObject(redisCommandArgv(c, 9, argv, NULL));
    int64_t keel_ns = 0, bare_ns = 0, n = 0, b0 = keel_now();
    while (keel_now() - b0 < 2 * run_for) {
      int64_t t1 = keel_now();
      for (int i = 0; i < 100; i++) keel_rate_redis_allow(lim, NULL, "bench", &r);
      int64_t t2 = keel_now();
      for (int i = 0; i < 100; i++) freeReplyObject(redisCommandArgv(c, 9, argv, NULL));
      keel_ns += t2 - t1;
      bare_ns += keel_now() - t2;
      n += 100;
    }
    l->bare = (double)bare_ns / (double)n;
    l->check = (double)keel_ns / (double)n;
  }
  if (sha) freeReplyObject(sha);
  if (c) redisFree(c);
}

static double redis_benchmark_ping(int port) {
  if (access("/usr/bin/redis-benchmark", X_OK) != 0) return -1;
  char cmd[256];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/redis-benchmark -h 127.0.0.1 -p %d -t ping -c 1 -P 1 -n 40000 -q 2>/dev/null",
           port);
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  char line[8192];
  double best = -1;
  while (fgets(line, sizeof line, f)) {
    /* "PING_MBULK: 31746.03 requests per second, p50=0.031 msec", after
     * "\r"-separated progress lines "PING_MBULK: rps=..." */
    for (char *p = strstr(line, "PING_MBULK:"); p; p = strstr(p + 1, "PING_MBULK:")) {
      char *e;
      double v = strtod(p + strlen("PING_MBULK:"), &e);
      if (e != p + strlen("PING_MBULK:") && strstr(e, "requests per second") == e + 1) best = v;
    }
  }
  pclose(f);
  return best;
}

int main(void) {
  demo_redis server;
  if (!demo_redis_start(&server, false)) {
    fprintf(stderr, "rate_redis bench: needs redis-server (apt install redis-server)\n");
    return 1;
  }
  keel_rate_redis_config cfg;
  keel_rate_redis_config_from_url(&cfg, server.url, NULL);
  cfg.pool_size = 1;
  cfg.command_timeout = 5 * KEEL_SECOND;
  keel_rate_redis_pool *pool;
  if (keel_rate_redis_pool_new(&pool, &cfg, NULL, NULL)) return 1;
  keel_rate_redis_tier tier = {"t", 1e12, 1000000000};   /* never refuses: measure the check */
  keel_rate_redis_options o = {.prefix = "bench", .tiers = &tier, .ntiers = 1};
  if (keel_rate_redis_limiter_new(&lim, pool, &o, NULL)) return 1;
  if (keel_rate_redis_pool_ping(pool, NULL, NULL)) {
    fprintf(stderr, "rate_redis bench: Redis did not answer\n");
    return 1;
  }

  /* 1. one connection, one check at a time */
  struct seq s;
  keel_task *t;
  keel_task_spawn(&t, sequential, &s, NULL);
  keel_task_join(t, KEEL_FOREVER, NULL);
  double checks_1conn = (double)s.ops * 1e9 / (double)s.elapsed;
  bench_report_unit("redis_checks_per_sec_1conn", checks_1conn, "ops/s");

  /* 2. redis-benchmark's PING on the same server */
  double ping = redis_benchmark_ping(server.port);
  if (ping < 0) {
    int64_t t0 = keel_now(), n = 0;
    while (keel_now() - t0 < run_for) {
      keel_rate_redis_pool_ping(pool, NULL, NULL);
      n++;
    }
    ping = (double)n * 1e9 / (double)(keel_now() - t0);
  }
  bench_report_unit("redis_ping_per_sec", ping, "ops/s");

  /* 3. many tasks, one connection: pipelined */
  enum { TASKS = 256 };
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, TASKS);
  keel_rate_redis_stats st0, st1;
  keel_rate_redis_pool_stats(pool, &st0);
  int64_t t0 = keel_now();
  for (int i = 0; i < TASKS; i++) keel_task_spawn(NULL, hammer, &wg, NULL);
  keel_sleep(run_for);
  atomic_store(&stop, true);
  keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL);
  int64_t el = keel_now() - t0;
  keel_rate_redis_pool_stats(pool, &st1);
  double checks_pipe = (double)atomic_load(&pipelined_ops) * 1e9 / (double)el;
  bench_report_unit("redis_checks_per_sec_pipelined", checks_pipe, "ops/s");
  fprintf(stderr, "  pipelined: %.1f checks per round trip, %.1fx the unpipelined rate\n",
          (double)(st1.commands - st0.commands) / (double)(st1.round_trips - st0.round_trips),
          checks_pipe / checks_1conn);

  /* 4. added latency over a bare EVALSHA round trip (hiredis, blocking),
   * both from one task, alternating, so both see the same machine load */
  struct lat l = {.port = server.port, .bare = -1};
  keel_task_spawn(&t, latency_task, &l, NULL);
  keel_task_join(t, KEEL_FOREVER, NULL);
  if (l.bare > 0) {
    bench_report_unit("redis_added_latency", l.check - l.bare, "ns");
    fprintf(stderr, "  check %.0f ns, bare EVALSHA %.0f ns\n", l.check, l.bare);
  }

  keel_rate_redis_limiter_free(lim);
  keel_rate_redis_pool_free(pool);
  keel_runtime_shutdown();
  demo_redis_stop(&server);
  return 0;
}
