#define _GNU_SOURCE
/* ctx-aware blocking calls: each completes, or returns the context's code
 * when it is canceled or its deadline passes, from tasks and threads. */
#include <fcntl.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <unistd.h>

#include "keel/ctx.h"
#include "keel/task.h"
#include "keel_test.h"

static keel_ctx *new_cancel(void) {
  keel_ctx *c = NULL;
  if (keel_ctx_with_cancel(keel_ctx_background(), &c) != 0) abort();
  return c;
}

static keel_ctx *new_timeout(int64_t d) {
  keel_ctx *c = NULL;
  if (keel_ctx_with_timeout(keel_ctx_background(), d, &c) != 0) abort();
  return c;
}

KT_TEST(recv_send_complete) {
  keel_ctx *c = new_cancel();
  keel_chan *ch;
  KT_CHECK_EQ(keel_chan_make(&ch, sizeof(int), 1), 0);
  int v = 7, got = 0;
  KT_CHECK_EQ(keel_ctx_send(c, ch, &v), 0);
  KT_CHECK_EQ(keel_ctx_recv(c, ch, &got), 0);
  KT_CHECK_EQ(got, 7);
  keel_chan_close(ch);
  KT_CHECK_EQ(keel_ctx_recv(c, ch, &got), KEEL_ECLOSED);
  KT_CHECK_EQ(keel_ctx_send(c, ch, &v), KEEL_ECLOSED);
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_ctx_recv(c, ch, &got), KEEL_ECANCELED);
  KT_CHECK_EQ(keel_ctx_send(c, ch, &v), KEEL_ECANCELED);
  KT_CHECK_EQ(keel_ctx_recv(keel_ctx_background(), ch, &got), KEEL_ECLOSED);
  keel_chan_release(ch);
  keel_ctx_release(c);
}

KT_TEST(recv_send_hit_the_deadline) {
  keel_ctx *c = new_timeout(5 * KEEL_MILLISECOND);
  keel_chan *ch;
  KT_CHECK_EQ(keel_chan_make(&ch, sizeof(int), 0), 0);
  int v = 1;
  KT_CHECK_EQ(keel_ctx_recv(c, ch, &v), KEEL_EDEADLINE);
  KT_CHECK_EQ(keel_ctx_send(c, ch, &v), KEEL_EDEADLINE);
  keel_ctx_release(c);
  /* a deadline already past before the timer could fire */
  keel_ctx *p = new_cancel(), *d;
  KT_CHECK_EQ(keel_ctx_with_deadline(p, keel_now() - 1, &d), 0);
  KT_CHECK_EQ(keel_ctx_recv(d, ch, &v), KEEL_EDEADLINE);
  keel_ctx_release(d);
  keel_ctx_release(p);
  keel_chan_release(ch);
}

/* A task blocked in a helper; main cancels it. */
typedef struct blocked {
  keel_ctx *ctx;
  keel_chan *ch, *send_ch;   /* only receivers / only senders */
  int which;
  keel_waitgroup *wg;
  keel_chan *started;
  atomic_int rc;
} blocked;

static void block_in_helper(void *arg) {
  blocked *b = arg;
  int v = 0, rc = 0;
  keel_chan_send(b->started, NULL, KEEL_FOREVER);
  switch (b->which) {
    case 0: rc = keel_ctx_recv(b->ctx, b->ch, &v); break;
    case 1: rc = keel_ctx_send(b->ctx, b->send_ch, &v); break;
    case 2: {
      keel_select_case cs[2] = {{.chan = b->ch, .op = KEEL_SELECT_RECV, .elem = &v},
                                {.chan = NULL, .op = KEEL_SELECT_RECV}};
      rc = keel_ctx_select(b->ctx, cs, 2);
      break;
    }
    case 3: rc = keel_ctx_sleep(b->ctx, KEEL_HOUR); break;
    case 4: rc = keel_ctx_waitgroup_wait(b->ctx, b->wg); break;
  }
  atomic_store(&b->rc, rc);
}

KT_TEST(blocked_helpers_return_on_cancel_and_deadline) {
  keel_chan *ch, *send_ch, *started;
  KT_CHECK_EQ(keel_chan_make(&ch, sizeof(int), 0), 0);
  KT_CHECK_EQ(keel_chan_make(&send_ch, sizeof(int), 0), 0);
  KT_CHECK_EQ(keel_chan_make(&started, 0, 16), 0);
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  for (int round = 0; round < 2; round++) {
    keel_ctx *c = round == 0 ? new_cancel() : new_timeout(10 * KEEL_MILLISECOND);
    blocked b[5];
    keel_task *t[5];
    for (int i = 0; i < 5; i++) {
      b[i] = (blocked){.ctx = c, .ch = ch, .send_ch = send_ch, .which = i, .wg = &wg, .started = started};
      atomic_init(&b[i].rc, 1);
      KT_CHECK_EQ(keel_task_spawn(&t[i], block_in_helper, &b[i], NULL), 0);
    }
    for (int i = 0; i < 5; i++)
      KT_CHECK_EQ(keel_chan_recv(started, NULL, KEEL_FOREVER), 0);
    if (round == 0) keel_ctx_cancel(c);
    for (int i = 0; i < 5; i++) KT_CHECK_EQ(keel_task_join(t[i], KEEL_FOREVER, NULL), 0);
    int want = round == 0 ? KEEL_ECANCELED : KEEL_EDEADLINE;
    for (int i = 0; i < 5; i++) KT_CHECK_EQ(atomic_load(&b[i].rc), want);
    keel_ctx_release(c);
  }
  keel_waitgroup_done(&wg);
  keel_chan_release(ch);
  keel_chan_release(send_ch);
  keel_chan_release(started);
}

