/* The keyed limiter's entry arena (src/rate/arena.h): objects are distinct,
 * 64-byte aligned and writable across chunk boundaries (the 64 KiB first
 * chunk, then 2 MiB ones); freed objects are reused; oversized objects are
 * refused, not overrun. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keel_test.h"
#include "rate/arena.h"

enum { N = 30000, SIZE = 192 };   /* ~5.6 MiB: the first chunk and three more */

KT_TEST(objects_are_distinct_aligned_and_reused) {
  rate_arena a;
  rate_arena_init(&a, 180);   /* rounded up to 192 */
  KT_CHECK_EQ(a.size, (size_t)SIZE);
  unsigned char **p = malloc(N * sizeof *p);
  KT_CHECK(p != NULL);
  for (int i = 0; i < N; i++) {
    p[i] = rate_arena_alloc(&a);
    KT_CHECK(p[i] != NULL);
    KT_CHECK_EQ((uintptr_t)p[i] % 64, (uintptr_t)0);
    memset(p[i], i & 0xff, SIZE);
  }
  /* Every object kept its own bytes: no two overlap. */
  for (int i = 0; i < N; i++)
    for (int j = 0; j < SIZE; j++)
      if (p[i][j] != (unsigned char)(i & 0xff)) KT_FAIL("object %d byte %d overwritten", i, j);
  /* Freed objects come back (last freed first), and nothing new is carved. */
  for (int i = 0; i < 100; i++) rate_arena_free(&a, p[i]);
  char *next = a.next;
  for (int i = 99; i >= 0; i--) {
    unsigned char *q = rate_arena_alloc(&a);
    KT_CHECK(q == p[i]);
  }
  KT_CHECK(a.next == next);
  rate_arena_free(&a, NULL);   /* a no-op, as free(NULL) */
  rate_arena_destroy(&a);
  free(p);
}

KT_TEST(oversized_objects_are_refused) {
  rate_arena a;
  rate_arena_init(&a, 64 << 10);
  KT_CHECK(rate_arena_alloc(&a) == NULL);
  rate_arena_destroy(&a);
}

KT_MAIN()
