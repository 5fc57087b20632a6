/* keel/rate_redis.h — rate limits shared by many processes and machines, kept in Redis.
 *
 * (Built only when hiredis is present: CMake defines the module rate_redis
 *  when pkg-config finds it.)
 *
 * A limit that holds across a fleet needs shared state; keel keeps it in the
 * Redis its users already run. Each check is one atomic step inside Redis: a
 * Lua script (loaded once with SCRIPT LOAD, called by its hash with EVALSHA,
 * reloaded by itself after a restart or SCRIPT FLUSH) that reads Redis's own
 * clock (TIME), so machines with skewed clocks agree. The algorithm is GCRA,
 * which is the token bucket of keel/rate.h seen through its "theoretical
 * arrival time": a bucket of `burst` tokens, full at first, refilled at
 * `limit` tokens per second.
 *
 *   keel_rate_redis_config cfg;
 *   keel_err *err = NULL;
 *   keel_rate_redis_config_from_url(&cfg, "redis://:secret@10.0.0.5:6379/0", &err);
 *   keel_rate_redis_pool *pool;
 *   keel_rate_redis_pool_new(&pool, &cfg, NULL, NULL);
 *
 *   keel_rate_redis_tier tiers[] = {
 *     {"1s", keel_rate_per(2, KEEL_SECOND), 2},      // 2 per second
 *     {"1m", keel_rate_per(10, KEEL_MINUTE), 10},    // and 10 per minute
 *   };
 *   keel_rate_redis_options o = { .prefix = "api", .tiers = tiers, .ntiers = 2,
 *                                 .policy = KEEL_RATE_REDIS_FAIL_LOCAL,
 *                                 .local_share = 0.25 };
 *   keel_rate_redis_limiter *lim;
 *   keel_rate_redis_limiter_new(&lim, pool, &o, &err);
 *
 *   keel_rate_redis_result r;
 *   keel_rate_redis_allow_n(lim, ctx, "tenant-42", 1, &r);   // r.allowed ...
 *   keel_rate_redis_wait_n(lim, ctx, "tenant-42", 1, &r);    // or wait for it
 *
 * Tiers: a limiter has one or more tiers for each key, all checked and charged
 * in the same step, all or nothing: a call admitted by "2 per second" and
 * refused by "10 per minute" charges neither.
 *
 * Keys: a key's tier t lives at "<prefix>:{<key>}:<t>"; the braces are a
 * Redis Cluster hash tag, so every tier of one key is in one slot (the script
 * touches only those). A key expires when its bucket would be full again, so
 * idle keys cost Redis no memory.
 *
 * Talking to Redis: a pool of connections, each driven by one keel task on
 * the netpoller (non-blocking sockets, keel_fd_wait); no worker thread ever
 * blocks on Redis. Checks from many tasks are pipelined: whatever queues
 * while a batch is written goes out together in the next one, up to two
 * batches in flight per connection and max_batch checks per script call.
 * Connect and command timeouts; reconnection with exponential backoff.
 *
 * When Redis is down, slow, or refuses (wrong password, out of memory), the
 * limiter's policy decides: fail open (admit), fail closed (refuse), or fall
 * back to an in-process keel_rate_limiter per key and tier at a set share of
 * the global rate. The switch and the recovery are reported as events with a
 * keel_err saying why.
 *
 * Threads: every function may be called from any task or plain thread, except
 * the _free functions (a plain thread or a task, but not while other calls on
 * the same object run). The limiter and pool are safe for concurrent use. */
#ifndef KEEL_RATE_REDIS_H
#define KEEL_RATE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/ctx.h"
#include "keel/err.h"
#include "keel/rate.h"
#include "keel/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- connection settings ------------------------------------------------ */

typedef struct keel_rate_redis_config {
  char host[256];           /* name or address; "127.0.0.1" by default */
  int port;                 /* 6379 by default */
  int db;                   /* SELECT'ed on connect when > 0 */
  char user[128];           /* ACL user; empty: AUTH <password> only */
  char password[256];       /* empty: no AUTH */
  int64_t connect_timeout;  /* ns to connect and handshake; default 1 s */
  int64_t command_timeout;  /* ns a check may wait for its reply; default 500 ms */
  int pool_size;            /* connections, 1..64; default 2 */
  int64_t backoff_min;      /* first reconnection delay; default 20 ms */
  int64_t backoff_max;      /* the delay doubles up to this; default 2 s */
  int max_batch;            /* checks per script call when pipelining, 1..1024;
                               default 64; 1 behind Redis Cluster (a call's keys
                               must then share a slot) */
} keel_rate_redis_config;

/* Fills cfg with the defaults above. */
void keel_rate_redis_config_default(keel_rate_redis_config *cfg);