KT_TEST(select_picks_a_ready_case) {
  keel_ctx *c = new_cancel();
  keel_chan *a, *b;
  KT_CHECK_EQ(keel_chan_make(&a, sizeof(int), 1), 0);
  KT_CHECK_EQ(keel_chan_make(&b, sizeof(int), 1), 0);
  int v = 5, got = 0;
  keel_chan_send(b, &v, KEEL_FOREVER);
  keel_select_case cs[2] = {{.chan = a, .op = KEEL_SELECT_RECV, .elem = &got},
                            {.chan = b, .op = KEEL_SELECT_RECV, .elem = &got}};
  KT_CHECK_EQ(keel_ctx_select(c, cs, 2), 1);
  KT_CHECK_EQ(cs[1].result, 0);
  KT_CHECK_EQ(got, 5);
  keel_chan_close(a);
  KT_CHECK_EQ(keel_ctx_select(c, cs, 2), 0);
  KT_CHECK_EQ(cs[0].result, KEEL_ECLOSED);
  /* many cases: more than fit on the stack */
  keel_select_case many[40];
  for (int i = 0; i < 40; i++)
    many[i] = (keel_select_case){.chan = i == 33 ? a : NULL, .op = KEEL_SELECT_RECV};
  KT_CHECK_EQ(keel_ctx_select(c, many, 40), 33);
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_ctx_select(c, cs, 2), KEEL_ECANCELED);
  keel_ctx_release(c);
  keel_chan_release(a);
  keel_chan_release(b);
}

KT_TEST(sleep) {
  KT_CHECK_EQ(keel_ctx_sleep(keel_ctx_background(), KEEL_MILLISECOND), 0);
  KT_CHECK_EQ(keel_ctx_sleep(keel_ctx_background(), 0), 0);
  keel_ctx *c = new_timeout(2 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_ctx_sleep(c, KEEL_HOUR), KEEL_EDEADLINE);
  keel_ctx_release(c);
  c = new_timeout(KEEL_HOUR);
  KT_CHECK_EQ(keel_ctx_sleep(c, KEEL_MILLISECOND), 0);
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_ctx_sleep(c, KEEL_MILLISECOND), KEEL_ECANCELED);
  keel_ctx_release(c);
}

static void wait_on_chan(void *arg) { keel_chan_recv(arg, NULL, KEEL_FOREVER); }

KT_TEST(join_and_waitgroup) {
  keel_chan *gate;
  KT_CHECK_EQ(keel_chan_make(&gate, 0, 0), 0);
  keel_task *t;
  KT_CHECK_EQ(keel_task_spawn(&t, wait_on_chan, gate, NULL), 0);
  keel_ctx *c = new_timeout(2 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_ctx_join(c, t), KEEL_EDEADLINE);   /* handle stays valid */
  keel_ctx_release(c);
  c = new_cancel();
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_ctx_join(c, t), KEEL_ECANCELED);
  keel_ctx_release(c);
  keel_chan_close(gate);
  KT_CHECK_EQ(keel_ctx_join(keel_ctx_background(), t), 0);

  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  c = new_timeout(2 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_ctx_waitgroup_wait(c, &wg), KEEL_EDEADLINE);
  keel_ctx_release(c);
  keel_waitgroup_done(&wg);
  c = new_cancel();
  KT_CHECK_EQ(keel_ctx_waitgroup_wait(c, &wg), 0);
  keel_ctx_release(c);
  keel_chan_release(gate);
}

KT_TEST(fd_wait) {
  int fds[2];
  KT_CHECK_EQ(pipe2(fds, O_NONBLOCK), 0);
  keel_ctx *c = new_timeout(2 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_ctx_fd_wait(c, fds[0], KEEL_FD_READ), KEEL_EDEADLINE);
  keel_ctx_release(c);
  c = new_cancel();
  KT_CHECK_EQ(write(fds[1], "x", 1), 1);
  int rc = keel_ctx_fd_wait(c, fds[0], KEEL_FD_READ);
  KT_CHECK(rc > 0 && (rc & KEEL_FD_READ));
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_ctx_fd_wait(c, fds[0], KEEL_FD_READ), KEEL_ECANCELED);
  keel_ctx_release(c);
  close(fds[0]);
  close(fds[1]);
}

typedef struct offload_job { sem_t go, cleaned; int ran; } offload_job;
static void job_blocks(void *arg) { offload_job *j = arg; sem_wait(&j->go); j->ran = 1; }
static void job_cleanup(void *arg) { sem_post(&((offload_job *)arg)->cleaned); }

KT_TEST(offload) {
  offload_job j;
  sem_init(&j.go, 0, 0);
  sem_init(&j.cleaned, 0, 0);
  j.ran = 0;
  keel_ctx *c = new_timeout(2 * KEEL_MILLISECOND);
  KT_CHECK_EQ(keel_ctx_offload(c, job_blocks, &j, job_cleanup), KEEL_EDEADLINE);
  keel_ctx_release(c);
  sem_post(&j.go);
  sem_wait(&j.cleaned);        /* fn finished on its thread, then cleanup */
  KT_CHECK_EQ(j.ran, 1);
  j.ran = 0;
  sem_post(&j.go);
  c = new_cancel();
  KT_CHECK_EQ(keel_ctx_offload(c, job_blocks, &j, job_cleanup), 0);
  KT_CHECK_EQ(j.ran, 1);
  keel_ctx_cancel(c);
  KT_CHECK_EQ(keel_ctx_offload(c, job_blocks, &j, job_cleanup), KEEL_ECANCELED);
  keel_ctx_release(c);
  sem_destroy(&j.go);
  sem_destroy(&j.cleaned);
}

KT_TEST(zz_runtime_shuts_down) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

KT_MAIN()
