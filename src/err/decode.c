/* Decoding an error (or a log line) from JSON: the decoder's second half,
 * from the strict JSON tree (json.c) to a keel_err.
 *
 * Invariants:
 *  - Every field is type-checked; a known key twice, a missing "message", an
 *    out-of-range number, a malformed time or hash is rejected with a reason.
 *    Unknown keys are ignored (newer writers may add some).
 *  - Nesting of errors is limited to KEEL_ERR_MAX_CHAIN, frames to
 *    DECODE_MAX_FRAMES, fields to DECODE_MAX_FIELDS, joins to DECODE_MAX_JOINED.
 *  - On any failure everything built so far is released: no leaks. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err/err_internal.h"
#include "err/json.h"

#define DECODE_MAX_FRAMES 256
#define DECODE_MAX_FIELDS 256
#define DECODE_MAX_JOINED 1024

struct decoder {
  int status;
  char *why;
  size_t why_size;
};

static void reject(struct decoder *d, const char *fmt, ...) {
  if (d->status) return;
  d->status = KEEL_EPROTO;
  if (!d->why || !d->why_size) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->why, d->why_size, fmt, ap);
  va_end(ap);
}

static void no_memory(struct decoder *d) {
  if (d->status) return;
  d->status = KEEL_ENOMEM;
  if (d->why && d->why_size) snprintf(d->why, d->why_size, "out of memory while decoding");
}

static bool get_int(struct decoder *d, const jval *v, const char *what,
                    int64_t lo, int64_t hi, int64_t *out) {
  if (v->type != J_NUM || !v->is_int) {
    reject(d, "not a keel error: \"%s\" must be an integer", what);
    return false;
  }
  errno = 0;
  long long x = strtoll(v->s, NULL, 10);
  if (errno == ERANGE || x < lo || x > hi) {
    reject(d, "not a keel error: \"%s\" out of range", what);
    return false;
  }
  *out = x;
  return true;
}

static bool get_uint(struct decoder *d, const jval *v, const char *what,
                     uint64_t *out) {
  if (v->type != J_NUM || !v->is_int || v->s[0] == '-') {
    reject(d, "not a keel error: \"%s\" must be a non-negative integer", what);
    return false;
  }
  errno = 0;
  unsigned long long x = strtoull(v->s, NULL, 10);
  if (errno == ERANGE) {
    reject(d, "not a keel error: \"%s\" out of range", what);
    return false;
  }
  *out = x;
  return true;
}

/* A string or null; *out is a fresh copy (NULL for null). */
static bool get_string(struct decoder *d, const jval *v, const char *what,
                       bool nullable, char **out) {
  *out = NULL;
  if (v->type == J_NULL && nullable) return true;
  if (v->type != J_STR) {
    reject(d, "not a keel error: \"%s\" must be a string", what);
    return false;
  }
  if (!(*out = err_strndup(v->s, v->len))) {
    no_memory(d);
    return false;
  }
  return true;
}

static bool get_hex(struct decoder *d, const jval *v, const char *what,
                    bool prefix, uint64_t *out) {
  const char *s = v->type == J_STR ? v->s : NULL;
  if (s && prefix) s = strncmp(s, "0x", 2) == 0 ? s + 2 : NULL;
  size_t n = s ? strlen(s) : 0;
  if (!s || n == 0 || n > 16 || strspn(s, "0123456789abcdefABCDEF") != n) {
    reject(d, "not a keel error: \"%s\" must be a hex string", what);
    return false;
  }
  *out = strtoull(s, NULL, 16);
  return true;
}

static bool decode_fields(struct decoder *d, const jval *obj, keel_err *e) {
  if (obj->type != J_OBJ) {
    reject(d, "not a keel error: \"fields\" must be an object");
    return false;
  }
  if (obj->len > DECODE_MAX_FIELDS) {
    reject(d, "error has more than %d fields", DECODE_MAX_FIELDS);
    return false;
  }
  for (const jval *m = obj->first; m; m = m->next) {
    int r;
    switch (m->type) {
    case J_STR: r = keel_err_set_string(e, m->key, m->s); break;
    case J_BOOL: r = keel_err_set_bool(e, m->key, m->b); break;
    case J_NULL: r = keel_err_set_float(e, m->key, NAN); break;
    case J_NUM:
      if (m->is_int) {
        errno = 0;
        long long x = strtoll(m->s, NULL, 10);
        if (errno == ERANGE) {
          reject(d, "field \"%s\": integer out of range", m->key);
          return false;
        }
        r = keel_err_set_int(e, m->key, x);
      } else {
        r = keel_err_set_float(e, m->key, strtod(m->s, NULL));
      }
      break;
    default:
      reject(d, "field \"%s\" must be a string, number, bool or null", m->key);
      return false;
    }
    if (r) { no_memory(d); return false; }
  }
  return true;
}

