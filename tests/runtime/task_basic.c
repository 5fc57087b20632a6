/* Spawn, join, detach, yield, ids, names, counts and the error codes. */
#include <pthread.h>

#include "keel/task.h"
#include "rt_test.h"

static void set_flag(void *arg) { atomic_store((_Atomic int *)arg, 1); }

KT_TEST(spawn_null_fn_is_einval) {
  keel_task *h = NULL;
  KT_CHECK_EQ(keel_task_spawn(&h, NULL, NULL, NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_task_join(NULL, KEEL_FOREVER, NULL), KEEL_EINVAL);
  KT_CHECK_EQ(keel_task_detach(NULL), KEEL_EINVAL);
}

KT_TEST(spawn_join_from_thread) {
  _Atomic int flag = 0;
  keel_task *h;
  KT_CHECK_EQ(keel_task_spawn(&h, set_flag, &flag, NULL), 0);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&flag), 1);
}

KT_TEST(join_twice_is_estate) {
  _Atomic int flag = 0;
  keel_task *h;
  KT_CHECK_EQ(keel_task_spawn(&h, set_flag, &flag, NULL), 0);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), KEEL_ESTATE);
  KT_CHECK_EQ(keel_task_detach(h), KEEL_ESTATE);
}

static void wait_wg(void *arg) {
  keel_waitgroup_wait(arg, KEEL_FOREVER, NULL);
}

KT_TEST(join_timeout_then_join_again) {
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  keel_task *h;
  KT_CHECK_EQ(keel_task_spawn(&h, wait_wg, &wg, NULL), 0);
  KT_CHECK_EQ(keel_task_join(h, keel_deadline_in(2 * KEEL_MILLISECOND), NULL),
              KEEL_ETIMEDOUT);
  keel_cancel c;
  keel_cancel_init(&c);
  keel_cancel_fire(&c, KEEL_ECANCELED);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, &c), KEEL_ECANCELED);
  keel_waitgroup_done(&wg);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
}

KT_TEST(detach_runs_to_end) {
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  keel_task *h;
  KT_CHECK_EQ(keel_task_spawn(&h, rt_wg_done, &wg, NULL), 0);
  KT_CHECK_EQ(keel_task_detach(h), 0);
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL), 0);
  /* handle-less spawn is detached too */
  keel_waitgroup_add(&wg, 1);
  KT_CHECK_EQ(keel_task_spawn(NULL, rt_wg_done, &wg, NULL), 0);
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL), 0);
}

struct idinfo { uint64_t id; const char *name; char buf[32]; };

static void get_id(void *arg) {
  struct idinfo *i = arg;
  i->id = keel_task_id();
  const char *n = keel_task_name();
  if (n) { strncpy(i->buf, n, sizeof i->buf - 1); i->name = i->buf; }
}

KT_TEST(ids_and_names) {
  KT_CHECK_EQ(keel_task_id(), 0);
  KT_CHECK(keel_task_name() == NULL);
  struct idinfo a = {0}, b = {0};
  keel_task *ha, *hb;
  keel_task_options o = {.name = "worker-a"};
  KT_CHECK_EQ(keel_task_spawn(&ha, get_id, &a, &o), 0);
  KT_CHECK_EQ(keel_task_spawn(&hb, get_id, &b, NULL), 0);
  KT_CHECK_EQ(keel_task_join(ha, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(keel_task_join(hb, KEEL_FOREVER, NULL), 0);
  KT_CHECK(a.id != 0 && b.id != 0 && a.id != b.id);
  KT_CHECK_STR(a.name, "worker-a");
  KT_CHECK(b.name == NULL);
}

/* Yield fairness: two tasks on one worker alternate strictly-ish. */
struct fair { _Atomic int turns[2]; _Atomic int stop; int me; };
static struct fair fair;
static void yielder(void *arg) {
  int me = (int)(intptr_t)arg;
  for (int i = 0; i < 1000; i++) {
    atomic_fetch_add(&fair.turns[me], 1);
    keel_task_yield();
  }
}

KT_TEST(yield_lets_others_run) {
  keel_task *h[2];
  for (int i = 0; i < 2; i++)
    KT_CHECK_EQ(keel_task_spawn(&h[i], yielder, (void *)(intptr_t)i, NULL), 0);
  for (int i = 0; i < 2; i++) KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&fair.turns[0]), 1000);
  KT_CHECK_EQ(atomic_load(&fair.turns[1]), 1000);
  keel_task_yield();  /* a no-op on a thread */
}

static void spawner(void *arg) {
  keel_waitgroup *wg = arg;
  for (int i = 0; i < 100; i++) {
    keel_waitgroup_add(wg, 1);
    if (keel_task_spawn(NULL, rt_wg_done, wg, NULL) != 0)
      keel_waitgroup_done(wg);
  }
  keel_waitgroup_done(wg);
}

/* On one worker, yielding is round-robin: two yielding tasks alternate, so
 * neither ever gets more than a couple of turns ahead. */
