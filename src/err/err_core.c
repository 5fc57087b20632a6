/* The error value: constructors, reference counts, accessors, lookups.
 *
 * Invariants (see err_internal.h for the layout):
 *  - No constructor returns NULL (except join of nothing): on any allocation
 *    failure it releases what it took over and returns &oom_error.
 *  - release walks the inner chain iteratively, so a chain of any length is
 *    freed without deep recursion; joins recurse (their depth is the join
 *    nesting, which the caller built by hand).
 *  - The first pc of a local error's stack is the return address into the
 *    function that called the public constructor. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err/err_internal.h"
#include "keel/time.h"

/* ---- allocator ------------------------------------------------------------ */

static keel_err_allocator allocator = {malloc, realloc, free};

void keel_err_set_allocator(const keel_err_allocator *a) {
  if (a && a->alloc && a->realloc && a->free) allocator = *a;
  else allocator = (keel_err_allocator){malloc, realloc, free};
}

void *err_alloc(size_t n) { return allocator.alloc(n ? n : 1); }
void *err_realloc(void *p, size_t n) { return allocator.realloc(p, n ? n : 1); }
void err_free(void *p) { if (p) allocator.free(p); }

char *err_strndup(const char *s, size_t n) {
  char *d = err_alloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = 0;
  return d;
}

char *err_strdup(const char *s) { return s ? err_strndup(s, strlen(s)) : NULL; }

/* ---- the static out-of-memory error ------------------------------------------ */

static keel_err oom_error = {
    .is_static = true,
    .code = KEEL_ENOMEM,
    .module = "err",
    .message = "out of memory",
    .host = "",
};

const keel_err *keel_err_out_of_memory(void) { return &oom_error; }

/* ---- construction ---------------------------------------------------------- */

__attribute__((noinline)) keel_err *err_make(const char *module, int code,
                                             size_t msg_len, size_t extra_len,
                                             int skip) {
  void *pcs[ERR_MAX_PCS];
  int n = err_capture(pcs, ERR_MAX_PCS, skip + 1);
  size_t size = sizeof(keel_err) + (size_t)n * sizeof(void *) + msg_len + 1 +
                extra_len + 1;
  keel_err *e = err_alloc(size);
  if (!e) return NULL;
  memset(e, 0, sizeof *e);
  atomic_init(&e->refs, 1);
  e->code = code;
  e->module = module;
  e->pcs = (void **)(e + 1);
  e->npcs = n;
  memcpy(e->pcs, pcs, (size_t)n * sizeof(void *));
  e->message = (char *)(e->pcs + n);
  e->message[0] = 0;
  e->time_ns = keel_wall_now();
  e->host = err_host();
  e->pid = err_pid();
  e->tid = err_tid();
  e->task = err_task();
  return e;
}

