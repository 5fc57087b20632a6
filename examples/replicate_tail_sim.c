/* replicate_tail_sim.c — "The Tail at Scale", simulated with keel's hedging.
 *
 * A service whose latency has a heavy tail: a lognormal body (median 10 ms)
 * plus rare long stalls (1.5% of requests stall 0.2-2 s: a GC pause, a
 * compaction, a busy neighbour). One million requests arrive (Poisson,
 * 2000/s) and are served with: no replication; 2 and 3 full replicas (all
 * copies at once, the first answer wins, the rest are canceled); and hedging
 * (a second copy only after the p95 of recent latencies, or a fixed delay,
 * under a 5% budget).
 *
 * The simulation runs in virtual time (a discrete-event simulation, a few
 * seconds for all rows), but the hedging decisions are made by keel's real
 * policy code: keel_hedge_delay_at (the histogram that forgets),
 * keel_hedge_allow_at (the budget on keel's rate limiter), fed by
 * keel_hedge_record_at exactly as keel_replicate feeds it (the primary's
 * latency, or how long it ran when a hedge beat it).
 *
 * The model serves every copy at once (no queueing), so the extra load has
 * no latency cost here; the "extra work" column is the price a loaded system
 * would pay in queueing.
 *
 * With --servers S the service has S servers, each serving one copy at a
 * time from its own queue, busy --load of the time (default 0.3) without
 * replication: extra copies then cost latency too.
 *
 *   replicate_tail_sim [--requests N] [--seed N] [--servers S] [--load U]
 *                      [--md FILE] [--svg FILE]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/replicate.h"

#define MS KEEL_MILLISECOND

/* ---- the service's latency ---------------------------------------------- */

static uint64_t rng_state;
static double uniform(void) {   /* xorshift64*, in (0, 1) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return ((double)((rng_state * 0x2545F4914F6CDD1DULL) >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void) {
  return sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
}

static const double STALL_P = 0.015;
static int64_t sim_burst = 10;   /* the hedge budget's burst (--burst) */
static int64_t service_latency(void) {
  double body = 10.0 * exp(0.45 * normal());             /* ms, median 10 */
  if (uniform() < STALL_P) body += 200 + 1800 * uniform();  /* a stall */
  return (int64_t)(body * MS);
}

/* ---- events --------------------------------------------------------------- */

enum { EV_ARRIVAL, EV_HEDGE, EV_RECORD };
typedef struct { int64_t t; int kind; int64_t a, b; } event;   /* a: request / latency */

static event *heap;
static size_t heap_len, heap_cap;
static void push(event e) {
  if (heap_len == heap_cap) {
    heap_cap = heap_cap ? heap_cap * 2 : 1024;
    heap = realloc(heap, heap_cap * sizeof *heap);
    if (!heap) { perror("realloc"); exit(1); }
  }
  size_t i = heap_len++;
  while (i > 0 && heap[(i - 1) / 2].t > e.t) { heap[i] = heap[(i - 1) / 2]; i = (i - 1) / 2; }
  heap[i] = e;
}
static event pop(void) {
  event top = heap[0], last = heap[--heap_len];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= heap_len) break;
    if (c + 1 < heap_len && heap[c + 1].t < heap[c].t) c++;
    if (heap[c].t >= last.t) break;
    heap[i] = heap[c];
    i = c;
  }
  if (heap_len) heap[i] = last;
  return top;
}

/* ---- one configuration ---------------------------------------------------- */

typedef struct {
  const char *name;
  int replicas;          /* full replication: copies sent at once */
  double percentile;     /* hedging: adaptive delay; 0 with delay: fixed */
  int64_t delay;
  double budget;         /* 0: no hedging */
  bool plot;             /* drawn in the SVG (the table has every row) */
} config;

typedef struct {
  int64_t p50, p99, p999, max;
  double extra_requests, extra_work;   /* fractions */
  int64_t final_delay;
} outcome;

static int cmp64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return (a > b) - (a < b);
}

/* The figures of a finished run: extra copies, work, and the latency
 * percentiles (sorts lat). */
