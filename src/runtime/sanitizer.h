/* sanitizer.h — telling TSan and ASan about context switches.
 *
 * TSan (KEEL_SANITIZE_THREAD): every task is a TSan fiber, created at spawn
 * and destroyed when its block is recycled; each worker's g0 is the thread's
 * own fiber. Switches use flag 0, so TSan sees the switch as a
 * synchronisation between the two fibers (as a mutex hand-off would be) and
 * keeps checking everything else.
 *
 * ASan (KEEL_SANITIZE_ADDRESS): each switch is bracketed by
 * __sanitizer_start_switch_fiber (with the target stack's bounds) and
 * __sanitizer_finish_switch_fiber on the other side; an exiting task passes
 * NULL so its fake stack is freed. A recycled stack is unpoisoned before
 * reuse (frames of its previous task may have left redzones). */
#ifndef KEEL_RUNTIME_SANITIZER_H
#define KEEL_RUNTIME_SANITIZER_H

#include "runtime/internal.h"

#ifdef KEEL_SANITIZE_THREAD
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
void __tsan_set_fiber_name(void *fiber, const char *name);
#endif
#ifdef KEEL_SANITIZE_ADDRESS
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom,
                                    size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save,
                                     const void **bottom_old, size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif

static inline void keel__san_worker_init(keel_worker *w) {
  (void)w;
#ifdef KEEL_SANITIZE_THREAD
  w->tsan_fiber = __tsan_get_current_fiber();
#endif
#ifdef KEEL_SANITIZE_ADDRESS
  pthread_attr_t a;
  void *lo = NULL;
  size_t sz = 0;
  if (pthread_getattr_np(pthread_self(), &a) == 0) {
    pthread_attr_getstack(&a, &lo, &sz);
    pthread_attr_destroy(&a);
  }
  w->g0_stack_bottom = lo;
  w->g0_stack_size = sz;
#endif
}

/* g0 -> task, on g0 before the switch. */
static inline void keel__san_switch_to_task(keel_worker *w, struct keel_task *t) {
  (void)w; (void)t;
#ifdef KEEL_SANITIZE_ADDRESS
  __sanitizer_start_switch_fiber(&w->g0_fake_stack, t->stack_lo, t->stack_size);
#endif
#ifdef KEEL_SANITIZE_THREAD
  __tsan_switch_to_fiber(t->tsan_fiber, 0);
#endif
}

/* Back on g0 after a task switched out. */
static inline void keel__san_resumed_g0(keel_worker *w) {
  (void)w;
#ifdef KEEL_SANITIZE_ADDRESS
  __sanitizer_finish_switch_fiber(w->g0_fake_stack, NULL, NULL);
#endif
}

/* task -> g0, on the task before the switch. */
static inline void keel__san_switch_to_g0(keel_worker *w, struct keel_task *t,
                                          bool exiting) {
  (void)w; (void)t; (void)exiting;
#ifdef KEEL_SANITIZE_ADDRESS
  __sanitizer_start_switch_fiber(exiting ? NULL : &t->asan_fake_stack,
                                 w->g0_stack_bottom, w->g0_stack_size);
#endif
#ifdef KEEL_SANITIZE_THREAD
  __tsan_switch_to_fiber(w->tsan_fiber, 0);
#endif
}

/* task -> task (a direct switch), on the first task before the switch. */
static inline void keel__san_switch_task_to_task(struct keel_task *from,
                                                 struct keel_task *to,
                                                 bool exiting) {
  (void)from; (void)to; (void)exiting;
#ifdef KEEL_SANITIZE_ADDRESS
  __sanitizer_start_switch_fiber(exiting ? NULL : &from->asan_fake_stack,
                                 to->stack_lo, to->stack_size);
#endif
#ifdef KEEL_SANITIZE_THREAD
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

/* On the task, right after it was switched to (first run or resume). */
static inline void keel__san_resumed_task(struct keel_task *t) {
  (void)t;
#ifdef KEEL_SANITIZE_ADDRESS
  __sanitizer_finish_switch_fiber(t->asan_fake_stack, NULL, NULL);
#endif
}

/* TSan fibers are costly to create (about 1 MiB of state each), so a block
 * keeps its fiber across reuse; every switch synchronises (flag 0), so a
 * reused fiber adds no happens-before edge that the g0 hand-off did not
 * already imply. keel__san_task_destroyed runs when the block is unmapped. */
static inline void keel__san_task_created(struct keel_task *t) {
  (void)t;
#ifdef KEEL_SANITIZE_THREAD
  if (!t->tsan_fiber) t->tsan_fiber = __tsan_create_fiber(0);
#endif
#ifdef KEEL_SANITIZE_ADDRESS
  t->asan_fake_stack = NULL;
  __asan_unpoison_memory_region(t->stack_lo, t->stack_size);
#endif
}

static inline void keel__san_task_destroyed(struct keel_task *t) {
  (void)t;
#ifdef KEEL_SANITIZE_THREAD
  if (t->tsan_fiber) __tsan_destroy_fiber(t->tsan_fiber);
  t->tsan_fiber = NULL;
#endif
}

#endif
