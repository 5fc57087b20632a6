/* A strict JSON reader for the decoder: RFC 8259 only (no comments, no
 * trailing commas, no NaN), strict UTF-8, limits on size, depth and count.
 * Values live in an arena freed all at once. */
#ifndef KEEL_ERR_JSON_H
#define KEEL_ERR_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval jval;
struct jval {
  jtype type;
  bool b;            /* J_BOOL */
  bool is_int;       /* J_NUM: no fraction, no exponent */
  const char *s;     /* J_STR: decoded, NUL-terminated; J_NUM: its text */
  size_t len;        /* J_STR: bytes; J_ARR/J_OBJ: members */
  const char *key;   /* as a member of an object: its key (decoded) */
  jval *first;       /* J_ARR/J_OBJ: first member */
  jval *next;        /* next member of the enclosing array/object */
};

#define JSON_MAX_VALUES 262144

typedef struct json_doc {
  jval *root;
  void *arena;       /* private */
} json_doc;

/* 0 on success; KEEL_EPROTO (why filled) or KEEL_ENOMEM. */
int json_parse(const char *text, size_t len, json_doc *doc, char *why,
               size_t why_size);
void json_free(json_doc *doc);

/* The member of an object with this key, or NULL. */
const jval *json_get(const jval *obj, const char *key);

#endif