static bool decode_frame(struct decoder *d, const jval *o, keel_err_frame *f) {
  if (o->type != J_OBJ) {
    reject(d, "not a keel error: a stack frame must be an object");
    return false;
  }
  for (const jval *m = o->first; m; m = m->next) {
    char *s;
    uint64_t x;
    int64_t line;
    if (strcmp(m->key, "function") == 0 || strcmp(m->key, "file") == 0 ||
        strcmp(m->key, "object") == 0) {
      const char **slot = m->key[0] == 'f' ? (m->key[1] == 'u' ? &f->function : &f->file)
                                           : &f->object;
      if (*slot) { reject(d, "duplicate key \"%s\" in a frame", m->key); return false; }
      if (!get_string(d, m, m->key, true, &s)) return false;
      *slot = s;
    } else if (strcmp(m->key, "line") == 0) {
      if (!get_int(d, m, "line", 0, INT_MAX, &line)) return false;
      f->line = (int)line;
    } else if (strcmp(m->key, "pc") == 0) {
      if (!get_hex(d, m, "pc", true, &x)) return false;
      f->pc = (uintptr_t)x;
    } else if (strcmp(m->key, "inlined") == 0) {
      if (m->type != J_BOOL) {
        reject(d, "not a keel error: \"inlined\" must be true or false");
        return false;
      }
      f->inlined = m->b;
    } else if (strcmp(m->key, "offset") == 0) {
      if (!get_hex(d, m, "offset", true, &x)) return false;
      f->offset = (uintptr_t)x;
    }
  }
  return true;
}

static bool decode_stack(struct decoder *d, const jval *o, keel_err *e) {
  if (o->type != J_OBJ) {
    reject(d, "not a keel error: \"stack\" must be an object");
    return false;
  }
  const jval *hash = json_get(o, "hash"), *frames = json_get(o, "frames");
  if (hash && !get_hex(d, hash, "hash", false, &e->stack_hash)) return false;
  if (!frames) return true;
  if (frames->type != J_ARR) {
    reject(d, "not a keel error: \"frames\" must be an array");
    return false;
  }
  if (frames->len > DECODE_MAX_FRAMES) {
    reject(d, "stack deeper than %d frames", DECODE_MAX_FRAMES);
    return false;
  }
  if (frames->len == 0) return true;
  e->frames = err_alloc(frames->len * sizeof *e->frames);
  if (!e->frames) { no_memory(d); return false; }
  for (const jval *m = frames->first; m; m = m->next) {
    keel_err_frame *f = &e->frames[e->nframes++];
    memset(f, 0, sizeof *f);
    if (!decode_frame(d, m, f)) return false;
  }
  return true;
}

enum {
  K_MODULE, K_CODE, K_MESSAGE, K_FRIENDLY, K_HINT, K_TRANSIENT, K_TIME, K_HOST,
  K_PID, K_THREAD, K_TASK, K_FIELDS, K_STACK, K_INNER, K_JOINED, K_COUNT
};
static const char *const keys[K_COUNT] = {
    "module", "code", "message", "friendly", "hint", "transient", "time", "host",
    "pid", "thread", "task", "fields", "stack", "inner", "joined"};

static keel_err *decode_error(struct decoder *d, const jval *o, int depth);

static bool decode_member(struct decoder *d, int k, const jval *m, keel_err *e,
                          int depth) {
  char *s;
  int64_t x;
  switch (k) {
  case K_MODULE:
    if (!get_string(d, m, "module", true, &s)) return false;
    e->module = s;
    return true;
  case K_CODE:
    if (!get_int(d, m, "code", INT_MIN, INT_MAX, &x)) return false;
    e->code = (int)x;
    return true;
  case K_MESSAGE:
    if (!get_string(d, m, "message", false, &s)) return false;
    e->message = s;
    return true;
  case K_FRIENDLY:
    if (!get_string(d, m, "friendly", true, &s)) return false;
    e->friendly = s;
    e->friendly_alloc = true;
    return true;
  case K_HINT:
    if (!get_string(d, m, "hint", true, &s)) return false;
    e->hint = s;
    return true;
  case K_TRANSIENT:
    if (m->type != J_BOOL) {
      reject(d, "not a keel error: \"transient\" must be true or false");
      return false;
    }
    e->transient = m->b;
    return true;
  case K_TIME:
    if (m->type != J_STR || !err_parse_time(m->s, &e->time_ns)) {
      reject(d, "not a keel error: \"time\" must be an RFC 3339 UTC time");
      return false;
    }
    return true;
  case K_HOST:
    if (!get_string(d, m, "host", true, &s)) return false;
    e->host = s;
    return true;
  case K_PID: return get_int(d, m, "pid", 0, INT64_MAX, &e->pid);
  case K_THREAD: return get_int(d, m, "thread", 0, INT64_MAX, &e->tid);
  case K_TASK: return get_uint(d, m, "task", &e->task);
  case K_FIELDS: return decode_fields(d, m, e);
  case K_STACK: return decode_stack(d, m, e);
  case K_INNER:
    if (m->type == J_NULL) return true;
    e->inner = decode_error(d, m, depth + 1);
    return e->inner != NULL;
  default: /* K_JOINED */
    if (m->type != J_ARR || m->len == 0) {
      reject(d, "not a keel error: \"joined\" must be a non-empty array");
      return false;
    }
    if (m->len > DECODE_MAX_JOINED) {
      reject(d, "more than %d joined errors", DECODE_MAX_JOINED);
      return false;
    }
    if (!(e->joined = err_alloc(m->len * sizeof *e->joined))) {
      no_memory(d);
      return false;
    }
    for (const jval *j = m->first; j; j = j->next) {
      keel_err *je = decode_error(d, j, depth + 1);
      if (!je) return false;
      e->joined[e->njoined++] = je;
    }
    return true;
  }
}

