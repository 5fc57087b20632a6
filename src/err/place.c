/* Where an error is made: host, process, thread, task. Cached, because an
 * error is made on hot paths: the host name once per process, the pid once
 * per process (refreshed in a forked child), the thread id once per thread.
 * The task id comes from the runtime when it is linked in: a weak reference
 * keeps this module usable, and linkable, without it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "err/err_internal.h"

extern uint64_t keel_task_id(void) __attribute__((weak));

static char host_name[256];
static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static _Atomic int64_t cached_pid;
static _Thread_local int64_t cached_tid;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void load_host(void) {
  if (gethostname(host_name, sizeof host_name - 1) != 0 || host_name[0] == 0)
    strcpy(host_name, "unknown-host");
  host_name[sizeof host_name - 1] = 0;
}

static void after_fork_child(void) {
  atomic_store_explicit(&cached_pid, (int64_t)getpid(), memory_order_relaxed);
  cached_tid = 0;   /* the forking thread is the child's only thread */
}

static void install_fork_handler(void) {
  pthread_atfork(NULL, NULL, after_fork_child);
}

const char *err_host(void) {
  pthread_once(&host_once, load_host);
  return host_name;
}

int64_t err_pid(void) {
  int64_t p = atomic_load_explicit(&cached_pid, memory_order_relaxed);
  if (p == 0) {
    pthread_once(&fork_once, install_fork_handler);
    p = (int64_t)getpid();
    atomic_store_explicit(&cached_pid, p, memory_order_relaxed);
  }
  return p;
}

int64_t err_tid(void) {
  if (cached_tid == 0) cached_tid = (int64_t)syscall(SYS_gettid);
  return cached_tid;
}

uint64_t err_task(void) {
  return keel_task_id ? keel_task_id() : 0;
}
