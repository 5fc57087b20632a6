/* RESP encoding into a growable buffer, and the meaning of Redis's error
 * replies as keel codes (src/rate_redis/resp.c).
 *
 * Invariants: a failed append (KEEL_ENOMEM) leaves the buffer's contents as
 * they were; lengths never include a terminating NUL. */
#ifndef KEEL_RATE_REDIS_RESP_H
#define KEEL_RATE_REDIS_RESP_H

#include <stddef.h>
#include <stdint.h>

typedef struct rr_buf {
  char *data;
  size_t len, cap;
} rr_buf;

void rr_buf_free(rr_buf *b);
int rr_buf_append(rr_buf *b, const void *data, size_t len);
/* "*<n>\r\n": the header of a command of n arguments. */
int rr_buf_array(rr_buf *b, long n);
/* "$<len>\r\n<data>\r\n": one argument. */
int rr_buf_bulk(rr_buf *b, const void *data, size_t len);
int rr_buf_bulk_str(rr_buf *b, const char *s);
int rr_buf_bulk_int(rr_buf *b, long long v);
/* A double written so that Lua's tonumber reads it back exactly. */
int rr_buf_bulk_double(rr_buf *b, double v);

/* The keel code for an error reply's text: KEEL_EAUTH (NOAUTH, WRONGPASS,
 * invalid password), KEEL_EUNAVAILABLE (OOM, LOADING, BUSY, READONLY,
 * MASTERDOWN, TRYAGAIN), KEEL_ENOTSUP (MOVED, ASK, CROSSSLOT), KEEL_EFAILED
 * otherwise. */
int rr_error_code(const char *text);
/* A short phrase explaining the error class to a person. */
const char *rr_error_hint(const char *text);

#endif