static outcome summarize(outcome o, uint64_t copies, size_t n, double work, int64_t *lat) {
  o.extra_requests = (double)copies / (double)n - 1;
  o.extra_work = work;
  qsort(lat, n, sizeof *lat, cmp64);
  o.p50 = lat[n / 2];
  o.p99 = lat[(size_t)(n * 0.99)];
  o.p999 = lat[(size_t)(n * 0.999)];
  o.max = lat[n - 1];
  return o;
}

typedef struct { int64_t t0, l0, delay; } request;

static outcome run(const config *c, size_t n, uint64_t seed, int64_t *lat) {
  rng_state = seed;
  outcome o = {0};
  uint64_t copies = 0;
  double work = 0;
  int64_t t = 0;
  bool hedging = c->budget > 0;
  keel_hedge *h = NULL;
  if (hedging) {
    keel_hedge_options ho = {.delay = c->delay, .percentile = c->percentile,
                             .min_samples = 100, .window = 10 * KEEL_SECOND,
                             .budget = c->budget, .budget_burst = sim_burst, .max_copies = 2};
    if (keel_hedge_new(&h, &ho) != 0) { fprintf(stderr, "keel_hedge_new\n"); exit(1); }
  }
  request *req = calloc(n, sizeof *req);
  if (!req) { perror("calloc"); exit(1); }
  /* Arrivals are generated one ahead, so the heap stays small. */
  push((event){0, EV_ARRIVAL, 0, 0});
  while (heap_len) {
    event e = pop();
    if (e.kind == EV_ARRIVAL) {
      size_t i = (size_t)e.a;
      if (i + 1 < n) {
        t = e.t + (int64_t)(-log(uniform()) * (KEEL_SECOND / 2000.0));
        push((event){t, EV_ARRIVAL, (int64_t)i + 1, 0});
      }
      request *r = &req[i];
      r->t0 = e.t;
      r->l0 = service_latency();
      copies++;
      if (!hedging) {
        int64_t best = r->l0;
        for (int k = 1; k < c->replicas; k++) {
          int64_t l = service_latency();
          if (l < best) best = l;
          copies++;
        }
        lat[i] = best;
        work += (double)best * c->replicas;   /* the losers stop at the win */
        continue;
      }
      keel_hedge_begin_at(h, e.t);
      r->delay = keel_hedge_delay_at(h, e.t);
      if (r->delay != KEEL_FOREVER && r->delay < r->l0) {
        push((event){e.t + r->delay, EV_HEDGE, (int64_t)i, 0});
      } else {
        lat[i] = r->l0;
        work += (double)r->l0;
        push((event){e.t + r->l0, EV_RECORD, r->l0, 0});
      }
    } else if (e.kind == EV_HEDGE) {
      request *r = &req[e.a];
      if (!keel_hedge_allow_at(h, e.t)) {          /* over budget: wait it out */
        lat[e.a] = r->l0;
        work += (double)r->l0;
        push((event){r->t0 + r->l0, EV_RECORD, r->l0, 0});
        continue;
      }
      copies++;
      int64_t l1 = service_latency();
      int64_t done0 = r->t0 + r->l0, done1 = e.t + l1;
      int64_t done = done0 < done1 ? done0 : done1;
      lat[e.a] = done - r->t0;
      work += (double)(done - r->t0) + (double)(done - e.t);
      /* keel_replicate records the primary: its latency, or how long it ran
       * before the hedge's answer canceled it */
      push((event){done, EV_RECORD, done - r->t0, 0});
    } else {
      keel_hedge_record_at(h, e.t, e.a);
    }
  }
  if (h) {
    o.final_delay = keel_hedge_delay_at(h, t);
    keel_hedge_free(h);
  }
  free(req);
  return summarize(o, copies, n, work, lat);
}


/* ---- the same with queues: S servers, each serving one copy at a time ------
 *
 * Each copy goes to a random server (copies of one request to distinct
 * ones) and waits its turn in that server's FIFO queue. When a request gets
 * its answer, its other copies are canceled as keel cancels them: a queued
 * copy is dropped, a running one stops and frees its server. Extra copies
 * now cost latency: they lengthen everyone's queues. */

