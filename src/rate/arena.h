/* arena.h — fixed-size objects from 2 MiB chunks backed by huge pages.
 *
 * For the keyed limiter's entries: with 100,000 keys each lookup misses the
 * TLB on 4 KiB pages (on a VM, a two-level page walk), and that, more than
 * the cache misses themselves, is what a lookup costs. Objects come from
 * chunks advised MADV_HUGEPAGE (the first chunk is 64 KiB of plain pages, so
 * that an arena of a few objects costs no huge page); freed objects go to a
 * free list and are reused; chunks are unmapped only by rate_arena_destroy.
 * Thread-safe (one mutex); objects are 64-byte aligned and at most
 * 64 KiB - 64 bytes (larger: alloc returns NULL). */
#ifndef KEEL_RATE_ARENA_H
#define KEEL_RATE_ARENA_H

#include <pthread.h>
#include <stddef.h>

typedef struct rate_arena {
  pthread_mutex_t mu;
  size_t size;            /* object size, a multiple of 64 */
  void *free;             /* freed objects, linked through their first word */
  char *next, *end;       /* the rest of the newest chunk */
  struct rate_chunk *chunks;
} rate_arena;

void rate_arena_init(rate_arena *a, size_t size);
/* An object of a->size bytes, or NULL (ENOMEM). */
void *rate_arena_alloc(rate_arena *a);
void rate_arena_free(rate_arena *a, void *p);
/* Unmaps every chunk: every object is gone. */
void rate_arena_destroy(rate_arena *a);

#endif
