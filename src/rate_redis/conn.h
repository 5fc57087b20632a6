/* The pool's private parts: requests, connections, and how a caller hands a
 * command to a connection task and waits for its reply (src/rate_redis/conn.c).
 *
 * Invariants:
 * - A request is shared by its caller and a connection: two references. The
 *   connection completes it exactly once (status, reply, err, then the wait
 *   group's done) and drops its reference; the caller drops its own after
 *   waiting, or at once when it gives up (timeout, cancel). The last one frees.
 * - A connection's queue is guarded by its mutex; only its task touches its
 *   socket, reader and output buffer.
 * - Commands go out in batches: everything queued while the previous batch
 *   was being written is written in one write, up to two batches are in
 *   flight at once, and replies are answered in order (pipelining);
 *   consecutive checks share one script call (up to max_batch of them). */
#ifndef KEEL_RATE_REDIS_CONN_H
#define KEEL_RATE_REDIS_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "keel/chan.h"
#include "keel/err.h"
#include "keel/rate_redis.h"
#include "keel/task.h"
#include "rate_redis/resp.h"

enum rr_kind {
  RR_CHECK = 1,  /* a rate check: body = its tier keys, then its script arguments */
  RR_RAW,        /* body: a whole encoded command; the reply is kept */
};

typedef struct rr_request rr_request;
struct rr_request {
  _Atomic int refs;
  keel_waitgroup done;
  rr_request *next;
  int kind;
  rr_buf body;
  /* RR_CHECK: body[0, keys_len) holds nkeys bulk strings (the tier keys),
   * the rest nargs bulk strings (k, n, em_1, burst_1, ...: see script.h) */
  size_t keys_len;
  long nkeys, nargs;
  int noscript_retries;
  int group;             /* the connection's: checks in the call this one opens */
  bool batch_end;        /* the connection's: the last request of a written batch */
  int64_t due;           /* the connection's: when its written batch times out */
  /* written by the connection before done */
  int status;            /* 0 or a KEEL_E* code (no answer from Redis) */
  redisReply *reply;     /* RR_RAW: owned by the request */
  long long vals[6];     /* RR_CHECK: the script's six integers, when err_text is empty */
  char err_text[256];    /* RR_CHECK: Redis's error reply, if it sent one */
  keel_err *err;         /* owned by the request; why status != 0 */
};

/* A request with refs = 2 and its wait group armed. KEEL_ENOMEM. */
int rr_request_new(rr_request **out, int kind);
void rr_request_release(rr_request *r);

enum rr_state { RR_CONNECTING = 1, RR_UP, RR_BACKOFF, RR_STOPPED };

typedef struct rr_conn {
  keel_rate_redis_pool *pool;
  int index;
  pthread_mutex_t mu;
  rr_request *head, *tail;   /* queued, not yet written */
  int last_code;             /* under mu: why the last connect failed */
  keel_err *last_err;        /* under mu: owned */
  _Atomic int state;
  keel_chan *kick;           /* capacity 1: "there is work" */
  keel_task *task;
  /* the task's own */
  int fd;
  redisReader *reader;
  rr_buf out;
  char sha[41];
  bool reported_down;
} rr_conn;

struct keel_rate_redis_pool {
  keel_rate_redis_config cfg;
  keel_rate_redis_event_fn on_event;
  void *event_arg;
  keel_cancel stop;
  _Atomic bool stopping;
  _Atomic unsigned next;     /* round robin */
  _Atomic uint64_t round_trips, commands, script_loads, connects, connect_failures;
  int nconns;
  rr_conn conns[];
};

/* Hands r to a connection of the pool. When none can take it (all backing
 * off, or the pool is stopping) r is completed at once with the reason.
 * Consumes the connection's reference in every case. */
void rr_pool_submit(keel_rate_redis_pool *p, rr_request *r);

/* Waits for r (submitted) until deadline or cancel: 0 when r is complete,
 * else the wait's code (r then completes later, unseen). */
int rr_request_wait(rr_request *r, int64_t deadline, const keel_cancel *cancel);

/* The deadline a caller should wait for a command submitted now. */
int64_t rr_pool_deadline(const keel_rate_redis_pool *p);

#endif