/* Formats into a fresh error, from a public constructor (skip its frame). */
__attribute__((noinline)) static keel_err *
make_vf(const char *module, int code, const char *friendly, const char *fmt,
        va_list ap) {
  char small[256];
  va_list ap2;
  va_copy(ap2, ap);
  int n = 0;
  small[0] = 0;
  if (fmt) n = vsnprintf(small, sizeof small, fmt, ap);
  if (n < 0) n = 0;
  size_t flen = friendly ? strlen(friendly) : 0;
  keel_err *e = err_make(module, code, (size_t)n, flen, 2);
  if (!e) { va_end(ap2); return NULL; }
  if ((size_t)n < sizeof small) memcpy(e->message, small, (size_t)n + 1);
  else vsnprintf(e->message, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  if (friendly) {
    e->friendly = e->message + n + 1;
    memcpy(e->friendly, friendly, flen + 1);
  }
  return e;
}

__attribute__((noinline)) keel_err *keel_err_new(const char *module, int code,
                                                 const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  keel_err *e = make_vf(module, code, NULL, fmt, ap);
  va_end(ap);
  return e ? e : &oom_error;
}

__attribute__((noinline)) keel_err *keel_err_wrap(keel_err *inner,
                                                  const char *module,
                                                  const char *friendly,
                                                  const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  keel_err *e = make_vf(module, inner ? inner->code : 0, friendly, fmt, ap);
  va_end(ap);
  if (!e) {
    keel_err_release(inner);
    return &oom_error;
  }
  /* A wrap keeps no code of its own unless set: its code is the inner's, so
   * callers asking keel_err_code at a boundary still see the cause. */
  e->inner = inner;
  return e;
}

__attribute__((noinline)) keel_err *keel_err_from_errno(const char *module,
                                                        int code, int errnum,
                                                        const char *fmt, ...) {
  char msg[512], text[128], full[700];
  va_list ap;
  va_start(ap, fmt);
  msg[0] = 0;
  if (fmt) vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char *et = strerror_r(errnum, text, sizeof text);
  const char *name = strerrorname_np(errnum);
  int n = snprintf(full, sizeof full, "%s: %s", msg, et ? et : "unknown error");
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof full) n = sizeof full - 1;
  keel_err *e = err_make(module, code, (size_t)n, 0, 1);
  if (!e) return &oom_error;
  memcpy(e->message, full, (size_t)n + 1);
  if (keel_err_set_int(e, "errno", errnum) != 0 ||
      (name && keel_err_set_string(e, "errno_name", name) != 0)) {
    keel_err_release(e);
    return &oom_error;
  }
  return e;
}

