/* error.c — the one keel_err a failed replicated call returns.
 *
 * Invariant: every failure passed in is either joined into the result or
 * released; the result is never NULL (keel_err constructors never are). */
#include "replicate/replicate_internal.h"

#include <stdlib.h>

keel_err *keel_replicate_make_error(keel_err **failures, size_t n,
                                    size_t started, size_t total,
                                    int ctx_code, const char *fatal_name) {
  size_t k = 0;
  keel_err *stack[9];
  keel_err **all = n + 1 <= 9 ? stack : malloc((n + 1) * sizeof *all);
  if (!all) {
    /* Out of memory: keep the first failure (wrapped) and drop the rest. */
    keel_err *first = NULL;
    for (size_t i = 0; i < n; i++) {
      if (!failures[i]) continue;
      if (!first) first = failures[i];
      else keel_err_release(failures[i]);
    }
    return keel_err_wrap(first, "replicate", NULL, "replicated call failed");
  }
  if (ctx_code != 0)
    all[k++] = keel_err_new("replicate", ctx_code,
                            "context ended (%s) after %zu of %zu replicas started",
                            keel_strerror(ctx_code), started, total);
  for (size_t i = 0; i < n; i++)
    if (failures[i]) all[k++] = failures[i];
  keel_err *joined = keel_err_join(all, k);
  if (all != stack) free(all);
  if (fatal_name)
    return keel_err_wrap(joined, "replicate", NULL,
                         "replica %s failed fatally", fatal_name);
  if (ctx_code != 0)
    return keel_err_wrap(joined, "replicate", NULL,
                         "no replica answered before the context ended");
  return keel_err_wrap(joined, "replicate", NULL,
                       "all %zu replicas failed", started);
}
