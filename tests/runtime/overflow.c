/* A stack overflow in a task is reported by name, in a forked child (the
 * report aborts the process: it is a program bug, not an error code). */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt_test.h"

static volatile int sink;
static __attribute__((noinline)) int recurse(int depth) {
  volatile char buf[512];
  buf[0] = (char)depth;
  buf[511] = (char)depth;
  int r = depth > 0 ? recurse(depth + 1) + buf[0] : 0;
  sink = buf[511];
  return r;
}
static void overflow(void *arg) { (void)arg; sink = recurse(1); }

KT_TEST(overflow_names_the_task) {
  int p[2];
  KT_CHECK_EQ(pipe(p), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[1], 2);
    close(p[0]);
    keel_task *h;
    keel_task_options o = {.name = "deep-diver", .stack_size = 32 << 10};
    if (keel_task_spawn(&h, overflow, NULL, &o) == 0) keel_task_join(h, KEEL_FOREVER, NULL);
    _exit(0);  /* not reached when the overflow is caught */
  }
  close(p[1]);
  char buf[4096];
  size_t n = 0;
  ssize_t r;
  while (n < sizeof buf - 1 && (r = read(p[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
  buf[n] = '\0';
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  KT_CHECK(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0));
  const char *at = strstr(buf, "keel: stack overflow in task ");
  KT_CHECK(at != NULL);
  if (at) {   /* the task's id, in decimal, then its name */
    char *end;
    unsigned long long id = strtoull(at + strlen("keel: stack overflow in task "), &end, 10);
    KT_CHECK(id > 0);
    KT_CHECK(strncmp(end, " (deep-diver)", 13) == 0);
  }
  KT_CHECK(strstr(buf, "(deep-diver)") != NULL);
  if (!strstr(buf, "(deep-diver)")) fprintf(stderr, "child said: %s\n", buf);
}

KT_MAIN()
