/* multi.c — the book's multiLimiter: members sorted by limit (most
 * restrictive first, stable), wait waits on each in turn, limit is the most
 * restrictive.
 *
 * Invariants: the member array is copied and never changes after
 * keel_rate_multi_new; the objects the members point to are borrowed. Since
 * each member refills while an earlier one makes the caller wait, waiting on
 * them in turn costs the longest single wait, not the sum. */
#include <stdlib.h>
#include <string.h>

#include "keel/rate.h"

struct keel_rate_multi {
  size_t count;
  keel_rate_any members[];
};

static int limiter_wait_n(void *self, keel_ctx *ctx, int64_t n) {
  return keel_rate_wait_n(self, ctx, n);
}
static keel_rate_limit limiter_limit(void *self) {
  return keel_rate_limiter_limit(self);
}
static int limiter_reserve_n_at(void *self, int64_t now, int64_t n, int64_t *act_at) {
  keel_rate_reservation r;
  int rc = keel_rate_reserve_n_at(self, now, n, &r);
  if (rc) return rc;
  if (!r.ok) return KEEL_ELIMIT;
  *act_at = r.time_to_act > now ? r.time_to_act : now;
  return 0;
}

keel_rate_any keel_rate_any_limiter(keel_rate_limiter *l) {
  return (keel_rate_any){l, limiter_wait_n, limiter_limit, limiter_reserve_n_at};
}

static int multi_wait_n(void *self, keel_ctx *ctx, int64_t n) {
  return keel_rate_multi_wait_n(self, ctx, n);
}
static keel_rate_limit multi_limit(void *self) { return keel_rate_multi_limit(self); }
static int multi_reserve_n_at(void *self, int64_t now, int64_t n, int64_t *act_at) {
  return keel_rate_multi_reserve_n_at(self, now, n, act_at);
}

keel_rate_any keel_rate_any_multi(keel_rate_multi *m) {
  return (keel_rate_any){m, multi_wait_n, multi_limit, multi_reserve_n_at};
}

int keel_rate_multi_new(keel_rate_multi **out, const keel_rate_any *members,
                        size_t count) {
  if (!out) return KEEL_EINVAL;
  *out = NULL;
  if (!members || count == 0 || count > (SIZE_MAX - sizeof(keel_rate_multi)) / sizeof *members)
    return KEEL_EINVAL;
  for (size_t i = 0; i < count; i++)
    if (!members[i].wait_n || !members[i].limit) return KEEL_EINVAL;
  keel_rate_multi *m = malloc(sizeof *m + count * sizeof *members);
  if (!m) return KEEL_ENOMEM;
  m->count = count;
  memcpy(m->members, members, count * sizeof *members);
  /* Insertion sort: stable, and multis are small. */
  keel_rate_limit *lim = malloc(count * sizeof *lim);
  if (!lim) {
    free(m);
    return KEEL_ENOMEM;
  }
  for (size_t i = 0; i < count; i++) lim[i] = m->members[i].limit(m->members[i].self);
  for (size_t i = 1; i < count; i++) {
    keel_rate_any a = m->members[i];
    keel_rate_limit al = lim[i];
    size_t j = i;
    for (; j > 0 && lim[j - 1] > al; j--) {
      m->members[j] = m->members[j - 1];
      lim[j] = lim[j - 1];
    }
    m->members[j] = a;
    lim[j] = al;
  }
  free(lim);
  *out = m;
  return 0;
}

void keel_rate_multi_free(keel_rate_multi *m) { free(m); }

int keel_rate_multi_wait_n(keel_rate_multi *m, keel_ctx *ctx, int64_t n) {
  if (!m || !ctx || n < 0) return KEEL_EINVAL;
  for (size_t i = 0; i < m->count; i++) {
    int rc = m->members[i].wait_n(m->members[i].self, ctx, n);
    if (rc) return rc;
  }
  return 0;
}

int keel_rate_multi_wait(keel_rate_multi *m, keel_ctx *ctx) {
  return keel_rate_multi_wait_n(m, ctx, 1);
}

int keel_rate_multi_reserve_n_at(keel_rate_multi *m, int64_t now, int64_t n,
                                 int64_t *act_at) {
  if (!m || !act_at || n < 0) return KEEL_EINVAL;
  int64_t t = now;
  for (size_t i = 0; i < m->count; i++) {
    if (!m->members[i].reserve_n_at) return KEEL_ENOTSUP;
    int64_t at = t;
    int rc = m->members[i].reserve_n_at(m->members[i].self, t, n, &at);
    if (rc) return rc;
    if (at > t) t = at;
  }
  *act_at = t;
  return 0;
}

keel_rate_limit keel_rate_multi_limit(keel_rate_multi *m) {
  if (!m) return 0;
  keel_rate_limit best = m->members[0].limit(m->members[0].self);
  for (size_t i = 1; i < m->count; i++) {
    keel_rate_limit l = m->members[i].limit(m->members[i].self);
    if (l < best) best = l;
  }
  return best;
}

size_t keel_rate_multi_count(const keel_rate_multi *m) { return m ? m->count : 0; }

keel_rate_any keel_rate_multi_member(const keel_rate_multi *m, size_t i) {
  if (!m || i >= m->count) return (keel_rate_any){0};
  return m->members[i];
}
