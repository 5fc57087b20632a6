/* replicate_book.c — the book's "Replicated Requests" example, with keel.
 *
 * Ten handlers get the same request; each simulates a load of 1 to 5 units
 * (the book: 1-5 s; here a unit is 100 ms so the run takes about a second),
 * the first answer is taken and the others are canceled through their
 * contexts. Each handler prints how long it took, or would have taken, as
 * the book prints it; keel_replicate returns only after all ten stopped.
 *
 *   replicate_book [--unit-ms N] [--seed N]      (--unit-ms 1000: the book)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keel/ctx.h"
#include "keel/replicate.h"
#include "keel/task.h"

static int64_t unit = 100 * KEEL_MILLISECOND;

/* Go's time.Duration format: "1.000211046s", "3s", "100.2ms". */
static void format_duration(char *buf, size_t len, int64_t d) {
  const char *suffix = "s";
  int64_t scale = KEEL_SECOND;
  if (d < KEEL_MICROSECOND) { suffix = "ns"; scale = 1; }
  else if (d < KEEL_MILLISECOND) { suffix = "µs"; scale = KEEL_MICROSECOND; }
  else if (d < KEEL_SECOND) { suffix = "ms"; scale = KEEL_MILLISECOND; }
  int64_t whole = d / scale, frac = d % scale;
  char fbuf[32] = "";
  if (frac) {
    /* frac + scale prints as "1" then frac zero-padded to scale's digits */
    char digits[24];
    snprintf(digits, sizeof digits, "%lld", (long long)(frac + scale));
    size_t n = strlen(digits);
    while (n > 1 && digits[n - 1] == '0') digits[--n] = '\0';
    snprintf(fbuf, sizeof fbuf, ".%s", digits + 1);
  }
  snprintf(buf, len, "%lld%s%s", (long long)whole, fbuf, suffix);
}

struct work { unsigned load_units; };

/* The book's doWork: wait for the simulated load or for cancellation. */
static keel_err *do_work(keel_replica *r) {
  struct work *w = r->arg;
  int64_t started = keel_now();
  int64_t simulated = (int64_t)w->load_units * unit;
  r->intended = simulated;                  /* for the report, too */
  int rc = keel_ctx_sleep(r->ctx, simulated);
  int64_t took = keel_now() - started;
  if (took < simulated) took = simulated;   /* how long it would have taken */
  char d[32];
  format_duration(d, sizeof d, took);
  printf("%zu took %s\n", r->index, d);
  if (rc != 0) return keel_replica_stopped(r);   /* another answered first */
  memcpy(r->result, &r->index, sizeof r->index);
  return NULL;
}

int main(int argc, char **argv) {
  unsigned seed = (unsigned)time(NULL);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--unit-ms") == 0) unit = atoll(argv[i + 1]) * KEEL_MILLISECOND;
    else if (strcmp(argv[i], "--seed") == 0) seed = (unsigned)atoi(argv[i + 1]);
  }
  srand(seed);

  struct work work[10];
  keel_replicate_handler handlers[10];
  for (int i = 0; i < 10; i++) {
    work[i].load_units = 1 + (unsigned)(rand() % 5);
    handlers[i] = (keel_replicate_handler){do_work, &work[i], NULL};
  }

  keel_replicate_options opts = {.result_size = sizeof(size_t)};
  size_t first_returned = 0;
  keel_err *err = NULL;
  int rc = keel_replicate(keel_ctx_background(), handlers, 10, &opts,
                          &first_returned, NULL, &err);
  if (rc != 0) {
    fprintf(stderr, "replicate: %s\n", keel_strerror(rc));
    keel_err_release(err);
    return 1;
  }
  printf("Received an answer from #%zu\n", first_returned);
  keel_runtime_shutdown();
  return 0;
}
