/* stack.c — task blocks (stack + task struct), their pools, guard pages and
 * the stack-overflow report.
 *
 * A block is [guard page][stack ...][struct keel_task]: the struct sits at
 * the top, so a fresh task touches one page. Blocks are carved from slabs
 * (up to 64 blocks, MAP_NORESERVE, no huge pages): only touched pages cost
 * memory. The guard page is installed with MADV_GUARD_INSTALL (Linux >= 6.13:
 * no extra memory map, so a million stacks fit in the default
 * vm.max_map_count), for a whole slab in one process_madvise(PIDFD_SELF)
 * call where the kernel allows it (>= 6.15), else page by page; and else with
 * mprotect(PROT_NONE), which splits the slab into two maps per block: then
 * vm.max_map_count bounds the number of stacks, and hitting it is reported
 * as KEEL_EMAPLIMIT. With guard-page advice, slabs are carved from large
 * reservations (KEEL_CHUNK_BYTES), so a burst of spawns costs few mmap calls;
 * with mprotect, each slab is a mapping of its own.
 *
 * Preparing a slab (guards, and faulting in each block's top page, where its
 * header is written) is kernel work, about 4 us per block on a VM: it is done
 * outside pool.lock, by the spawner that ran out and, ahead of it, by idle
 * workers (keel__stack_prefill), so both cores fault pages in parallel.
 *
 * Pools: each size class has a global free array (mutex); each worker also
 * keeps private cache arrays of up to 4 classes (no lock). Blocks
 * are never unmapped while the runtime runs; keel_runtime_shutdown unmaps
 * every slab and reservation.
 *
 * Stack overflow: a SIGSEGV handler on an alternate signal stack (one per
 * worker) checks whether the fault address lies in the running task's guard
 * page; if so it prints "keel: stack overflow in task <id> (<name>)" and
 * aborts. Other faults go to the previous handler (or the default). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "base/decimal.h"
#include "runtime/internal.h"
#include "runtime/sanitizer.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#define KEEL_PIDFD_SELF_THREAD (-10000)  /* <linux/pidfd.h>, Linux >= 6.15 */

#define KEEL_WORKER_CACHES ((int)(sizeof ((keel_worker *)0)->cache / sizeof ((keel_worker *)0)->cache[0]))
#define KEEL_SLAB_BYTES ((size_t)2 << 20)
#define KEEL_SLAB_MAX_BLOCKS 64u
#define KEEL_CHUNK_BYTES ((size_t)64 << 20)
#define KEEL_NCLASSES 16

enum { GUARD_UNKNOWN = 0, GUARD_MADVISE, GUARD_MPROTECT, GUARD_BATCH };

/* A class's free blocks are an array used as a stack (under pool.lock):
 * free[nfree - 1] is the next block handed out. Invariant: cap >= nblocks
 * >= nfree, so returning a block never needs memory (the array grows when
 * a slab is added, where failing is reported). */
typedef struct keel_stack_class {
  size_t block;                 /* whole block size, page multiple */
  struct keel_task **free;
  size_t nfree, cap;
  size_t nblocks;               /* blocks ever carved for this class */
} keel_stack_class;

