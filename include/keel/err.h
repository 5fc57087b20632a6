/* keel/err.h — well-formed errors: what happened, where, when, and for whom.
 *
 * An error (keel_err) tells
 *   what happened: a message, an optional numeric code, and the inner error it
 *     wraps, kept whole down to the lowest one (plus errors joined into it);
 *   which module made it: a module tag, so a module boundary can tell an error
 *     well-formed *for that module* from a raw one passed through;
 *   when and where: UTC creation time, host, process id, thread id, keel task
 *     id (0 outside a task), and the stack at creation, captured as raw return
 *     addresses (libunwind, ~100 ns) and symbolized only when printed or
 *     encoded (libdw: function, file, line); a stack hash over the program's
 *     own frames groups like failures across runs and ASLR;
 *   extra fields: key/value pairs (string, integer, float, bool);
 *   for the user: a one-line friendly message, a hint, a transient flag.
 *
 * Propagation (the book's framework): wrap errors at your module boundaries
 * with keel_err_wrap; at the top, keel_err_handle gives the error a log ID,
 * writes it as one JSON line to the log sink and prints the user one line:
 * "[ID] <friendly message>" for an error well-formed for the top module, else
 * "[ID] There was an unexpected issue; please report this as a bug.".
 * keel_err_encode / keel_err_decode carry errors across processes.
 *
 * Ownership: errors are reference counted and immutable once shared. Every
 * constructor returns a new reference the caller owns; keel_err_wrap and
 * keel_err_join take over the references passed in. Constructors never
 * return NULL: on allocation failure they return a static "out of memory"
 * error (retain and release are no-ops on it). The setters (fields, hint,
 * friendly, transient) are for the creator, before the error is shared.
 * Every function may be called from any thread or task; usable with no
 * runtime (the task id comes from the runtime when it is linked in). */
#ifndef KEEL_ERR_H
#define KEEL_ERR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "keel/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct keel_err keel_err;

/* A new error made by `module` (a static string such as "rate"), with an
 * optional numeric code (0 for none; keel modules use KEEL_E* codes) and a
 * printf-style message. Captures the time, place and stack. */
