/* tour: Tasks, channels, select and timers */
/* The runtime in five short scenes:
 *   1. a thousand tasks report over one channel, counted by a wait group;
 *   2. a pipeline: generate -> square -> print, each stage a task, closed
 *      channels telling the next stage that the input is over;
 *   3. a select with a timeout: a slow service misses its deadline, a fast
 *      one answers;
 *   4. a ticker in a select, stopped after three ticks;
 *   5. a closed channel still drains what it buffered.
 * Every blocking call here works from a task and from a plain thread alike
 * (main is a plain thread). */
#include <stdio.h>

#include "keel/chan.h"
#include "keel/task.h"
#include "keel/timer.h"

#define CHECK(call)                                                        \
  do {                                                                     \
    int rc_ = (call);                                                      \
    if (rc_ < 0) {                                                         \
      fprintf(stderr, "%s: %s\n", #call, keel_strerror(rc_));              \
      return 1;                                                            \
    }                                                                      \
  } while (0)

/* ---- 1. many tasks, one channel --------------------------------------------------- */

typedef struct reporter {
  keel_chan *results;
  keel_waitgroup *wg;
  int id;
} reporter;

static void report_id(void *arg) {
  reporter *r = arg;
  keel_chan_send(r->results, &r->id, KEEL_FOREVER);
  keel_waitgroup_done(r->wg);
}

static int scene_many_tasks(void) {
  enum { N = 1000 };
  static reporter r[N];
  keel_chan *results;
  keel_waitgroup wg;
  CHECK(keel_chan_make(&results, sizeof(int), N));
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, N);
  for (int i = 0; i < N; i++) {
    r[i] = (reporter){.results = results, .wg = &wg, .id = i + 1};
    CHECK(keel_task_spawn(NULL, report_id, &r[i], NULL));  /* detached */
  }
  CHECK(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL));
  long sum = 0;
  int id;
  while (keel_chan_recv(results, &id, KEEL_NOWAIT) == 0) sum += id;
  printf("1. %d tasks each sent their id: the sum is %ld\n", N, sum);
  keel_chan_release(results);
  return 0;
}

/* ---- 2. a pipeline ---------------------------------------------------------------------- */

typedef struct stage {
  keel_chan *in, *out;
} stage;

static void generate(void *arg) {
  stage *s = arg;
  for (int i = 1; i <= 6; i++) keel_chan_send(s->out, &i, KEEL_FOREVER);
  keel_chan_close(s->out);  /* no more input downstream */
}

static void square(void *arg) {
  stage *s = arg;
  int v;
  while (keel_chan_recv(s->in, &v, KEEL_FOREVER) == 0) {  /* until KEEL_ECLOSED */
    v *= v;
    keel_chan_send(s->out, &v, KEEL_FOREVER);
  }
  keel_chan_close(s->out);
}

static int scene_pipeline(void) {
  keel_chan *numbers, *squares;
  CHECK(keel_chan_make(&numbers, sizeof(int), 0));  /* unbuffered: hand-off */
  CHECK(keel_chan_make(&squares, sizeof(int), 2));  /* a little slack */
  stage gen = {.out = numbers}, sq = {.in = numbers, .out = squares};
  keel_task *a, *b;
  CHECK(keel_task_spawn(&a, generate, &gen, NULL));
  CHECK(keel_task_spawn(&b, square, &sq, NULL));
  printf("2. pipeline generate -> square -> main:");
  int v;
  while (keel_chan_recv(squares, &v, KEEL_FOREVER) == 0) printf(" %d", v);
  printf(" (closed)\n");
  CHECK(keel_task_join(a, KEEL_FOREVER, NULL));
  CHECK(keel_task_join(b, KEEL_FOREVER, NULL));
  keel_chan_release(numbers);
  keel_chan_release(squares);
  return 0;
}

/* ---- 3. select with a timeout ------------------------------------------------------------ */

typedef struct service {
  keel_chan *reply;
  int64_t delay;
  int answer;
} service;

static void serve(void *arg) {
  service *s = arg;
  keel_sleep(s->delay);
  keel_chan_send(s->reply, &s->answer, KEEL_FOREVER);  /* buffered: never stuck */
  keel_chan_release(s->reply);
}

static int ask(const char *name, service *s, int64_t timeout) {
  keel_chan *reply;
  CHECK(keel_chan_make(&reply, sizeof(int), 1));
  s->reply = keel_chan_retain(reply);  /* the service's own reference */
  CHECK(keel_task_spawn(NULL, serve, s, NULL));
  keel_timer *timer;
  CHECK(keel_timer_after(&timer, timeout));
  int answer = 0;
  keel_select_case cases[2] = {
      {.chan = reply, .op = KEEL_SELECT_RECV, .elem = &answer},
      {.chan = keel_timer_chan(timer), .op = KEEL_SELECT_RECV, .elem = NULL},
  };
  int i = keel_chan_select(cases, 2, KEEL_FOREVER);
  if (i == 0)
    printf("3. %s answered %d within %lld ms\n", name, answer,
           (long long)(timeout / KEEL_MILLISECOND));
  else
    printf("3. %s gave no answer within %lld ms: timed out\n", name,
           (long long)(timeout / KEEL_MILLISECOND));
  keel_timer_free(timer);
  keel_chan_release(reply);
  return 0;
}

static int scene_timeout(void) {
  static service slow = {.delay = 300 * KEEL_MILLISECOND, .answer = 7};
  static service fast = {.delay = 0, .answer = 42};
  if (ask("the slow service", &slow, 50 * KEEL_MILLISECOND)) return 1;
  if (ask("the fast service", &fast, 1000 * KEEL_MILLISECOND)) return 1;
  return 0;
}

/* ---- 4. a ticker ---------------------------------------------------------------------------- */

static int scene_ticker(void) {
  keel_timer *ticker;
  CHECK(keel_timer_tick(&ticker, 20 * KEEL_MILLISECOND));
  int64_t start = keel_now(), at = 0;
  for (int n = 1; n <= 3; n++) {
    keel_select_case cases[1] = {
        {.chan = keel_timer_chan(ticker), .op = KEEL_SELECT_RECV, .elem = &at},
    };
    CHECK(keel_chan_select(cases, 1, keel_deadline_in(KEEL_SECOND)));
    printf("4. tick %d (%s)\n", n, at - start >= n * 20 * KEEL_MILLISECOND ? "on time" : "early?!");
  }
  printf("4. ticker stopped: %s\n", keel_timer_stop(ticker) ? "yes" : "it was not running");
  keel_timer_free(ticker);
  return 0;
}

/* ---- 5. a closed channel drains --------------------------------------------------------------- */

static int scene_drain(void) {
  keel_chan *c;
  CHECK(keel_chan_make(&c, sizeof(char), 3));
  for (char ch = 'a'; ch <= 'c'; ch++) CHECK(keel_chan_send(c, &ch, KEEL_NOWAIT));
  CHECK(keel_chan_close(c));
  char x = 'z';
  printf("5. send after close: %s\n", keel_status_name(keel_chan_send(c, &x, KEEL_NOWAIT)));
  printf("5. receive after close:");
  int rc;
  while ((rc = keel_chan_recv(c, &x, KEEL_FOREVER)) == 0) printf(" '%c'", x);
  printf(", then %s\n", keel_status_name(rc));
  keel_chan_release(c);
  return 0;
}

int main(void) {
  if (scene_many_tasks() || scene_pipeline() || scene_timeout() || scene_ticker() ||
      scene_drain())
    return 1;
  keel_runtime_shutdown();
  return 0;
}
