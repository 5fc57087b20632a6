/* RESP encoding and Redis error classification (see resp.h).
 *
 * Invariants: the buffer grows geometrically and keeps its old contents on
 * a failed growth; numbers are written without locale dependence. */
#include "rate_redis/resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/decimal.h"
#include "keel/status.h"

void rr_buf_free(rr_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static int reserve(rr_buf *b, size_t more) {
  if (b->len + more <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more) cap *= 2;
  char *d = realloc(b->data, cap);
  if (!d) return KEEL_ENOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

int rr_buf_append(rr_buf *b, const void *data, size_t len) {
  if (reserve(b, len)) return KEEL_ENOMEM;
  memcpy(b->data + b->len, data, len);
  b->len += len;
  return 0;
}

/* Writes v in decimal to out (room for 21 bytes); returns the length.
 * snprintf would cost more than the rest of a check's encoding. */
static size_t format_ll(char *out, long long v) {
  if (v >= 0) return keel__decimal(out, (uint64_t)v);
  out[0] = '-';
  return 1 + keel__decimal(out + 1, 0ull - (uint64_t)v);
}

static int header(rr_buf *b, char kind, long long n) {
  char tmp[32];
  tmp[0] = kind;
  size_t l = 1 + format_ll(tmp + 1, n);
  memcpy(tmp + l, "\r\n", 2);
  return rr_buf_append(b, tmp, l + 2);
}

int rr_buf_array(rr_buf *b, long n) { return header(b, '*', n); }

int rr_buf_bulk(rr_buf *b, const void *data, size_t len) {
  if (reserve(b, len + 26)) return KEEL_ENOMEM;   /* header, data, CRLF */
  header(b, '$', (long long)len);
  memcpy(b->data + b->len, data, len);
  b->len += len;
  memcpy(b->data + b->len, "\r\n", 2);
  b->len += 2;
  return 0;
}

int rr_buf_bulk_str(rr_buf *b, const char *s) { return rr_buf_bulk(b, s, strlen(s)); }

int rr_buf_bulk_int(rr_buf *b, long long v) {
  char tmp[32];
  return rr_buf_bulk(b, tmp, format_ll(tmp, v));
}

int rr_buf_bulk_double(rr_buf *b, double v) {
  char tmp[40];
  int l = snprintf(tmp, sizeof tmp, "%.17g", v);
  return rr_buf_bulk(b, tmp, (size_t)l);
}

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

int rr_error_code(const char *t) {
  if (!t) return KEEL_EFAILED;
  if (starts(t, "NOAUTH") || starts(t, "WRONGPASS") || strstr(t, "invalid password") ||
      strstr(t, "invalid username-password"))
    return KEEL_EAUTH;
  if (starts(t, "OOM") || strstr(t, "OOM command not allowed") || starts(t, "LOADING") ||
      starts(t, "BUSY") || starts(t, "READONLY") || starts(t, "MASTERDOWN") ||
      starts(t, "TRYAGAIN") || starts(t, "MISCONF"))
    return KEEL_EUNAVAILABLE;
  if (starts(t, "MOVED") || starts(t, "ASK") || starts(t, "CROSSSLOT")) return KEEL_ENOTSUP;
  return KEEL_EFAILED;
}

const char *rr_error_hint(const char *t) {
  if (!t) return "Redis failed";
  if (starts(t, "NOAUTH")) return "Redis wants a password: put it in the URL (redis://:password@host)";
  if (starts(t, "WRONGPASS") || strstr(t, "invalid password") || strstr(t, "invalid username-password"))
    return "Redis refused the user or password given in the URL";
  if (starts(t, "OOM") || strstr(t, "OOM command not allowed"))
    return "Redis is full (maxmemory reached, and its policy does not evict)";
  if (starts(t, "LOADING")) return "Redis is still loading its data set";
  if (starts(t, "BUSY")) return "Redis is busy running a script";
  if (starts(t, "READONLY")) return "this Redis is a read-only replica";
  if (starts(t, "MOVED") || starts(t, "ASK"))
    return "this is a Redis Cluster node that does not own the key (cluster redirection is not supported)";
  return "Redis returned an error";
}
