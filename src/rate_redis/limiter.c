/* The distributed limiter: a check is one EVALSHA of the GCRA script over a
 * key's tiers; when Redis fails, the limiter's policy decides.
 *
 * Invariants:
 * - The tier arguments (emission interval, burst) are encoded once, at
 *   creation; a check only adds the key names and n.
 * - `degraded` flips to true on the first failed check and back on the first
 *   answered one; each flip is reported once, by the task that made it.
 * - The local fallback limiters exist only under FAIL_LOCAL: one keyed
 *   limiter per tier at local_share of the tier's rate and burst. */
#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/rate_redis.h"
#include "rate_redis/conn.h"

#define MODULE "rate_redis"
#define MAX_TIERS 8
#define MAX_KEY 512

struct keel_rate_redis_limiter {
  keel_rate_redis_pool *pool;
  char *prefix;
  size_t ntiers;
  keel_rate_redis_tier tiers[MAX_TIERS];
  char *names[MAX_TIERS];
  rr_buf tier_args;  /* em_1 burst_1 ... em_k burst_k, encoded */
  keel_rate_redis_policy policy;
  double share;
  keel_rate_keyed *local[MAX_TIERS];
  keel_rate_redis_event_fn on_event;
  void *event_arg;
  _Atomic bool degraded;
};

static int bad(keel_err **err, const char *fmt, const char *what) {
  if (err) *err = keel_err_new(MODULE, KEEL_EINVAL, fmt, what);
  return KEEL_EINVAL;
}

static bool good_name(const char *s) {
  if (!s || !*s || strlen(s) > 64) return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("_-.", *s)) return false;
  return true;
}

static void limiter_free(keel_rate_redis_limiter *l) {
  for (size_t i = 0; i < MAX_TIERS; i++) {
    free(l->names[i]);
    keel_rate_keyed_free(l->local[i]);
  }
  free(l->prefix);
  rr_buf_free(&l->tier_args);
  free(l);
}

int keel_rate_redis_limiter_new(keel_rate_redis_limiter **out, keel_rate_redis_pool *pool,
                                const keel_rate_redis_options *o, keel_err **err) {
  if (err) *err = NULL;
  if (!out || !pool || !o) return bad(err, "%s", "NULL limiter, pool or options");
  if (!o->prefix || !*o->prefix || strlen(o->prefix) > 128 || strpbrk(o->prefix, "{}"))
    return bad(err, "bad prefix \"%s\": 1..128 bytes without braces (braces are hash tags)",
               o->prefix ? o->prefix : "(null)");
  if (!o->tiers || o->ntiers < 1 || o->ntiers > MAX_TIERS)
    return bad(err, "%s", "a limiter needs 1..8 tiers");
  int policy = o->policy ? (int)o->policy : KEEL_RATE_REDIS_FAIL_CLOSED;
  if (policy < KEEL_RATE_REDIS_FAIL_OPEN || policy > KEEL_RATE_REDIS_FAIL_LOCAL)
    return bad(err, "%s", "unknown failure policy");
  if (policy == KEEL_RATE_REDIS_FAIL_LOCAL && !(o->local_share > 0 && o->local_share <= 1))
    return bad(err, "%s", "FAIL_LOCAL needs a local_share in (0, 1]");
  for (size_t i = 0; i < o->ntiers; i++) {
    const keel_rate_redis_tier *t = &o->tiers[i];
    if (!good_name(t->name))
      return bad(err, "bad tier name \"%s\": 1..64 of letters, digits, '_', '-', '.'",
                 t->name ? t->name : "(null)");
    for (size_t j = 0; j < i; j++)
      if (!strcmp(o->tiers[j].name, t->name)) return bad(err, "tier name \"%s\" used twice", t->name);
    if (isnan(t->limit) || t->limit <= 0)
      return bad(err, "tier \"%s\": the limit must be > 0 events per second (or KEEL_RATE_INF)",
                 t->name);
    if (t->burst < 0 || t->burst > INT32_MAX)
      return bad(err, "tier \"%s\": the burst must be in 0..2^31-1", t->name);
    /* a bucket must refill within what Redis can expire: ~31 years */
    if (!keel_rate_limit_is_inf(t->limit) &&
        1e6 / t->limit * (double)(t->burst > 0 ? t->burst : 1) > 1e15)
      return bad(err, "tier \"%s\": the limit is too small for its burst (a bucket must "
                      "refill within 31 years)", t->name);
  }
  keel_rate_redis_limiter *l = calloc(1, sizeof *l);
  if (!l) return KEEL_ENOMEM;
  l->pool = pool;
  l->ntiers = o->ntiers;
  l->policy = (keel_rate_redis_policy)policy;
  l->share = o->local_share;
  l->on_event = o->on_event;
  l->event_arg = o->event_arg;
  l->prefix = strdup(o->prefix);
  int rc = l->prefix ? 0 : KEEL_ENOMEM;
  for (size_t i = 0; rc == 0 && i < o->ntiers; i++) {
    l->tiers[i] = o->tiers[i];
    l->names[i] = strdup(o->tiers[i].name);
    if (!l->names[i]) {
      rc = KEEL_ENOMEM;
      break;
    }
    l->tiers[i].name = l->names[i];
    double limit = o->tiers[i].limit;
    double em = keel_rate_limit_is_inf(limit) ? 0.0 : 1e6 / limit;
    if (rr_buf_bulk_double(&l->tier_args, em) ||
        rr_buf_bulk_int(&l->tier_args, (long long)o->tiers[i].burst))
      rc = KEEL_ENOMEM;
    if (rc == 0 && policy == KEEL_RATE_REDIS_FAIL_LOCAL) {
      double b = ceil((double)o->tiers[i].burst * o->local_share);
      keel_rate_keyed_options ko = {
          .limit = keel_rate_limit_is_inf(limit) ? KEEL_RATE_INF : limit * o->local_share,
          .burst = o->tiers[i].burst > 0 && b < 1 ? 1 : (int64_t)b,
          .max_keys = o->local_max_keys ? o->local_max_keys : 4096,
      };
      rc = keel_rate_keyed_new(&l->local[i], &ko);
    }
  }
  if (rc) {
    limiter_free(l);
    return rc;
  }
  *out = l;
  return 0;
}

