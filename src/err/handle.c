/* The top-level handler (the book's handleError) and the log it writes to.
 *
 * Invariants:
 *  - Every log line is written whole under log_lock: one write() loop per line
 *    to the fd (or one callback call), so lines from concurrent errors never
 *    interleave, even on pipes and files shared with other writers that also
 *    write whole lines.
 *  - A log line is one JSON object carrying its log ID; when memory runs out
 *    while encoding, a short fallback line built in a fixed buffer still
 *    carries the ID, module, code and (cut) message.
 *  - Log IDs hash host, pid, wall and monotonic time, a process counter and
 *    per-process random bytes: 50 bits, Crockford base32 (no I, L, O, U). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "err/encode.h"
#include "err/err_internal.h"
#include "keel/time.h"

/* ---- log IDs -------------------------------------------------------------------- */

static _Atomic uint64_t id_counter;
static uint64_t id_seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

static void load_seed(void) {
  uint64_t s = 0;
  if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
    s = (uint64_t)keel_now() ^ ((uint64_t)(uintptr_t)&s << 16);
  id_seed = s;
}

void keel_err_new_log_id(char out[KEEL_ERR_LOG_ID_LEN + 1]) {
  static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  pthread_once(&seed_once, load_seed);
  uint64_t h = mix(id_seed, (uint64_t)err_pid());
  for (const unsigned char *p = (const unsigned char *)err_host(); *p; p++)
    h = mix(h, *p);
  h = mix(h, (uint64_t)keel_wall_now());
  h = mix(h, (uint64_t)keel_now());
  h = mix(h, atomic_fetch_add_explicit(&id_counter, 1, memory_order_relaxed));
  h = mix(h, (uint64_t)err_tid());
  for (int i = KEEL_ERR_LOG_ID_LEN - 1; i >= 0; i--) {
    out[i] = alphabet[h & 31];
    h >>= 5;
  }
  out[KEEL_ERR_LOG_ID_LEN] = 0;
}

/* ---- the sink --------------------------------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = 2;
static keel_err_sink_fn log_fn;
static void *log_arg;

/* A child forked while another thread held a lock would never get it: hold
 * them all across fork, in the one order used everywhere (log, symbols,
 * walks); release them in the parent, start them afresh in the child. */
static void fork_prepare(void) {
  pthread_mutex_lock(&log_lock);
  err_sym_fork(ERR_FORK_PREPARE);
}
static void fork_parent(void) {
  err_sym_fork(ERR_FORK_PARENT);
  pthread_mutex_unlock(&log_lock);
}
static void fork_child(void) {
  err_sym_fork(ERR_FORK_CHILD);
  pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;   /* one thread now */
  log_lock = fresh;
}
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) {
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}
void err_fork_handlers_install(void) { pthread_once(&atfork_once, install_atfork); }

static void lock_log(void) {
  err_fork_handlers_install();
  pthread_mutex_lock(&log_lock);
}

void keel_err_set_log_fd(int fd) {
  lock_log();
  log_fd = fd;
  log_fn = NULL;
  log_arg = NULL;
  pthread_mutex_unlock(&log_lock);
}

void keel_err_set_log_sink(keel_err_sink_fn fn, void *arg) {
  lock_log();
  log_fn = fn;
  log_arg = arg;
  log_fd = -1;
  pthread_mutex_unlock(&log_lock);
}

/* Writes line + '\n' (the buffer has room for the newline at line[len]). */
static int emit(char *line, size_t len) {
  int status = 0;
  lock_log();
  if (log_fn) {
    log_fn(log_arg, line, len);
  } else if (log_fd >= 0) {
    line[len] = '\n';
    size_t done = 0, total = len + 1;
    while (done < total) {
      ssize_t w = write(log_fd, line + done, total - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) { status = KEEL_ESYS; break; }
      done += (size_t)w;
    }
    line[len] = 0;
  }
  pthread_mutex_unlock(&log_lock);
  return status;
}

/* ---- the handler ---------------------------------------------------------------------- */

/* A JSON string into a fixed buffer, cut to fit; for the fallback line. */
static size_t fixed_json_string(char *dst, size_t cap, const char *s) {
  size_t n = 0;
  if (cap < 3) return 0;
  dst[n++] = '"';
  for (; s && *s && n + 8 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { dst[n++] = '\\'; dst[n++] = (char)c; }
    else if (c < 0x20 || c == 0x7f) n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
    else if (c < 0x80) dst[n++] = (char)c;
    else dst[n++] = '?';   /* cutting could split UTF-8: keep ASCII only */
  }
  dst[n++] = '"';
  dst[n] = 0;
  return n;
}

int keel_err_handle(const keel_err *e, const char *module, FILE *user,
                    keel_err_handled *out) {
  keel_err_handled local;
  if (!out) out = &local;
  memset(out, 0, sizeof *out);
  if (!e) return KEEL_EINVAL;
  keel_err_new_log_id(out->log_id);
  out->well_formed = module && e->module && strcmp(e->module, module) == 0;
  const char *msg = KEEL_ERR_BUG_MESSAGE;
  if (out->well_formed) msg = e->friendly ? e->friendly : e->message;
  snprintf(out->user_line, sizeof out->user_line, "[%s] %s", out->log_id, msg);

  int64_t logged = keel_wall_now();
  err_buf b = {0};
  buf_printf(&b, "{\"log_id\":\"%s\",\"logged\":\"", out->log_id);
  buf_time(&b, logged);
  buf_printf(&b, "\",\"well_formed\":%s,\"expected_module\":",
             out->well_formed ? "true" : "false");
  buf_json_string(&b, module);
  buf_puts(&b, ",\"user_message\":");
  buf_json_string(&b, msg);
  buf_puts(&b, ",\"error\":");
  err_encode_into(&b, e, 0);
  buf_put(&b, "}\n", 2);      /* the newline reserves room; emit rewrites it */
  size_t len;
  char *line = buf_finish(&b, &len);
  if (line) {
    out->log_status = emit(line, len - 1);
    err_free(line);
  } else {
    char fb[1024], mod[128], text[512];
    fixed_json_string(mod, sizeof mod, e->module ? e->module : "");
    fixed_json_string(text, sizeof text, e->message);
    int n = snprintf(fb, sizeof fb - 1,
                     "{\"log_id\":\"%s\",\"well_formed\":%s,\"error\":{"
                     "\"module\":%s,\"code\":%d,\"message\":%s,"
                     "\"truncated\":true}}",
                     out->log_id, out->well_formed ? "true" : "false",
                     e->module ? mod : "null", e->code, text);
    int st = emit(fb, (size_t)n);
    out->log_status = st ? st : KEEL_ENOMEM;
  }
  if (user) {
    fprintf(user, "%s\n", out->user_line);
    fflush(user);
  }
  return out->log_status;
}
