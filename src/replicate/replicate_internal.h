/* replicate_internal.h — shared pieces of the replicate module (private). */
#ifndef KEEL_REPLICATE_INTERNAL_H
#define KEEL_REPLICATE_INTERNAL_H

#include <stddef.h>

#include "keel/replicate.h"

/* Builds the error of a call that has no winner: the failures joined (owned,
 * NULL entries skipped) under one "replicate" error. ctx_code != 0 adds an
 * error with that code saying the context ended first. */
keel_err *keel_replicate_make_error(keel_err **failures, size_t n,
                                    size_t started, size_t total,
                                    int ctx_code, const char *fatal_name);

#endif
