/* A growing text buffer for the encoder and the formatter. Invariant: p is
 * NUL-terminated whenever cap > 0; once an allocation fails, failed stays set
 * and nothing more is appended, so callers check once, at buf_finish. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err/err_internal.h"

static bool grow(err_buf *b, size_t more) {
  if (b->failed) return false;
  if (b->len + more + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1) {
    if (cap > SIZE_MAX / 2) { b->failed = true; return false; }
    cap *= 2;
  }
  char *p = err_realloc(b->p, cap);
  if (!p) { b->failed = true; return false; }
  b->p = p;
  b->cap = cap;
  return true;
}

void buf_put(err_buf *b, const char *s, size_t n) {
  if (!grow(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void buf_puts(err_buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_printf(err_buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) { buf_put(b, small, (size_t)n); return; }
  if (!grow(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void buf_json_string(err_buf *b, const char *s) {
  if (!s) { buf_put(b, "null", 4); return; }
  static const char hex[] = "0123456789abcdef";
  buf_put(b, "\"", 1);
  const unsigned char *u = (const unsigned char *)s;
  size_t run = 0;
  for (size_t i = 0;; i++) {
    unsigned char c = u[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) { run++; continue; }
    buf_put(b, s + i - run, run);
    run = 0;
    if (c == 0) break;
    char esc[7] = {'\\', 0};
    switch (c) {
    case '"': esc[1] = '"'; buf_put(b, esc, 2); break;
    case '\\': esc[1] = '\\'; buf_put(b, esc, 2); break;
    case '\n': esc[1] = 'n'; buf_put(b, esc, 2); break;
    case '\t': esc[1] = 't'; buf_put(b, esc, 2); break;
    case '\r': esc[1] = 'r'; buf_put(b, esc, 2); break;
    default:
      esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
      esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
      buf_put(b, esc, 6);
    }
  }
  buf_put(b, "\"", 1);
}

/* Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
 * Pure arithmetic: gmtime_r takes glibc's tzset lock, which a child forked
 * while another thread held it could never take. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

void buf_time(err_buf *b, int64_t ns) {
  int64_t sec = ns / 1000000000, frac = ns % 1000000000;
  if (frac < 0) { frac += 1000000000; sec -= 1; }
  int64_t days = sec / 86400, rem = sec % 86400;
  if (rem < 0) { rem += 86400; days -= 1; }
  int64_t y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  buf_printf(b, "%04lld-%02d-%02dT%02d:%02d:%02d.%09lldZ", (long long)y, m, d,
             (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60),
             (long long)frac);
}

char *buf_finish(err_buf *b, size_t *len) {
  if (!b->failed && b->cap == 0) grow(b, 0);
  if (b->failed) {
    err_free(b->p);
    b->p = NULL;
    if (len) *len = 0;
    return NULL;
  }
  if (len) *len = b->len;
  char *p = b->p;
  b->p = NULL;
  return p;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static bool digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool err_parse_time(const char *s, int64_t *ns) {
  int y, mo, d, h, mi, se;
  if (strlen(s) < 20) return false;
  if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
      s[7] != '-' || !digits(s + 8, 2, &d) || s[10] != 'T' ||
      !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
      s[16] != ':' || !digits(s + 17, 2, &se))
    return false;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
      se > 60)
    return false;
  const char *p = s + 19;
  int64_t frac = 0;
  if (*p == '.') {
    p++;
    int n = 0;
    while (*p >= '0' && *p <= '9') {
      if (n < 9) frac = frac * 10 + (*p - '0');
      n++;
      p++;
    }
    if (n == 0 || n > 9) return false;
    for (; n < 9; n++) frac *= 10;
  }
  if (p[0] != 'Z' || p[1] != 0) return false;
  int64_t days = days_from_civil(y, mo, d);
  /* int64 nanoseconds span the years 1678..2262: refuse what does not fit. */
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + se;
  if (secs > INT64_MAX / 1000000000 - 1 || secs < INT64_MIN / 1000000000 + 1)
    return false;
  *ns = secs * 1000000000 + frac;
  return true;
}