static keel_err *decode_error(struct decoder *d, const jval *o, int depth) {
  if (o->type != J_OBJ) {
    reject(d, "not a keel error: expected a JSON object");
    return NULL;
  }
  if (depth >= KEEL_ERR_MAX_CHAIN) {
    reject(d, "errors nested deeper than %d", KEEL_ERR_MAX_CHAIN);
    return NULL;
  }
  keel_err *e = err_alloc(sizeof *e);
  if (!e) { no_memory(d); return NULL; }
  memset(e, 0, sizeof *e);
  atomic_init(&e->refs, 1);
  e->decoded = true;
  unsigned seen = 0;
  for (const jval *m = o->first; m; m = m->next) {
    int k = 0;
    while (k < K_COUNT && strcmp(keys[k], m->key) != 0) k++;
    if (k == K_COUNT) continue;
    if (seen & (1u << k)) {
      reject(d, "not a keel error: duplicate key \"%s\"", keys[k]);
      break;
    }
    seen |= 1u << k;
    if (!decode_member(d, k, m, e, depth)) break;
  }
  if (!d->status && !e->message)
    reject(d, "not a keel error: no \"message\"");
  if (d->status) {
    keel_err_release(e);
    return NULL;
  }
  return e;
}

static bool valid_log_id(const jval *v) {
  if (!v || v->type != J_STR || v->len != KEEL_ERR_LOG_ID_LEN) return false;
  return strspn(v->s, "0123456789ABCDEFGHJKMNPQRSTVWXYZ") == v->len;
}

static void copy_cut(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n >= cap) {
    n = cap - 1;
    while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80) n--;   /* whole UTF-8 */
  }
  memcpy(dst, src, n);
  dst[n] = 0;
}

/* The log line's own members (all optional except log_id). */
static void read_entry(struct decoder *d, const jval *root, keel_err_log_entry *entry) {
  const jval *v;
  if ((v = json_get(root, "logged")) &&
      (v->type != J_STR || !err_parse_time(v->s, &entry->logged)))
    reject(d, "not a keel log line: \"logged\" must be an RFC 3339 UTC time");
  if ((v = json_get(root, "well_formed"))) {
    if (v->type != J_BOOL) reject(d, "not a keel log line: \"well_formed\" must be true or false");
    else entry->well_formed = v->b;
  }
  if ((v = json_get(root, "expected_module")) && v->type == J_STR)
    copy_cut(entry->expected_module, sizeof entry->expected_module, v->s);
  if ((v = json_get(root, "user_message")) && v->type == J_STR)
    copy_cut(entry->user_message, sizeof entry->user_message, v->s);
}

static int decode_any(const char *json, size_t len, keel_err **out,
                      keel_err_log_entry *entry, bool need_log, char *why,
                      size_t why_size) {
  struct decoder d = {.why = why, .why_size = why_size};
  if (why && why_size) why[0] = 0;
  if (entry) memset(entry, 0, sizeof *entry);
  if (!out) return KEEL_EINVAL;
  *out = NULL;
  json_doc doc;
  int r = json_parse(json, len, &doc, why, why_size);
  if (r) return r;
  const jval *root = doc.root, *err = root;
  bool is_log = root->type == J_OBJ && json_get(root, "log_id") && json_get(root, "error");
  if (is_log) {
    const jval *id = json_get(root, "log_id");
    if (!valid_log_id(id)) {
      reject(&d, "not a keel log line: \"log_id\" must be %d Crockford base32 characters",
             KEEL_ERR_LOG_ID_LEN);
    } else if (entry) {
      memcpy(entry->log_id, id->s, KEEL_ERR_LOG_ID_LEN + 1);
      read_entry(&d, root, entry);
    }
    err = json_get(root, "error");
  } else if (need_log) {
    reject(&d, "not a keel log line: no \"log_id\" and \"error\"");
  }
  keel_err *e = d.status ? NULL : decode_error(&d, err, 0);
  json_free(&doc);
  if (!e) {
    if (entry) memset(entry, 0, sizeof *entry);
    return d.status ? d.status : KEEL_ENOMEM;
  }
  *out = e;
  return 0;
}

int keel_err_decode(const char *json, size_t len, keel_err **out, char *log_id,
                    char *why, size_t why_size) {
  keel_err_log_entry entry;
  int r = decode_any(json, len, out, &entry, false, why, why_size);
  if (log_id) memcpy(log_id, entry.log_id, KEEL_ERR_LOG_ID_LEN + 1);
  return r;
}

int keel_err_decode_log_line(const char *line, size_t len, keel_err **out,
                             keel_err_log_entry *entry, char *why,
                             size_t why_size) {
  return decode_any(line, len, out, entry, true, why, why_size);
}
