/* The connection pool: one keel task per connection, non-blocking sockets on
 * the netpoller, hiredis's reply reader, pipelined batches (see conn.h).
 *
 * Invariants:
 * - Only a connection's task reads or writes its socket; callers only queue.
 * - A connection is in one state: CONNECTING (queued requests wait for the
 *   handshake), UP, BACKOFF (submissions fail at once with the last connect
 *   error, so a dead Redis costs a caller nothing), STOPPED.
 * - Every request taken from a queue is completed exactly once, whatever
 *   happens to the socket: with its reply, or with the failure's code and a
 *   keel_err.
 * - After any I/O failure or timeout the socket is closed: a reply that may
 *   still arrive can never be matched to the wrong request. */
#include "rate_redis/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rate_redis/script.h"

#define MODULE "rate_redis"

/* ---- requests ------------------------------------------------------------- */

int rr_request_new(rr_request **out, int kind) {
  rr_request *r = calloc(1, sizeof *r);
  if (!r) return KEEL_ENOMEM;
  atomic_init(&r->refs, 2);
  keel_waitgroup_init(&r->done);
  if (keel_waitgroup_add(&r->done, 1) != 0) {
    free(r);
    return KEEL_ENOMEM;
  }
  r->kind = kind;
  *out = r;
  return 0;
}

void rr_request_release(rr_request *r) {
  if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1) return;
  if (r->reply) freeReplyObject(r->reply);
  keel_err_release(r->err);
  rr_buf_free(&r->body);
  free(r);
}

static void complete(rr_request *r, int status, redisReply *reply, keel_err *err) {
  r->status = status;
  r->reply = reply;
  r->err = err;
  keel_waitgroup_done(&r->done);
  rr_request_release(r);
}

int rr_request_wait(rr_request *r, int64_t deadline, const keel_cancel *cancel) {
  return keel_waitgroup_wait(&r->done, deadline, cancel);
}

static void fail_list(rr_request *r, int code, const keel_err *why) {
  while (r) {
    rr_request *next = r->next;
    complete(r, code, NULL, why ? keel_err_retain((keel_err *)why) : NULL);
    r = next;
  }
}

/* ---- events ----------------------------------------------------------------- */

static void emit(rr_conn *c, keel_rate_redis_event_kind kind, int code, const keel_err *err) {
  keel_rate_redis_pool *p = c->pool;
  if (!p->on_event) return;
  keel_rate_redis_event ev = {.kind = kind, .code = code, .err = err, .prefix = NULL,
                              .connection = c->index};
  p->on_event(p->event_arg, &ev);
}

/* ---- socket I/O ------------------------------------------------------------- */

static keel_err *io_error(rr_conn *c, int code, const char *what) {
  const keel_rate_redis_config *cfg = &c->pool->cfg;
  if (code == KEEL_ETIMEDOUT)
    return keel_err_new(MODULE, code, "Redis at %s:%d did not answer in time (%s)", cfg->host,
                        cfg->port, what);
  if (code == KEEL_ESHUTDOWN)
    return keel_err_new(MODULE, code, "the Redis pool is shutting down (%s)", what);
  return keel_err_new(MODULE, code, "Redis at %s:%d: %s", cfg->host, cfg->port, what);
}

static int write_all(rr_conn *c, const char *data, size_t len, int64_t deadline, keel_err **err) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int rc = keel_fd_wait(c->fd, KEEL_FD_WRITE, deadline, &c->pool->stop);
      if (rc < 0) {
        *err = io_error(c, rc, "writing commands");
        return rc;
      }
      continue;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "write failed: %s", strerror(errno));
    *err = io_error(c, KEEL_EUNAVAILABLE, msg);
    return KEEL_EUNAVAILABLE;
  }
  return 0;
}

