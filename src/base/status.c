/* Names and descriptions of keel's status codes (keel/status.h). */
#include "keel/status.h"

#include <stddef.h>

struct status_text { int code; const char *name; const char *text; };

static const struct status_text status_texts[] = {
  {KEEL_OK, "KEEL_OK", "success"},
  {KEEL_EINVAL, "KEEL_EINVAL", "invalid argument"},
  {KEEL_ENOMEM, "KEEL_ENOMEM", "out of memory"},
  {KEEL_ETIMEDOUT, "KEEL_ETIMEDOUT", "timed out"},
  {KEEL_ECLOSED, "KEEL_ECLOSED", "closed (channel or fd)"},
  {KEEL_ECANCELED, "KEEL_ECANCELED", "canceled"},
  {KEEL_EDEADLINE, "KEEL_EDEADLINE", "deadline exceeded"},
  {KEEL_EAGAIN, "KEEL_EAGAIN", "would block"},
  {KEEL_EMAPLIMIT, "KEEL_EMAPLIMIT",
   "memory map limit reached (raise vm.max_map_count)"},
  {KEEL_ESHUTDOWN, "KEEL_ESHUTDOWN", "runtime shut down"},
  {KEEL_ESTATE, "KEEL_ESTATE", "operation not allowed in this state"},
  {KEEL_EOVERFLOW, "KEEL_EOVERFLOW", "value out of range"},
  {KEEL_ENOTSUP, "KEEL_ENOTSUP", "not supported"},
  {KEEL_ESYS, "KEEL_ESYS", "system call failed"},
  {KEEL_EPROTO, "KEEL_EPROTO", "malformed input"},
  {KEEL_EUNAVAILABLE, "KEEL_EUNAVAILABLE", "service unavailable"},
  {KEEL_EAUTH, "KEEL_EAUTH", "authentication failed"},
  {KEEL_ELIMIT, "KEEL_ELIMIT", "limit exceeded"},
  {KEEL_ENOTFOUND, "KEEL_ENOTFOUND", "not found"},
  {KEEL_EFAILED, "KEEL_EFAILED", "operation failed"},
};

static const struct status_text *find(int code) {
  for (size_t i = 0; i < sizeof status_texts / sizeof status_texts[0]; i++)
    if (status_texts[i].code == code) return &status_texts[i];
  return NULL;
}

const char *keel_strerror(int code) {
  const struct status_text *t = find(code);
  return t ? t->text : "unknown keel status code";
}

const char *keel_status_name(int code) {
  const struct status_text *t = find(code);
  return t ? t->name : "KEEL_UNKNOWN";
}