/* Parses a URL into cfg (defaults first, then what the URL says):
 *
 *   redis://[[user]:password@]host[:port][/db][?param=value&...]
 *
 * host may be a name, an IPv4 address or a bracketed IPv6 address; user and
 * password are percent-decoded. Parameters: connect_timeout, command_timeout,
 * backoff_min, backoff_max (durations: "250ms", "2s", "500us", or a bare
 * number of milliseconds), pool_size and max_batch (integers).
 * Errors: KEEL_EPROTO for a malformed URL (wrong scheme, bad port or db, bad
 * escape, a field too long), KEEL_EINVAL for an unknown parameter or a bad
 * value; with err != NULL, *err receives a new keel_err (the caller releases
 * it) saying which part is wrong. On error cfg is left as it was. */
int keel_rate_redis_config_from_url(keel_rate_redis_config *cfg, const char *url,
                                    keel_err **err);

/* ---- events --------------------------------------------------------------- */

typedef enum keel_rate_redis_event_kind {
  KEEL_RATE_REDIS_CONNECTED = 1,  /* pool: a connection is up (again) */
  KEEL_RATE_REDIS_DISCONNECTED,   /* pool: a connection failed; err says why */
  KEEL_RATE_REDIS_DEGRADED,       /* limiter: Redis failed a check; the policy decides now */
  KEEL_RATE_REDIS_RECOVERED,      /* limiter: Redis answers checks again */
} keel_rate_redis_event_kind;

typedef struct keel_rate_redis_event {
  keel_rate_redis_event_kind kind;
  int code;              /* KEEL_E* of the failure (0 for CONNECTED/RECOVERED) */
  const keel_err *err;   /* borrowed for the call; retain it to keep it; may be NULL */
  const char *prefix;    /* the limiter's prefix (limiter events), else NULL */
  int connection;        /* the connection's index in the pool (pool events), else -1 */
} keel_rate_redis_event;

/* Called from the task that saw the change; keep it short and non-blocking. */
typedef void (*keel_rate_redis_event_fn)(void *arg, const keel_rate_redis_event *ev);

/* ---- the pool --------------------------------------------------------------- */

typedef struct keel_rate_redis_pool keel_rate_redis_pool;

/* Starts cfg->pool_size connection tasks (the runtime starts if needed); they
 * connect in the background, so a dead Redis is not an error here. on_event
 * (may be NULL) hears connection events. cfg is copied. Errors: KEEL_EINVAL
 * (bad cfg), KEEL_ENOMEM, the runtime's spawn errors. */
int keel_rate_redis_pool_new(keel_rate_redis_pool **out, const keel_rate_redis_config *cfg,
                             keel_rate_redis_event_fn on_event, void *arg);

/* Sends PING and waits for the answer (ctx's deadline, and at most
 * connect_timeout + command_timeout). 0 when Redis answered; else
 * KEEL_EUNAVAILABLE, KEEL_EAUTH (wrong password or user), KEEL_ETIMEDOUT,
 * the ctx's code; with err != NULL, *err gets a new keel_err saying why. */
int keel_rate_redis_pool_ping(keel_rate_redis_pool *pool, keel_ctx *ctx, keel_err **err);

typedef struct keel_rate_redis_stats {
  uint64_t round_trips;    /* batches written (up to two in flight, answered in order) */
  uint64_t commands;       /* commands sent */
  uint64_t script_loads;   /* SCRIPT LOADs (one per connect, one per NOSCRIPT) */
  uint64_t connects;       /* successful connects, reconnects included */
  uint64_t connect_failures;
} keel_rate_redis_stats;

void keel_rate_redis_pool_stats(const keel_rate_redis_pool *pool, keel_rate_redis_stats *out);

/* Stops the connection tasks, fails what is queued with KEEL_ESHUTDOWN, closes
 * the sockets and frees the pool. Every limiter on it must be freed first.
 * NULL is a no-op. */
void keel_rate_redis_pool_free(keel_rate_redis_pool *pool);

/* ---- the limiter -------------------------------------------------------------- */

typedef struct keel_rate_redis_tier {
  const char *name;       /* used in key names: letters, digits, '_', '-', '.' */
  keel_rate_limit limit;  /* tokens per second; KEEL_RATE_INF: always admits */
  int64_t burst;          /* bucket depth, >= 0 */
} keel_rate_redis_tier;

typedef enum keel_rate_redis_policy {
  KEEL_RATE_REDIS_FAIL_OPEN = 1,  /* Redis failing: admit every check */
  KEEL_RATE_REDIS_FAIL_CLOSED,    /* Redis failing: refuse every check */
  KEEL_RATE_REDIS_FAIL_LOCAL,     /* Redis failing: local limiters at local_share of each tier */
} keel_rate_redis_policy;