/* The next reply, reading as needed. */
static int read_reply(rr_conn *c, redisReply **out, int64_t deadline, keel_err **err) {
  for (;;) {
    void *reply = NULL;
    if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
      *err = io_error(c, KEEL_EPROTO, "malformed reply");
      return KEEL_EPROTO;
    }
    if (reply) {
      *out = reply;
      return 0;
    }
    char buf[16384];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
        *err = keel_err_new(MODULE, KEEL_ENOMEM, "out of memory reading a Redis reply");
        return KEEL_ENOMEM;
      }
      continue;
    }
    if (n == 0) {
      *err = io_error(c, KEEL_EUNAVAILABLE, "Redis closed the connection");
      return KEEL_EUNAVAILABLE;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int rc = keel_fd_wait(c->fd, KEEL_FD_READ, deadline, &c->pool->stop);
      if (rc < 0) {
        *err = io_error(c, rc, "waiting for a reply");
        return rc;
      }
      continue;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "read failed: %s", strerror(errno));
    *err = io_error(c, KEEL_EUNAVAILABLE, msg);
    return KEEL_EUNAVAILABLE;
  }
}

static void close_socket(rr_conn *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  if (c->reader) redisReaderFree(c->reader);
  c->reader = NULL;
}

/* Is the idle socket still open? (Redis restarted or dropped us while idle.) */
static bool socket_alive(rr_conn *c) {
  char b;
  ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* ---- connecting -------------------------------------------------------------- */

struct resolve_job {
  char host[256];
  char port[8];
  struct addrinfo *res;
  int rc;
};

static void resolve_fn(void *arg) {
  struct resolve_job *j = arg;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  j->rc = getaddrinfo(j->host, j->port, &hints, &j->res);
}

static void resolve_cleanup(void *arg) {
  struct resolve_job *j = arg;
  if (j->rc == 0 && j->res) freeaddrinfo(j->res);
  free(j);
}

static int resolve(rr_conn *c, struct sockaddr_storage *sa, socklen_t *salen, int64_t deadline,
                   keel_err **err) {
  const keel_rate_redis_config *cfg = &c->pool->cfg;
  struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
  memset(sa, 0, sizeof *sa);
  if (inet_pton(AF_INET, cfg->host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)cfg->port);
    *salen = sizeof *s4;
    return 0;
  }
  if (inet_pton(AF_INET6, cfg->host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)cfg->port);
    *salen = sizeof *s6;
    return 0;
  }
  /* A name: getaddrinfo blocks, so it runs on the offload pool. */
  struct resolve_job *j = calloc(1, sizeof *j);
  if (!j) return KEEL_ENOMEM;
  snprintf(j->host, sizeof j->host, "%s", cfg->host);
  snprintf(j->port, sizeof j->port, "%d", cfg->port);
  int rc = keel_offload(resolve_fn, j, resolve_cleanup, deadline, &c->pool->stop);
  if (rc < 0) {
    *err = io_error(c, rc, "resolving the host name");
    return rc; /* j belongs to the cleanup now */
  }
  if (j->rc != 0 || !j->res) {
    *err = keel_err_new(MODULE, KEEL_EUNAVAILABLE, "cannot resolve Redis host \"%s\": %s",
                        cfg->host, gai_strerror(j->rc));
    resolve_cleanup(j);
    return KEEL_EUNAVAILABLE;
  }
  memcpy(sa, j->res->ai_addr, j->res->ai_addrlen);
  *salen = j->res->ai_addrlen;
  resolve_cleanup(j);
  return 0;
}

static keel_err *reply_error(rr_conn *c, const char *during, const redisReply *r) {
  const char *text = r->str ? r->str : "";
  int code = rr_error_code(text);
  if (code == KEEL_EFAILED && !strncmp(during, "SELECT", 6)) code = KEEL_EINVAL;
  return keel_err_new(MODULE, code, "%s (Redis at %s:%d, %s): %s", rr_error_hint(text),
                      c->pool->cfg.host, c->pool->cfg.port, during, text);
}

/* Connects, authenticates, selects the database and loads the script, all
 * within connect_timeout. */
