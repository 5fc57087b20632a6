/* tour: Rate limits shared through Redis */
/*
 * Two "machines" (each with its own connection pool, as two processes on two
 * hosts would have) share one tiered limit kept in Redis: 5 per second
 * (burst 2) and 10 per minute for the key "tenant-42". They take turns, and
 * every admission is counted against the same buckets, so together they get
 * exactly what one would: 10 calls, then a refusal from the per-minute tier
 * with the retry-after Redis computed. Times are Redis's clock, shown on the
 * 0.2 s grid of the per-second tier (rounded down), so that the output reads
 * the same on a busy machine where a wake-up comes a few ms late.
 *
 * The tour starts its own redis-server on a free loopback port and stops it
 * at the end; without redis-server installed it says so and exits.
 */
#include <stdio.h>

#include "keel/rate_redis.h"
#include "rate_redis_server.h"

/* µs since the first call, rounded down to the per-second tier's 0.2 s grid */
static double grid(int64_t us) { return (double)(us / 200000) * 0.2; }

int main(void) {
  demo_redis server;
  if (!demo_redis_start(&server, true)) {
    printf("redis-server is not installed here, so this step is skipped "
           "(apt install redis-server to see it).\n");
    return 0;
  }
  printf("started redis-server on a free loopback port (no persistence)\n");

  keel_rate_redis_config cfg;
  keel_err *err = NULL;
  if (keel_rate_redis_config_from_url(&cfg, server.url, &err)) {
    printf("bad url: %s\n", keel_err_message(err));
    return 1;
  }
  keel_rate_redis_tier tiers[] = {
      {"1s", keel_rate_per(5, KEEL_SECOND), 2},
      {"1m", keel_rate_per(10, KEEL_MINUTE), 10},
  };
  keel_rate_redis_options opts = {.prefix = "tour", .tiers = tiers, .ntiers = 2,
                                  .policy = KEEL_RATE_REDIS_FAIL_CLOSED};
  keel_rate_redis_pool *pool[2];
  keel_rate_redis_limiter *lim[2];
  for (int m = 0; m < 2; m++) {
    if (keel_rate_redis_pool_new(&pool[m], &cfg, NULL, NULL) ||
        keel_rate_redis_limiter_new(&lim[m], pool[m], &opts, &err)) {
      printf("setup failed\n");
      return 1;
    }
  }
  char name[64];
  keel_rate_redis_key_name(lim[0], "tenant-42", 0, name, sizeof name);
  printf("both machines check \"tenant-42\"; its per-second bucket is the Redis key %s\n", name);

  int64_t t0 = 0;
  keel_rate_redis_result r;
  for (int i = 0; i < 10; i++) {
    int m = i % 2;
    if (keel_rate_redis_wait(lim[m], NULL, "tenant-42", &r) != 0 ||
        r.source != KEEL_RATE_REDIS_BY_REDIS) {
      printf("unexpected: Redis did not decide\n");
      return 1;
    }
    if (i == 0) t0 = r.redis_time_us;
    printf("t=%.1fs  machine %c  call %2d admitted   (tokens left in the tightest tier: %lld)\n",
           grid(r.redis_time_us - t0), 'A' + m, i + 1, (long long)r.remaining);
  }
  keel_rate_redis_allow(lim[0], NULL, "tenant-42", &r);
  printf("t=%.1fs  machine A  call 11 %s by tier \"%s\": retry in about %.0f s\n",
         grid(r.redis_time_us - t0), r.allowed ? "admitted?!" : "refused",
         r.refused_tier >= 0 ? tiers[r.refused_tier].name : "-", (double)r.retry_after / 1e9);
  keel_rate_redis_allow(lim[1], NULL, "tenant-42", &r);
  printf("         machine B  call 12 %s as well: the limit is the fleet's, not each machine's\n",
         r.allowed ? "admitted?!" : "refused");

  for (int m = 0; m < 2; m++) {
    keel_rate_redis_limiter_free(lim[m]);
    keel_rate_redis_pool_free(pool[m]);
  }
  demo_redis_stop(&server);
  printf("stopped redis-server\n");
  return 0;
}