void keel_rate_redis_limiter_free(keel_rate_redis_limiter *l) {
  if (l) limiter_free(l);
}

bool keel_rate_redis_degraded(const keel_rate_redis_limiter *l) {
  return l && atomic_load(&((keel_rate_redis_limiter *)l)->degraded);
}

/* "<prefix>:{<key>}:<tier name>" with snprintf's contract (the full length
 * returned, the copy truncated and terminated), without its cost on every check. */
static int key_name(const keel_rate_redis_limiter *l, const char *key, size_t tier, char *buf,
                    size_t size) {
  const char *parts[5] = {l->prefix, ":{", key, "}:", l->names[tier]};
  size_t len = 0;
  for (int i = 0; i < 5; i++) {
    size_t n = strlen(parts[i]);
    if (len < size) memcpy(buf + len, parts[i], n < size - len ? n : size - len);
    len += n;
  }
  if (size) buf[len < size ? len : size - 1] = '\0';
  return (int)len;
}

int keel_rate_redis_key_name(const keel_rate_redis_limiter *l, const char *key, size_t tier,
                             char *buf, size_t size) {
  if (!l || !key || tier >= l->ntiers || (!buf && size)) return KEEL_EINVAL;
  return key_name(l, key, tier, buf, size);
}

/* ---- events ------------------------------------------------------------------ */

static void emit(keel_rate_redis_limiter *l, keel_rate_redis_event_kind kind, int code,
                 const keel_err *err) {
  if (!l->on_event) return;
  keel_rate_redis_event ev = {.kind = kind, .code = code, .err = err, .prefix = l->prefix,
                              .connection = -1};
  l->on_event(l->event_arg, &ev);
}

static void note_failure(keel_rate_redis_limiter *l, int code, const keel_err *err) {
  if (!atomic_exchange(&l->degraded, true)) emit(l, KEEL_RATE_REDIS_DEGRADED, code, err);
}

static void note_success(keel_rate_redis_limiter *l) {
  if (atomic_load_explicit(&l->degraded, memory_order_relaxed) &&
      atomic_exchange(&l->degraded, false))
    emit(l, KEEL_RATE_REDIS_RECOVERED, 0, NULL);
}

/* ---- one check in Redis -------------------------------------------------------- */

