/* The Lua script alone, against a real redis-server, through hiredis's
 * blocking API (no keel runtime): GCRA arithmetic, tiers charged all or
 * nothing, Redis's clock, idle keys expiring when their bucket is full,
 * several checks in one call. */
#include <hiredis/hiredis.h>

#include "rr_test.h"
#include "rate_redis/script.h"
#include "redis_harness.h"

static rrh_server srv;
static redisContext *rc_;
static char sha[41];

static bool setup(void) {
  if (!rrh_start(&srv, 0, NULL)) return false;
  rc_ = rrh_connect(&srv, NULL);
  if (!rc_) return false;
  redisReply *r = redisCommand(rc_, "SCRIPT LOAD %s", keel_rate_redis_script);
  bool ok = r && r->type == REDIS_REPLY_STRING && r->len == 40;
  if (ok) memcpy(sha, r->str, 41);
  if (r && !ok && r->type == REDIS_REPLY_ERROR) fprintf(stderr, "  SCRIPT LOAD: %s\n", r->str);
  if (r) freeReplyObject(r);
  return ok;
}

typedef struct { long long allowed, remaining, retry_us, reset_us, now_us, refused; } reply6;

/* key tiers: "s" 2/s burst 1, "m" 10/min burst 10 (the book's API limit) */
static bool check2(const char *key, long long n, reply6 *o) {
  char ks[128], km[128], nn[32];
  snprintf(ks, sizeof ks, "t:{%s}:s", key);
  snprintf(km, sizeof km, "t:{%s}:m", key);
  snprintf(nn, sizeof nn, "%lld", n);
  const char *argv[] = {"EVALSHA", sha, "2", ks, km, "1", "2", nn, "500000", "1", "6000000", "10"};
  redisReply *r = redisCommandArgv(rc_, 12, argv, NULL);
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
    if (r && r->type == REDIS_REPLY_ERROR) fprintf(stderr, "  script: %s\n", r->str);
    if (r) freeReplyObject(r);
    return false;
  }
  long long *f = &o->allowed;
  for (int i = 0; i < 6; i++) f[i] = r->element[i]->integer;
  freeReplyObject(r);
  return true;
}

static long long pttl(const char *key) {
  redisReply *r = redisCommand(rc_, "PTTL %s", key);
  long long v = r ? r->integer : -3;
  if (r) freeReplyObject(r);
  return v;
}

KT_TEST(starts_full_then_refuses_with_retry_after) {
  if (!setup()) KT_FAIL("%s", rrh_why[0] ? rrh_why : "could not load the script");
  reply6 a, b;
  KT_CHECK(check2("a", 1, &a));
  KT_CHECK_EQ(a.allowed, 1);
  KT_CHECK_EQ(a.remaining, 0);          /* the per-second tier (burst 1) is empty */
  KT_CHECK_EQ(a.refused, 0);
  KT_CHECK_EQ(a.reset_us, 6000000);     /* the minute tier refills one token in 6 s */
  KT_CHECK(a.now_us > 1600000000000000LL);   /* Redis's clock, µs since the epoch */
  KT_CHECK(check2("a", 1, &b));
  KT_CHECK_EQ(b.allowed, 0);
  KT_CHECK_EQ(b.refused, 1);
  long long waited = b.now_us - a.now_us;
  KT_CHECK(b.retry_us > 0 && b.retry_us <= 500000 - waited + 1);
  KT_CHECK(b.retry_us >= 500000 - waited - 1);
}

KT_TEST(refused_by_one_tier_charges_neither) {
  /* Drain the minute tier with n = 1 on fresh keys is slow (2/s); charge the
   * minute tier directly instead: n = 1 admitted, then the second tier must
   * still show 9 left after refusals by the first. */
  reply6 r;
  KT_CHECK(check2("b", 1, &r));
  KT_CHECK_EQ(r.allowed, 1);
  for (int i = 0; i < 5; i++) {
    KT_CHECK(check2("b", 1, &r));
    KT_CHECK_EQ(r.allowed, 0);
    KT_CHECK_EQ(r.refused, 1);
  }
  redisReply *g = redisCommand(rc_, "GET t:{b}:m");
  KT_CHECK(g && g->type == REDIS_REPLY_STRING);
  double tat = atof(g->str);
  freeReplyObject(g);
  /* one charge of 6 s only: tat = first now + 6e6 */
  KT_CHECK(tat - (double)r.now_us <= 6000000.0 && tat - (double)r.now_us > 5000000.0);
  /* n above a burst: never possible, retry -1, nothing charged */
  KT_CHECK(check2("c", 11, &r));
  KT_CHECK_EQ(r.allowed, 0);
  KT_CHECK_EQ(r.retry_us, -1);
  KT_CHECK_EQ(pttl("t:{c}:m"), -2);
}