static int conn_open(rr_conn *c, keel_err **err) {
  keel_rate_redis_pool *p = c->pool;
  const keel_rate_redis_config *cfg = &p->cfg;
  int64_t deadline = keel_deadline_in(cfg->connect_timeout);
  struct sockaddr_storage sa;
  socklen_t salen;
  int rc = resolve(c, &sa, &salen, deadline, err);
  if (rc) return rc;
  int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = keel_err_new(MODULE, KEEL_ESYS, "socket: %s", strerror(errno));
    return KEEL_ESYS;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  if (connect(fd, (struct sockaddr *)&sa, salen) != 0) {
    if (errno != EINPROGRESS) {
      char msg[160];
      snprintf(msg, sizeof msg, "connect failed: %s", strerror(errno));
      *err = io_error(c, KEEL_EUNAVAILABLE, msg);
      close_socket(c);
      return KEEL_EUNAVAILABLE;
    }
    rc = keel_fd_wait(fd, KEEL_FD_WRITE, deadline, &p->stop);
    if (rc < 0) {
      *err = io_error(c, rc, "connecting");
      close_socket(c);
      return rc;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
      char msg[160];
      snprintf(msg, sizeof msg, "connect failed: %s", strerror(soerr));
      *err = io_error(c, KEEL_EUNAVAILABLE, msg);
      close_socket(c);
      return KEEL_EUNAVAILABLE;
    }
  }
  c->reader = redisReaderCreate();
  if (!c->reader) {
    close_socket(c);
    return KEEL_ENOMEM;
  }
  /* The handshake, pipelined: [AUTH] [SELECT] SCRIPT LOAD. */
  c->out.len = 0;
  const char *steps[3];
  int nsteps = 0;
  int erc = 0;
  if (cfg->password[0]) {
    erc |= rr_buf_array(&c->out, cfg->user[0] ? 3 : 2);
    erc |= rr_buf_bulk_str(&c->out, "AUTH");
    if (cfg->user[0]) erc |= rr_buf_bulk_str(&c->out, cfg->user);
    erc |= rr_buf_bulk_str(&c->out, cfg->password);
    steps[nsteps++] = "AUTH";
  }
  if (cfg->db > 0) {
    erc |= rr_buf_array(&c->out, 2);
    erc |= rr_buf_bulk_str(&c->out, "SELECT");
    erc |= rr_buf_bulk_int(&c->out, cfg->db);
    steps[nsteps++] = "SELECT of the database in the URL";
  }
  erc |= rr_buf_array(&c->out, 3);
  erc |= rr_buf_bulk_str(&c->out, "SCRIPT");
  erc |= rr_buf_bulk_str(&c->out, "LOAD");
  erc |= rr_buf_bulk_str(&c->out, keel_rate_redis_script);
  steps[nsteps++] = "SCRIPT LOAD";
  if (erc) {
    close_socket(c);
    return KEEL_ENOMEM;
  }
  rc = write_all(c, c->out.data, c->out.len, deadline, err);
  int first_rc = 0;
  keel_err *first_err = NULL;
  for (int i = 0; rc == 0 && i < nsteps; i++) {
    redisReply *r = NULL;
    rc = read_reply(c, &r, deadline, err);
    if (rc) break;
    if (r->type == REDIS_REPLY_ERROR && !first_rc) {
      first_err = reply_error(c, steps[i], r);
      first_rc = keel_err_code(first_err);
    } else if (i == nsteps - 1 && r->type == REDIS_REPLY_STRING && r->len == 40) {
      memcpy(c->sha, r->str, 40);
      c->sha[40] = 0;
      atomic_fetch_add(&p->script_loads, 1);
    } else if (i == nsteps - 1 && r->type != REDIS_REPLY_ERROR && !first_rc) {
      first_err = keel_err_new(MODULE, KEEL_EPROTO, "unexpected reply to SCRIPT LOAD");
      first_rc = KEEL_EPROTO;
    }
    freeReplyObject(r);
  }
  if (rc == 0 && first_rc) {
    *err = first_err;
    rc = first_rc;
  } else {
    keel_err_release(first_err);
  }
  if (rc) close_socket(c);
  return rc;
}

/* Sends SCRIPT LOAD on the live socket (after NOSCRIPT: Redis restarted
 * between our connect and now, or someone ran SCRIPT FLUSH). */
