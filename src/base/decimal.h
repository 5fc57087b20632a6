/* base/decimal.h — keel__decimal(): an unsigned integer in decimal, for every
 * floor (private). No libc, so it is async-signal-safe (the stack-overflow
 * report uses it), and several times cheaper than snprintf on hot paths
 * (RESP encoding, default names). */
#ifndef KEEL_BASE_DECIMAL_H
#define KEEL_BASE_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

enum { KEEL__DECIMAL_MAX = 20 };   /* digits of UINT64_MAX */

/* Writes v's digits to out (room for KEEL__DECIMAL_MAX), no terminator;
 * returns how many. */
static inline size_t keel__decimal(char *out, uint64_t v) {
  char tmp[KEEL__DECIMAL_MAX];
  size_t n = 0, len = 0;
  do tmp[n++] = (char)('0' + v % 10); while (v /= 10);
  while (n) out[len++] = tmp[--n];
  return len;
}

#endif