enum { EV_FINISH = 3 };
enum { C_QUEUED, C_RUNNING, C_DONE, C_DEAD };
typedef struct { size_t req; int server, status; int64_t start, service; int64_t next; } qcopy;
typedef struct { int64_t t0; int64_t copy[3]; int ncopies; bool done; } qrequest;
typedef struct { int64_t running, head, tail; } qserver;

static qcopy *qc;
static size_t qc_len, qc_cap;
static qserver *srv;

static int64_t new_copy(size_t req, int server) {
  if (qc_len == qc_cap) {
    qc_cap = qc_cap ? qc_cap * 2 : 4096;
    qc = realloc(qc, qc_cap * sizeof *qc);
    if (!qc) { perror("realloc"); exit(1); }
  }
  qc[qc_len] = (qcopy){req, server, C_QUEUED, 0, service_latency(), -1};
  return (int64_t)qc_len++;
}

static void server_next(int s, int64_t now) {
  while (srv[s].running < 0 && srv[s].head >= 0) {
    int64_t id = srv[s].head;
    srv[s].head = qc[id].next;
    if (srv[s].head < 0) srv[s].tail = -1;
    if (qc[id].status != C_QUEUED) continue;     /* canceled while queued */
    qc[id].status = C_RUNNING;
    qc[id].start = now;
    srv[s].running = id;
    push((event){now + qc[id].service, EV_FINISH, id, 0});
  }
}

static void enqueue(int64_t id, int64_t now) {
  int s = qc[id].server;
  if (srv[s].tail >= 0) qc[srv[s].tail].next = id;
  else srv[s].head = id;
  srv[s].tail = id;
  server_next(s, now);
}

static int pick_server(int servers, const qrequest *r) {
  for (;;) {
    int s = (int)(uniform() * servers);
    bool used = false;
    for (int k = 0; k < r->ncopies; k++) used |= qc[r->copy[k]].server == s;
    if (!used) return s;
  }
}

static outcome run_queued(const config *c, size_t n, uint64_t seed, int64_t *lat,
                          int servers, double rate) {
  rng_state = seed;
  outcome o = {0};
  uint64_t copies = 0;
  double work = 0;
  int64_t t = 0;
  bool hedging = c->budget > 0;
  keel_hedge *h = NULL;
  if (hedging) {
    keel_hedge_options ho = {.delay = c->delay, .percentile = c->percentile,
                             .min_samples = 100, .window = 10 * KEEL_SECOND,
                             .budget = c->budget, .budget_burst = sim_burst, .max_copies = 2};
    if (keel_hedge_new(&h, &ho) != 0) { fprintf(stderr, "keel_hedge_new\n"); exit(1); }
  }
  qrequest *req = calloc(n, sizeof *req);
  srv = malloc((size_t)servers * sizeof *srv);
  if (!req || !srv) { perror("calloc"); exit(1); }
  for (int i = 0; i < servers; i++) srv[i] = (qserver){-1, -1, -1};
  qc_len = 0;
  push((event){0, EV_ARRIVAL, 0, 0});
  while (heap_len) {
    event e = pop();
    if (e.kind == EV_ARRIVAL) {
      size_t i = (size_t)e.a;
      if (i + 1 < n) {
        t = e.t + (int64_t)(-log(uniform()) * (KEEL_SECOND / rate));
        push((event){t, EV_ARRIVAL, (int64_t)i + 1, 0});
      }
      qrequest *r = &req[i];
      r->t0 = e.t;
      int k = hedging ? 1 : c->replicas;
      for (int j = 0; j < k; j++) {
        int64_t id = new_copy(i, pick_server(servers, r));
        r->copy[r->ncopies++] = id;
        copies++;
        enqueue(id, e.t);
      }
      if (hedging) {
        keel_hedge_begin_at(h, e.t);
        int64_t d = keel_hedge_delay_at(h, e.t);
        if (d != KEEL_FOREVER) push((event){e.t + d, EV_HEDGE, (int64_t)i, 0});
      }
    } else if (e.kind == EV_HEDGE) {
      qrequest *r = &req[e.a];
      if (r->done || !keel_hedge_allow_at(h, e.t)) continue;
      int64_t id = new_copy((size_t)e.a, pick_server(servers, r));
      r->copy[r->ncopies++] = id;
      copies++;
      enqueue(id, e.t);
    } else if (e.kind == EV_FINISH) {
      qcopy *q = &qc[e.a];
      if (q->status != C_RUNNING || q->start + q->service != e.t) continue;  /* canceled */
      q->status = C_DONE;
      work += (double)q->service;
      srv[q->server].running = -1;
      qrequest *r = &req[q->req];
      if (!r->done) {
        r->done = true;
        lat[q->req] = e.t - r->t0;
        for (int k = 0; k < r->ncopies; k++) {
          qcopy *o2 = &qc[r->copy[k]];
          if (o2->status == C_QUEUED) {
            o2->status = C_DEAD;
          } else if (o2->status == C_RUNNING) {
            o2->status = C_DEAD;
            work += (double)(e.t - o2->start);
            srv[o2->server].running = -1;
            server_next(o2->server, e.t);
          }
        }
        if (hedging) keel_hedge_record_at(h, e.t, e.t - r->t0);   /* primary's latency, or its time so far */
      }
      server_next(q->server, e.t);
    } else {
      keel_hedge_record_at(h, e.t, e.a);
    }
  }
  if (h) {
    o.final_delay = keel_hedge_delay_at(h, t);
    keel_hedge_free(h);
  }
  free(req);
  free(srv);
  return summarize(o, copies, n, work, lat);
}

