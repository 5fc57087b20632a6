/* Faults, against a real redis-server: killed mid-run and restarted, made
 * slow (CLIENT PAUSE), a wrong password, a full Redis (maxmemory with
 * noeviction). Each time the policy decides, nothing crashes, the switch and
 * the recovery are reported as events with a keel error, and checks go back
 * to Redis once it answers. Synchronisation is through the events (a
 * channel), never sleeps. */
#include <pthread.h>
#include <stdatomic.h>

#include "keel/chan.h"
#include "keel/rate_redis.h"
#include "keel/task.h"
#include "redis_harness.h"
#include "rr_test.h"

/* ---- an event recorder ------------------------------------------------------ */

typedef struct recorder {
  keel_chan *events;           /* carries int kinds; capacity 256, never blocks */
  pthread_mutex_t mu;
  int counts[5];
  int last_code[5];
  char last_msg[5][512];
} recorder;

static void on_event(void *arg, const keel_rate_redis_event *ev) {
  recorder *r = arg;
  pthread_mutex_lock(&r->mu);
  r->counts[ev->kind]++;
  r->last_code[ev->kind] = ev->code;
  snprintf(r->last_msg[ev->kind], sizeof r->last_msg[0], "%s",
           ev->err ? keel_err_message(ev->err) : "");
  pthread_mutex_unlock(&r->mu);
  int k = (int)ev->kind;
  keel_chan_send(r->events, &k, KEEL_NOWAIT);
}

static void rec_init(recorder *r) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  keel_chan_make(&r->events, sizeof(int), 256);
}

static void rec_free(recorder *r) {
  keel_chan_release(r->events);
  pthread_mutex_destroy(&r->mu);
}

static int rec_count(recorder *r, int kind) {
  pthread_mutex_lock(&r->mu);
  int n = r->counts[kind];
  pthread_mutex_unlock(&r->mu);
  return n;
}

static int rec_code(recorder *r, int kind) {
  pthread_mutex_lock(&r->mu);
  int c = r->last_code[kind];
  pthread_mutex_unlock(&r->mu);
  return c;
}

/* A copy of the last message of this kind (valid until the next call). */
static const char *rec_msg(recorder *r, int kind) {
  static char copy[512];
  pthread_mutex_lock(&r->mu);
  memcpy(copy, r->last_msg[kind], sizeof copy);
  pthread_mutex_unlock(&r->mu);
  return copy;
}

/* Drops what the channel holds. */
static void rec_drain(recorder *r) {
  int k;
  while (keel_chan_recv(r->events, &k, KEEL_NOWAIT) == 0) {
  }
}

/* Waits (bounded) for an event of this kind. */
static bool rec_wait(recorder *r, int kind, int64_t timeout) {
  int64_t deadline = keel_deadline_in(timeout);
  int k;
  while (keel_chan_recv(r->events, &k, deadline) == 0)
    if (k == kind) return true;
  return false;
}

static int64_t slack(void) { return KT_SANITIZED() ? 30 * KEEL_SECOND : 15 * KEEL_SECOND; }

static keel_rate_redis_pool *make_pool(const char *url, recorder *rec, int64_t cmd_timeout) {
  keel_rate_redis_config cfg;
  keel_err *err = NULL;
  if (keel_rate_redis_config_from_url(&cfg, url, &err)) {
    fprintf(stderr, "  url: %s\n", keel_err_message(err));
    keel_err_release(err);
    return NULL;
  }
  cfg.pool_size = 2;
  cfg.command_timeout = cmd_timeout;
  cfg.connect_timeout = cmd_timeout;
  cfg.backoff_min = 10 * KEEL_MILLISECOND;
  cfg.backoff_max = 200 * KEEL_MILLISECOND;
  keel_rate_redis_pool *p = NULL;
  if (keel_rate_redis_pool_new(&p, &cfg, on_event, rec)) return NULL;
  return p;
}

static keel_rate_redis_limiter *make_limiter(keel_rate_redis_pool *p, recorder *rec,
                                             keel_rate_redis_policy policy) {
  static keel_rate_redis_tier tiers[] = {{"s", 1000.0, 1000}, {"m", 100000.0, 100000}};
  keel_rate_redis_options o = {.prefix = "f", .tiers = tiers, .ntiers = 2, .policy = policy,
                               .local_share = 0.5, .on_event = on_event, .event_arg = rec};
  keel_rate_redis_limiter *l = NULL;
  keel_rate_redis_limiter_new(&l, p, &o, NULL);
  return l;
}