KT_TEST(minute_tier_refuses_and_second_tier_is_not_charged) {
  /* a key whose first tier is generous: 1/s burst 100 (its key lives ~3 s
   * after three charges, so a slow machine cannot see it expire before the
   * GET below); second tier 3 per minute, burst 3 */
  char ks[] = "t:{d}:s", km[] = "t:{d}:m";
  const char *argv[] = {"EVALSHA", sha, "2", ks, km, "1", "2", "1", "1000000", "100", "20000000", "3"};
  long long allowed[5], remaining[5], refused[5];
  for (int i = 0; i < 5; i++) {
    redisReply *r = redisCommandArgv(rc_, 12, argv, NULL);
    KT_CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 6);
    allowed[i] = r->element[0]->integer;
    remaining[i] = r->element[1]->integer;
    refused[i] = r->element[5]->integer;
    freeReplyObject(r);
  }
  KT_CHECK(allowed[0] && allowed[1] && allowed[2] && !allowed[3] && !allowed[4]);
  KT_CHECK_EQ(remaining[2], 0);
  KT_CHECK_EQ(refused[3], 2);
  /* the first tier was charged 3 times only, not 5: its tat is 2 to 3
   * intervals (seconds) ahead */
  redisReply *g = redisCommand(rc_, "GET %s", ks);
  redisReply *t = redisCommand(rc_, "TIME");
  bool got = g && g->type == REDIS_REPLY_STRING && t && t->type == REDIS_REPLY_ARRAY &&
             t->elements == 2;
  double now = got ? atof(t->element[0]->str) * 1e6 + atof(t->element[1]->str) : 0;
  double tat = got ? atof(g->str) : 0;
  if (g) freeReplyObject(g);
  if (t) freeReplyObject(t);
  KT_CHECK(got);
  KT_CHECK(tat - now <= 3e6 + 1.0);
  KT_CHECK(tat - now > 2e6);
}

KT_TEST(keys_expire_when_full_again) {
  reply6 r;
  KT_CHECK(check2("e", 1, &r));
  long long s = pttl("t:{e}:s"), m = pttl("t:{e}:m");
  KT_CHECK(s > 0 && s <= 500);
  KT_CHECK(m > 5000 && m <= 6000);
  /* n = 0 reads without writing */
  KT_CHECK(check2("f", 0, &r));
  KT_CHECK_EQ(r.allowed, 1);
  KT_CHECK_EQ(pttl("t:{f}:s"), -2);
}

KT_TEST(infinite_tier_and_burst_zero) {
  const char *inf[] = {"EVALSHA", sha, "1", "t:{g}:i", "1", "1", "1000", "0", "0"};
  redisReply *r = redisCommandArgv(rc_, 9, inf, NULL);
  KT_CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 6 && r->element[0]->integer == 1);
  freeReplyObject(r);
  KT_CHECK_EQ(pttl("t:{g}:i"), -2);
  const char *zero[] = {"EVALSHA", sha, "1", "t:{h}:z", "1", "1", "1", "1000", "0"};
  r = redisCommandArgv(rc_, 9, zero, NULL);
  KT_CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 6 &&
           r->element[0]->integer == 0 && r->element[2]->integer == -1);
  freeReplyObject(r);
}

KT_TEST(one_call_runs_several_checks_in_order) {
  /* three checks in one call: two on one key (burst 1: the second sees the
   * first and is refused), one on another key with two tiers */
  const char *argv[] = {"EVALSHA", sha, "4", "t:{i}:s", "t:{i}:s", "t:{j}:s", "t:{j}:m",
                        "3",
                        "1", "1", "1000000", "1",
                        "1", "1", "1000000", "1",
                        "2", "1", "500000", "1", "6000000", "10"};
  redisReply *r = redisCommandArgv(rc_, 22, argv, NULL);
  KT_CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 18);
  KT_CHECK_EQ(r->element[0]->integer, 1);
  KT_CHECK_EQ(r->element[6]->integer, 0);
  KT_CHECK(r->element[8]->integer > 990000);          /* retry after ~1 s */
  KT_CHECK_EQ(r->element[12]->integer, 1);
  KT_CHECK_EQ(r->element[4]->integer, r->element[16]->integer);   /* one TIME */
  freeReplyObject(r);
}

KT_TEST(one_call_leaves_what_checks_one_by_one_would) {
  /* three charges of one key (1/s, burst 2) in one call: two admitted, the
   * third refused; the key then holds the last charge's TAT, expiring when
   * the bucket is full again, exactly as after two calls */
  const char *argv[] = {"EVALSHA", sha, "3", "t:{o}:s", "t:{o}:s", "t:{o}:s", "3",
                        "1", "1", "1000000", "2",
                        "1", "1", "1000000", "2",
                        "1", "1", "1000000", "2"};
  redisReply *r = redisCommandArgv(rc_, 19, argv, NULL);
  KT_CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 18);
  KT_CHECK_EQ(r->element[0]->integer, 1);
  KT_CHECK_EQ(r->element[6]->integer, 1);
  KT_CHECK_EQ(r->element[12]->integer, 0);
  long long now = r->element[4]->integer;
  freeReplyObject(r);
  redisReply *v = redisCommand(rc_, "GET t:{o}:s");
  KT_CHECK(v && v->type == REDIS_REPLY_STRING);
  KT_CHECK_EQ(strtoll(v->str, NULL, 10), now + 2000000);
  freeReplyObject(v);
  long long ttl = pttl("t:{o}:s");
  KT_CHECK(ttl > 1000 && ttl <= 2000);
}

KT_TEST(teardown) {
  if (rc_) redisFree(rc_);
  rrh_stop(&srv);
  KT_CHECK(srv.pid == 0);
}

KT_MAIN()