static struct {
  pthread_mutex_t lock;
  keel_stack_class classes[KEEL_NCLASSES];
  int nclasses;
  void **slabs;                 /* base, size pairs: every mapping made */
  size_t nslabs, cap;
  char *chunk_next, *chunk_end; /* the reservation slabs are carved from */
  _Atomic int guard_mode;       /* GUARD_* */
  keel_stack_class *hot;        /* the class a spawn burst is growing */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t page_size_cached;

#define KEEL_PREFILL_AHEAD 1024  /* (see keel__stack_prefill) */

/* Free-array operations (under pool.lock). A freed block goes on top, so
 * it is reused first (its pages are touched, its sanitizer fiber made); a
 * fresh slab goes to the bottom, used only when no freed block is left. */
static void free_push_n(keel_stack_class *cls, struct keel_task *const *t, size_t n) {
  memcpy(cls->free + cls->nfree, t, n * sizeof *t);
  cls->nfree += n;
}

/* Takes up to n blocks off the top into out; returns how many. */
static size_t free_pop_n(keel_stack_class *cls, struct keel_task **out, size_t n) {
  if (n > cls->nfree) n = cls->nfree;
  cls->nfree -= n;
  memcpy(out, cls->free + cls->nfree, n * sizeof *out);
  return n;
}

size_t keel__page_size(void) {
  if (!page_size_cached) page_size_cached = (size_t)sysconf(_SC_PAGESIZE);
  return page_size_cached;
}

#define TASK_STRUCT_SIZE ((sizeof(struct keel_task) + 63) & ~(size_t)63)

static size_t block_size_for(size_t stack_size) {
  size_t pg = keel__page_size();
  size_t b = pg + stack_size + TASK_STRUCT_SIZE;
  return (b + pg - 1) & ~(pg - 1);
}

/* ENOMEM from mmap/mprotect: the map count limit, or real memory? */
static int map_error(int err) {
  if (err != ENOMEM) return KEEL_ESYS;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  long max = 0;
  if (f) {
    if (fscanf(f, "%ld", &max) != 1) max = 0;
    fclose(f);
  }
  long count = 0;
  f = fopen("/proc/self/maps", "r");
  if (f) {
    int c;
    while ((c = getc(f)) != EOF) count += c == '\n';
    fclose(f);
  }
  if (max > 0 && count >= max - 64) return KEEL_EMAPLIMIT;
  return KEEL_ENOMEM;
}

static struct keel_task *block_task(char *base, size_t block) {
  return (struct keel_task *)(base + block - TASK_STRUCT_SIZE);
}

static long guard_batch(struct iovec *iov, size_t n) {
  return syscall(SYS_process_madvise, KEEL_PIDFD_SELF_THREAD, iov, n,
                 MADV_GUARD_INSTALL, 0);
}

/* True when the kernel refuses to read the page at p: it really is a guard.
 * qemu-user answers madvise with success and installs nothing. */
static bool guard_faults(const char *p) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  bool faults = write(fds[1], p, 1) < 0 && errno == EFAULT;
  close(fds[0]);
  close(fds[1]);
  return faults;
}

/* Decides the guard mechanism once (under pool.lock, before any slab). */
static void guard_mode_init_locked(void) {
  if (atomic_load_explicit(&pool.guard_mode, memory_order_relaxed) != GUARD_UNKNOWN) return;
  /* KEEL_STACK_GUARD=mprotect forces classic guard pages (two maps per
   * stack), e.g. to exercise the vm.max_map_count limit on new kernels;
   * KEEL_STACK_GUARD=madvise the page-by-page advice. */
  const char *g = getenv("KEEL_STACK_GUARD");
  int mode = GUARD_MPROTECT;
  if (!(g && strcmp(g, "mprotect") == 0)) {
    /* Probe MADV_GUARD_INSTALL on a scratch page, then the batched call. */
    size_t pg = keel__page_size();
    char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      if (madvise(p, pg, MADV_GUARD_INSTALL) == 0 && guard_faults(p)) {
        mode = GUARD_MADVISE;
        struct iovec iov[2] = {{p + pg, pg}, {p + 3 * pg, pg}};
        if (!(g && strcmp(g, "madvise") == 0) && guard_batch(iov, 2) == (long)(2 * pg) &&
            guard_faults(p + pg))
          mode = GUARD_BATCH;
      }
      munmap(p, 4 * pg);
    }
  }
  atomic_store_explicit(&pool.guard_mode, mode, memory_order_relaxed);
}