/* ---- the plot: one tail curve (fraction of requests slower than x) each -- */

static void svg_plot(FILE *f, const config *cs, int64_t **lats, size_t nc, size_t n) {
  const double W = 760, H = 440, L = 70, R = 190, T = 40, B = 60;
  const double xmin = log10(2.0), xmax = log10(3000.0);   /* ms */
  const double ymin = -5, ymax = 0;                         /* log10 fraction */
  const char *colors[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};
#define X(v) (L + ((v) - xmin) / (xmax - xmin) * (W - L - R))
#define Y(v) (T + (ymax - (v)) / (ymax - ymin) * (H - T - B))
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
             "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(f, "<text x=\"%g\" y=\"22\" font-size=\"15\">Latency tail: fraction of requests "
             "slower than x (%zu requests, simulated)</text>\n", L, n);
  const double xt[] = {2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000};
  for (size_t i = 0; i < sizeof xt / sizeof xt[0]; i++) {
    double x = X(log10(xt[i]));
    fprintf(f, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>\n", x, T, x, H - B);
    fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%g</text>\n", x, H - B + 16, xt[i]);
  }
  for (int e = 0; e >= -5; e--) {
    double y = Y(e);
    fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y, W - R, y);
    const char *lab[] = {"1", "0.1", "0.01 (p99)", "0.001 (p99.9)", "1e-4", "1e-5"};
    fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", L - 4, y + 4, lab[-e]);
  }
  fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">latency (ms, log scale)</text>\n",
          (L + W - R) / 2, H - 20);
  fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#333\"/>\n",
          L, T, W - L - R, H - T - B);
  size_t drawn = 0;
  for (size_t c = 0; c < nc; c++) {
    if (!cs[c].plot) continue;
    const char *color = colors[drawn % 6];
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    /* sample the sorted latencies on a log grid of x */
    size_t j = 0;
    for (int s = 0; s <= 400; s++) {
      double lx = xmin + (xmax - xmin) * s / 400.0;
      int64_t v = (int64_t)(pow(10, lx) * MS);
      while (j < n && lats[c][j] <= v) j++;
      double frac = (double)(n - j) / (double)n;
      if (frac <= 0) break;
      double ly = log10(frac);
      if (ly < ymin) break;
      fprintf(f, "%.1f,%.1f ", X(lx), Y(ly));
    }
    fprintf(f, "\"/>\n");
    double ly = T + 20 + 22 * (double)drawn++;
    fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>\n",
            W - R + 12, ly, W - R + 34, ly, color);
    fprintf(f, "<text x=\"%g\" y=\"%.1f\">%s</text>\n", W - R + 40, ly + 4, cs[c].name);
  }
  fprintf(f, "</svg>\n");
