/* Connection settings and their URL form (keel_rate_redis_config_from_url).
 *
 * Invariants: parsing works on a scratch copy of the config and writes the
 * caller's only on success, so a bad URL leaves cfg as it was; every error
 * names the part of the URL that is wrong. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/rate_redis.h"
#include "keel/time.h"

void keel_rate_redis_config_default(keel_rate_redis_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  strcpy(cfg->host, "127.0.0.1");
  cfg->port = 6379;
  cfg->connect_timeout = KEEL_SECOND;
  cfg->command_timeout = 500 * KEEL_MILLISECOND;
  cfg->pool_size = 2;
  cfg->backoff_min = 20 * KEEL_MILLISECOND;
  cfg->backoff_max = 2 * KEEL_SECOND;
  cfg->max_batch = 64;
}

static int fail(keel_err **err, int code, const char *url, const char *fmt, const char *what) {
  if (err) *err = keel_err_new("rate_redis", code, "bad Redis URL \"%s\": %s%s", url, fmt, what);
  return code;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes [s, s+len) into out (size bytes). -1: bad escape, -2: too long. */
static int decode(const char *s, size_t len, char *out, size_t size) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= len) return -1;
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h < 0 || l < 0) return -1;
      c = h * 16 + l;
      if (c == 0) return -1;
      i += 2;
    }
    if (o + 1 >= size) return -2;
    out[o++] = (char)c;
  }
  out[o] = 0;
  return 0;
}

