/* Stacks: captured raw at creation, symbolized only when someone looks.
 *
 * Capture uses libunwind's unw_backtrace (DWARF call-frame information, so it
 * walks code built without frame pointers, glibc included, and task stacks of
 * the runtime alike), about 100 ns for a typical depth. Symbolization uses
 * elfutils' libdwfl: object, symbol, and source file:line from DWARF.
 *
 * Invariants:
 *  - A pc expands to several frames when calls were inlined into it (the
 *    DWARF scopes at the pc): the innermost inlined function first, each at
 *    its own file:line, then the function the code physically lives in. The
 *    stack hash uses physical frames only (object + offset of each pc).
 *  - One process-wide Dwfl session and one pc -> frames cache, both behind
 *    sym_lock; cache entries and their strings are never freed (they stay
 *    reachable), so borrowed pointers handed out stay valid for the process.
 *  - A pc no module covers (a library dlopen'ed after the session began)
 *    makes the session re-read /proc/self/maps once for that lookup.
 *  - Lookups use pc - 1: a return address points after the call. */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <libunwind.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err/err_internal.h"

/* unw_backtrace keeps a per-thread trace cache whose destructor takes a lock
 * at thread exit, after ThreadSanitizer has torn the thread down (a crash in
 * TSan's mutex hooks). TSan builds walk with unw_step instead: slower, no
 * thread-local state. */
static inline int walk(void **out, int max) {
#if defined(KEEL_SANITIZE_THREAD)
  unw_context_t ctx;
  unw_cursor_t cur;
  if (unw_getcontext(&ctx) != 0 || unw_init_local(&cur, &ctx) != 0) return 0;
  int n = 0;
  do {
    unw_word_t ip;
    if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0) break;
    out[n++] = (void *)ip;
  } while (n < max && unw_step(&cur) > 0);
  return n;
#else
  return unw_backtrace(out, max);
#endif
}

/* libunwind initializes itself lazily on first use, with an unsynchronized
 * "done" flag (a data race when two threads unwind first at once): do it
 * once, under pthread_once, before any walk. Its caches: per thread in
 * normal builds, so no unwinder lock can be held by another thread when the
 * process forks (a child would deadlock on it); none under TSan, where the
 * per-thread cache's destructor cannot run (see walk). */
static pthread_once_t unw_once = PTHREAD_ONCE_INIT;
static void unw_init_once(void) {
  err_fork_handlers_install();
#if defined(KEEL_SANITIZE_THREAD)
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);
#else
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
#endif
  unw_context_t ctx;
  unw_cursor_t cur;
  if (unw_getcontext(&ctx) == 0) unw_init_local(&cur, &ctx);
}

/* libunwind takes internal locks of its own while it walks (its unwind
 * table searches, its memory pool); a child forked while another thread held
 * one would deadlock on its first capture. Walks hold this lock shared; fork
 * takes it exclusively (err_sym_fork), so no walk is under way when the
 * process forks. Writers first, so a stream of walks cannot starve a fork. */
static pthread_rwlock_t walk_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

__attribute__((noinline)) int err_capture(void **pcs, int max, int skip) {
  pthread_once(&unw_once, unw_init_once);
  void *all[ERR_MAX_PCS + 8];
  int want = max + skip + 1;
  if (want > (int)(sizeof all / sizeof all[0])) want = sizeof all / sizeof all[0];
  pthread_rwlock_rdlock(&walk_lock);
  int n = walk(all, want);
  pthread_rwlock_unlock(&walk_lock);
  int drop = skip + 1;   /* this function's own frame too */
  if (n <= drop) return 0;
  n -= drop;
  if (n > max) n = max;
  memcpy(pcs, all + drop, (size_t)n * sizeof(void *));
  return n;
}

/* ---- symbolization ------------------------------------------------------------ */

#define MAX_INLINE 16   /* frames one pc may expand to (inlined calls) */

