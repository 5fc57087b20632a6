/* Extra fields of an error: a small array in first-set order. Keys are
 * unique within one error; setting a key again replaces its value. Lookups
 * through the chain take the outermost error's value. */
#include <string.h>

#include "err/err_internal.h"

static struct err_field *slot(keel_err *e, const char *key, bool *fresh) {
  for (size_t i = 0; i < e->nfields; i++)
    if (strcmp(e->fields[i].key, key) == 0) { *fresh = false; return &e->fields[i]; }
  if (e->nfields == e->capfields) {
    size_t cap = e->capfields ? e->capfields * 2 : 4;
    struct err_field *f = err_realloc(e->fields, cap * sizeof *f);
    if (!f) return NULL;
    e->fields = f;
    e->capfields = cap;
  }
  *fresh = true;
  return &e->fields[e->nfields];
}

/* Stores a value; string values are copied before anything changes. */
static int set(keel_err *e, const char *key, keel_err_field_type type,
               const void *value) {
  if (!e || e->is_static || !key) return KEEL_EINVAL;
  char *s = NULL;
  if (type == KEEL_ERR_FIELD_STRING && !(s = err_strdup(value ? value : "")))
    return KEEL_ENOMEM;
  bool fresh;
  struct err_field *f = slot(e, key, &fresh);
  char *k = f && fresh ? err_strdup(key) : NULL;
  if (!f || (fresh && !k)) {
    err_free(s);
    return KEEL_ENOMEM;
  }
  if (fresh) {
    f->key = k;
    e->nfields++;
  } else if (f->type == KEEL_ERR_FIELD_STRING) {
    err_free(f->v.s);
  }
  f->type = type;
  switch (type) {
  case KEEL_ERR_FIELD_STRING: f->v.s = s; break;
  case KEEL_ERR_FIELD_INT: f->v.i = *(const int64_t *)value; break;
  case KEEL_ERR_FIELD_FLOAT: f->v.f = *(const double *)value; break;
  default: f->v.b = *(const bool *)value; break;
  }
  return 0;
}

int keel_err_set_string(keel_err *e, const char *key, const char *value) {
  return set(e, key, KEEL_ERR_FIELD_STRING, value);
}
int keel_err_set_int(keel_err *e, const char *key, int64_t value) {
  return set(e, key, KEEL_ERR_FIELD_INT, &value);
}
int keel_err_set_float(keel_err *e, const char *key, double value) {
  return set(e, key, KEEL_ERR_FIELD_FLOAT, &value);
}
int keel_err_set_bool(keel_err *e, const char *key, bool value) {
  return set(e, key, KEEL_ERR_FIELD_BOOL, &value);
}

size_t keel_err_field_count(const keel_err *e) { return e ? e->nfields : 0; }

keel_err_field keel_err_field_at(const keel_err *e, size_t i) {
  keel_err_field out = {0};
  if (!e || i >= e->nfields) return out;
  const struct err_field *f = &e->fields[i];
  out.key = f->key;
  out.type = f->type;
  switch (f->type) {
  case KEEL_ERR_FIELD_STRING: out.value.s = f->v.s; break;
  case KEEL_ERR_FIELD_INT: out.value.i = f->v.i; break;
  case KEEL_ERR_FIELD_FLOAT: out.value.f = f->v.f; break;
  default: out.value.b = f->v.b; break;
  }
  return out;
}

keel_err_field keel_err_lookup(const keel_err *e, const char *key) {
  keel_err_field none = {0};
  if (!key) return none;
  for (; e; e = e->inner) {
    for (size_t i = 0; i < e->nfields; i++)
      if (strcmp(e->fields[i].key, key) == 0) return keel_err_field_at(e, i);
    for (size_t i = 0; i < e->njoined; i++) {
      keel_err_field f = keel_err_lookup(e->joined[i], key);
      if (f.type != KEEL_ERR_FIELD_NONE) return f;
    }
  }
  return none;
}