__attribute__((noinline)) keel_err *keel_err_join(keel_err *const *errs,
                                                  size_t n) {
  size_t live = 0;
  for (size_t i = 0; i < n; i++) live += errs[i] != NULL;
  if (live == 0) return NULL;
  const char *module = NULL;
  int code = 0;
  bool first = true, same_module = true, same_code = true;
  for (size_t i = 0; i < n; i++) {
    if (!errs[i]) continue;
    if (first) {
      module = errs[i]->module;
      code = errs[i]->code;
      first = false;
      continue;
    }
    const char *m = errs[i]->module;
    if (!(m == module || (m && module && strcmp(m, module) == 0)))
      same_module = false;
    if (errs[i]->code != code) same_code = false;
  }
  char head[64];
  int hn = snprintf(head, sizeof head, "%zu errors", live);
  keel_err *e = err_make(same_module ? module : NULL, same_code ? code : 0,
                         (size_t)hn, 0, 1);
  keel_err **list = e ? err_alloc(live * sizeof *list) : NULL;
  if (!list) {
    err_free(e);
    for (size_t i = 0; i < n; i++) keel_err_release(errs[i]);
    return &oom_error;
  }
  memcpy(e->message, head, (size_t)hn + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (errs[i]) list[k++] = errs[i];
  e->joined = list;
  e->njoined = live;
  return e;
}

/* ---- reference counts -------------------------------------------------------- */

keel_err *keel_err_retain(keel_err *e) {
  if (e && !e->is_static)
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
  return e;
}

static void free_one(keel_err *e) {
  for (size_t i = 0; i < e->njoined; i++) keel_err_release(e->joined[i]);
  err_free(e->joined);
  for (size_t i = 0; i < e->nfields; i++) {
    err_free(e->fields[i].key);
    if (e->fields[i].type == KEEL_ERR_FIELD_STRING) err_free(e->fields[i].v.s);
  }
  err_free(e->fields);
  err_free(e->hint);
  if (e->friendly_alloc) err_free(e->friendly);
  if (e->decoded) {
    err_free((char *)e->module);
    err_free(e->message);
    err_free((char *)e->host);
    for (size_t i = 0; i < e->nframes; i++) {
      err_free((char *)e->frames[i].function);
      err_free((char *)e->frames[i].file);
      err_free((char *)e->frames[i].object);
    }
    err_free(e->frames);
  }
  err_free(e);
}

void keel_err_release(keel_err *e) {
  while (e && !e->is_static) {
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
      return;
    keel_err *next = e->inner;
    free_one(e);
    e = next;
  }
}

/* ---- accessors ----------------------------------------------------------------- */

int keel_err_code(const keel_err *e) { return e ? e->code : 0; }
const char *keel_err_message(const keel_err *e) { return e ? e->message : NULL; }
const char *keel_err_module(const keel_err *e) { return e ? e->module : NULL; }
const keel_err *keel_err_inner(const keel_err *e) { return e ? e->inner : NULL; }
const char *keel_err_friendly(const keel_err *e) { return e ? e->friendly : NULL; }
const char *keel_err_hint(const keel_err *e) { return e ? e->hint : NULL; }
bool keel_err_transient(const keel_err *e) { return e && e->transient; }
size_t keel_err_joined_count(const keel_err *e) { return e ? e->njoined : 0; }
const keel_err *keel_err_joined(const keel_err *e, size_t i) {
  return e && i < e->njoined ? e->joined[i] : NULL;
}
int64_t keel_err_time(const keel_err *e) { return e ? e->time_ns : 0; }
const char *keel_err_host(const keel_err *e) { return e ? e->host : NULL; }
int64_t keel_err_pid(const keel_err *e) { return e ? e->pid : 0; }
int64_t keel_err_thread(const keel_err *e) { return e ? e->tid : 0; }
uint64_t keel_err_task(const keel_err *e) { return e ? e->task : 0; }

/* ---- lookups through the chain and joins ---------------------------------------- */

typedef bool (*err_pred)(const keel_err *e, const void *arg);

static const keel_err *find(const keel_err *e, err_pred pred, const void *arg) {
  for (; e; e = e->inner) {
    if (pred(e, arg)) return e;
    for (size_t i = 0; i < e->njoined; i++) {
      const keel_err *f = find(e->joined[i], pred, arg);
      if (f) return f;
    }
  }
  return NULL;
}

static bool same_module(const keel_err *e, const void *arg) {
  const char *m = arg;
  if (!e->module || !m) return e->module == m;
  return strcmp(e->module, m) == 0;
}
static bool same_code(const keel_err *e, const void *arg) {
  return e->code == *(const int *)arg;
}
static bool is_transient(const keel_err *e, const void *arg) {
  (void)arg;
  return e->transient;
}

const keel_err *keel_err_find_module(const keel_err *e, const char *module) {
  return find(e, same_module, module);
}
const keel_err *keel_err_find_code(const keel_err *e, int code) {
  return find(e, same_code, &code);
}
bool keel_err_has_code(const keel_err *e, int code) {
  return find(e, same_code, &code) != NULL;
}
bool keel_err_has_module(const keel_err *e, const char *module) {
  return find(e, same_module, module) != NULL;
}
bool keel_err_any_transient(const keel_err *e) {
  return find(e, is_transient, NULL) != NULL;
}

/* ---- setters ---------------------------------------------------------------------- */

int keel_err_set_friendly(keel_err *e, const char *friendly) {
  if (!e || e->is_static) return KEEL_EINVAL;
  char *f = NULL;
  if (friendly && !(f = err_strdup(friendly))) return KEEL_ENOMEM;
  if (e->friendly_alloc) err_free(e->friendly);
  e->friendly = f;
  e->friendly_alloc = f != NULL;
  return 0;
}

int keel_err_set_hint(keel_err *e, const char *fmt, ...) {
  if (!e || e->is_static) return KEEL_EINVAL;
  char *h = NULL;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return KEEL_EINVAL;
    if (!(h = err_alloc((size_t)n + 1))) return KEEL_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(h, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  err_free(e->hint);
  e->hint = h;
  return 0;
}

int keel_err_set_transient(keel_err *e, bool transient) {
  if (!e || e->is_static) return KEEL_EINVAL;
  e->transient = transient;
  return 0;
}