static int reload_script(rr_conn *c, int64_t deadline, keel_err **err) {
  c->out.len = 0;
  if (rr_buf_array(&c->out, 3) || rr_buf_bulk_str(&c->out, "SCRIPT") ||
      rr_buf_bulk_str(&c->out, "LOAD") || rr_buf_bulk_str(&c->out, keel_rate_redis_script))
    return KEEL_ENOMEM;
  int rc = write_all(c, c->out.data, c->out.len, deadline, err);
  redisReply *r = NULL;
  if (rc == 0) rc = read_reply(c, &r, deadline, err);
  if (rc) return rc;
  if (r->type != REDIS_REPLY_STRING || r->len != 40) {
    *err = r->type == REDIS_REPLY_ERROR ? reply_error(c, "SCRIPT LOAD", r)
                                        : keel_err_new(MODULE, KEEL_EPROTO, "bad SCRIPT LOAD reply");
    rc = keel_err_code(*err);
  } else {
    memcpy(c->sha, r->str, 40);
    atomic_fetch_add(&c->pool->script_loads, 1);
  }
  freeReplyObject(r);
  return rc;
}

/* ---- the round trip ------------------------------------------------------------- */

/* Encodes the batch: raw commands as they are, and each run of consecutive
 * checks (up to max_batch) as one EVALSHA carrying all of them. */
static int encode(rr_conn *c, rr_request *batch) {
  int max = c->pool->cfg.max_batch;
  c->out.len = 0;
  for (rr_request *r = batch; r;) {
    if (r->kind == RR_RAW) {
      r->group = 1;
      if (rr_buf_append(&c->out, r->body.data, r->body.len)) return KEEL_ENOMEM;
      r = r->next;
      continue;
    }
    int g = 0;
    long keys = 0, args = 0;
    rr_request *q = r;
    for (; q && q->kind == RR_CHECK && g < max; q = q->next, g++) {
      q->group = 0;
      keys += q->nkeys;
      args += q->nargs;
    }
    r->group = g;
    if (rr_buf_array(&c->out, 4 + keys + args) || rr_buf_bulk_str(&c->out, "EVALSHA") ||
        rr_buf_bulk(&c->out, c->sha, 40) || rr_buf_bulk_int(&c->out, keys))
      return KEEL_ENOMEM;
    for (rr_request *x = r; x != q; x = x->next)
      if (rr_buf_append(&c->out, x->body.data, x->keys_len)) return KEEL_ENOMEM;
    if (rr_buf_bulk_int(&c->out, g)) return KEEL_ENOMEM;
    for (rr_request *x = r; x != q; x = x->next)
      if (rr_buf_append(&c->out, x->body.data + x->keys_len, x->body.len - x->keys_len))
        return KEEL_ENOMEM;
    r = q;
  }
  return 0;
}

/* Hands one script reply to the group of checks it answers. */
static void answer_checks(rr_request *first, int g, const redisReply *reply) {
  bool ok = reply->type == REDIS_REPLY_ARRAY && reply->elements == (size_t)g * 6;
  for (size_t i = 0; ok && i < reply->elements; i++)
    ok = reply->element[i]->type == REDIS_REPLY_INTEGER;
  rr_request *r = first;
  for (int j = 0; j < g; j++) {
    rr_request *next = r->next;
    r->next = NULL;
    if (reply->type == REDIS_REPLY_ERROR) {
      snprintf(r->err_text, sizeof r->err_text, "%s", reply->str ? reply->str : "ERR");
      complete(r, 0, NULL, NULL);
    } else if (!ok) {
      complete(r, KEEL_EPROTO, NULL,
               keel_err_new(MODULE, KEEL_EPROTO, "unexpected reply to the rate script"));
    } else {
      for (int k = 0; k < 6; k++) r->vals[k] = reply->element[j * 6 + k]->integer;
      complete(r, 0, NULL, NULL);
    }
    r = next;
  }
}

static rr_request *take_all(rr_conn *c) {
  pthread_mutex_lock(&c->mu);
  rr_request *b = c->head;
  c->head = c->tail = NULL;
  pthread_mutex_unlock(&c->mu);
  return b;
}