/* Installs the guard page of each of the n blocks at base. 0 or KEEL_E*. */
static int install_guards(char *base, size_t block, size_t n) {
  size_t pg = keel__page_size();
  int mode = atomic_load_explicit(&pool.guard_mode, memory_order_relaxed);
  size_t i = 0;
  if (mode == GUARD_BATCH) {
    struct iovec iov[KEEL_SLAB_MAX_BLOCKS];
    for (size_t k = 0; k < n; k++) {
      iov[k].iov_base = base + k * block;
      iov[k].iov_len = pg;
    }
    long r = guard_batch(iov, n);
    if (r == (long)(n * pg)) return 0;
    if (r >= 0) {
      i = (size_t)r / pg;  /* partly done: the rest page by page */
    } else if (errno == EINVAL || errno == ENOSYS || errno == EPERM || errno == EBADF) {
      atomic_store_explicit(&pool.guard_mode, GUARD_MADVISE, memory_order_relaxed);
    }
    mode = GUARD_MADVISE;
  }
  for (; i < n; i++) {
    char *b = base + i * block;
    int rc = mode == GUARD_MPROTECT ? mprotect(b, pg, PROT_NONE)
                                    : madvise(b, pg, MADV_GUARD_INSTALL);
    if (rc != 0) {
      int e = map_error(errno);
      return e == KEEL_ESYS ? KEEL_ENOMEM : e;
    }
  }
  return 0;
}

/* Records a mapping for keel__stacks_release_all (under pool.lock). */
static int record_map(char *base, size_t len) {
  if (pool.nslabs + 1 > pool.cap) {
    size_t cap = pool.cap ? pool.cap * 2 : 256;
    void **s = realloc(pool.slabs, cap * 2 * sizeof *s);
    if (!s) return KEEL_ENOMEM;
    pool.slabs = s;
    pool.cap = cap;
  }
  pool.slabs[2 * pool.nslabs] = base;
  pool.slabs[2 * pool.nslabs + 1] = (void *)len;
  pool.nslabs++;
  return 0;
}

static char *map_noreserve(size_t len) {
  char *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) return NULL;
#ifdef MADV_NOHUGEPAGE
  madvise(base, len, MADV_NOHUGEPAGE);
#endif
  return base;
}

/* Address room for a slab of len bytes (under pool.lock): carved from the
 * current reservation with guard-page advice, else a mapping of its own.
 * *own tells which (an own mapping is unmapped if preparing it fails). */
static int slab_room(size_t len, char **out, bool *own) {
  int mode = atomic_load_explicit(&pool.guard_mode, memory_order_relaxed);
  *own = mode == GUARD_MPROTECT || len > KEEL_CHUNK_BYTES / 4;
  if (*own) {
    char *base = map_noreserve(len);
    if (!base) return map_error(errno);
    *out = base;
    return 0;
  }
  if ((size_t)(pool.chunk_end - pool.chunk_next) < len) {
    char *c = map_noreserve(KEEL_CHUNK_BYTES);
    if (!c) return map_error(errno);
    int rc = record_map(c, KEEL_CHUNK_BYTES);
    if (rc) { munmap(c, KEEL_CHUNK_BYTES); return rc; }
    pool.chunk_next = c;
    pool.chunk_end = c + KEEL_CHUNK_BYTES;
  }
  *out = pool.chunk_next;
  pool.chunk_next += len;
  return 0;
}

/* Prepares the n blocks of a slab at base (guard pages, then the block
 * headers, whose writes fault in each block's top page) and lists them in
 * out, the first block last (handed out first). No lock held.
 *
 * Plain write faults, not MADV_POPULATE_WRITE ahead: populate drains the
 * per-CPU LRU batch after every range, and a range here is one page, so
 * both cores would take the lruvec lock once per page (measured slower;
 * docs/runtime.md, "The cold million-task round"). */
static int slab_prepare(keel_stack_class *cls, char *base, size_t n,
                        struct keel_task **out) {
  size_t pg = keel__page_size();
  size_t block = cls->block;
  int rc = install_guards(base, block, n);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    char *b = base + i * block;
    struct keel_task *t = block_task(b, block);
    t->map_size = block;
    t->cls = cls;
    t->stack_lo = b + pg;
    t->stack_size = block - pg - TASK_STRUCT_SIZE;
    out[n - 1 - i] = t;
  }
  return 0;
}

