/* libFuzzer harness for keel_err_decode (built by extra.cmake in the ASan
 * build with clang; `make check` runs it briefly as err/fuzz_decode).
 * Properties: the decoder never crashes or leaks (ASan/LSan), a rejection
 * always comes with a reason, and an accepted input re-encodes to JSON that
 * decodes and re-encodes to the very same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keel/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  keel_err *e = NULL;
  char why[256];
  why[0] = 0;
  int r = keel_err_decode((const char *)data, size, &e, NULL, why, sizeof why);
  if (r != 0) {
    if (e != NULL || why[0] == 0 || (r != KEEL_EPROTO && r != KEEL_ENOMEM))
      __builtin_trap();
    return 0;
  }
  /* lookups walk the whole decoded structure */
  (void)keel_err_has_code(e, KEEL_ENOTFOUND);
  (void)keel_err_has_module(e, "lowlevel");
  (void)keel_err_lookup(e, "errno");
  char *text = keel_err_format(e);
  free(text);
  char *a = NULL, *b = NULL;
  size_t alen, blen;
  if (keel_err_encode(e, &a, &alen) != 0) __builtin_trap();
  keel_err *e2 = NULL;
  if (keel_err_decode(a, alen, &e2, NULL, NULL, 0) != 0) __builtin_trap();
  if (keel_err_encode(e2, &b, &blen) != 0) __builtin_trap();
  if (alen != blen || memcmp(a, b, alen) != 0) __builtin_trap();
  free(a);
  free(b);
  keel_err_release(e);
  keel_err_release(e2);
  return 0;
}