KT_TEST(killed_and_restarted) {
  rrh_server s;
  if (!rrh_start(&s, 0, NULL)) KT_FAIL("%s", rrh_why);
  recorder rec;
  rec_init(&rec);
  keel_rate_redis_pool *p = make_pool(s.url, &rec, 500 * KEEL_MILLISECOND);
  KT_CHECK(p != NULL);
  keel_rate_redis_limiter *l = make_limiter(p, &rec, KEEL_RATE_REDIS_FAIL_LOCAL);
  KT_CHECK(l != NULL);
  keel_rate_redis_result r;
  KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "k", &r), 0);
  KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_REDIS);
  keel_rate_redis_stats st0;
  keel_rate_redis_pool_stats(p, &st0);

  rrh_kill(&s);
  for (int i = 0; i < 20; i++) {
    KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "k", &r), 0);
    KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_LOCAL);   /* the policy decides */
    KT_CHECK(r.allowed);                                /* 500/s locally: plenty */
    KT_CHECK(r.error == KEEL_EUNAVAILABLE || r.error == KEEL_ETIMEDOUT);
  }
  KT_CHECK(keel_rate_redis_degraded(l));
  KT_CHECK_EQ(rec_count(&rec, KEEL_RATE_REDIS_DEGRADED), 1);   /* reported once */
  /* the local fallback runs at local_share (0.5) of the tier: 10/s burst 10
   * becomes 5/s burst 5 on this machine */
  keel_rate_redis_tier small = {"s", 10.0, 10};
  keel_rate_redis_options so = {.prefix = "small", .tiers = &small, .ntiers = 1,
                                .policy = KEEL_RATE_REDIS_FAIL_LOCAL, .local_share = 0.5};
  keel_rate_redis_limiter *sl;
  KT_CHECK_EQ(keel_rate_redis_limiter_new(&sl, p, &so, NULL), 0);
  int local_admitted = 0;
  int64_t t_local = keel_now();
  for (int i = 0; i < 20; i++) {
    KT_CHECK_EQ(keel_rate_redis_allow(sl, NULL, "k", &r), 0);
    KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_LOCAL);
    local_admitted += r.allowed;
  }
  int64_t local_took = keel_now() - t_local;
  keel_rate_redis_limiter_free(sl);
  KT_CHECK(local_admitted >= 5);
  KT_CHECK(local_admitted <= 5 + 1 + (int)(local_took * 5 / KEEL_SECOND));
  KT_CHECK(strstr(rec_msg(&rec, KEEL_RATE_REDIS_DEGRADED), "Redis") != NULL);
  KT_CHECK(rec_count(&rec, KEEL_RATE_REDIS_DISCONNECTED) >= 1);

  rec_drain(&rec);
  KT_CHECK(rrh_restart(&s));
  KT_CHECK(rec_wait(&rec, KEEL_RATE_REDIS_CONNECTED, slack()));
  KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "k", &r), 0);
  KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_REDIS);
  KT_CHECK(r.allowed);
  KT_CHECK(!keel_rate_redis_degraded(l));
  KT_CHECK_EQ(rec_count(&rec, KEEL_RATE_REDIS_RECOVERED), 1);
  keel_rate_redis_stats st1;
  keel_rate_redis_pool_stats(p, &st1);
  KT_CHECK(st1.script_loads > st0.script_loads);   /* the new Redis got the script */
  KT_CHECK(st1.connects > st0.connects);

  keel_rate_redis_limiter_free(l);
  keel_rate_redis_pool_free(p);
  rec_free(&rec);
  rrh_stop(&s);
}

struct load {
  keel_rate_redis_limiter *l;
  _Atomic bool stop;
  _Atomic long redis, policy, bad;
  keel_chan *progress;   /* a tick every 50 checks Redis decided */
  keel_waitgroup wg;
};

static void load_task(void *arg) {
  struct load *ld = arg;
  while (!atomic_load(&ld->stop)) {
    keel_rate_redis_result r;
    int rc = keel_rate_redis_allow(ld->l, NULL, "load", &r);
    if (rc != 0 || !r.allowed) atomic_fetch_add(&ld->bad, 1);
    else if (r.source == KEEL_RATE_REDIS_BY_REDIS) {
      if (atomic_fetch_add(&ld->redis, 1) % 50 == 49) keel_chan_send(ld->progress, NULL, KEEL_NOWAIT);
    } else {
      atomic_fetch_add(&ld->policy, 1);
      keel_task_yield();
    }
  }
  keel_waitgroup_done(&ld->wg);
}