struct sym_entry {
  uintptr_t pc;        /* 0: empty slot */
  size_t n;            /* frames: the innermost inlined call first */
  keel_err_frame *frames;
};

static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static Dwfl *dwfl;
static bool dwfl_failed;
static struct sym_entry *table;
static size_t table_cap, table_len;

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
};

static bool report_modules(void) {
  dwfl_report_begin(dwfl);
  int r = dwfl_linux_proc_report(dwfl, getpid());
  return dwfl_report_end(dwfl, NULL, NULL) == 0 && r == 0;
}

static Dwfl *session(void) {
  if (dwfl || dwfl_failed) return dwfl;
  dwfl = dwfl_begin(&callbacks);
  if (!dwfl || !report_modules()) {
    if (dwfl) dwfl_end(dwfl);
    dwfl = NULL;
    dwfl_failed = true;
  }
  return dwfl;
}

static size_t hash_pc(uintptr_t pc) {
  uint64_t x = (uint64_t)pc * 0x9e3779b97f4a7c15ull;
  return (size_t)(x ^ (x >> 29));
}

static struct sym_entry *table_slot(uintptr_t pc) {
  size_t mask = table_cap - 1;
  for (size_t i = hash_pc(pc) & mask;; i = (i + 1) & mask)
    if (table[i].pc == pc || table[i].pc == 0) return &table[i];
}

static bool table_grow(void) {
  size_t cap = table_cap ? table_cap * 2 : 256;
  struct sym_entry *t = calloc(cap, sizeof *t);
  if (!t) return false;
  struct sym_entry *old = table;
  size_t old_cap = table_cap;
  table = t;
  table_cap = cap;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].pc) *table_slot(old[i].pc) = old[i];
  free(old);
  return true;
}

static const char *keep(const char *s) { return s ? strdup(s) : NULL; }

/* The compile unit covering addr. dwfl_module_addrdie goes through
 * .debug_aranges, which clang does not emit by default; then look through the
 * units one by one. */
static bool find_cu(Dwfl_Module *mod, Dwarf_Addr addr, Dwarf_Die *cudie,
                    Dwarf_Addr *bias) {
  Dwarf_Die *d = dwfl_module_addrdie(mod, addr, bias);
  if (d) {
    *cudie = *d;
    return true;
  }
  Dwarf *dw = dwfl_module_getdwarf(mod, bias);
  if (!dw) return false;
  Dwarf_CU *cu = NULL;
  uint8_t unit_type;
  while (dwarf_get_units(dw, cu, &cu, NULL, &unit_type, cudie, NULL) == 0) {
    if (unit_type != DW_UT_compile && unit_type != DW_UT_partial) continue;
    if (dwarf_haspc(cudie, addr - *bias) == 1) return true;
  }
  return false;
}

static const char *die_name(Dwarf_Die *die) {
  Dwarf_Attribute attr;
  return dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
}

/* Fills frames for the chain of inlined calls at addr, innermost first, then
 * the physical function; returns how many (0: no DWARF scopes). */
