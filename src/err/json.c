/* Strict JSON parsing for hostile input (the decoder's first half).
 *
 * Invariants:
 *  - Never reads past text[len); never recurses deeper than
 *    KEEL_ERR_JSON_MAX_DEPTH; never makes more than JSON_MAX_VALUES values;
 *    every allocation is in the arena, so any failure frees everything at once.
 *  - Strings come out as valid UTF-8 without NUL bytes: invalid UTF-8, lone or
 *    misordered surrogates, \u0000, raw control characters and unknown escapes
 *    are rejected. Numbers follow the RFC grammar exactly. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "err/err_internal.h"
#include "err/json.h"

struct chunk {
  struct chunk *next;
  size_t used, cap;
  max_align_t data[];
};

struct parser {
  const unsigned char *p, *start, *end;
  struct chunk *arena;
  size_t values;
  int depth;
  int status;
  char *why;
  size_t why_size;
};

static void *arena_alloc(struct parser *ps, size_t n) {
  n = (n + 15) & ~(size_t)15;
  struct chunk *c = ps->arena;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    c = err_alloc(sizeof *c + cap);
    if (!c) {
      ps->status = KEEL_ENOMEM;
      return NULL;
    }
    c->used = 0;
    c->cap = cap;
    c->next = ps->arena;
    ps->arena = c;
  }
  void *r = (char *)c->data + c->used;
  c->used += n;
  return r;
}

static void fail(struct parser *ps, const char *fmt, ...) {
  if (ps->status) return;
  ps->status = KEEL_EPROTO;
  if (!ps->why || !ps->why_size) return;
  int n = snprintf(ps->why, ps->why_size, "invalid JSON at byte %zu: ",
                   (size_t)(ps->p - ps->start));
  if (n < 0 || (size_t)n >= ps->why_size) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ps->why + n, ps->why_size - (size_t)n, fmt, ap);
  va_end(ap);
}

static void skip_ws(struct parser *ps) {
  while (ps->p < ps->end &&
         (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static jval *new_value(struct parser *ps, jtype t) {
  if (++ps->values > JSON_MAX_VALUES) {
    fail(ps, "more than %d values", JSON_MAX_VALUES);
    return NULL;
  }
  jval *v = arena_alloc(ps, sizeof *v);
  if (!v) return NULL;
  memset(v, 0, sizeof *v);
  v->type = t;
  return v;
}

static int hex4(const unsigned char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int c = p[i], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Length of a valid UTF-8 sequence at p (1..4), 0 if invalid. */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  int n;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; }
  else return 0;
  if (end - p < n) return 0;
  unsigned cp = c & (0x7f >> n);
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

