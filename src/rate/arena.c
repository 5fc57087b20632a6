/* arena.c — see arena.h. */
#include "rate/arena.h"

#include <stdint.h>
#include <sys/mman.h>

/* Under ASan a freed object is poisoned (but for its free-list link), so a
 * use after free is caught as with malloc. */
#ifdef KEEL_SANITIZE_ADDRESS
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define FIRST_CHUNK ((size_t)64 << 10)
#define HUGE_CHUNK ((size_t)2 << 20)

/* At the start of each chunk (its first 64 bytes are not handed out). */
struct rate_chunk {
  struct rate_chunk *next;
  size_t len;
};

void rate_arena_init(rate_arena *a, size_t size) {
  pthread_mutex_init(&a->mu, NULL);
  a->size = (size + 63) & ~(size_t)63;
  a->free = NULL;
  a->next = a->end = NULL;
  a->chunks = NULL;
}

/* A chunk of len bytes; a huge one is aligned to 2 MiB (mapped with room to
 * spare and trimmed), which a huge page needs. */
static struct rate_chunk *chunk_new(size_t len) {
  size_t map = len == HUGE_CHUNK ? 2 * HUGE_CHUNK : len;
  char *p = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (len == HUGE_CHUNK) {
    char *aligned = (char *)(((uintptr_t)p + HUGE_CHUNK - 1) & ~(uintptr_t)(HUGE_CHUNK - 1));
    if (aligned > p) munmap(p, (size_t)(aligned - p));
    size_t tail = (size_t)(p + map - (aligned + HUGE_CHUNK));
    if (tail) munmap(aligned + HUGE_CHUNK, tail);
    p = aligned;
#ifdef MADV_HUGEPAGE
    madvise(p, HUGE_CHUNK, MADV_HUGEPAGE);   /* advice only: plain pages if refused */
#endif
  }
  struct rate_chunk *c = (struct rate_chunk *)(void *)p;
  c->len = len;
  return c;
}

void *rate_arena_alloc(rate_arena *a) {
  pthread_mutex_lock(&a->mu);
  void *p = a->free;
  if (p) {
    a->free = *(void **)p;
    UNPOISON(p, a->size);
  } else {
    if ((size_t)(a->end - a->next) < a->size) {
      size_t len = a->chunks ? HUGE_CHUNK : FIRST_CHUNK;
      struct rate_chunk *c = a->size <= FIRST_CHUNK - 64 ? chunk_new(len) : NULL;
      if (!c) {
        pthread_mutex_unlock(&a->mu);
        return NULL;
      }
      c->next = a->chunks;
      a->chunks = c;
      a->next = (char *)c + 64;
      a->end = (char *)c + len;
    }
    p = a->next;
    a->next += a->size;
  }
  pthread_mutex_unlock(&a->mu);
  return p;
}

void rate_arena_free(rate_arena *a, void *p) {
  if (!p) return;
  pthread_mutex_lock(&a->mu);
  *(void **)p = a->free;
  a->free = p;
  POISON((char *)p + sizeof(void *), a->size - sizeof(void *));
  pthread_mutex_unlock(&a->mu);
}

void rate_arena_destroy(rate_arena *a) {
  for (struct rate_chunk *c = a->chunks, *nx; c; c = nx) {
    nx = c->next;
    UNPOISON(c, c->len);   /* (ASan's shadow outlives the mapping) */
    munmap(c, c->len);
  }
  a->chunks = NULL;
  a->free = NULL;
  a->next = a->end = NULL;
  pthread_mutex_destroy(&a->mu);
}
