/* Errors as text for people: the whole report (keel_err_format) and the
 * message chain in Go's "outer: inner" style. Both walk the inner chain
 * iteratively and recurse only into joins. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "err/err_internal.h"

static void indent(err_buf *b, int level) {
  for (int i = 0; i < level; i++) buf_puts(b, "    ");
}

struct frame_out {
  err_buf *b;
  int level;
};

static void put_frame(void *arg, const keel_err_frame *f, size_t i) {
  struct frame_out *fo = arg;
  (void)i;
  indent(fo->b, fo->level);
  buf_printf(fo->b, "    %s", f->function ? f->function : "??");
  if (f->file) {
    buf_printf(fo->b, " %s:%d", f->file, f->line);
  } else if (f->object) {
    const char *base = strrchr(f->object, '/');
    buf_printf(fo->b, " (%s+0x%" PRIxPTR ")", base ? base + 1 : f->object, f->offset);
  }
  if (f->inlined) buf_puts(fo->b, " (inlined)");
  buf_puts(fo->b, "\n");
}

static void put_one(err_buf *b, const keel_err *e, int level) {
  indent(b, level);
  buf_printf(b, "[%s] %s", e->module ? e->module : "(no module)", e->message);
  if (e->code) {
    const char *name = keel_status_name(e->code);
    if (e->code < 0 && strcmp(name, "KEEL_UNKNOWN") != 0)
      buf_printf(b, " (code %d %s)", e->code, name);
    else
      buf_printf(b, " (code %d)", e->code);
  }
  if (e->transient) buf_puts(b, " (transient)");
  buf_puts(b, "\n");
  if (e->friendly) {
    indent(b, level);
    buf_printf(b, "  for the user: %s\n", e->friendly);
  }
  if (e->hint) {
    indent(b, level);
    buf_printf(b, "  hint: %s\n", e->hint);
  }
  indent(b, level);
  buf_puts(b, "  at ");
  buf_time(b, e->time_ns);
  buf_printf(b, " on %s, pid %" PRId64 ", thread %" PRId64, e->host ? e->host : "?",
             e->pid, e->tid);
  if (e->task) buf_printf(b, ", task %" PRIu64, e->task);
  else buf_puts(b, ", no task");
  buf_puts(b, "\n");
  for (size_t i = 0; i < e->nfields; i++) {
    const struct err_field *f = &e->fields[i];
    indent(b, level);
    buf_printf(b, "  %s = ", f->key);
    switch (f->type) {
    case KEEL_ERR_FIELD_STRING: buf_json_string(b, f->v.s); break;
    case KEEL_ERR_FIELD_INT: buf_printf(b, "%" PRId64, f->v.i); break;
    case KEEL_ERR_FIELD_FLOAT: buf_printf(b, "%g", f->v.f); break;
    default: buf_puts(b, f->v.b ? "true" : "false"); break;
    }
    buf_puts(b, "\n");
  }
  struct frame_out fo = {b, level};
  if (keel_err_stack_depth(e)) {
    indent(b, level);
    buf_printf(b, "  stack (hash %016" PRIx64 "):\n", keel_err_stack_hash(e));
    err_each_frame(e, put_frame, &fo);
  }
}

static void put_chain(err_buf *b, const keel_err *e, int level) {
  for (bool first = true; e; e = e->inner, first = false) {
    if (!first) {
      indent(b, level);
      buf_puts(b, "caused by:\n");
    }
    put_one(b, e, level);
    for (size_t i = 0; i < e->njoined; i++) {
      indent(b, level);
      buf_printf(b, "  joined error %zu of %zu:\n", i + 1, e->njoined);
      put_chain(b, e->joined[i], level + 1);
    }
  }
}

char *keel_err_format(const keel_err *e) {
  err_buf b = {0};
  if (e) put_chain(&b, e, 0);
  return buf_finish(&b, NULL);
}

static void put_messages(err_buf *b, const keel_err *e) {
  for (bool first = true; e; e = e->inner, first = false) {
    if (!first) buf_puts(b, ": ");
    buf_puts(b, e->message);
    if (e->njoined) {
      buf_puts(b, " [");
      for (size_t i = 0; i < e->njoined; i++) {
        if (i) buf_puts(b, "; ");
        put_messages(b, e->joined[i]);
      }
      buf_puts(b, "]");
    }
  }
}

char *keel_err_chain_message(const keel_err *e) {
  err_buf b = {0};
  if (e) put_messages(&b, e);
  return buf_finish(&b, NULL);
}
