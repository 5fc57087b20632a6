/* keel/status.h — the error codes every keel primitive returns.
 *
 * Primitives return 0 (KEEL_OK) or one of these negative codes, as libuv does.
 * Application-level failures travel as keel_err values instead (keel/err.h).
 * Timed out, canceled and deadline exceeded are distinct on purpose: a caller
 * can tell "my own deadline passed" from "someone above me gave up". */
#ifndef KEEL_STATUS_H
#define KEEL_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

enum keel_status {
  KEEL_OK = 0,
  KEEL_EINVAL = -1,      /* an argument is invalid (NULL, negative, NaN, ...) */
  KEEL_ENOMEM = -2,      /* out of memory; every structure is left as it was */
  KEEL_ETIMEDOUT = -3,   /* the call's own deadline passed */
  KEEL_ECLOSED = -4,     /* the channel is closed (and, for receives, drained); the fd was closed by keel_fd_close */
  KEEL_ECANCELED = -5,   /* canceled: by a context, a cancel token or a user */
  KEEL_EDEADLINE = -6,   /* a context's deadline was exceeded */
  KEEL_EAGAIN = -7,      /* would block, and the caller said not to wait */
  KEEL_EMAPLIMIT = -8,   /* vm.max_map_count reached: no memory map for a stack */
  KEEL_ESHUTDOWN = -9,   /* the runtime is shutting down or stopped */
  KEEL_ESTATE = -10,     /* not allowed in this state (join twice, ...) */
  KEEL_EOVERFLOW = -11,  /* a value does not fit (a count, a size, a time) */
  KEEL_ENOTSUP = -12,    /* not supported on this platform or build */
  KEEL_ESYS = -13,       /* a system call failed; errno says which */
  KEEL_EPROTO = -14,     /* malformed input: bad JSON, bad URL, bad reply */
  KEEL_EUNAVAILABLE = -15, /* a remote service (Redis, a child process) is down */
  KEEL_EAUTH = -16,      /* a remote service refused our credentials */
  KEEL_ELIMIT = -17,     /* refused by a limit (rate, restarts, budget) */
  KEEL_ENOTFOUND = -18,  /* no such thing (key, task, file) */
  KEEL_EFAILED = -19,    /* the operation ran and failed (see its keel_err) */
};

/* A one-line English description of a code; never NULL, also for unknown codes. */
const char *keel_strerror(int code);

/* The code's name ("KEEL_ETIMEDOUT"); "KEEL_UNKNOWN" for unknown codes. */
const char *keel_status_name(int code);

#ifdef __cplusplus
}
#endif
#endif