static _Atomic int rr_turns[2], rr_max_lead, rr_started;
static keel_waitgroup rr_go;
static void rr_yielder(void *arg) {
  int me = (int)(intptr_t)arg;
  keel_waitgroup_wait(&rr_go, KEEL_FOREVER, NULL);
  /* Both are runnable before counting (the waker may be slow to wake the
   * second one: that is the waker's thread, not the scheduler). */
  atomic_fetch_add(&rr_started, 1);
  while (atomic_load(&rr_started) < 2) keel_task_yield();
  for (int i = 0; i < 2000; i++) {
    int mine = atomic_fetch_add(&rr_turns[me], 1) + 1;
    int lead = mine - atomic_load(&rr_turns[1 - me]);
    int cur = atomic_load(&rr_max_lead);
    while (lead > cur && !atomic_compare_exchange_weak(&rr_max_lead, &cur, lead)) {}
    keel_task_yield();
  }
}

KT_TEST(yield_is_round_robin_on_one_worker) {
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);
  keel_runtime_options o = {.workers = 1};
  KT_CHECK_EQ(keel_runtime_start(&o), 0);
  keel_task *h[2];
  keel_waitgroup_init(&rr_go);
  keel_waitgroup_add(&rr_go, 1);
  for (int i = 0; i < 2; i++)
    KT_CHECK_EQ(keel_task_spawn(&h[i], rr_yielder, (void *)(intptr_t)i, NULL), 0);
  keel_waitgroup_done(&rr_go);
  for (int i = 0; i < 2; i++) KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(atomic_load(&rr_turns[0]), 2000);
  KT_CHECK_EQ(atomic_load(&rr_turns[1]), 2000);
  if (atomic_load(&rr_max_lead) > 2) fprintf(stderr, "  max lead %d\n", atomic_load(&rr_max_lead));
  KT_CHECK(atomic_load(&rr_max_lead) <= 2);
  KT_CHECK_EQ(keel_runtime_shutdown(), 0);  /* the next test starts afresh */
}

KT_TEST(many_tasks_spawning_tasks) {
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  int n = KT_SANITIZED() ? 20 : 200;
  for (int i = 0; i < n; i++) {
    keel_waitgroup_add(&wg, 1);
    KT_CHECK_EQ(keel_task_spawn(NULL, spawner, &wg, NULL), 0);
  }
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_FOREVER, NULL), 0);
}

/* Many distinct stack sizes (more than the pool's size classes: the rest
 * get mappings of their own) and a big one that is really usable. */
static void touch_stack(void *arg) {
  size_t n = (size_t)(uintptr_t)arg;
  volatile char buf[n];  /* n bytes of this task's stack */
  for (size_t i = 0; i < n; i += 512) buf[i] = (char)i;
  (void)buf[0];
}

KT_TEST(stack_sizes) {
  keel_task *h[24];
  for (int i = 0; i < 24; i++) {
    keel_task_options o = {.stack_size = (size_t)(16 + 4 * i) << 10};
    KT_CHECK_EQ(keel_task_spawn(&h[i], touch_stack, (void *)(uintptr_t)(8 << 10), &o), 0);
  }
  for (int i = 0; i < 24; i++) KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
  keel_task_options big = {.stack_size = 8u << 20};
  KT_CHECK_EQ(keel_task_spawn(&h[0], touch_stack, (void *)(uintptr_t)(60 << 10), &big), 0);
  KT_CHECK_EQ(keel_task_join(h[0], KEEL_FOREVER, NULL), 0);
}

KT_TEST(waitgroup_negative_is_einval) {
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  KT_CHECK_EQ(keel_waitgroup_done(&wg), KEEL_EINVAL);
  KT_CHECK_EQ(keel_waitgroup_add(&wg, 2), 0);
  KT_CHECK_EQ(keel_waitgroup_add(&wg, -3), KEEL_EINVAL);
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_NOWAIT, NULL), KEEL_ETIMEDOUT);
  KT_CHECK_EQ(keel_waitgroup_add(&wg, -2), 0);
  KT_CHECK_EQ(keel_waitgroup_wait(&wg, KEEL_NOWAIT, NULL), 0);
}

KT_TEST(task_count_returns_to_zero) {
  keel_waitgroup wg;
  keel_waitgroup_init(&wg);
  keel_waitgroup_add(&wg, 1);
  keel_task *h[10];
  for (int i = 0; i < 10; i++) KT_CHECK_EQ(keel_task_spawn(&h[i], wait_wg, &wg, NULL), 0);
  KT_CHECK_EQ(keel_task_count(), 10);
  keel_waitgroup_done(&wg);
  for (int i = 0; i < 10; i++) KT_CHECK_EQ(keel_task_join(h[i], KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(keel_task_count(), 0);
}

static void try_shutdown(void *arg) { *(int *)arg = keel_runtime_shutdown(); }

KT_TEST(shutdown_from_task_is_estate) {
  int rc = 1;
  keel_task *h;
  KT_CHECK_EQ(keel_task_spawn(&h, try_shutdown, &rc, NULL), 0);
  KT_CHECK_EQ(keel_task_join(h, KEEL_FOREVER, NULL), 0);
  KT_CHECK_EQ(rc, KEEL_ESTATE);
}

KT_MAIN()