typedef struct keel_rate_redis_options {
  const char *prefix;                 /* namespace, no braces; copied */
  const keel_rate_redis_tier *tiers;  /* 1..8 tiers; copied */
  size_t ntiers;
  keel_rate_redis_policy policy;      /* 0 means FAIL_CLOSED */
  double local_share;                 /* FAIL_LOCAL: (0, 1]; e.g. 1/number of machines */
  size_t local_max_keys;              /* FAIL_LOCAL: keys kept locally; 0 = 4096 */
  keel_rate_redis_event_fn on_event;  /* DEGRADED / RECOVERED; may be NULL */
  void *event_arg;
} keel_rate_redis_options;

typedef struct keel_rate_redis_limiter keel_rate_redis_limiter;

/* Creates a limiter on pool (which must outlive it); opts and its tiers are
 * copied. A limit of 0 or below (or too small for its burst to refill within
 * 31 years), a NaN, a negative burst, a prefix with braces, a bad or repeated
 * tier name: KEEL_EINVAL, with *err (err may be NULL) a new keel_err the
 * caller releases, saying which. KEEL_ENOMEM. */
int keel_rate_redis_limiter_new(keel_rate_redis_limiter **out, keel_rate_redis_pool *pool,
                                const keel_rate_redis_options *opts, keel_err **err);
void keel_rate_redis_limiter_free(keel_rate_redis_limiter *l);   /* NULL is a no-op */

typedef enum keel_rate_redis_source {
  KEEL_RATE_REDIS_BY_REDIS = 1,  /* Redis decided */
  KEEL_RATE_REDIS_BY_POLICY,     /* Redis failed: fail open / fail closed decided */
  KEEL_RATE_REDIS_BY_LOCAL,      /* Redis failed: the local fallback limiter decided */
} keel_rate_redis_source;

typedef struct keel_rate_redis_result {
  bool allowed;
  keel_rate_redis_source source;
  int error;              /* why Redis did not decide (source != BY_REDIS), else 0 */
  int64_t remaining;      /* tokens left in the tightest tier after this call
                             (INT32_MAX when every tier is infinite) */
  int64_t retry_after;    /* ns until a refused call could pass; -1: never (n > burst) */
  int64_t reset_after;    /* ns until every tier is full again */
  int64_t redis_time_us;  /* Redis's clock (µs since the epoch) at the decision; 0 if none */
  int refused_tier;       /* the refusing tier with the longest wait (the binding
                             one), or -1 */
} keel_rate_redis_result;

/* Checks and, if every tier admits, charges n tokens for key (any bytes but
 * NUL, up to 512). Returns 0 once a decision is made (res->allowed; by Redis
 * or, when Redis failed, by the policy: see res->source and res->error), or
 * KEEL_EINVAL (n < 0, bad key), KEEL_ENOMEM, or the ctx's code when ctx was
 * done before a decision. ctx may be NULL (background); its deadline bounds
 * the wait for Redis, as does the command timeout. */
int keel_rate_redis_allow_n(keel_rate_redis_limiter *l, keel_ctx *ctx, const char *key,
                            int64_t n, keel_rate_redis_result *res);
static inline int keel_rate_redis_allow(keel_rate_redis_limiter *l, keel_ctx *ctx,
                                        const char *key, keel_rate_redis_result *res) {
  return keel_rate_redis_allow_n(l, ctx, key, 1, res);
}

/* Waits until n tokens for key are admitted, sleeping the retry-after Redis
 * returns between tries. 0 when admitted (res filled, may be NULL); KEEL_ELIMIT
 * at once when n exceeds a tier's burst; KEEL_EDEADLINE at once when the
 * retry-after would pass ctx's deadline; ctx's code when it is done while
 * waiting. When Redis fails: FAIL_OPEN returns 0, FAIL_CLOSED returns the
 * failure's code (KEEL_EUNAVAILABLE, KEEL_ETIMEDOUT, KEEL_EAUTH, ...),
 * FAIL_LOCAL waits on the local limiters. */
int keel_rate_redis_wait_n(keel_rate_redis_limiter *l, keel_ctx *ctx, const char *key,
                           int64_t n, keel_rate_redis_result *res);
static inline int keel_rate_redis_wait(keel_rate_redis_limiter *l, keel_ctx *ctx,
                                       const char *key, keel_rate_redis_result *res) {
  return keel_rate_redis_wait_n(l, ctx, key, 1, res);
}

/* Writes key's Redis name for tier t into buf (NUL-terminated); returns the
 * length it needs (like snprintf), or KEEL_EINVAL. For tools and tests. */
int keel_rate_redis_key_name(const keel_rate_redis_limiter *l, const char *key, size_t tier,
                             char *buf, size_t size);

/* True while the limiter is degraded (its last Redis check failed). */
bool keel_rate_redis_degraded(const keel_rate_redis_limiter *l);

#ifdef __cplusplus
}
#endif
#endif