static int check_key(const char *key) {
  if (!key) return KEEL_EINVAL;
  size_t len = strnlen(key, MAX_KEY + 1);
  return len > MAX_KEY ? KEEL_EINVAL : 0;
}

static int encode_check(const keel_rate_redis_limiter *l, rr_request *r, const char *key,
                        int64_t n) {
  char name[MAX_KEY + 256];
  for (size_t i = 0; i < l->ntiers; i++) {
    int len = key_name(l, key, i, name, sizeof name);
    if (rr_buf_bulk(&r->body, name, (size_t)len)) return KEEL_ENOMEM;
  }
  r->keys_len = r->body.len;
  r->nkeys = (long)l->ntiers;
  r->nargs = 2 + 2 * (long)l->ntiers;
  if (rr_buf_bulk_int(&r->body, (long long)l->ntiers) || rr_buf_bulk_int(&r->body, (long long)n) ||
      rr_buf_append(&r->body, l->tier_args.data, l->tier_args.len))
    return KEEL_ENOMEM;
  return 0;
}

/* 0 with *res filled when Redis decided; else the failure's code, *why set
 * (owned by the caller), or the ctx's code when ctx ended the wait (returned
 * as *ctx_done = true). */
static int redis_check(keel_rate_redis_limiter *l, keel_ctx *ctx, const char *key, int64_t n,
                       keel_rate_redis_result *res, keel_err **why, bool *ctx_done) {
  *why = NULL;
  *ctx_done = false;
  rr_request *r;
  int rc = rr_request_new(&r, RR_CHECK);
  if (rc) return rc;
  if (encode_check(l, r, key, n)) {
    rr_request_release(r);
    rr_request_release(r);
    return KEEL_ENOMEM;
  }
  int64_t deadline = rr_pool_deadline(l->pool), cd;
  if (ctx && keel_ctx_deadline(ctx, &cd) && cd < deadline) deadline = cd;
  rr_pool_submit(l->pool, r);
  rc = rr_request_wait(r, deadline, ctx ? keel_ctx_cancel_token(ctx) : NULL);
  if (rc) {
    if (ctx && keel_ctx_err(ctx)) {
      *ctx_done = true;
      rc = keel_ctx_err(ctx);
    } else {
      *why = keel_err_new(MODULE, rc, "no reply from Redis at %s:%d within the command timeout "
                                      "(%lld ms): %s", l->pool->cfg.host, l->pool->cfg.port,
                          (long long)(l->pool->cfg.command_timeout / KEEL_MILLISECOND),
                          keel_strerror(rc));
    }
    rr_request_release(r);
    return rc;
  }
  if (r->status) {
    rc = r->status;
    *why = r->err ? keel_err_retain(r->err) : keel_err_new(MODULE, rc, "Redis check failed");
    rr_request_release(r);
    return rc;
  }
  if (r->err_text[0]) {
    rc = rr_error_code(r->err_text);
    *why = keel_err_new(MODULE, rc, "%s (Redis at %s:%d, rate check): %s",
                        rr_error_hint(r->err_text), l->pool->cfg.host, l->pool->cfg.port,
                        r->err_text);
    rr_request_release(r);
    return rc;
  }
  const long long *v = r->vals;
  res->allowed = v[0] == 1;
  res->source = KEEL_RATE_REDIS_BY_REDIS;
  res->error = 0;
  res->remaining = v[1];
  res->retry_after = v[2] < 0 ? -1 : v[2] * KEEL_MICROSECOND;
  res->reset_after = v[3] * KEEL_MICROSECOND;
  res->redis_time_us = v[4];
  res->refused_tier = (int)v[5] - 1;
  rr_request_release(r);
  return 0;
}

/* ---- the policy ---------------------------------------------------------------- */

static void local_decide(keel_rate_redis_limiter *l, const char *key, int64_t n,
                         keel_rate_redis_result *res) {
  size_t klen = strlen(key);
  int64_t now = keel_rate_now();
  res->allowed = true;
  res->remaining = INT32_MAX;
  for (size_t i = 0; i < l->ntiers; i++) {
    int ok = keel_rate_keyed_allow_n_at(l->local[i], key, klen, now, n);
    double tokens = keel_rate_keyed_tokens_at(l->local[i], key, klen, now);
    if (tokens < (double)res->remaining) res->remaining = tokens < 0 ? 0 : (int64_t)tokens;
    if (ok != 1) {
      res->allowed = false;
      res->refused_tier = (int)i;
      double limit = l->tiers[i].limit * l->share;
      double need = (double)n - tokens;
      res->retry_after = need <= 0 ? 0 : (int64_t)ceil(need / limit * 1e9);
      break;
    }
  }
}

