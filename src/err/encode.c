/* JSON encoding of an error and its whole chain (schema: docs/errors.md).
 *
 * Invariants: the output is one line (every control character is escaped),
 * valid UTF-8 when the error's strings are (other bytes pass through and the
 * decoder rejects them, so encode only text). Floats always carry a '.' or an
 * exponent so the decoder can tell them from integers; +-inf are written as
 * +-1e999 and NaN as null. Chains deeper than KEEL_ERR_MAX_CHAIN are cut there
 * with "truncated": true, so every encoded error decodes. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "err/encode.h"
#include "err/err_internal.h"

static void put_float(err_buf *b, double v) {
  if (isnan(v)) { buf_puts(b, "null"); return; }
  if (isinf(v)) { buf_puts(b, v > 0 ? "1e999" : "-1e999"); return; }
  char tmp[40];
  snprintf(tmp, sizeof tmp, "%.17g", v);
  buf_puts(b, tmp);
  if (!strpbrk(tmp, ".eE")) buf_puts(b, ".0");
}

static void put_fields(err_buf *b, const keel_err *e) {
  buf_puts(b, "{");
  for (size_t i = 0; i < e->nfields; i++) {
    const struct err_field *f = &e->fields[i];
    if (i) buf_puts(b, ",");
    buf_json_string(b, f->key);
    buf_puts(b, ":");
    switch (f->type) {
    case KEEL_ERR_FIELD_STRING: buf_json_string(b, f->v.s); break;
    case KEEL_ERR_FIELD_INT: buf_printf(b, "%" PRId64, f->v.i); break;
    case KEEL_ERR_FIELD_FLOAT: put_float(b, f->v.f); break;
    default: buf_puts(b, f->v.b ? "true" : "false"); break;
    }
  }
  buf_puts(b, "}");
}

static void put_frame(void *arg, const keel_err_frame *f, size_t i) {
  err_buf *b = arg;
  if (i) buf_puts(b, ",");
  buf_printf(b, "{\"pc\":\"0x%" PRIxPTR "\",\"function\":", f->pc);
  buf_json_string(b, f->function);
  buf_puts(b, ",\"file\":");
  buf_json_string(b, f->file);
  buf_printf(b, ",\"line\":%d,\"object\":", f->line);
  buf_json_string(b, f->object);
  buf_printf(b, ",\"offset\":\"0x%" PRIxPTR "\"%s}", f->offset,
             f->inlined ? ",\"inlined\":true" : "");
}

static void put_stack(err_buf *b, const keel_err *e) {
  buf_printf(b, "{\"hash\":\"%016" PRIx64 "\",\"frames\":[",
             keel_err_stack_hash(e));
  err_each_frame(e, put_frame, b);
  buf_puts(b, "]}");
}

void err_encode_into(err_buf *b, const keel_err *e, int depth) {
  buf_puts(b, "{\"module\":");
  buf_json_string(b, e->module);
  buf_printf(b, ",\"code\":%d", e->code);
  const char *name = keel_status_name(e->code);
  if (e->code < 0 && strcmp(name, "KEEL_UNKNOWN") != 0)
    buf_printf(b, ",\"code_name\":\"%s\"", name);
  buf_puts(b, ",\"message\":");
  buf_json_string(b, e->message);
  if (e->friendly) {
    buf_puts(b, ",\"friendly\":");
    buf_json_string(b, e->friendly);
  }
  if (e->hint) {
    buf_puts(b, ",\"hint\":");
    buf_json_string(b, e->hint);
  }
  buf_printf(b, ",\"transient\":%s,\"time\":\"", e->transient ? "true" : "false");
  buf_time(b, e->time_ns);
  buf_puts(b, "\",\"host\":");
  buf_json_string(b, e->host);
  buf_printf(b, ",\"pid\":%" PRId64 ",\"thread\":%" PRId64 ",\"task\":%" PRIu64
                ",\"fields\":",
             e->pid, e->tid, e->task);
  put_fields(b, e);
  buf_puts(b, ",\"stack\":");
  put_stack(b, e);
  bool cut = depth + 1 >= KEEL_ERR_MAX_CHAIN && (e->inner || e->njoined);
  if (cut) {
    buf_puts(b, ",\"truncated\":true");
  } else {
    if (e->inner) {
      buf_puts(b, ",\"inner\":");
      err_encode_into(b, e->inner, depth + 1);
    }
    if (e->njoined) {
      buf_puts(b, ",\"joined\":[");
      for (size_t i = 0; i < e->njoined; i++) {
        if (i) buf_puts(b, ",");
        err_encode_into(b, e->joined[i], depth + 1);
      }
      buf_puts(b, "]");
    }
  }
  buf_puts(b, "}");
}

int keel_err_encode(const keel_err *e, char **out, size_t *len) {
  if (!out) return KEEL_EINVAL;
  *out = NULL;
  if (len) *len = 0;
  if (!e) return KEEL_EINVAL;
  err_buf b = {0};
  err_encode_into(&b, e, 0);
  *out = buf_finish(&b, len);
  return *out ? 0 : KEEL_ENOMEM;
}
