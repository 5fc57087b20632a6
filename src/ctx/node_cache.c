/* node_cache.c — a per-thread LIFO of freed plain cancelable nodes.
 *
 * Invariants:
 *   - only nodes of exactly CTX_NODE_SIZE bytes (plain cancelable nodes, no
 *     union) enter; a cached node is dead memory whose first word links the
 *     list; the list is the calling thread's alone (no locks, no atomics);
 *   - LIFO: a tree freed leaf-first is handed back root-first in address
 *     order, so the next tree again sits at a constant stride and a cancel
 *     walk stays prefetch-friendly (glibc's bins scatter it 2-3x slower);
 *   - at most CTX_CACHE_MAX nodes per thread; the rest go to free(). A
 *     thread's list is freed when the thread exits (a pthread key);
 *   - under ASan or TSan the cache is off: plain malloc/free, so a use after
 *     free is still caught;
 *   - the functions are never inlined: a task may move to another worker at a
 *     yield, and a thread-local address must not be kept across one. */
#include <pthread.h>
#include <stdlib.h>

#include "ctx_internal.h"

#if !defined(KEEL_SANITIZE_ADDRESS) && !defined(KEEL_SANITIZE_THREAD)
enum { CTX_CACHE_MAX = 1 << 17 };

static _Thread_local void *cache_head;
static _Thread_local size_t cache_len;
static _Thread_local int cache_keyed;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_key_ok;

/* Runs on the exiting thread, whose thread-locals are still there. */
static void cache_drain(void *unused) {
  (void)unused;
  void *head = cache_head;
  cache_head = NULL;
  cache_len = 0;
  while (head) {
    void *next = *(void **)head;
    free(head);
    head = next;
  }
}

static void cache_key_make(void) {
  cache_key_ok = pthread_key_create(&cache_key, cache_drain) == 0;
}

__attribute__((noinline)) void *ctx_node_get(void) {
  void *n = cache_head;
  if (!n) return malloc(CTX_NODE_SIZE);
  cache_head = *(void **)n;
  cache_len--;
  return n;
}

__attribute__((noinline)) void ctx_node_put(void *n) {
  if (cache_len >= CTX_CACHE_MAX) {
    free(n);
    return;
  }
  if (!cache_keyed) {   /* first node on this thread: arrange the drain */
    pthread_once(&cache_once, cache_key_make);
    if (!cache_key_ok || pthread_setspecific(cache_key, &cache_once) != 0) {
      free(n);
      return;
    }
    cache_keyed = 1;
  }
  *(void **)n = cache_head;
  cache_head = n;
  cache_len++;
}
#else
void *ctx_node_get(void) { return malloc(CTX_NODE_SIZE); }
void ctx_node_put(void *n) { free(n); }
#endif
