/* keel/err.h — well-formed errors: what happened, where, when, and for whom.
 *
 * (Core API below is fixed: other modules build on it. The errors module
 *  extends this header with fields, joins, JSON, the top-level handler, ...)
 *
 * Ownership: errors are reference counted and immutable once shared. Every
 * constructor returns a new reference the caller owns; keel_err_wrap and
 * keel_err_join take over the references passed in. Constructors never
 * return NULL: on allocation failure they return a static "out of memory"
 * error (retain and release are no-ops on it). Usable with no runtime. */
#ifndef KEEL_ERR_H
#define KEEL_ERR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * (NULL: none) and a printf-style message for the log. */
keel_err *keel_err_wrap(keel_err *inner, const char *module,
                        const char *friendly, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One error made of n errors (all owned; NULL entries skipped), e.g. every
 * replica's failure. */
keel_err *keel_err_join(keel_err *const *errs, size_t n);

keel_err *keel_err_retain(keel_err *e);
void keel_err_release(keel_err *e);      /* NULL is a no-op */

int keel_err_code(const keel_err *e);           /* this error's own code */
const char *keel_err_message(const keel_err *e);
const char *keel_err_module(const keel_err *e);
const keel_err *keel_err_inner(const keel_err *e);  /* borrowed; NULL at the bottom */

/* Is there an error with this code / of this module anywhere in the chain
 * and its joins? */
bool keel_err_has_code(const keel_err *e, int code);
bool keel_err_has_module(const keel_err *e, const char *module);

#ifdef __cplusplus
}
#endif
#endif
