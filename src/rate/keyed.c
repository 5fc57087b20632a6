/* keyed.c — a token bucket per key, created on demand, with bounded memory.
 *
 * Keys hash to shards; a shard is a mutex, a chained hash table and a list
 * kept in approximate LRU order by the CLOCK rule: a use only sets the
 * entry's `referenced` bit (no relinking: with 100,000 keys, touching two
 * neighbours per use costs more cache misses than the rest of the call);
 * eviction looks at the tail, and a referenced entry there gets a second
 * chance (bit cleared, moved to the head). Invariants, per shard, under its
 * lock:
 *   - every entry is in exactly one hash chain and in the LRU list;
 *   - an entry with refs > 0 (a caller waits on its limiter outside the lock)
 *     is never evicted, so its limiter outlives the wait;
 *   - count <= max_per_shard, except for entries pinned by waiters;
 *   - an entry is "idle" when it has not been used for a second and a new
 *     limiter would answer every later question the same or more strictly:
 *     its bucket is full again (for a zero limit: its burst is untouched);
 *     or when it has not been used for idle_timeout.
 *     Idle entries are dropped from the LRU tail as the shard is used (a look
 *     every IDLE_EVERY operations: the tail is cold memory), and by
 *     keel_rate_keyed_sweep_at.
 * The allow itself runs on the entry's limiter (lock-free inside), under the
 * shard lock only because the entry could otherwise be evicted under it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "keel/rate.h"
#include "rate/arena.h"
#include "rate/bucket.h"
#include "rate/clock.h"
#include "rate/limiter.h"

/* The first cache line holds everything a lookup reads (hash, chain link,
 * and the key itself when it is short); the limiter starts on the next. */
#define INLINE_KEY 15
typedef struct key_entry {
  uint64_t hash;
  struct key_entry *hnext;      /* hash chain */
  struct key_entry *prev, *next;/* the CLOCK list */
  int64_t last_used;
  int32_t refs;                 /* callers waiting on lim, outside the lock */
  uint32_t key_len;
  bool referenced;              /* used since the clock hand last passed */
  unsigned char key_inline[INLINE_KEY];
  keel_rate_limiter lim;        /* 64-byte aligned */
  unsigned char key_long[];     /* keys longer than INLINE_KEY */
} key_entry;

static inline const unsigned char *entry_key(const key_entry *e) {
  return e->key_len <= INLINE_KEY ? e->key_inline : e->key_long;
}

typedef struct shard {
  _Alignas(64) pthread_mutex_t mu;
  key_entry **buckets;
  size_t nbuckets;              /* a power of two */
  size_t count;
  key_entry *head, *tail;
  uint64_t ops;                 /* idle checks run every IDLE_EVERY ops */
  uint64_t created, evicted, forced;
} shard;

struct keel_rate_keyed {
  keel_rate_keyed_options opts;
  rate_arena entries;           /* entries with inline keys (arena.h) */
  size_t max_per_shard;
  unsigned nshards;             /* a power of two */
  shard *shards;
};

#define DEFAULT_MAX_KEYS ((size_t)1 << 20)
#define DEFAULT_SHARDS 64u
#define TAIL_CHECKS 2
#define IDLE_EVERY 16   /* ops per shard between looks at the tail */
#define MIN_IDLE KEEL_SECOND   /* a full bucket is dropped after this unused */

static uint64_t hash_key(const void *key, size_t len) {
  const unsigned char *p = key;
  uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0xff51afd7ed558ccdull);
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    h = (h ^ (v * 0xc4ceb9fe1a85ec53ull)) * 0x100000001b3ull;
    h ^= h >> 29;
    p += 8;
    len -= 8;
  }
  uint64_t v = 0;
  if (len) memcpy(&v, p, len);
  h = (h ^ (v * 0xc4ceb9fe1a85ec53ull)) * 0xff51afd7ed558ccdull;
  h ^= h >> 32;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 29;
  return h;
}

static unsigned pow2_at_least(unsigned n) {
  unsigned p = 1;
  while (p < n && p < (1u << 16)) p <<= 1;
  return p;
}

int keel_rate_keyed_new(keel_rate_keyed **out, const keel_rate_keyed_options *opts) {
  if (!out) return KEEL_EINVAL;
  *out = NULL;
  if (!opts || opts->limit != opts->limit || opts->limit < 0 || opts->burst < 0 ||
      opts->idle_timeout < 0)
    return KEEL_EINVAL;
  keel_rate_keyed *k = calloc(1, sizeof *k);
  if (!k) return KEEL_ENOMEM;
  k->opts = *opts;
  rate_arena_init(&k->entries, sizeof(key_entry));
  if (!k->opts.max_keys) k->opts.max_keys = DEFAULT_MAX_KEYS;
  unsigned n = pow2_at_least(opts->shards ? opts->shards : DEFAULT_SHARDS);
  while (n > 1 && n > k->opts.max_keys) n >>= 1;   /* at least a key per shard */
  k->nshards = n;
  k->opts.shards = n;
  k->max_per_shard = k->opts.max_keys / n;
  k->shards = aligned_alloc(64, sizeof(shard) * n);
  if (!k->shards) {
    rate_arena_destroy(&k->entries);
    free(k);
    return KEEL_ENOMEM;
  }
  memset(k->shards, 0, sizeof(shard) * n);
  for (unsigned i = 0; i < n; i++) {
    shard *s = &k->shards[i];
    pthread_mutex_init(&s->mu, NULL);
    s->nbuckets = 16;
    s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
    if (!s->buckets) {
      for (unsigned j = 0; j <= i; j++) {
        free(k->shards[j].buckets);
        pthread_mutex_destroy(&k->shards[j].mu);
      }
      free(k->shards);
      rate_arena_destroy(&k->entries);
      free(k);
      return KEEL_ENOMEM;
    }
  }
  *out = k;
  return 0;
}