keel_err *keel_err_new(const char *module, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Wraps inner (owned; NULL allowed) at a module boundary: the new error
 * belongs to `module`, carries a friendly one-line message for the user
 * (NULL: none; copied) and a printf-style message for the log. It takes the
 * inner's code (0 without inner), so a caller still sees the cause's code;
 * it captures its own time, place and stack. If memory runs out, inner is
 * released and the static out-of-memory error returned. */
keel_err *keel_err_wrap(keel_err *inner, const char *module,
                        const char *friendly, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One error made of n errors (all owned; NULL entries skipped), e.g. every
 * replica's failure. Its module and code are the parts' common ones (NULL /
 * 0 when they differ); lookups search every part. Returns NULL when no entry
 * is an error (nothing failed), the only constructor that may. */
keel_err *keel_err_join(keel_err *const *errs, size_t n);

keel_err *keel_err_retain(keel_err *e);
void keel_err_release(keel_err *e);      /* NULL is a no-op */

int keel_err_code(const keel_err *e);           /* this error's own code */
/* Accessors take NULL and answer 0 / NULL / false; strings are borrowed and
 * live as long as the error. */
const char *keel_err_message(const keel_err *e);
const char *keel_err_module(const keel_err *e);
const keel_err *keel_err_inner(const keel_err *e);  /* borrowed; NULL at the bottom */

/* Is there an error with this code / of this module anywhere in the chain
 * and its joins? */
bool keel_err_has_code(const keel_err *e, int code);
bool keel_err_has_module(const keel_err *e, const char *module);

/* ---- more about one error ------------------------------------------------ */

/* The static error every constructor returns when memory runs out (module
 * "err", code KEEL_ENOMEM). Retain and release are no-ops on it. */
const keel_err *keel_err_out_of_memory(void);

/* Like keel_err_new, with the code's errno text and the errno as a field
 * ("errno": the number, "errno_name": e.g. "ENOENT"); code is the keel code
 * to carry (KEEL_ENOTFOUND, KEEL_ESYS, ...). */
keel_err *keel_err_from_errno(const char *module, int code, int errnum,
                              const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Borrowed; NULL when unset. The friendly message is for the user, the hint
 * says what the user may do about it. */
const char *keel_err_friendly(const keel_err *e);
const char *keel_err_hint(const keel_err *e);
bool keel_err_transient(const keel_err *e);   /* retrying may help */

/* The first error down the chain (through joins, depth first) whose module
 * is `module` / whose code is `code`; borrowed, NULL when none. */
const keel_err *keel_err_find_module(const keel_err *e, const char *module);
const keel_err *keel_err_find_code(const keel_err *e, int code);

/* Is any error in the chain (or its joins) transient? */
bool keel_err_any_transient(const keel_err *e);

/* Joined errors: how many (0 unless made by keel_err_join), and the i-th
 * (borrowed). */
size_t keel_err_joined_count(const keel_err *e);
const keel_err *keel_err_joined(const keel_err *e, size_t i);

/* Where and when the error was made. host is borrowed (valid while e lives). */
int64_t keel_err_time(const keel_err *e);     /* UTC, ns since the epoch */
const char *keel_err_host(const keel_err *e);
int64_t keel_err_pid(const keel_err *e);
int64_t keel_err_thread(const keel_err *e);   /* the kernel thread id */
uint64_t keel_err_task(const keel_err *e);    /* keel task id, 0 outside one */

/* Setters for the error's creator, before the error is shared. They return
 * 0, KEEL_ENOMEM (nothing changed), or KEEL_EINVAL (NULL e or key, or the
 * static out-of-memory error, which never changes). Strings are copied. */
int keel_err_set_friendly(keel_err *e, const char *friendly);
int keel_err_set_hint(keel_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int keel_err_set_transient(keel_err *e, bool transient);

/* ---- extra fields ---------------------------------------------------------- */

typedef enum keel_err_field_type {
  KEEL_ERR_FIELD_NONE = 0,   /* no such field */
  KEEL_ERR_FIELD_STRING,
  KEEL_ERR_FIELD_INT,
  KEEL_ERR_FIELD_FLOAT,
  KEEL_ERR_FIELD_BOOL,
} keel_err_field_type;

typedef struct keel_err_field {
  const char *key;              /* borrowed from the error */
  keel_err_field_type type;
  union {
    const char *s;              /* borrowed from the error */
    int64_t i;
    double f;
    bool b;
  } value;
} keel_err_field;

/* Adds or replaces a field (key and string are copied). Same returns as the
 * setters above. */
int keel_err_set_string(keel_err *e, const char *key, const char *value);
int keel_err_set_int(keel_err *e, const char *key, int64_t value);
int keel_err_set_float(keel_err *e, const char *key, double value);
int keel_err_set_bool(keel_err *e, const char *key, bool value);

/* This error's own fields, in the order they were first set. */
size_t keel_err_field_count(const keel_err *e);
keel_err_field keel_err_field_at(const keel_err *e, size_t i);

/* Looks a key up through the chain and joins (the outermost wins). Returns
 * the field (type KEEL_ERR_FIELD_NONE when absent). */
keel_err_field keel_err_lookup(const keel_err *e, const char *key);

/* ---- the stack --------------------------------------------------------------- */

/* One symbolized frame. Strings are borrowed: from a process-wide symbol cache
 * (never freed) for a local error, from the error for a decoded one. NULL or
 * 0 where unknown (no debug information). */
typedef struct keel_err_frame {
  uintptr_t pc;          /* return address (in this process, or the origin's) */
  const char *function;
  const char *file;
  int line;
  const char *object;    /* the executable or shared object */
  uintptr_t offset;      /* pc relative to the object's load address */
  bool inlined;          /* this call was inlined into the next frame (same pc) */
} keel_err_frame;

/* How many frames the error's stack holds, innermost first. A return address
 * into code where calls were inlined gives one frame per inlined call (each
 * with its own function and file:line), so the stack reads as the source
 * does. Symbolizes (see keel_err_stack) to count them. */
size_t keel_err_stack_depth(const keel_err *e);

/* Symbolizes frames [0, cap) into out; returns how many were written. The
 * first call for an address loads debug information (milliseconds); later
 * calls hit a cache. KEEL_ENOMEM is never returned: unknown parts stay NULL. */
size_t keel_err_stack(const keel_err *e, keel_err_frame *out, size_t cap);

/* A 64-bit hash of the stack's own frames (the program's and its non-system
 * libraries', as object name + offset), stable across runs and ASLR; 0 for an
 * empty stack. */
uint64_t keel_err_stack_hash(const keel_err *e);

/* ---- text ----------------------------------------------------------------------- */

/* The whole error for a person: every error of the chain and joins with its
 * module, code, message, friendly message, hint, time, place, fields and
 * symbolized stack. Returns a malloc'd string the caller frees (with free()),
 * or NULL when memory runs out. */
char *keel_err_format(const keel_err *e);

/* The messages of the chain, outermost first, as "a: b: c" (Go's style).
 * Malloc'd (free()), NULL when memory runs out. */
char *keel_err_chain_message(const keel_err *e);

/* ---- JSON: crossing process boundaries ------------------------------------ */

/* The error and its whole chain as one line of JSON (no newline; schema in
 * docs/errors.md). *out is malloc'd (free()), *len its length. Returns 0 or
 * KEEL_ENOMEM (*out = NULL). */
int keel_err_encode(const keel_err *e, char **out, size_t *len);

/* Limits of the decoder; longer or deeper input is rejected. */
#define KEEL_ERR_JSON_MAX_BYTES  (8u << 20)   /* one error or log line */
#define KEEL_ERR_JSON_MAX_DEPTH  300          /* nested JSON values */
#define KEEL_ERR_MAX_CHAIN       96           /* nested errors (inner/joined) */

/* Decodes one error (an error object, or a whole log line written by
 * keel_err_handle) from json[0, len) (need not be NUL-terminated). Strict
 * and hostile-input safe. Returns 0 and *out (owned by the caller), or
 * KEEL_EPROTO / KEEL_ENOMEM with *out = NULL and, when why != NULL, a
 * one-line reason in why[0, why_size). log_id (may be NULL; at least
 * KEEL_ERR_LOG_ID_LEN + 1 bytes) gets the log line's ID, "" for a bare error.
 * A decoded error's stack is its symbolized frames and hash. */
int keel_err_decode(const char *json, size_t len, keel_err **out,
                    char *log_id, char *why, size_t why_size);

/* ---- the top-level handler and the log ------------------------------------ */

#define KEEL_ERR_LOG_ID_LEN 10   /* Crockford base32 characters */

/* What a log line says besides the error (see keel_err_handle). */
typedef struct keel_err_log_entry {
  char log_id[KEEL_ERR_LOG_ID_LEN + 1];
  int64_t logged;             /* UTC ns when it was logged; 0 if absent */
  bool well_formed;
  char expected_module[128];  /* "" if absent; cut to fit */
  char user_message[1024];    /* what the user was shown; cut to fit */
} keel_err_log_entry;

/* Decodes one log line written by keel_err_handle: like keel_err_decode, but
 * the line must be a log line, and entry (may be NULL) receives its other
 * parts. Returns 0, KEEL_EPROTO (why says why) or KEEL_ENOMEM. */
int keel_err_decode_log_line(const char *line, size_t len, keel_err **out,
                             keel_err_log_entry *entry, char *why,
                             size_t why_size);

/* A fresh log ID: 10 Crockford base32 characters (50 bits) hashed from the
 * host, pid, time, a process counter and random bytes; unique across hosts
 * and processes in practice, short enough to read over the phone. */
void keel_err_new_log_id(char out[KEEL_ERR_LOG_ID_LEN + 1]);

/* Where log lines go: a file descriptor (default 2, stderr) or a callback
 * (line without newline, called under the log lock: lines never interleave;
 * so the callback must not call keel_err_handle or the setters below).
 * Setting one replaces the other. fd < 0 or fn NULL discards lines. */
typedef void (*keel_err_sink_fn)(void *arg, const char *line, size_t len);
void keel_err_set_log_fd(int fd);
void keel_err_set_log_sink(keel_err_sink_fn fn, void *arg);

/* What keel_err_handle did. */
typedef struct keel_err_handled {
  char log_id[KEEL_ERR_LOG_ID_LEN + 1];
  bool well_formed;        /* the error belongs to the expected module */
  int log_status;          /* 0, or KEEL_ESYS / KEEL_ENOMEM if the log failed */
  char user_line[1024];    /* "[ID] message", no newline, cut to fit */
} keel_err_handled;

/* The book's top-level handler. `module` is the module the top level expects
 * errors from (its callee's boundary): an error whose own module is `module`
 * is well-formed and the user sees its friendly message (or its message when
 * it has none); any other error is a bug and the user sees "There was an
 * unexpected issue; please report this as a bug.". Either way the whole
 * error goes to the log sink as one JSON line carrying the log ID, and the
 * user line "[ID] message\n" is written to `user` (NULL: not printed). out
 * (may be NULL) receives the ID and line. Returns out's log_status. e NULL:
 * KEEL_EINVAL. Any thread. */
int keel_err_handle(const keel_err *e, const char *module, FILE *user,
                    keel_err_handled *out);

#define KEEL_ERR_BUG_MESSAGE \
  "There was an unexpected issue; please report this as a bug."

/* ---- testing: allocation failure injection ------------------------------ */

/* Replaces the allocator the errors module uses (a NULL a restores
 * malloc/realloc/free). For tests of out-of-memory paths: wrap malloc and
 * fail on demand (results of keel_err_format / encode / chain_message are
 * freed with free(), so alloc and realloc must return malloc'd memory). Call
 * only while no error made with the previous allocator is alive. */
typedef struct keel_err_allocator {
  void *(*alloc)(size_t size);
  void *(*realloc)(void *p, size_t size);
  void (*free)(void *p);
} keel_err_allocator;
void keel_err_set_allocator(const keel_err_allocator *a);


#ifdef __cplusplus
}
#endif
#endif