static size_t inline_chain(Dwarf_Die *cudie, Dwarf_Addr rel,
                           keel_err_frame *out, size_t cap) {
  Dwarf_Die *scopes = NULL;
  int ns = dwarf_getscopes(cudie, rel, &scopes);
  if (ns <= 0) return 0;
  /* getscopes continues past an inlined call into its abstract definition;
   * the containment chain of the innermost scope is the call chain (as
   * eu-addr2line -i does it). */
  Dwarf_Die inner;
  Dwarf_Off off = dwarf_dieoffset(&scopes[0]);
  free(scopes);
  scopes = NULL;
  if (!dwarf_offdie(dwarf_cu_getdwarf(cudie->cu), off, &inner)) return 0;
  ns = dwarf_getscopes_die(&inner, &scopes);
  if (ns <= 0) return 0;
  Dwarf_Files *files = NULL;
  size_t nfiles = 0;
  dwarf_getsrcfiles(cudie, &files, &nfiles);
  size_t n = 0;
  const char *file = NULL;
  int line = 0;
  Dwarf_Line *l = dwarf_getsrc_die(cudie, rel);
  if (l) {
    file = dwarf_linesrc(l, NULL, NULL);
    dwarf_lineno(l, &line);
  }
  for (int i = 0; i < ns && n < cap; i++) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
    keel_err_frame *f = &out[n++];
    f->function = keep(die_name(&scopes[i]));
    f->file = keep(file);
    f->line = line;
    if (tag == DW_TAG_subprogram) break;
    /* The caller's position is where this inlined call was made. */
    Dwarf_Attribute attr;
    Dwarf_Word cf = 0, cl = 0;
    file = NULL;
    line = 0;
    if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attr), &cf) == 0 &&
        files && cf < nfiles)
      file = dwarf_filesrc(files, cf, NULL, NULL);
    if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attr), &cl) == 0)
      line = (int)cl;
  }
  free(scopes);
  for (size_t i = 0; i + 1 < n; i++) out[i].inlined = true;
  return n;
}

static size_t resolve(uintptr_t pc, keel_err_frame *out, size_t cap) {
  keel_err_frame base = {.pc = pc};
  Dwfl *d = session();
  Dwarf_Addr addr = (Dwarf_Addr)pc - 1;
  Dwfl_Module *mod = d ? dwfl_addrmodule(d, addr) : NULL;
  if (d && !mod && report_modules()) mod = dwfl_addrmodule(d, addr);
  if (!mod) {
    out[0] = base;
    return 1;
  }
  Dwarf_Addr start = 0;
  const char *object = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL,
                                        NULL, NULL);
  base.offset = pc - (uintptr_t)start;
  Dwarf_Die cudie;
  Dwarf_Addr bias = 0;
  size_t n = find_cu(mod, addr, &cudie, &bias)
                 ? inline_chain(&cudie, addr - bias, out, cap) : 0;
  if (n == 0) {
    /* No scopes (no DWARF, or a unit without them): the symbol table. */
    out[0] = (keel_err_frame){0};
    out[0].function = keep(dwfl_module_addrname(mod, addr));
    Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
    if (line) {
      int lineno = 0;
      out[0].file = keep(dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL));
      out[0].line = lineno;
    }
    n = 1;
  } else if (!out[n - 1].function) {
    out[n - 1].function = keep(dwfl_module_addrname(mod, addr));
  }
  for (size_t i = 0; i < n; i++) {
    out[i].pc = pc;
    out[i].offset = base.offset;
    out[i].object = keep(object);
  }
  return n;
}

/* Held across fork (err_fork_handlers_install, handle.c), after the log lock,
 * as everywhere both are held (a log callback may format an error); then the
 * walk lock (nothing holds a walk while taking another lock). */
void err_sym_fork(int phase) {
  if (phase == ERR_FORK_PREPARE) {
    pthread_mutex_lock(&sym_lock);
    pthread_rwlock_wrlock(&walk_lock);
  } else if (phase == ERR_FORK_PARENT) {
    pthread_rwlock_unlock(&walk_lock);
    pthread_mutex_unlock(&sym_lock);
  } else {
    /* The child's thread has a new tid, which glibc's rwlock unlock would
     * not recognise as the writer: start both locks afresh (one thread). */
    pthread_rwlock_t fresh_walk = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
    pthread_mutex_t fresh_sym = PTHREAD_MUTEX_INITIALIZER;
    walk_lock = fresh_walk;
    sym_lock = fresh_sym;
  }
}

/* The frames of one pc, from the cache (filled on first use). The returned
 * array stays valid for the process's life. */