static void entry_free(keel_rate_keyed *k, key_entry *e) {
  rate_limiter_destroy(&e->lim);
  if (e->key_len <= INLINE_KEY) rate_arena_free(&k->entries, e);
  else free(e);
}

void keel_rate_keyed_free(keel_rate_keyed *k) {
  if (!k) return;
  for (unsigned i = 0; i < k->nshards; i++) {
    shard *s = &k->shards[i];
    for (key_entry *e = s->head, *nx; e; e = nx) {
      nx = e->next;
      entry_free(k, e);
    }
    free(s->buckets);
    pthread_mutex_destroy(&s->mu);
  }
  rate_arena_destroy(&k->entries);
  free(k->shards);
  free(k);
}

/* ---- a shard's table and list (under s->mu) ----------------------------------- */

static void lru_unlink(shard *s, key_entry *e) {
  if (e->prev) e->prev->next = e->next; else s->head = e->next;
  if (e->next) e->next->prev = e->prev; else s->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push_head(shard *s, key_entry *e) {
  e->prev = NULL;
  e->next = s->head;
  if (s->head) s->head->prev = e; else s->tail = e;
  s->head = e;
}

static key_entry **chain_of(shard *s, uint64_t h) {
  return &s->buckets[(h >> 16) & (s->nbuckets - 1)];
}

static key_entry *find(shard *s, uint64_t h, const void *key, size_t len) {
  for (key_entry *e = *chain_of(s, h); e; e = e->hnext)
    if (e->hash == h && e->key_len == len && (len == 0 || memcmp(entry_key(e), key, len) == 0))
      return e;
  return NULL;
}

static void grow(shard *s) {
  size_t n = s->nbuckets * 2;
  key_entry **b = calloc(n, sizeof *b);
  if (!b) return;   /* longer chains, still correct */
  for (size_t i = 0; i < s->nbuckets; i++) {
    for (key_entry *e = s->buckets[i], *nx; e; e = nx) {
      nx = e->hnext;
      key_entry **c = &b[(e->hash >> 16) & (n - 1)];
      e->hnext = *c;
      *c = e;
    }
  }
  free(s->buckets);
  s->buckets = b;
  s->nbuckets = n;
}

static void drop(keel_rate_keyed *k, shard *s, key_entry *e) {
  key_entry **p = chain_of(s, e->hash);
  while (*p != e) p = &(*p)->hnext;
  *p = e->hnext;
  lru_unlink(s, e);
  s->count--;
  entry_free(k, e);
}

static bool idle(const keel_rate_keyed *k, key_entry *e, int64_t now) {
  if (e->refs > 0) return false;
  int64_t unused = rate_sub(now, e->last_used);
  if (k->opts.idle_timeout > 0 && unused >= k->opts.idle_timeout) return true;
  /* A key in use keeps its entry even while its bucket is full (no churn of
   * free and malloc for busy keys with fast limits). */
  if (unused < MIN_IDLE) return false;
  if (k->opts.limit == 0 && !rate_is_inf(keel_rate_limiter_limit(&e->lim)))
    return keel_rate_limiter_burst(&e->lim) == k->opts.burst;
  return keel_rate_tokens_at(&e->lim, now) >= (double)keel_rate_limiter_burst(&e->lim);
}

/* Second chance: a referenced tail entry goes back to the head. */
static key_entry *clock_tail(shard *s) {
  key_entry *e = s->tail;
  if (e && e->referenced) {
    e->referenced = false;
    lru_unlink(s, e);
    lru_push_head(s, e);
    e = s->tail;
  }
  return e;
}

/* Drops idle entries from the tail (a few), then forces the count down. */
static void maintain(keel_rate_keyed *k, shard *s, int64_t now, key_entry *keep) {
  int checks = ++s->ops % IDLE_EVERY == 0 ? TAIL_CHECKS : 0;
  for (int i = 0; i < checks; i++) {
    key_entry *e = clock_tail(s);
    if (!e || e == keep || e->referenced || !idle(k, e, now)) break;
    drop(k, s, e);
    s->evicted++;
  }
  /* At most two passes: the first clears every referenced bit. */
  size_t budget = 2 * s->count + 2;
  while (s->count > k->max_per_shard && budget-- > 0) {
    key_entry *e = clock_tail(s);
    if (!e) break;
    if (e == keep || e->refs > 0 || e->referenced) {
      lru_unlink(s, e);   /* pinned or just used: look further */
      lru_push_head(s, e);
      continue;
    }
    bool was_idle = idle(k, e, now);
    drop(k, s, e);
    if (was_idle) s->evicted++; else s->forced++;
  }
}

/* Finds or creates key's entry and marks it used; NULL on ENOMEM. */
static key_entry *lookup(keel_rate_keyed *k, shard *s, uint64_t h, const void *key,
                         size_t len, int64_t now) {
  key_entry *e = find(s, h, key, len);
  if (e) {
    e->referenced = true;
  } else {
    if (len > UINT32_MAX) return NULL;
    e = len <= INLINE_KEY ? rate_arena_alloc(&k->entries)
                          : aligned_alloc(64, (sizeof *e + len + 63) / 64 * 64);
    if (!e) return NULL;
    rate_limiter_init(&e->lim, k->opts.limit, k->opts.burst);
    e->hash = h;
    e->refs = 0;
    e->referenced = false;
    e->key_len = (uint32_t)len;
    if (len) memcpy((unsigned char *)entry_key(e), key, len);
    key_entry **c = chain_of(s, h);
    e->hnext = *c;
    *c = e;
    lru_push_head(s, e);
    s->count++;
    s->created++;
    if (s->count > s->nbuckets) grow(s);
  }
  e->last_used = now;
  return e;
}

static bool key_ok(const void *key, size_t len) { return key || len == 0; }

int keel_rate_keyed_allow_n_at(keel_rate_keyed *k, const void *key, size_t key_len,
                               int64_t now, int64_t n) {
  if (!k || !key_ok(key, key_len) || n < 0) return KEEL_EINVAL;
  uint64_t h = hash_key(key, key_len);
  shard *s = &k->shards[h & (k->nshards - 1)];
  pthread_mutex_lock(&s->mu);
  key_entry *e = lookup(k, s, h, key, key_len, now);
  int rc = KEEL_ENOMEM;
  if (e) {
    rc = keel_rate_allow_n_at(&e->lim, now, n) ? 1 : 0;
    maintain(k, s, now, e);
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

bool keel_rate_keyed_allow(keel_rate_keyed *k, const void *key, size_t key_len) {
  return keel_rate_keyed_allow_n_at(k, key, key_len, rate_clock_now(), 1) == 1;
}

int keel_rate_keyed_wait_n(keel_rate_keyed *k, const void *key, size_t key_len,
                           keel_ctx *ctx, int64_t n) {
  if (!k || !key_ok(key, key_len) || !ctx || n < 0) return KEEL_EINVAL;
  uint64_t h = hash_key(key, key_len);
  shard *s = &k->shards[h & (k->nshards - 1)];
  int64_t now = keel_rate_now();
  pthread_mutex_lock(&s->mu);
  key_entry *e = lookup(k, s, h, key, key_len, now);
  if (e) {
    e->refs++;
    maintain(k, s, now, e);
  }
  pthread_mutex_unlock(&s->mu);
  if (!e) return KEEL_ENOMEM;
  int rc = keel_rate_wait_n(&e->lim, ctx, n);
  pthread_mutex_lock(&s->mu);
  e->refs--;
  pthread_mutex_unlock(&s->mu);
  return rc;
}

double keel_rate_keyed_tokens_at(keel_rate_keyed *k, const void *key, size_t key_len,
                                 int64_t now) {
  if (!k || !key_ok(key, key_len)) return 0;
  uint64_t h = hash_key(key, key_len);
  shard *s = &k->shards[h & (k->nshards - 1)];
  pthread_mutex_lock(&s->mu);
  key_entry *e = find(s, h, key, key_len);
  double t = e ? keel_rate_tokens_at(&e->lim, now) : (double)k->opts.burst;
  pthread_mutex_unlock(&s->mu);
  return t;
}

size_t keel_rate_keyed_sweep_at(keel_rate_keyed *k, int64_t now) {
  if (!k) return 0;
  size_t dropped = 0;
  for (unsigned i = 0; i < k->nshards; i++) {
    shard *s = &k->shards[i];
    pthread_mutex_lock(&s->mu);
    for (key_entry *e = s->tail, *pv; e; e = pv) {
      pv = e->prev;
      if (idle(k, e, now)) {
        drop(k, s, e);
        s->evicted++;
        dropped++;
      }
    }
    pthread_mutex_unlock(&s->mu);
  }
  return dropped;
}

void keel_rate_keyed_stats_get(keel_rate_keyed *k, keel_rate_keyed_stats *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (!k) return;
  for (unsigned i = 0; i < k->nshards; i++) {
    shard *s = &k->shards[i];
    pthread_mutex_lock(&s->mu);
    out->keys += s->count;
    out->created += s->created;
    out->evicted += s->evicted;
    out->forced += s->forced;
    pthread_mutex_unlock(&s->mu);
  }
}
