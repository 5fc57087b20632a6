/* Private layout of keel_err, shared by the errors module's files.
 *
 * Invariants:
 *  - An error is immutable once shared; only its creator calls the setters.
 *  - refs counts owners; the static out-of-memory error has is_static set and
 *    is never counted or freed.
 *  - A local error owns one block: the struct, then npcs raw return
 *    addresses, then its message (and the friendly text given to wrap). Its
 *    module string is the caller's static string, its host the process-wide
 *    cached name.
 *  - A decoded error (decoded set) owns every string separately: module,
 *    message, host, its frames' strings; it has frames, never raw pcs.
 *  - friendly/hint set later through setters are separate allocations,
 *    flagged by friendly_alloc / hint != NULL. */
#ifndef KEEL_ERR_INTERNAL_H
#define KEEL_ERR_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keel/err.h"

#define ERR_MAX_PCS 48

struct err_field {
  char *key;
  keel_err_field_type type;
  union {
    char *s;
    int64_t i;
    double f;
    bool b;
  } v;
};

struct keel_err {
  _Atomic size_t refs;
  bool is_static;
  bool decoded;
  bool transient;
  bool friendly_alloc;
  int code;
  const char *module;     /* NULL: a raw error of no module */
  char *message;
  char *friendly;
  char *hint;
  keel_err *inner;
  keel_err **joined;
  size_t njoined;
  int64_t time_ns;
  const char *host;
  int64_t pid;
  int64_t tid;
  uint64_t task;
  struct err_field *fields;
  size_t nfields, capfields;
  /* stack: raw return addresses (local) or symbolized frames (decoded) */
  int npcs;
  void **pcs;
  keel_err_frame *frames;
  size_t nframes;
  uint64_t stack_hash;    /* decoded errors: as carried; local: computed */
};

/* Allocation through the injectable allocator (err_core.c). */
void *err_alloc(size_t n);
void *err_realloc(void *p, size_t n);
void err_free(void *p);
char *err_strdup(const char *s);
char *err_strndup(const char *s, size_t n);

/* A fresh, zeroed local error with room for msg_len + 1 + extra_len + 1 bytes
 * of text, stamped with time and place and, when want_stack, the stack of its
 * caller's caller (skip frames are dropped). NULL when memory runs out. */
keel_err *err_make(const char *module, int code, size_t msg_len,
                   size_t extra_len, int skip);

/* The place of this process and thread (place.c). */
const char *err_host(void);
int64_t err_pid(void);
int64_t err_tid(void);
uint64_t err_task(void);

/* Stack capture and symbolization (stack.c). */
int err_capture(void **pcs, int max, int skip);
/* Calls fn for each symbolized frame of e's stack (inlined calls expanded),
 * innermost first; returns the number of frames. fn may be NULL (count). */
typedef void (*err_frame_fn)(void *arg, const keel_err_frame *f, size_t index);
size_t err_each_frame(const keel_err *e, err_frame_fn fn, void *arg);
bool err_object_is_own(const char *object);

/* Fork safety: the log, symbol and walk locks are held across fork()
 * (handle.c installs the handlers on first use of any of them). */
enum { ERR_FORK_PREPARE, ERR_FORK_PARENT, ERR_FORK_CHILD };
void err_fork_handlers_install(void);
void err_sym_fork(int phase);
uint64_t err_hash_frame(uint64_t h, const char *object, uintptr_t offset);

/* A growing text buffer on the module allocator (buf.c). On OOM it sets
 * failed and drops further text. */
typedef struct err_buf {
  char *p;
  size_t len, cap;
  bool failed;
} err_buf;
void buf_put(err_buf *b, const char *s, size_t n);
void buf_puts(err_buf *b, const char *s);
void buf_printf(err_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_json_string(err_buf *b, const char *s);  /* "..." escaped; null for NULL */
void buf_time(err_buf *b, int64_t ns);             /* RFC 3339 UTC, ns */
/* Hands the text over (NUL-terminated, malloc'd); NULL if anything failed. */
char *buf_finish(err_buf *b, size_t *len);

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fraction]Z" -> ns; false when malformed. */
bool err_parse_time(const char *s, int64_t *ns);

#endif
