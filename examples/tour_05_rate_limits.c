/* tour: Rate limits */
/* Rate limits in two short scenes.
 *
 *  1. The book's API connection, version 3, on a clock running 20x fast (a
 *     book second is 50 ms here, the whole run ~3 s). Limits per tier (API:
 *     2 per second AND 10 per minute) and per resource (disk 1/s for
 *     ReadFile, network 3/s for ResolveAddress) are multi-limiters composed
 *     per call; 20 tasks wait on them with a context. Each admitted call is
 *     logged with its time in whole book seconds, and
 *     the log is printed in time order at the end. (The ReadFile tasks are
 *     let in first, so the run is the same every time.)
 *  2. A keyed limiter (one bucket per client, created on demand): three
 *     clients burst five requests each at once, on a fake clock; each gets
 *     its own burst of three, the rest are dropped, and a second later each
 *     has earned two more. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/ctx.h"
#include "keel/rate.h"
#include "keel/task.h"

#define SPEED 20   /* book seconds per real second */

/* ---- 1. tiers and resources, composed per call ------------------------------ */

typedef struct event { int64_t seconds; const char *what; } event;

static struct {
  pthread_mutex_t mu;
  event log[20];
  int n;
  int64_t start;
} book = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct call {
  keel_rate_multi *limit;
  const char *what;
  keel_waitgroup *wg;
} call;

static void caller(void *p) {
  call *c = p;
  int rc = keel_rate_multi_wait(c->limit, keel_ctx_background());
  int64_t elapsed = (keel_rate_now() - book.start) * SPEED;
  pthread_mutex_lock(&book.mu);
  /* Rounded down (after a little slack): a wake-up is never early, but a
   * loaded machine may make it late by a good part of a book second. */
  book.log[book.n++] = (event){(elapsed + KEEL_SECOND / 20) / KEEL_SECOND,
                               rc == 0 ? c->what : "refused"};
  pthread_mutex_unlock(&book.mu);
  keel_waitgroup_done(c->wg);
}

static int by_time(const void *a, const void *b) {
  const event *x = a, *y = b;
  if (x->seconds != y->seconds) return x->seconds < y->seconds ? -1 : 1;
  return strcmp(x->what, y->what);
}

static keel_rate_limiter *limiter(keel_rate_limit r, int64_t b) {
  keel_rate_limiter *l = NULL;
  if (keel_rate_limiter_new(&l, r * SPEED, b)) exit(1);
  return l;
}

static int scene_tiers(void) {
  keel_rate_limiter *per_second = limiter(keel_rate_per(2, KEEL_SECOND), 2);
  keel_rate_limiter *per_minute = limiter(keel_rate_per(10, KEEL_MINUTE), 10);
  keel_rate_limiter *disk = limiter(1, 1);
  keel_rate_limiter *network = limiter(keel_rate_per(3, KEEL_SECOND), 3);
  keel_rate_any tiers[] = {keel_rate_any_limiter(per_second),
                           keel_rate_any_limiter(per_minute)};
  keel_rate_multi *api, *read_file, *resolve;
  if (keel_rate_multi_new(&api, tiers, 2)) return 1;
  keel_rate_any rf[] = {keel_rate_any_multi(api), keel_rate_any_limiter(disk)};
  keel_rate_any ra[] = {keel_rate_any_multi(api), keel_rate_any_limiter(network)};
  if (keel_rate_multi_new(&read_file, rf, 2) || keel_rate_multi_new(&resolve, ra, 2)) return 1;
  printf("API limit (most restrictive tier): %.4f calls/s (10 a minute)\n",
         keel_rate_multi_limit(api) / SPEED);

  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 20);
  call calls[20];
  book.start = keel_rate_now();
  for (int i = 0; i < 20; i++) {
    calls[i] = (call){i < 10 ? read_file : resolve, i < 10 ? "ReadFile" : "ResolveAddress", &wg};
    if (keel_task_spawn(NULL, caller, &calls[i], NULL)) return 1;
    /* Order the two kinds: the ten ReadFiles take the minute's ten tokens. */
    while (i == 9 && keel_rate_tokens(per_minute) > 0.5) keel_task_yield();
  }
  keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL);
  qsort(book.log, (size_t)book.n, sizeof *book.log, by_time);
  for (int i = 0; i < book.n; i++)
    printf("  t=%2llds  %s\n", (long long)book.log[i].seconds, book.log[i].what);
  printf("  Done: ReadFile paced by the disk (1/s), ResolveAddress by the minute tier.\n");
  keel_rate_multi_free(read_file);
  keel_rate_multi_free(resolve);
  keel_rate_multi_free(api);
  keel_rate_limiter_free(per_second);
  keel_rate_limiter_free(per_minute);
  keel_rate_limiter_free(disk);
  keel_rate_limiter_free(network);
  return 0;
}

/* ---- 2. a bucket per client ---------------------------------------------------- */

static int scene_keyed(void) {
  keel_rate_keyed_options o = {.limit = 2, .burst = 3, .max_keys = 10000};
  keel_rate_keyed *k;
  if (keel_rate_keyed_new(&k, &o)) return 1;
  const char *clients[] = {"alice", "bob", "carol"};
  int64_t t = 1000 * KEEL_SECOND;   /* a fake clock */
  printf("\nPer-client limits (2/s, burst 3), five requests each at once:\n");
  for (int second = 0; second < 2; second++) {
    for (int c = 0; c < 3; c++) {
      char line[64] = "";
      for (int i = 0; i < 5; i++)
        strcat(line, keel_rate_keyed_allow_n_at(k, clients[c], strlen(clients[c]), t, 1) == 1
                         ? " ok  " : " drop");
      printf("  t=%ds %-6s%s\n", second, clients[c], line);
    }
    t += KEEL_SECOND;
  }
  keel_rate_keyed_stats st;
  keel_rate_keyed_stats_get(k, &st);
  printf("  %zu keys, created on demand\n", st.keys);
  keel_rate_keyed_free(k);
  return 0;
}

int main(void) {
  if (scene_tiers() || scene_keyed()) {
    fprintf(stderr, "tour 05 failed\n");
    return 1;
  }
  keel_runtime_shutdown();
  return 0;
}