/* The pipeline: up to DEPTH batches are written before their replies are
 * read, so Redis already holds the next batch while the connection reads,
 * answers and wakes the callers of the last one (with one batch in flight,
 * Redis idled for that whole time). Replies come back in write order.
 *
 * Invariants:
 * - `head` holds every written, unanswered request in write order, each
 *   with its batch's deadline; the last request of each of the `batches`
 *   batches in flight has batch_end set.
 * - After a NOSCRIPT, nothing new is written until the pipeline drains; then
 *   the script is loaded again and the refused checks are written again. */
enum { DEPTH = 2 };

typedef struct pipeline {
  rr_request *head, *tail;
  int batches;
  rr_request *retry, **retry_tail;   /* refused with NOSCRIPT, to write again */
} pipeline;

/* Writes one batch and appends it to the pipeline (also when the write
 * fails, so that the failure fails it with the rest). An encoding failure
 * fails the batch alone: the connection stays good. */
static int send_batch(rr_conn *c, pipeline *pl, rr_request *batch, keel_err **err) {
  keel_rate_redis_pool *p = c->pool;
  int rc = encode(c, batch);
  if (rc) {
    fail_list(batch, rc, NULL);
    return 0;
  }
  int64_t deadline = keel_deadline_in(p->cfg.command_timeout);
  long sent = 0;
  rr_request *last = batch;
  for (rr_request *r = batch; r; r = r->next, sent++) {
    r->due = deadline;
    r->batch_end = false;
    last = r;
  }
  last->batch_end = true;
  if (pl->tail) pl->tail->next = batch;
  else pl->head = batch;
  pl->tail = last;
  pl->batches++;
  atomic_fetch_add_explicit(&p->commands, (uint64_t)sent, memory_order_relaxed);
  atomic_fetch_add_explicit(&p->round_trips, 1, memory_order_relaxed);
  return write_all(c, c->out.data, c->out.len, deadline, err);
}

/* Reads the next reply and completes the requests it answers. */
static int answer_next(rr_conn *c, pipeline *pl, keel_err **err) {
  redisReply *reply = NULL;
  int rc = read_reply(c, &reply, pl->head->due, err);
  if (rc) return rc;
  rr_request *r = pl->head, *last = r;
  for (int j = 1; j < r->group; j++) last = last->next;
  pl->head = last->next;
  if (!pl->head) pl->tail = NULL;
  last->next = NULL;
  if (last->batch_end) pl->batches--;
  if (r->kind == RR_RAW) {
    complete(r, 0, reply, NULL);
    return 0;
  }
  if (reply->type == REDIS_REPLY_ERROR && !strncmp(reply->str, "NOSCRIPT", 8) &&
      r->noscript_retries++ < 2) {
    *pl->retry_tail = r;
    pl->retry_tail = &last->next;
  } else {
    answer_checks(r, r->group, reply);
  }
  freeReplyObject(reply);
  return 0;
}

/* Writes the batch, and whatever is queued meanwhile, until the pipeline is
 * empty (under steady load, maybe long after: so a stopping pool writes
 * nothing new and drains). On failure closes the socket and fails everything
 * written and not answered; the queue stays for the next connection. */
static void serve(rr_conn *c, rr_request *batch) {
  pipeline pl = {.retry_tail = &pl.retry};
  keel_err *err = NULL;
  int rc = send_batch(c, &pl, batch, &err);
  while (rc == 0 && (pl.head || pl.retry)) {
    if (!pl.head) {
      /* drained after a NOSCRIPT: load the script, write the refused again */
      rc = reload_script(c, keel_deadline_in(c->pool->cfg.command_timeout), &err);
      rr_request *again = pl.retry;
      pl.retry = NULL;
      pl.retry_tail = &pl.retry;
      if (rc) {
        fail_list(again, rc, err);
        break;
      }
      rc = send_batch(c, &pl, again, &err);
      continue;
    }
    if (pl.batches < DEPTH && !pl.retry &&
        !atomic_load_explicit(&c->pool->stopping, memory_order_relaxed)) {
      rr_request *more = take_all(c);
      if (more && (rc = send_batch(c, &pl, more, &err))) break;
    }
    rc = answer_next(c, &pl, &err);
  }
  if (rc) {
    *pl.retry_tail = pl.head;
    fail_list(pl.retry, rc, err);
    close_socket(c);
  }
  keel_err_release(err);
}