/* Waits (bounded) until Redis has decided `more` further checks. */
static bool load_wait(struct load *ld, long more) {
  long target = atomic_load(&ld->redis) + more;
  int64_t deadline = keel_deadline_in(slack());
  while (atomic_load(&ld->redis) < target)
    if (keel_chan_recv(ld->progress, NULL, deadline) != 0) return false;
  return true;
}

KT_TEST(killed_under_load_from_many_tasks) {
  /* Checks keep flowing from tasks while Redis dies and comes back: every
   * call returns a decision, nothing hangs or crashes. */
  rrh_server s;
  if (!rrh_start(&s, 0, NULL)) KT_FAIL("%s", rrh_why);
  recorder rec;
  rec_init(&rec);
  keel_rate_redis_pool *p = make_pool(s.url, &rec, 300 * KEEL_MILLISECOND);
  keel_rate_redis_limiter *l = make_limiter(p, &rec, KEEL_RATE_REDIS_FAIL_OPEN);
  KT_CHECK(p && l);
  static struct load ld;
  memset(&ld, 0, sizeof ld);
  ld.l = l;
  KT_CHECK_EQ(keel_chan_make(&ld.progress, 0, 1), 0);
  keel_waitgroup_init(&ld.wg);
  enum { TASKS = 16 };
  keel_waitgroup_add(&ld.wg, TASKS);
  for (int i = 0; i < TASKS; i++) KT_CHECK_EQ(keel_task_spawn(NULL, load_task, &ld, NULL), 0);
  KT_CHECK(load_wait(&ld, 200));
  rec_drain(&rec);
  rrh_kill(&s);
  KT_CHECK(rec_wait(&rec, KEEL_RATE_REDIS_DEGRADED, slack()));
  KT_CHECK(rrh_restart(&s));
  KT_CHECK(rec_wait(&rec, KEEL_RATE_REDIS_RECOVERED, slack()));
  KT_CHECK(load_wait(&ld, 200));
  atomic_store(&ld.stop, true);
  KT_CHECK_EQ(keel_waitgroup_wait(&ld.wg, keel_deadline_in(slack()), NULL), 0);
  KT_CHECK(atomic_load(&ld.policy) > 0);   /* fail open admitted while Redis was away */
  KT_CHECK_EQ(atomic_load(&ld.bad), 0);
  keel_chan_release(ld.progress);
  keel_rate_redis_limiter_free(l);
  keel_rate_redis_pool_free(p);
  rec_free(&rec);
  rrh_stop(&s);
}

KT_TEST(slow_redis_times_out_and_policy_applies) {
  rrh_server s;
  if (!rrh_start(&s, 0, NULL)) KT_FAIL("%s", rrh_why);
  recorder rec;
  rec_init(&rec);
  int64_t timeout = 200 * KEEL_MILLISECOND;
  keel_rate_redis_pool *p = make_pool(s.url, &rec, timeout);
  keel_rate_redis_limiter *l = make_limiter(p, &rec, KEEL_RATE_REDIS_FAIL_OPEN);
  KT_CHECK(p && l);
  keel_rate_redis_result r;
  KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "k", &r), 0);
  KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_REDIS);
  int pause_ms = KT_SANITIZED() ? 6000 : 3000;
  redisReply *pr = rrh_command(&s, "CLIENT PAUSE %d ALL", pause_ms);
  KT_CHECK(pr && pr->type == REDIS_REPLY_STATUS);
  freeReplyObject(pr);
  int64_t t0 = keel_now();
  KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "k", &r), 0);
  int64_t took = keel_now() - t0;
  KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_POLICY);   /* fail open */
  KT_CHECK(r.allowed);
  KT_CHECK_EQ(r.error, KEEL_ETIMEDOUT);
  KT_CHECK(took < (int64_t)pause_ms * KEEL_MILLISECOND * 2 / 3);   /* the timeout, not the pause */
  KT_CHECK_EQ(rec_count(&rec, KEEL_RATE_REDIS_DEGRADED), 1);
  KT_CHECK_EQ(rec_code(&rec, KEEL_RATE_REDIS_DEGRADED), KEEL_ETIMEDOUT);
  KT_CHECK(strstr(rec_msg(&rec, KEEL_RATE_REDIS_DEGRADED), "timeout") != NULL ||
           strstr(rec_msg(&rec, KEEL_RATE_REDIS_DEGRADED), "in time") != NULL);
  /* once the pause ends a connection comes back and Redis decides again */
  rec_drain(&rec);
  KT_CHECK(rec_wait(&rec, KEEL_RATE_REDIS_CONNECTED, slack()));
  KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "k", &r), 0);
  KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_REDIS);
  KT_CHECK_EQ(rec_count(&rec, KEEL_RATE_REDIS_RECOVERED), 1);
  keel_rate_redis_limiter_free(l);
  keel_rate_redis_pool_free(p);
  rec_free(&rec);
  rrh_stop(&s);
}