/* Room in cls->free for want blocks (under pool.lock). */
static bool free_reserve(keel_stack_class *cls, size_t want) {
  if (want <= cls->cap) return true;
  size_t cap = cls->cap ? cls->cap : 256;
  while (cap < want) cap *= 2;
  struct keel_task **f = realloc(cls->free, cap * sizeof *f);
  if (!f) return false;
  cls->free = f;
  cls->cap = cap;
  return true;
}

/* Adds a slab to class cls. Called and returns with pool.lock held, but
 * drops it while the slab is prepared, so that two threads (a spawner and an
 * idle worker prefilling) prepare slabs in parallel. */
static int slab_grow(keel_stack_class *cls) {
  guard_mode_init_locked();
  size_t block = cls->block;
  size_t n = KEEL_SLAB_BYTES / block;
  if (n < 1) n = 1;
  if (n > KEEL_SLAB_MAX_BLOCKS) n = KEEL_SLAB_MAX_BLOCKS;
  size_t len = n * block;
  char *base = NULL;
  bool own = false;
  int rc = slab_room(len, &base, &own);
  if (rc) return rc;
  struct keel_task *fresh[KEEL_SLAB_MAX_BLOCKS];
  pthread_mutex_unlock(&pool.lock);
  rc = slab_prepare(cls, base, n, fresh);
  pthread_mutex_lock(&pool.lock);
  if (!rc && !free_reserve(cls, cls->nblocks + n)) rc = KEEL_ENOMEM;
  /* Nothing half-made: an own mapping is recorded only once prepared (else
   * unmapped); carved room that failed is simply left unused. */
  if (own && (rc || (rc = record_map(base, len)) != 0)) munmap(base, len);
  if (rc) return rc;
  /* Under the freed blocks. Few to move: a class grows when it runs out
   * (or, for prefill, below KEEL_PREFILL_AHEAD), plus what was freed while
   * the slab was being prepared. */
  memmove(cls->free + n, cls->free, cls->nfree * sizeof *cls->free);
  memcpy(cls->free, fresh, n * sizeof *fresh);
  cls->nfree += n;
  cls->nblocks += n;
  return 0;
}

/* Prefill: when a spawn has to grow a class (a burst of spawns), it wakes
 * an idle worker, and idle workers prepare slabs of that class ahead of
 * demand, up to KEEL_PREFILL_AHEAD free blocks (4 MiB of touched pages at
 * most are left over when the burst ends), in parallel with the spawner. */
static _Atomic int prefill_wanted;

bool keel__stack_prefill_pending(void) {
  return atomic_load_explicit(&prefill_wanted, memory_order_relaxed) != 0;
}

bool keel__stack_prefill(void) {
  if (!atomic_load_explicit(&prefill_wanted, memory_order_relaxed)) return false;
  pthread_mutex_lock(&pool.lock);
  keel_stack_class *cls = pool.hot;
  bool grew = false;
  if (!cls || cls->nfree >= KEEL_PREFILL_AHEAD) {
    atomic_store_explicit(&prefill_wanted, 0, memory_order_relaxed);
  } else {
    grew = slab_grow(cls) == 0;
    if (!grew) atomic_store_explicit(&prefill_wanted, 0, memory_order_relaxed);
  }
  pthread_mutex_unlock(&pool.lock);
  return grew;
}

static keel_stack_class *class_for(size_t block) {
  for (int i = 0; i < pool.nclasses; i++)
    if (pool.classes[i].block == block) return &pool.classes[i];
  if (pool.nclasses == KEEL_NCLASSES) return NULL;
  keel_stack_class *c = &pool.classes[pool.nclasses++];
  *c = (keel_stack_class){.block = block};
  return c;
}

/* Blocks of a size beyond the class table get a mapping of their own;
 * called under pool.lock. */