#undef X
#undef Y
}

int main(int argc, char **argv) {
  size_t n = 1000000;
  uint64_t seed = 42;
  const char *md = NULL, *svg = NULL;
  int servers = 0;
  double load = 0.3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--servers") == 0) servers = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--burst") == 0) sim_burst = atoll(argv[i + 1]);
    else if (strcmp(argv[i], "--load") == 0) load = atof(argv[i + 1]);
    if (strcmp(argv[i], "--requests") == 0) n = (size_t)atoll(argv[i + 1]);
    else if (strcmp(argv[i], "--seed") == 0) seed = (uint64_t)atoll(argv[i + 1]);
    else if (strcmp(argv[i], "--md") == 0) md = argv[i + 1];
    else if (strcmp(argv[i], "--svg") == 0) svg = argv[i + 1];
  }
  if (n < 1000) n = 1000;
  const config cs[] = {
      {"no replication", 1, 0, 0, 0, true},
      {"2 full replicas", 2, 0, 0, 0, true},
      {"3 full replicas", 3, 0, 0, 0, true},
      {"hedge at p95, 5% budget", 1, 0.95, 0, 0.05, true},
      {"hedge at p98, 5% budget", 1, 0.98, 0, 0.05, false},
      {"hedge at p95, no budget", 1, 0.95, 0, INFINITY, false},
      {"hedge at p90, 5% budget", 1, 0.90, 0, 0.05, true},
      {"hedge at 15 ms, 5% budget", 1, 0, 15 * MS, 0.05, true},
      {"hedge at p95, 10% budget", 1, 0.95, 0, 0.10, false},
  };
  enum { NC = sizeof cs / sizeof cs[0] };
  int64_t *lats[NC];
  outcome os[NC];
  for (size_t c = 0; c < NC; c++) {
    lats[c] = malloc(n * sizeof(int64_t));
    if (!lats[c]) { perror("malloc"); return 1; }
    if (servers > 0) {
      /* the arrival rate that keeps servers busy `load` of the time with
       * one copy per request: mean service = body mean + stall mean */
      double mean_ms = 10.0 * exp(0.45 * 0.45 / 2) + STALL_P * 1100.0;
      double rate = load * servers / (mean_ms / 1000.0);
      os[c] = run_queued(&cs[c], n, seed, lats[c], servers, rate);
    } else {
      os[c] = run(&cs[c], n, seed, lats[c]);
    }
  }
  double base_work = os[0].extra_work;
  FILE *outs[2] = {stdout, md ? fopen(md, "w") : NULL};
  for (int k = 0; k < 2; k++) {
    FILE *f = outs[k];
    if (!f) continue;
    if (servers > 0)
      fprintf(f, "Queueing model: %d servers, %.0f%% busy without replication.\n\n",
              servers, 100 * load);
    else
      fprintf(f, "No-queue model: every copy is served at once.\n\n");
    fprintf(f, "| policy | p50 | p99 | p99.9 | max | extra requests | extra work |\n");
    fprintf(f, "|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t c = 0; c < NC; c++)
      fprintf(f, "| %s | %.1f ms | %.1f ms | %.1f ms | %.0f ms | %.1f%% | %.1f%% |\n", cs[c].name,
              os[c].p50 / 1e6, os[c].p99 / 1e6, os[c].p999 / 1e6, os[c].max / 1e6,
              100 * os[c].extra_requests, 100 * (os[c].extra_work / base_work - 1));
    fprintf(f, "\n%zu requests, seed %llu. Adaptive delays at the end: p95 %.1f ms, "
               "p98 %.1f ms, p90 %.1f ms.\n", n, (unsigned long long)seed,
            os[3].final_delay / 1e6, os[4].final_delay / 1e6, os[6].final_delay / 1e6);
  }
  if (outs[1]) fclose(outs[1]);
  if (svg) {
    FILE *f = fopen(svg, "w");
    if (!f) { perror(svg); return 1; }
    svg_plot(f, cs, lats, NC, n);
    fclose(f);
  }
  for (size_t c = 0; c < NC; c++) free(lats[c]);
  free(heap);
  free(qc);
  return 0;
}
