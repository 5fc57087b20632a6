/* Connection URLs: what parses, what each part means, and the errors a bad
 * URL or parameter gets (codes and messages). No Redis needed. */
#include "keel/rate_redis.h"
#include "rr_test.h"

KT_TEST(defaults_and_full_url) {
  keel_rate_redis_config c;
  keel_err *err = NULL;
  KT_CHECK_EQ(keel_rate_redis_config_from_url(&c, "redis://localhost", &err), 0);
  KT_CHECK(err == NULL);
  KT_CHECK_STR(c.host, "localhost");
  KT_CHECK_EQ(c.port, 6379);
  KT_CHECK_EQ(c.db, 0);
  KT_CHECK_STR(c.password, "");
  KT_CHECK_EQ(c.pool_size, 2);
  KT_CHECK_EQ(keel_rate_redis_config_from_url(
                  &c, "redis://alice:s%40cret@10.1.2.3:6380/5?connect_timeout=250ms&"
                      "command_timeout=2s&pool_size=8&backoff_min=5&backoff_max=1m&max_batch=1", &err), 0);
  KT_CHECK_STR(c.user, "alice");
  KT_CHECK_STR(c.password, "s@cret");
  KT_CHECK_STR(c.host, "10.1.2.3");
  KT_CHECK_EQ(c.port, 6380);
  KT_CHECK_EQ(c.db, 5);
  KT_CHECK_EQ(c.connect_timeout, 250 * KEEL_MILLISECOND);
  KT_CHECK_EQ(c.command_timeout, 2 * KEEL_SECOND);
  KT_CHECK_EQ(c.pool_size, 8);
  KT_CHECK_EQ(c.backoff_min, 5 * KEEL_MILLISECOND);
  KT_CHECK_EQ(c.backoff_max, KEEL_MINUTE);
  KT_CHECK_EQ(c.max_batch, 1);
}

KT_TEST(password_only_and_ipv6) {
  keel_rate_redis_config c;
  KT_CHECK_EQ(keel_rate_redis_config_from_url(&c, "redis://:pw@[::1]:7000/", NULL), 0);
  KT_CHECK_STR(c.user, "");
  KT_CHECK_STR(c.password, "pw");
  KT_CHECK_STR(c.host, "::1");
  KT_CHECK_EQ(c.port, 7000);
  KT_CHECK_EQ(keel_rate_redis_config_from_url(&c, "redis://pw2@h", NULL), 0);
  KT_CHECK_STR(c.password, "pw2");   /* redis-py's reading: a lone userinfo is the password */
  KT_CHECK_STR(c.host, "h");
}

static void expect_bad(const char *url, int code, const char *word) {
  keel_rate_redis_config c;
  keel_rate_redis_config_default(&c);
  c.port = 1234;
  keel_err *err = NULL;
  int rc = keel_rate_redis_config_from_url(&c, url, &err);
  if (rc != code || !err || !strstr(keel_err_message(err), word) || c.port != 1234) {
    fprintf(stderr, "  url %s: rc %d (want %d), message \"%s\"\n", url, rc, code,
            err ? keel_err_message(err) : "(none)");
    kt_failed_now = 1;
  }
  if (err && keel_err_code(err) != code) kt_failed_now = 1;
  keel_err_release(err);
}

KT_TEST(bad_urls_get_clear_errors) {
  expect_bad("http://localhost", KEEL_EPROTO, "scheme");
  expect_bad("redis://", KEEL_EPROTO, "no host");
  expect_bad("redis://host:99999", KEEL_EPROTO, "port");
  expect_bad("redis://host:0", KEEL_EPROTO, "port");
  expect_bad("redis://host:12ab", KEEL_EPROTO, "port");
  expect_bad("redis://host/abc", KEEL_EPROTO, "database");
  expect_bad("redis://:pw%zz@host", KEEL_EPROTO, "percent-escape");
  expect_bad("redis://:pw%4@host", KEEL_EPROTO, "percent-escape");
  expect_bad("redis://[::1", KEEL_EPROTO, "IPv6");
  expect_bad("redis://ho st", KEEL_EPROTO, "character");
  expect_bad("redis://host#frag", KEEL_EPROTO, "fragment");
  expect_bad("redis://host?pool_size=0", KEEL_EINVAL, "pool_size");
  expect_bad("redis://host?pool_size=65", KEEL_EINVAL, "pool_size");
  expect_bad("redis://host?max_batch=2000", KEEL_EINVAL, "max_batch wants 1..1024");
  expect_bad("redis://host?command_timeout=fast", KEEL_EINVAL, "command_timeout");
  expect_bad("redis://host?command_timeout=0", KEEL_EINVAL, "command_timeout");
  expect_bad("redis://host?colour=blue", KEEL_EINVAL, "unknown parameter \"colour\"");
  expect_bad("redis://host?pool_size", KEEL_EINVAL, "no value");
  expect_bad("redis://host?backoff_min=5s&backoff_max=1s", KEEL_EINVAL, "backoff_min");
  KT_CHECK_EQ(keel_rate_redis_config_from_url(NULL, "redis://h", NULL), KEEL_EINVAL);
}

KT_TEST(too_long_fields) {
  char url[1200];
  memset(url, 'a', sizeof url);
  memcpy(url, "redis://", 8);
  url[sizeof url - 1] = 0;
  expect_bad(url, KEEL_EPROTO, "too long");
  snprintf(url, sizeof url, "redis://:%0600d@h", 1);
  expect_bad(url, KEEL_EPROTO, "too long");
}

KT_MAIN()