static int alloc_single(size_t block, struct keel_task **out) {
  size_t pg = keel__page_size();
  char *base = mmap(NULL, block, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (base == MAP_FAILED) return map_error(errno);
  guard_mode_init_locked();
  int mode = atomic_load_explicit(&pool.guard_mode, memory_order_relaxed);
  if ((mode == GUARD_MPROTECT || madvise(base, pg, MADV_GUARD_INSTALL) != 0) &&
      mprotect(base, pg, PROT_NONE) != 0) {
    int e = map_error(errno);
    munmap(base, block);
    return e == KEEL_ESYS ? KEEL_ENOMEM : e;
  }
  struct keel_task *t = block_task(base, block);
  t->map_size = block;
  t->cls = NULL;
  t->stack_lo = base + pg;
  t->stack_size = block - pg - TASK_STRUCT_SIZE;
  *out = t;
  return 0;
}

static struct keel_block_cache *cache_slot(keel_worker *w, keel_stack_class *cls) {
  return &w->cache[(cls - pool.classes) % KEEL_WORKER_CACHES];
}

/* Takes the top block of a worker's (non-empty) cache (no lock: its worker
 * only), prefetching the one the next spawn will take. */
static struct keel_task *cache_pop(struct keel_block_cache *c) {
  struct keel_task *t = c->blocks[--c->n];
  if (c->n) __builtin_prefetch(c->blocks[c->n - 1], 1);
  return t;
}

/* Returns a cache's blocks to their class (under pool.lock). */
static void cache_flush_locked(struct keel_block_cache *c) {
  free_push_n(c->cls, c->blocks, c->n);
  c->n = 0;
}

int keel__task_alloc(size_t stack_size, struct keel_task **out) {
  size_t block = block_size_for(stack_size);
  keel_worker *w = keel__worker_current();
  if (w) {
    for (int i = 0; i < KEEL_WORKER_CACHES; i++) {
      struct keel_block_cache *c = &w->cache[i];
      if (c->n && c->cls->block == block) {
        *out = cache_pop(c);
        return 0;
      }
    }
  }
  pthread_mutex_lock(&pool.lock);
  keel_stack_class *cls = class_for(block);
  if (!cls) {
    int rc = alloc_single(block, out);
    pthread_mutex_unlock(&pool.lock);
    return rc;
  }
  bool kicked = false;
  while (!cls->nfree) {  /* (another thread may take what we grew) */
    /* A burst: have an idle worker prepare slabs while we prepare one. */
    pool.hot = cls;
    if (!atomic_exchange_explicit(&prefill_wanted, 1, memory_order_relaxed) &&
        !kicked) {
      kicked = true;
      pthread_mutex_unlock(&pool.lock);  /* (no lock nests pool.lock) */
      keel__sched_wake_idle();
      pthread_mutex_lock(&pool.lock);
      continue;
    }
    int rc = slab_grow(cls);
    if (rc) { pthread_mutex_unlock(&pool.lock); return rc; }
  }
  struct keel_task *t;
  free_pop_n(cls, &t, 1);
  /* Refill the worker's cache of this class with a few more. */
  if (w) {
    struct keel_block_cache *c = cache_slot(w, cls);
    if (c->cls != cls) {
      if (c->cls) cache_flush_locked(c);
      c->cls = cls;
    }
    c->n = (uint32_t)free_pop_n(cls, c->blocks, 32);
    if (c->n) __builtin_prefetch(c->blocks[c->n - 1], 1);
  }
  pthread_mutex_unlock(&pool.lock);
  *out = t;
  return 0;
}

void keel__task_free_block(struct keel_task *t) {
  if (!t->cls) {
    keel__san_task_destroyed(t);
    munmap((char *)t + TASK_STRUCT_SIZE - t->map_size, t->map_size);
    return;
  }
  keel_worker *w = keel__worker_current();
  struct keel_block_cache *c = w ? cache_slot(w, t->cls) : NULL;
  if (c && !c->cls) c->cls = t->cls;  /* a free slot: this class takes it */
  if (c && c->cls == t->cls && c->n < KEEL_WORKER_CACHE_MAX) {
    c->blocks[c->n++] = t;
    return;
  }
  pthread_mutex_lock(&pool.lock);
  free_push_n(t->cls, &t, 1);
  if (c && c->cls == t->cls) {
    /* Give half the worker's cache back so other workers can use it. */
    uint32_t keep = KEEL_WORKER_CACHE_MAX / 2;
    free_push_n(c->cls, c->blocks + keep, c->n - keep);
    c->n = keep;
  }
  pthread_mutex_unlock(&pool.lock);
}

void keel__stack_worker_drop(keel_worker *w) {
  pthread_mutex_lock(&pool.lock);
  for (int i = 0; i < KEEL_WORKER_CACHES; i++) {
    if (w->cache[i].cls) cache_flush_locked(&w->cache[i]);
    w->cache[i].cls = NULL;
  }
  pthread_mutex_unlock(&pool.lock);
}

void keel__stacks_release_all(void) {
  pthread_mutex_lock(&pool.lock);
#if defined(KEEL_SANITIZE_THREAD) || defined(KEEL_SANITIZE_ADDRESS)
  /* Every task has finished: all blocks are on the class free lists. */
  for (int i = 0; i < pool.nclasses; i++)
    for (size_t k = 0; k < pool.classes[i].nfree; k++)
      keel__san_task_destroyed(pool.classes[i].free[k]);
#endif
  for (int i = 0; i < pool.nclasses; i++) free(pool.classes[i].free);
  for (size_t i = 0; i < pool.nslabs; i++)
    munmap(pool.slabs[2 * i], (size_t)pool.slabs[2 * i + 1]);
  free(pool.slabs);
  pool.slabs = NULL;
  pool.nslabs = pool.cap = 0;
  pool.chunk_next = pool.chunk_end = NULL;
  pool.nclasses = 0;
  pool.hot = NULL;
  atomic_store_explicit(&prefill_wanted, 0, memory_order_relaxed);
  pthread_mutex_unlock(&pool.lock);
}

/* ---- stack overflow ------------------------------------------------------------ */

static struct sigaction old_segv, old_bus;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
#define ALTSTACK_SIZE ((size_t)64 << 10)

static void put_str(char *buf, size_t *n, size_t cap, const char *s) {
  while (*s && *n < cap) buf[(*n)++] = *s++;
}

static void put_u64(char *buf, size_t *n, size_t cap, uint64_t v) {
  char tmp[KEEL__DECIMAL_MAX];
  size_t len = keel__decimal(tmp, v);
  for (size_t k = 0; k < len && *n < cap; k++) buf[(*n)++] = tmp[k];
}

static void segv_handler(int sig, siginfo_t *si, void *uc) {
  struct keel_task *t = keel__task_current_raw();
  if (t) {
    char *addr = si->si_addr;
    char *guard_lo = t->stack_lo - keel__page_size();
    if (addr >= guard_lo && addr < t->stack_lo) {
      char msg[160];
      size_t n = 0;
      put_str(msg, &n, sizeof msg, "keel: stack overflow in task ");
      put_u64(msg, &n, sizeof msg, t->id);
      put_str(msg, &n, sizeof msg, " (");
      put_str(msg, &n, sizeof msg, t->name[0] ? t->name : "unnamed");
      put_str(msg, &n, sizeof msg, ")\n");
      ssize_t wr = write(2, msg, n);
      (void)wr;
      signal(SIGABRT, SIG_DFL);
      abort();
    }
  }
  struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
  if (old->sa_flags & SA_SIGINFO) {
    if (old->sa_sigaction) { old->sa_sigaction(sig, si, uc); return; }
  } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
    old->sa_handler(sig);
    return;
  }
  /* Default action: re-raise with the default disposition on return. */
  signal(sig, SIG_DFL);
}

static void guard_install_once(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = segv_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
}

int keel__stack_guard_install(void) {
  pthread_once(&guard_once, guard_install_once);
  return 0;
}

void keel__stack_thread_init(keel_worker *w) {
  w->altstack = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (w->altstack == MAP_FAILED) { w->altstack = NULL; return; }
  stack_t ss = {.ss_sp = w->altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
  sigaltstack(&ss, NULL);
}

void keel__stack_thread_fini(keel_worker *w) {
  if (!w->altstack) return;
  stack_t ss = {.ss_flags = SS_DISABLE};
  sigaltstack(&ss, NULL);
  munmap(w->altstack, ALTSTACK_SIZE);
  w->altstack = NULL;
}