static size_t symbolize_pc(uintptr_t pc, const keel_err_frame **frames) {
  static keel_err_frame unknown;   /* when even the cache cannot grow */
  err_fork_handlers_install();
  pthread_mutex_lock(&sym_lock);
  if (table_len * 2 >= table_cap && !table_grow()) {
    pthread_mutex_unlock(&sym_lock);
    *frames = &unknown;
    return 1;
  }
  struct sym_entry *s = table_slot(pc);
  if (s->pc == 0) {
    keel_err_frame tmp[MAX_INLINE];
    memset(tmp, 0, sizeof tmp);
    size_t n = resolve(pc, tmp, MAX_INLINE);
    keel_err_frame *kept = malloc(n * sizeof *kept);
    if (!kept) {
      pthread_mutex_unlock(&sym_lock);
      *frames = &unknown;
      return 1;
    }
    memcpy(kept, tmp, n * sizeof *kept);
    s->pc = pc;
    s->n = n;
    s->frames = kept;
    table_len++;
  }
  *frames = s->frames;
  size_t n = s->n;
  pthread_mutex_unlock(&sym_lock);
  return n;
}

size_t err_each_frame(const keel_err *e, err_frame_fn fn, void *arg) {
  if (!e) return 0;
  if (e->decoded) {
    for (size_t i = 0; i < e->nframes; i++)
      if (fn) fn(arg, &e->frames[i], i);
    return e->nframes;
  }
  size_t k = 0;
  for (int i = 0; i < e->npcs; i++) {
    const keel_err_frame *fr;
    size_t n = symbolize_pc((uintptr_t)e->pcs[i], &fr);
    for (size_t j = 0; j < n; j++, k++) {
      if (!fn) continue;
      keel_err_frame f = fr[j];
      f.pc = (uintptr_t)e->pcs[i];
      fn(arg, &f, k);
    }
  }
  return k;
}

/* ---- the stack hash ------------------------------------------------------------- */

bool err_object_is_own(const char *object) {
  if (!object || !*object || object[0] == '[') return false;   /* [vdso] */
  static const char *const system_dirs[] = {"/lib/", "/lib64/", "/usr/lib/",
                                            "/usr/lib64/", "/usr/local/lib/"};
  for (size_t i = 0; i < sizeof system_dirs / sizeof system_dirs[0]; i++)
    if (strncmp(object, system_dirs[i], strlen(system_dirs[i])) == 0)
      return false;
  return true;
}

uint64_t err_hash_frame(uint64_t h, const char *object, uintptr_t offset) {
  const char *base = strrchr(object, '/');
  base = base ? base + 1 : object;
  if (h == 0) h = 0xcbf29ce484222325ull;     /* FNV-1a offset basis */
  for (const unsigned char *p = (const unsigned char *)base; *p; p++)
    h = (h ^ *p) * 0x100000001b3ull;
  h = (h ^ 0xff) * 0x100000001b3ull;
  for (int i = 0; i < 8; i++)
    h = (h ^ ((offset >> (8 * i)) & 0xff)) * 0x100000001b3ull;
  return h;
}

/* ---- public ------------------------------------------------------------------------ */

size_t keel_err_stack_depth(const keel_err *e) { return err_each_frame(e, NULL, NULL); }

struct fill { keel_err_frame *out; size_t cap; };

static void fill_one(void *arg, const keel_err_frame *f, size_t i) {
  struct fill *fl = arg;
  if (i < fl->cap) fl->out[i] = *f;
}

size_t keel_err_stack(const keel_err *e, keel_err_frame *out, size_t cap) {
  struct fill fl = {out, cap};
  size_t n = err_each_frame(e, fill_one, &fl);
  return n < cap ? n : cap;
}

uint64_t keel_err_stack_hash(const keel_err *e) {
  if (!e) return 0;
  if (e->decoded) return e->stack_hash;
  uint64_t h = 0;
  for (int i = 0; i < e->npcs; i++) {
    const keel_err_frame *f;
    symbolize_pc((uintptr_t)e->pcs[i], &f);
    if (err_object_is_own(f[0].object)) h = err_hash_frame(h, f[0].object, f[0].offset);
  }
  return h;
}