/* A non-negative decimal integer in [s, s+len), at most max. */
static bool parse_uint(const char *s, size_t len, long max, long *out) {
  if (len == 0 || len > 10) return false;
  long v = 0;
  for (size_t i = 0; i < len; i++) {
    if (!isdigit((unsigned char)s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

/* "250ms", "2s", "500us", "10ns", "1m", or a bare number of milliseconds. */
static bool parse_duration(const char *s, size_t len, int64_t *out) {
  size_t i = 0;
  while (i < len && isdigit((unsigned char)s[i])) i++;
  if (i == 0 || i > 12) return false;
  long long v = 0;
  for (size_t k = 0; k < i; k++) v = v * 10 + (s[k] - '0');
  const char *u = s + i;
  size_t ul = len - i;
  int64_t mult;
  if (ul == 0 || (ul == 2 && !memcmp(u, "ms", 2))) mult = KEEL_MILLISECOND;
  else if (ul == 1 && *u == 's') mult = KEEL_SECOND;
  else if (ul == 2 && !memcmp(u, "us", 2)) mult = KEEL_MICROSECOND;
  else if (ul == 2 && !memcmp(u, "ns", 2)) mult = 1;
  else if (ul == 1 && *u == 'm') mult = KEEL_MINUTE;
  else return false;
  if (v > INT64_MAX / mult) return false;
  *out = (int64_t)v * mult;
  return true;
}

static int parse_param(keel_rate_redis_config *c, const char *url, const char *p, size_t len,
                       keel_err **err) {
  const char *eq = memchr(p, '=', len);
  char name[64];
  size_t nl = eq ? (size_t)(eq - p) : len;
  if (nl >= sizeof name) nl = sizeof name - 1;
  memcpy(name, p, nl);
  name[nl] = 0;
  if (!eq) {
    if (err) *err = keel_err_new("rate_redis", KEEL_EINVAL,
                                 "bad Redis URL \"%s\": parameter \"%s\" has no value", url, name);
    return KEEL_EINVAL;
  }
  const char *v = eq + 1;
  size_t vl = len - nl - 1;
  int64_t *dur = NULL;
  if (!strcmp(name, "connect_timeout")) dur = &c->connect_timeout;
  else if (!strcmp(name, "command_timeout")) dur = &c->command_timeout;
  else if (!strcmp(name, "backoff_min")) dur = &c->backoff_min;
  else if (!strcmp(name, "backoff_max")) dur = &c->backoff_max;
  if (dur) {
    int64_t d;
    if (!parse_duration(v, vl, &d) || d <= 0) {
      if (err) *err = keel_err_new("rate_redis", KEEL_EINVAL,
                                   "bad Redis URL \"%s\": %s wants a positive duration "
                                   "such as 250ms or 2s, not \"%.*s\"", url, name, (int)vl, v);
      return KEEL_EINVAL;
    }
    *dur = d;
    return 0;
  }
  if (!strcmp(name, "pool_size") || !strcmp(name, "max_batch")) {
    bool pool = name[0] == 'p';
    long max = pool ? 64 : 1024, n;
    if (!parse_uint(v, vl, max, &n) || n < 1) {
      if (err) *err = keel_err_new("rate_redis", KEEL_EINVAL,
                                   "bad Redis URL \"%s\": %s wants 1..%ld, not \"%.*s\"",
                                   url, name, max, (int)vl, v);
      return KEEL_EINVAL;
    }
    if (pool) c->pool_size = (int)n;
    else c->max_batch = (int)n;
    return 0;
  }
  if (err) *err = keel_err_new("rate_redis", KEEL_EINVAL,
                               "bad Redis URL \"%s\": unknown parameter \"%s\" (known: "
                               "connect_timeout, command_timeout, pool_size, max_batch, "
                               "backoff_min, backoff_max)", url, name);
  return KEEL_EINVAL;
}

int keel_rate_redis_config_from_url(keel_rate_redis_config *cfg, const char *url,
                                    keel_err **err) {
  if (err) *err = NULL;
  if (!cfg || !url) {
    if (err) *err = keel_err_new("rate_redis", KEEL_EINVAL, "NULL config or URL");
    return KEEL_EINVAL;
  }
  keel_rate_redis_config c;
  keel_rate_redis_config_default(&c);
  const char *p = url;
  if (strncmp(p, "redis://", 8) != 0)
    return fail(err, KEEL_EPROTO, url, "the scheme must be redis://", "");
  p += 8;
  const char *end = p + strcspn(p, "/?#");
  if (*end == '#') return fail(err, KEEL_EPROTO, url, "a fragment (#) has no meaning here", "");
  /* userinfo: the last '@' before the path */
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@') at = q;
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    size_t ul = colon ? (size_t)(colon - p) : (size_t)(at - p);
    int rc = decode(p, ul, colon ? c.user : c.password,
                    colon ? sizeof c.user : sizeof c.password);
    if (colon && rc == 0)
      rc = decode(colon + 1, (size_t)(at - colon - 1), c.password, sizeof c.password);
    if (rc == -1) return fail(err, KEEL_EPROTO, url, "bad percent-escape in the user or password", "");
    if (rc == -2) return fail(err, KEEL_EPROTO, url, "user or password too long", "");
    p = at + 1;
  }
  /* host[:port] */
  const char *hend;
  const char *port_s = NULL;
  if (*p == '[') {
    const char *rb = memchr(p, ']', (size_t)(end - p));
    if (!rb) return fail(err, KEEL_EPROTO, url, "unclosed '[' in the IPv6 host", "");
    if (rb + 1 < end && rb[1] != ':')
      return fail(err, KEEL_EPROTO, url, "junk after the IPv6 host", "");
    if (rb + 1 < end) port_s = rb + 2;
    if ((size_t)(rb - p - 1) >= sizeof c.host)
      return fail(err, KEEL_EPROTO, url, "host too long", "");
    memcpy(c.host, p + 1, (size_t)(rb - p - 1));
    c.host[rb - p - 1] = 0;
    hend = rb + 1;
  } else {
    const char *colon = memchr(p, ':', (size_t)(end - p));
    hend = colon ? colon : end;
    if (colon) port_s = colon + 1;
    if ((size_t)(hend - p) >= sizeof c.host)
      return fail(err, KEEL_EPROTO, url, "host too long", "");
    memcpy(c.host, p, (size_t)(hend - p));
    c.host[hend - p] = 0;
  }
  if (c.host[0] == 0) return fail(err, KEEL_EPROTO, url, "no host", "");
  for (const char *h = c.host; *h; h++)
    if (!isalnum((unsigned char)*h) && !strchr(".-_:", *h))
      return fail(err, KEEL_EPROTO, url, "bad character in the host", "");
  if (port_s) {
    long port;
    if (!parse_uint(port_s, (size_t)(end - port_s), 65535, &port) || port == 0)
      return fail(err, KEEL_EPROTO, url, "the port must be a number in 1..65535", "");
    c.port = (int)port;
  }
  p = end;
  if (*p == '/') {
    p++;
    size_t dl = strcspn(p, "?#");
    if (dl > 0) {
      long db;
      if (!parse_uint(p, dl, 1 << 20, &db))
        return fail(err, KEEL_EPROTO, url, "the database must be a number (/0, /1, ...)", "");
      c.db = (int)db;
    }
    p += dl;
  }
  if (*p == '#') return fail(err, KEEL_EPROTO, url, "a fragment (#) has no meaning here", "");
  if (*p == '?') {
    p++;
    while (*p) {
      size_t l = strcspn(p, "&#");
      if (p[l] == '#') return fail(err, KEEL_EPROTO, url, "a fragment (#) has no meaning here", "");
      if (l > 0) {
        int rc = parse_param(&c, url, p, l, err);
        if (rc) return rc;
      }
      p += l;
      if (*p == '&') p++;
    }
  }
  if (c.backoff_min > c.backoff_max) {
    if (err) *err = keel_err_new("rate_redis", KEEL_EINVAL,
                                 "bad Redis URL \"%s\": backoff_min exceeds backoff_max", url);
    return KEEL_EINVAL;
  }
  *cfg = c;
  return 0;
}