/* ---- the connection task ---------------------------------------------------------- */

static void put_back(rr_conn *c, rr_request *b) {
  if (!b) return;
  rr_request *last = b;
  while (last->next) last = last->next;
  pthread_mutex_lock(&c->mu);
  last->next = c->head;
  c->head = b;
  if (!c->tail) c->tail = last;
  pthread_mutex_unlock(&c->mu);
}

/* Moves to BACKOFF with (code, err) and fails the queue with them. */
static void go_down(rr_conn *c, int code, keel_err *err) {
  pthread_mutex_lock(&c->mu);
  keel_err_release(c->last_err);
  c->last_code = code;
  c->last_err = err;
  atomic_store(&c->state, RR_BACKOFF);
  rr_request *q = c->head;
  c->head = c->tail = NULL;
  pthread_mutex_unlock(&c->mu);
  fail_list(q, code, err);
}

static void conn_main(void *arg) {
  rr_conn *c = arg;
  keel_rate_redis_pool *p = c->pool;
  int64_t backoff = p->cfg.backoff_min;
  uint64_t jitter = (uint64_t)keel_now() ^ ((uint64_t)c->index * 0x9e3779b97f4a7c15u);
  while (!atomic_load(&p->stopping)) {
    if (c->fd < 0) {
      atomic_store(&c->state, RR_CONNECTING);
      keel_err *err = NULL;
      int rc = conn_open(c, &err);
      if (rc) {
        if (atomic_load(&p->stopping)) {
          keel_err_release(err);
          break;
        }
        atomic_fetch_add(&p->connect_failures, 1);
        if (!err) err = io_error(c, rc, "connecting");
        if (!c->reported_down) emit(c, KEEL_RATE_REDIS_DISCONNECTED, rc, err);
        c->reported_down = true;
        go_down(c, rc, err);
        /* exponential backoff with up to 25% jitter, so a fleet does not
         * reconnect in lockstep */
        jitter = jitter * 6364136223846793005u + 1442695040888963407u;
        int64_t d = backoff - (int64_t)((jitter >> 33) % (uint64_t)(backoff / 4 + 1));
        keel_sleep_until(keel_deadline_in(d), &p->stop);
        backoff = backoff > p->cfg.backoff_max / 2 ? p->cfg.backoff_max : backoff * 2;
        continue;
      }
      backoff = p->cfg.backoff_min;
      atomic_fetch_add(&p->connects, 1);
      pthread_mutex_lock(&c->mu);
      keel_err_release(c->last_err);
      c->last_err = NULL;
      c->last_code = 0;
      atomic_store(&c->state, RR_UP);
      pthread_mutex_unlock(&c->mu);
      c->reported_down = false;
      emit(c, KEEL_RATE_REDIS_CONNECTED, 0, NULL);
    }
    rr_request *batch = take_all(c);
    if (!batch) {
      if (keel_chan_recv(c->kick, NULL, KEEL_FOREVER) == KEEL_ECLOSED) break;
      continue;
    }
    if (!socket_alive(c)) {
      /* Dropped while idle: nothing of this batch was sent; reconnect first. */
      close_socket(c);
      put_back(c, batch);
      keel_err *err = io_error(c, KEEL_EUNAVAILABLE, "connection lost while idle");
      emit(c, KEEL_RATE_REDIS_DISCONNECTED, KEEL_EUNAVAILABLE, err);
      keel_err_release(err);
      c->reported_down = true;
      continue;
    }
    serve(c, batch);
    if (c->fd < 0 && !c->reported_down && !atomic_load(&p->stopping)) {
      keel_err *err = io_error(c, KEEL_EUNAVAILABLE, "connection failed during a round trip");
      emit(c, KEEL_RATE_REDIS_DISCONNECTED, KEEL_EUNAVAILABLE, err);
      keel_err_release(err);
      c->reported_down = true;
    }
  }
  close_socket(c);
  pthread_mutex_lock(&c->mu);
  atomic_store(&c->state, RR_STOPPED);
  rr_request *q = c->head;
  c->head = c->tail = NULL;
  pthread_mutex_unlock(&c->mu);
  keel_err *err = q ? io_error(c, KEEL_ESHUTDOWN, "pool freed") : NULL;
  fail_list(q, KEEL_ESHUTDOWN, err);
  keel_err_release(err);
}