KT_TEST(wrong_password_is_eauth_with_a_clear_error) {
  const char *args[] = {"--requirepass", "s3cret", NULL};
  rrh_server s;
  if (!rrh_start(&s, 0, args)) KT_FAIL("%s", rrh_why);
  char url[256];
  recorder rec;
  rec_init(&rec);
  /* a wrong password */
  snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", s.port);
  keel_rate_redis_pool *p = make_pool(url, &rec, 2 * KEEL_SECOND);
  KT_CHECK(p != NULL);
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_rate_redis_pool_ping(p, NULL, &err), KEEL_EAUTH);
  KT_CHECK(err && keel_err_has_code(err, KEEL_EAUTH));
  if (err) fprintf(stderr, "  (ping said: %s)\n", keel_err_message(err));
  keel_err_release(err);
  keel_rate_redis_limiter *l = make_limiter(p, &rec, KEEL_RATE_REDIS_FAIL_CLOSED);
  keel_rate_redis_result r;
  KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "k", &r), 0);
  KT_CHECK(!r.allowed);                                /* fail closed */
  KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_POLICY);
  KT_CHECK_EQ(r.error, KEEL_EAUTH);
  KT_CHECK_EQ(rec_code(&rec, KEEL_RATE_REDIS_DEGRADED), KEEL_EAUTH);
  KT_CHECK(strstr(rec_msg(&rec, KEEL_RATE_REDIS_DEGRADED), "password") != NULL);
  KT_CHECK_EQ(keel_rate_redis_wait(l, NULL, "k", &r), KEEL_EAUTH);
  keel_rate_redis_limiter_free(l);
  keel_rate_redis_pool_free(p);
  /* no password at all */
  snprintf(url, sizeof url, "redis://127.0.0.1:%d", s.port);
  p = make_pool(url, &rec, 2 * KEEL_SECOND);
  KT_CHECK_EQ(keel_rate_redis_pool_ping(p, NULL, &err), KEEL_EAUTH);
  KT_CHECK(err && strstr(keel_err_message(err), "wants a password"));
  keel_err_release(err);
  keel_rate_redis_pool_free(p);
  /* the right one */
  snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d/1", s.port);
  p = make_pool(url, &rec, 2 * KEEL_SECOND);
  KT_CHECK_EQ(keel_rate_redis_pool_ping(p, NULL, NULL), 0);
  l = make_limiter(p, &rec, KEEL_RATE_REDIS_FAIL_CLOSED);
  KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "k", &r), 0);
  KT_CHECK(r.allowed);
  KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_REDIS);
  keel_rate_redis_limiter_free(l);
  keel_rate_redis_pool_free(p);
  rec_free(&rec);
  rrh_stop(&s);
}