static void apply_policy(keel_rate_redis_limiter *l, const char *key, int64_t n, int code,
                         keel_rate_redis_result *res) {
  memset(res, 0, sizeof *res);
  res->error = code;
  res->refused_tier = -1;
  switch (l->policy) {
  case KEEL_RATE_REDIS_FAIL_OPEN:
    res->source = KEEL_RATE_REDIS_BY_POLICY;
    res->allowed = true;
    break;
  case KEEL_RATE_REDIS_FAIL_LOCAL:
    res->source = KEEL_RATE_REDIS_BY_LOCAL;
    local_decide(l, key, n, res);
    break;
  default:
    res->source = KEEL_RATE_REDIS_BY_POLICY;
    res->allowed = false;
    break;
  }
}

/* One check: Redis's answer, or, when Redis fails, the policy's (the failure
 * noted and logged; *by_policy then true, res->error its code). Returns 0
 * with *res filled, or the context's code or KEEL_ENOMEM: nothing decided. */
static int check_once(keel_rate_redis_limiter *l, keel_ctx *ctx, const char *key,
                      int64_t n, keel_rate_redis_result *res, bool *by_policy) {
  keel_err *why;
  bool ctx_done;
  *by_policy = false;
  int rc = redis_check(l, ctx, key, n, res, &why, &ctx_done);
  if (rc == 0) {
    note_success(l);
    return 0;
  }
  if (ctx_done || rc == KEEL_ENOMEM) {
    keel_err_release(why);
    return rc;
  }
  note_failure(l, rc, why);
  keel_err_release(why);
  apply_policy(l, key, n, rc, res);
  *by_policy = true;
  return 0;
}

int keel_rate_redis_allow_n(keel_rate_redis_limiter *l, keel_ctx *ctx, const char *key,
                            int64_t n, keel_rate_redis_result *res) {
  if (!l || !res || n < 0 || n > INT32_MAX || check_key(key)) return KEEL_EINVAL;
  if (ctx && keel_ctx_err(ctx)) return keel_ctx_err(ctx);
  bool by_policy;
  return check_once(l, ctx, key, n, res, &by_policy);
}

int keel_rate_redis_wait_n(keel_rate_redis_limiter *l, keel_ctx *ctx, const char *key,
                           int64_t n, keel_rate_redis_result *res) {
  keel_rate_redis_result tmp;
  if (!res) res = &tmp;
  if (!l || n < 0 || n > INT32_MAX || check_key(key)) return KEEL_EINVAL;
  keel_ctx *c = ctx ? ctx : keel_ctx_background();
  for (;;) {
    if (keel_ctx_err(c)) return keel_ctx_err(c);
    bool by_policy;
    int rc = check_once(l, ctx, key, n, res, &by_policy);
    if (rc) return rc;
    if (!by_policy) {
      if (res->allowed) return 0;
      if (res->retry_after < 0) return KEEL_ELIMIT;
      int64_t d = res->retry_after > 0 ? res->retry_after : KEEL_MICROSECOND;
      int64_t deadline;
      if (keel_ctx_deadline(c, &deadline) && keel_now() + d > deadline) return KEEL_EDEADLINE;
      rc = keel_ctx_sleep(c, d);
      if (rc) return rc;
      continue;
    }
    if (l->policy == KEEL_RATE_REDIS_FAIL_OPEN) return 0;
    if (l->policy != KEEL_RATE_REDIS_FAIL_LOCAL) return res->error;
    if (res->allowed) return 0;
    /* Local fallback: wait on the tiers in order, as the book's multiLimiter.
     * The tiers that admitted in local_decide already charged n. */
    size_t klen = strlen(key);
    for (size_t i = (size_t)res->refused_tier; i < l->ntiers; i++) {
      rc = keel_rate_keyed_wait_n(l->local[i], key, klen, c, n);
      if (rc) return rc;
    }
    res->allowed = true;
    res->retry_after = 0;
    res->refused_tier = -1;
    return 0;
  }
}