/* ---- submitting ------------------------------------------------------------------------ */

static bool enqueue(rr_conn *c, rr_request *r) {
  pthread_mutex_lock(&c->mu);
  int st = atomic_load(&c->state);
  if (st != RR_UP && st != RR_CONNECTING) {
    pthread_mutex_unlock(&c->mu);
    return false;
  }
  r->next = NULL;
  if (c->tail) c->tail->next = r;
  else c->head = r;
  c->tail = r;
  pthread_mutex_unlock(&c->mu);
  keel_chan_send(c->kick, NULL, KEEL_NOWAIT);
  return true;
}

void rr_pool_submit(keel_rate_redis_pool *p, rr_request *r) {
  if (atomic_load(&p->stopping)) {
    complete(r, KEEL_ESHUTDOWN, NULL, keel_err_new(MODULE, KEEL_ESHUTDOWN, "the Redis pool is freed"));
    return;
  }
  unsigned start = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
  /* First choice: a connection that is up; then one that is connecting. */
  static const int wanted[2] = {RR_UP, RR_CONNECTING};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < p->nconns; i++) {
      rr_conn *c = &p->conns[(start + (unsigned)i) % (unsigned)p->nconns];
      if (atomic_load(&c->state) == wanted[k] && enqueue(c, r)) return;
    }
  /* All backing off: fail at once with the reason. */
  rr_conn *c = &p->conns[start % (unsigned)p->nconns];
  pthread_mutex_lock(&c->mu);
  int code = c->last_code ? c->last_code : KEEL_EUNAVAILABLE;
  keel_err *err = c->last_err ? keel_err_retain(c->last_err)
                              : keel_err_new(MODULE, code, "no Redis connection is up");
  pthread_mutex_unlock(&c->mu);
  complete(r, code, NULL, err);
}

int64_t rr_pool_deadline(const keel_rate_redis_pool *p) {
  return keel_deadline_in(p->cfg.command_timeout);
}

/* ---- the pool ----------------------------------------------------------------------------- */

static int check_config(const keel_rate_redis_config *cfg) {
  if (!cfg || !cfg->host[0] || cfg->port <= 0 || cfg->port > 65535 || cfg->db < 0 ||
      cfg->connect_timeout <= 0 || cfg->command_timeout <= 0 || cfg->pool_size < 1 ||
      cfg->pool_size > 64 || cfg->backoff_min <= 0 || cfg->backoff_max < cfg->backoff_min ||
      cfg->max_batch < 1 || cfg->max_batch > 1024)
    return KEEL_EINVAL;
  if (!memchr(cfg->host, 0, sizeof cfg->host) || !memchr(cfg->user, 0, sizeof cfg->user) ||
      !memchr(cfg->password, 0, sizeof cfg->password))
    return KEEL_EINVAL;
  return 0;
}

static void stop_conns(keel_rate_redis_pool *p, int n) {
  atomic_store(&p->stopping, true);
  keel_cancel_fire(&p->stop, KEEL_ESHUTDOWN);
  for (int i = 0; i < n; i++) keel_chan_close(p->conns[i].kick);
  for (int i = 0; i < n; i++)
    if (p->conns[i].task) keel_task_join(p->conns[i].task, KEEL_FOREVER, NULL);
  for (int i = 0; i < n; i++) {
    rr_conn *c = &p->conns[i];
    keel_chan_release(c->kick);
    keel_err_release(c->last_err);
    rr_buf_free(&c->out);
    pthread_mutex_destroy(&c->mu);
  }
  keel_cancel_destroy(&p->stop);
}