static size_t put_utf8(char *d, unsigned cp) {
  if (cp < 0x80) { d[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    d[0] = (char)(0xc0 | (cp >> 6));
    d[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    d[0] = (char)(0xe0 | (cp >> 12));
    d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    d[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  d[0] = (char)(0xf0 | (cp >> 18));
  d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  d[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Parses a string at ps->p (on the opening quote). */
static const char *parse_string(struct parser *ps, size_t *out_len) {
  ps->p++;
  const unsigned char *q = ps->p;
  while (q < ps->end && *q != '"') {   /* find the end to size the output */
    if (*q == '\\') {
      if (ps->end - q < 2) break;
      q++;
    }
    q++;
  }
  if (q >= ps->end || *q != '"') { fail(ps, "unterminated string"); return NULL; }
  char *d = arena_alloc(ps, (size_t)(q - ps->p) + 1);
  if (!d) return NULL;
  size_t n = 0;
  while (*ps->p != '"') {
    unsigned c = *ps->p;
    if (c < 0x20) { fail(ps, "control character in string"); return NULL; }
    if (c != '\\') {
      int k = utf8_len(ps->p, ps->end);
      if (!k) { fail(ps, "invalid UTF-8 in string"); return NULL; }
      memcpy(d + n, ps->p, (size_t)k);
      n += (size_t)k;
      ps->p += k;
      continue;
    }
    ps->p++;
    c = *ps->p++;
    switch (c) {
    case '"': d[n++] = '"'; break;
    case '\\': d[n++] = '\\'; break;
    case '/': d[n++] = '/'; break;
    case 'b': d[n++] = '\b'; break;
    case 'f': d[n++] = '\f'; break;
    case 'n': d[n++] = '\n'; break;
    case 'r': d[n++] = '\r'; break;
    case 't': d[n++] = '\t'; break;
    case 'u': {
      if (ps->end - ps->p < 4) { fail(ps, "short \\u escape"); return NULL; }
      int cp = hex4(ps->p);
      if (cp < 0) { fail(ps, "bad \\u escape"); return NULL; }
      ps->p += 4;
      if (cp >= 0xdc00 && cp <= 0xdfff) { fail(ps, "lone low surrogate"); return NULL; }
      if (cp >= 0xd800 && cp <= 0xdbff) {
        int lo = -1;
        if (ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u')
          lo = hex4(ps->p + 2);
        if (lo < 0xdc00 || lo > 0xdfff) { fail(ps, "lone high surrogate"); return NULL; }
        ps->p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      }
      if (cp == 0) { fail(ps, "\\u0000 in string"); return NULL; }
      n += put_utf8(d + n, (unsigned)cp);
      break;
    }
    default:
      ps->p--;
      fail(ps, "unknown escape");
      return NULL;
    }
  }
  ps->p++;   /* the closing quote */
  d[n] = 0;
  *out_len = n;
  return d;
}

static bool digit(struct parser *ps) {
  return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

static jval *parse_number(struct parser *ps) {
  const unsigned char *s = ps->p;
  bool is_int = true;
  if (*ps->p == '-') ps->p++;
  if (!digit(ps)) { fail(ps, "bad number"); return NULL; }
  if (*ps->p == '0') ps->p++;
  else while (digit(ps)) ps->p++;
  if (ps->p < ps->end && *ps->p == '.') {
    ps->p++;
    is_int = false;
    if (!digit(ps)) { fail(ps, "bad number fraction"); return NULL; }
    while (digit(ps)) ps->p++;
  }
  if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
    ps->p++;
    is_int = false;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
    if (!digit(ps)) { fail(ps, "bad number exponent"); return NULL; }
    while (digit(ps)) ps->p++;
  }
  size_t n = (size_t)(ps->p - s);
  if (n > 64) { fail(ps, "number longer than 64 characters"); return NULL; }
  jval *v = new_value(ps, J_NUM);
  char *t = v ? arena_alloc(ps, n + 1) : NULL;
  if (!t) return NULL;
  memcpy(t, s, n);
  t[n] = 0;
  v->s = t;
  v->len = n;
  v->is_int = is_int;
  return v;
}

static bool literal(struct parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return false;
  ps->p += n;
  return true;
}

static jval *parse_value(struct parser *ps);

static jval *parse_container(struct parser *ps, bool object) {
  if (++ps->depth > KEEL_ERR_JSON_MAX_DEPTH) {
    fail(ps, "nested deeper than %d", KEEL_ERR_JSON_MAX_DEPTH);
    return NULL;
  }
  jval *v = new_value(ps, object ? J_OBJ : J_ARR);
  if (!v) return NULL;
  ps->p++;
  jval **tail = &v->first;
  skip_ws(ps);
  char close = object ? '}' : ']';
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    ps->depth--;
    return v;
  }
  for (;;) {
    const char *key = NULL;
    skip_ws(ps);
    if (object) {
      size_t klen;
      if (ps->p >= ps->end || *ps->p != '"') { fail(ps, "expected a key"); return NULL; }
      if (!(key = parse_string(ps, &klen))) return NULL;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') { fail(ps, "expected ':'"); return NULL; }
      ps->p++;
    }
    jval *m = parse_value(ps);
    if (!m) return NULL;
    m->key = key;
    *tail = m;
    tail = &m->next;
    v->len++;
    skip_ws(ps);
    if (ps->p >= ps->end) { fail(ps, "unterminated %s", object ? "object" : "array"); return NULL; }
    if (*ps->p == ',') { ps->p++; continue; }
    if (*ps->p == close) { ps->p++; break; }
    fail(ps, "expected ',' or '%c'", close);
    return NULL;
  }
  ps->depth--;
  return v;
}

static jval *parse_value(struct parser *ps) {
  skip_ws(ps);
  if (ps->p >= ps->end) { fail(ps, "unexpected end of input"); return NULL; }
  jval *v;
  switch (*ps->p) {
  case '{': return parse_container(ps, true);
  case '[': return parse_container(ps, false);
  case '"': {
    size_t n;
    const char *s = parse_string(ps, &n);
    if (!s || !(v = new_value(ps, J_STR))) return NULL;
    v->s = s;
    v->len = n;
    return v;
  }
  case 't':
  case 'f': {
    bool t = *ps->p == 't';
    if (!literal(ps, t ? "true" : "false")) { fail(ps, "bad literal"); return NULL; }
    if (!(v = new_value(ps, J_BOOL))) return NULL;
    v->b = t;
    return v;
  }
  case 'n':
    if (!literal(ps, "null")) { fail(ps, "bad literal"); return NULL; }
    return new_value(ps, J_NULL);
  default:
    if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps);
    fail(ps, "unexpected character 0x%02x", *ps->p);
    return NULL;
  }
}

int json_parse(const char *text, size_t len, json_doc *doc, char *why,
               size_t why_size) {
  static const char empty[1];
  if (!text) {
    text = empty;
    len = 0;
  }
  struct parser ps = {.p = (const unsigned char *)text,
                      .start = (const unsigned char *)text,
                      .end = (const unsigned char *)text + len,
                      .why = why, .why_size = why_size};
  doc->root = NULL;
  doc->arena = NULL;
  if (len > KEEL_ERR_JSON_MAX_BYTES) {
    fail(&ps, "input longer than %u bytes", KEEL_ERR_JSON_MAX_BYTES);
    return ps.status;
  }
  jval *root = parse_value(&ps);
  if (root) {
    skip_ws(&ps);
    if (ps.p != ps.end) fail(&ps, "trailing characters after the value");
  }
  if (!root && !ps.status) ps.status = KEEL_ENOMEM;
  if (ps.status) {
    doc->arena = ps.arena;
    json_free(doc);
    if (ps.status == KEEL_ENOMEM && why && why_size)
      snprintf(why, why_size, "out of memory while decoding");
    return ps.status;
  }
  doc->root = root;
  doc->arena = ps.arena;
  return 0;
}

void json_free(json_doc *doc) {
  struct chunk *c = doc->arena;
  while (c) {
    struct chunk *next = c->next;
    err_free(c);
    c = next;
  }
  doc->arena = NULL;
  doc->root = NULL;
}

const jval *json_get(const jval *obj, const char *key) {
  if (!obj || obj->type != J_OBJ) return NULL;
  for (const jval *m = obj->first; m; m = m->next)
    if (strcmp(m->key, key) == 0) return m;
  return NULL;
}
