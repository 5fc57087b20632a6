/* Hitting vm.max_map_count: spawn fails with KEEL_EMAPLIMIT (not a crash,
 * not KEEL_ENOMEM), nothing is left half-made, and the runtime keeps
 * working. Runs in a forked child that uses up almost every memory map
 * first and forces classic mprotect guard pages (two maps per stack); the
 * limit itself is whatever this machine has, so no root is needed. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keel_test_tasks.h"
#include "rt_test.h"

static long read_long(const char *path) {
  FILE *f = fopen(path, "r");
  long v = 0;
  if (f) { if (fscanf(f, "%ld", &v) != 1) v = 0; fclose(f); }
  return v;
}

static long count_maps(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  long n = 0;
  int c;
  while (f && (c = getc(f)) != EOF) n += c == '\n';
  if (f) fclose(f);
  return n;
}

static keel_waitgroup gate, finished;
static void parked(void *arg) {
  (void)arg;
  keel_waitgroup_wait(&gate, KEEL_FOREVER, NULL);
  keel_waitgroup_done(&finished);
}

/* The child's body: exit code 0 when every check held, else the line
 * (lines are below 255; a sanitizer's own failure exits with 66 or 1). */
static int child(bool sanitized) {
  setenv("KEEL_STACK_GUARD", "mprotect", 1);
  keel_waitgroup_init(&gate);
  keel_waitgroup_init(&finished);
  keel_waitgroup_add(&gate, 1);
  /* Start the runtime and run WARM tasks before eating maps, so that the
   * spawns below first reuse pooled stacks (and, under TSan, their fibers:
   * TSan itself dies when it cannot map memory). A plain thread like this
   * one takes only from the shared pool, not from the workers' private
   * caches; two workers keep at most 2 x 128 blocks there, so the pool
   * holds hundreds whatever the background prefill has done by then. */
  enum { WARM = 1024 };
  keel_runtime_options ro = {.workers = 2};
  if (keel_runtime_start(&ro) != 0) return __LINE__;
  keel_task_options o = {.stack_size = 16 << 10};
  keel_waitgroup_add(&finished, WARM);
  for (int i = 0; i < WARM; i++)
    if (keel_task_spawn(NULL, parked, NULL, &o) != 0) return __LINE__;
  keel_waitgroup_done(&gate);
  if (keel_waitgroup_wait(&finished, KEEL_FOREVER, NULL) != 0) return __LINE__;
  /* A task's block is back in a pool before the task stops counting. */
  if (!kt_tasks_settle(0, 10 * KEEL_SECOND)) return __LINE__;
  keel_waitgroup_init(&gate);
  keel_waitgroup_add(&gate, 1);

  long max = read_long("/proc/sys/vm/max_map_count");
  long room = 40;  /* fewer maps than a new slab of stacks needs */
  long fill = max - count_maps() - room;
  if (sanitized) {
    /* The sanitizers need memory maps of their own at every step (TSan
     * aborts, ASan fails to unmap when the limit is near), so under them
     * only the mprotect-guard path is run: 1,000 tasks more than were pooled,
     * checked for races and memory errors. The limit is tested plain. */
    fill = 0;
  }
  if (fill > 0) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (size_t)fill + 1;
    char *r = mmap(NULL, pages * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) return __LINE__;
    /* Every other page PROT_NONE: each page becomes a map of its own. */
    for (size_t i = 1; i < pages; i += 2)
      if (mprotect(r + i * pg, pg, PROT_NONE) != 0) break;
  }
  long spawned = 0;
  int rc = 0;
  for (;;) {
    keel_waitgroup_add(&finished, 1);
    rc = keel_task_spawn(NULL, parked, NULL, &o);
    if (rc != 0) { keel_waitgroup_add(&finished, -1); break; }
    if (++spawned > 100000) return __LINE__;  /* the limit never came */
    if (sanitized && spawned == WARM + 1000) break;
  }
  if (sanitized) {
    keel_waitgroup_done(&gate);
    if (keel_waitgroup_wait(&finished, KEEL_FOREVER, NULL) != 0) return __LINE__;
    return keel_runtime_shutdown() == 0 ? 0 : __LINE__;
  }
  fprintf(stderr, "  spawn failed after %ld tasks with %s\n", spawned, keel_status_name(rc));
  if (rc != KEEL_EMAPLIMIT) return __LINE__;
  if (spawned < 64) return __LINE__;  /* the pooled stacks were used */
  if ((long)keel_task_count() != spawned) return __LINE__;  /* nothing half-made */
  keel_waitgroup_done(&gate);
  if (keel_waitgroup_wait(&finished, KEEL_FOREVER, NULL) != 0) return __LINE__;
  /* Freed stacks are pooled: spawning works again without new maps. */
  keel_task *h;
  if (keel_task_spawn(&h, parked, NULL, &o) != 0) return __LINE__;
  keel_waitgroup_add(&finished, 1);
  if (keel_task_join(h, KEEL_FOREVER, NULL) != 0) return __LINE__;
  if (keel_runtime_shutdown() != 0) return __LINE__;
  return 0;
}

KT_TEST(map_limit_is_emaplimit) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) _exit(child(KT_SANITIZED()));
  int status = 0;
  KT_CHECK_EQ(waitpid(pid, &status, 0), pid);
  KT_CHECK(WIFEXITED(status));
  if (WEXITSTATUS(status) != 0) fprintf(stderr, "  child failed at line %d\n", WEXITSTATUS(status));
  KT_CHECK_EQ(WEXITSTATUS(status), 0);
}

KT_MAIN()