int keel_rate_redis_pool_new(keel_rate_redis_pool **out, const keel_rate_redis_config *cfg,
                             keel_rate_redis_event_fn on_event, void *arg) {
  if (!out || check_config(cfg)) return KEEL_EINVAL;
  keel_rate_redis_pool *p = calloc(1, sizeof *p + (size_t)cfg->pool_size * sizeof(rr_conn));
  if (!p) return KEEL_ENOMEM;
  p->cfg = *cfg;
  p->on_event = on_event;
  p->event_arg = arg;
  keel_cancel_init(&p->stop);
  int made = 0, rc = 0;
  for (; made < cfg->pool_size; made++) {
    rr_conn *c = &p->conns[made];
    c->pool = p;
    c->index = made;
    c->fd = -1;
    atomic_init(&c->state, RR_CONNECTING);
    pthread_mutex_init(&c->mu, NULL);
    rc = keel_chan_make(&c->kick, 0, 1);
    if (rc) {
      pthread_mutex_destroy(&c->mu);
      break;
    }
  }
  p->nconns = made;
  for (int i = 0; rc == 0 && i < made; i++) {
    char name[32];
    snprintf(name, sizeof name, "redis-conn-%d", i);
    /* room for the 16 KiB read buffer and for keel_err's stack capture */
    keel_task_options o = {.name = name, .stack_size = 256 << 10};
    rc = keel_task_spawn(&p->conns[i].task, conn_main, &p->conns[i], &o);
  }
  if (rc) {
    stop_conns(p, made);
    free(p);
    return rc;
  }
  *out = p;
  return 0;
}

void keel_rate_redis_pool_free(keel_rate_redis_pool *p) {
  if (!p) return;
  stop_conns(p, p->nconns);
  free(p);
}

void keel_rate_redis_pool_stats(const keel_rate_redis_pool *p, keel_rate_redis_stats *out) {
  keel_rate_redis_pool *q = (keel_rate_redis_pool *)p;
  out->round_trips = atomic_load(&q->round_trips);
  out->commands = atomic_load(&q->commands);
  out->script_loads = atomic_load(&q->script_loads);
  out->connects = atomic_load(&q->connects);
  out->connect_failures = atomic_load(&q->connect_failures);
}

int keel_rate_redis_pool_ping(keel_rate_redis_pool *p, keel_ctx *ctx, keel_err **err) {
  if (err) *err = NULL;
  if (!p) return KEEL_EINVAL;
  rr_request *r;
  int rc = rr_request_new(&r, RR_RAW);
  if (rc) return rc;
  if (rr_buf_array(&r->body, 1) || rr_buf_bulk_str(&r->body, "PING")) {
    rr_request_release(r);
    rr_request_release(r);
    return KEEL_ENOMEM;
  }
  int64_t deadline = keel_deadline_in(p->cfg.connect_timeout + p->cfg.command_timeout);
  int64_t cd;
  if (ctx && keel_ctx_deadline(ctx, &cd) && cd < deadline) deadline = cd;
  rr_pool_submit(p, r);
  rc = rr_request_wait(r, deadline, ctx ? keel_ctx_cancel_token(ctx) : NULL);
  if (rc == 0) {
    rc = r->status;
    if (rc == 0 && r->reply->type == REDIS_REPLY_ERROR) {
      int code = rr_error_code(r->reply->str);
      if (err) *err = keel_err_new(MODULE, code, "%s: %s", rr_error_hint(r->reply->str), r->reply->str);
      rc = code;
    } else if (rc && err) {
      *err = r->err ? keel_err_retain(r->err)
                    : keel_err_new(MODULE, rc, "PING failed: %s", keel_strerror(rc));
    }
  } else if (err) {
    *err = keel_err_new(MODULE, rc, "no answer to PING from Redis at %s:%d: %s", p->cfg.host,
                        p->cfg.port, keel_strerror(rc));
  }
  rr_request_release(r);
  return rc;
}