KT_TEST(full_redis_is_a_clear_error_and_policy_applies) {
  const char *args[] = {"--maxmemory", "1mb", "--maxmemory-policy", "noeviction", NULL};
  rrh_server s;
  if (!rrh_start(&s, 0, args)) KT_FAIL("%s", rrh_why);
  recorder rec;
  rec_init(&rec);
  keel_rate_redis_pool *p = make_pool(s.url, &rec, 2 * KEEL_SECOND);
  keel_rate_redis_limiter *l = make_limiter(p, &rec, KEEL_RATE_REDIS_FAIL_CLOSED);
  KT_CHECK(p && l);
  keel_rate_redis_result r;
  KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "before", &r), 0);
  KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_REDIS);
  /* fill Redis until it refuses writes */
  redisContext *c = rrh_connect(&s, NULL);
  KT_CHECK(c != NULL);
  static char big[32768];
  memset(big, 'x', sizeof big - 1);
  bool full = false;
  for (int i = 0; i < 200 && !full; i++) {
    redisReply *w = redisCommand(c, "SET fill:%d %s", i, big);
    full = w && w->type == REDIS_REPLY_ERROR && strstr(w->str, "OOM");
    if (w) freeReplyObject(w);
  }
  KT_CHECK(full);
  KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "after", &r), 0);
  KT_CHECK(!r.allowed);
  KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_POLICY);
  KT_CHECK_EQ(r.error, KEEL_EUNAVAILABLE);
  KT_CHECK_EQ(rec_count(&rec, KEEL_RATE_REDIS_DEGRADED), 1);
  KT_CHECK(strstr(rec_msg(&rec, KEEL_RATE_REDIS_DEGRADED), "maxmemory") != NULL);
  fprintf(stderr, "  (event said: %s)\n", rec_msg(&rec, KEEL_RATE_REDIS_DEGRADED));
  /* nothing was charged: the key does not exist */
  redisReply *e = redisCommand(c, "EXISTS f:{after}:s");
  KT_CHECK(e && e->integer == 0);
  freeReplyObject(e);
  /* room again: Redis decides again */
  redisReply *fl = redisCommand(c, "FLUSHALL");
  freeReplyObject(fl);
  fl = redisCommand(c, "CONFIG SET maxmemory 64mb");   /* 1mb is below Redis's own floor */
  freeReplyObject(fl);
  redisFree(c);
  KT_CHECK_EQ(keel_rate_redis_allow(l, NULL, "after", &r), 0);
  KT_CHECK(r.allowed);
  KT_CHECK_EQ(r.source, KEEL_RATE_REDIS_BY_REDIS);
  KT_CHECK_EQ(rec_count(&rec, KEEL_RATE_REDIS_RECOVERED), 1);
  keel_rate_redis_limiter_free(l);
  keel_rate_redis_pool_free(p);
  rec_free(&rec);
  rrh_stop(&s);
}

KT_TEST(reconnects_with_exponential_backoff) {
  /* Nothing listens on the port: each attempt fails at once, so without
   * backoff a connection would retry thousands of times a second. With
   * 10 ms doubling to 80 ms, one second holds at most ~16 attempts per
   * connection (fewer on a loaded machine: only an upper bound is checked). */
  int port = rrh_free_port();
  char url[128];
  snprintf(url, sizeof url, "redis://127.0.0.1:%d?backoff_min=10ms&backoff_max=80ms&pool_size=1",
           port);
  recorder rec;
  rec_init(&rec);
  keel_rate_redis_config cfg;
  KT_CHECK_EQ(keel_rate_redis_config_from_url(&cfg, url, NULL), 0);
  keel_rate_redis_pool *p;
  KT_CHECK_EQ(keel_rate_redis_pool_new(&p, &cfg, on_event, &rec), 0);
  KT_CHECK(rec_wait(&rec, KEEL_RATE_REDIS_DISCONNECTED, slack()));
  KT_CHECK_EQ(rec_code(&rec, KEEL_RATE_REDIS_DISCONNECTED), KEEL_EUNAVAILABLE);
  KT_CHECK(strstr(rec_msg(&rec, KEEL_RATE_REDIS_DISCONNECTED), "refused") != NULL);
  keel_sleep(KEEL_SECOND);   /* measuring the retry rate, not synchronising */
  keel_rate_redis_stats st;
  keel_rate_redis_pool_stats(p, &st);
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_rate_redis_pool_ping(p, NULL, &err), KEEL_EUNAVAILABLE);   /* at once */
  KT_CHECK(err && strstr(keel_err_message(err), "refused"));
  keel_err_release(err);
  keel_rate_redis_pool_free(p);
  int reports = rec_count(&rec, KEEL_RATE_REDIS_DISCONNECTED);
  rec_free(&rec);
  fprintf(stderr, "  %llu connect attempts in about 1 s\n", (unsigned long long)st.connect_failures);
  KT_CHECK(st.connect_failures >= 2);
  KT_CHECK(st.connect_failures <= 30);   /* ~16 expected; thousands without backoff */
  KT_CHECK_EQ(reports, 1);               /* the outage is reported once, not per attempt */
}

KT_TEST(zz_runtime_stops_clean) {
  /* every pool freed joined its connection tasks: none may be left (after a
   * failed test some are, and shutdown would wait for them forever) */
  KT_CHECK_EQ(keel_task_count(), 0);
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
}

KT_MAIN()
