/* Stacks: captured raw at creation, symbolized only when someone looks.
 *
 * Capture uses libunwind's unw_backtrace (DWARF call-frame information, so it
 * walks code built without frame pointers, glibc included, and task stacks of
 * the runtime alike), about 100 ns for a typical depth, with libunwind's
 * default global cache (the per-thread cache's destructor takes a lock at
 * thread exit, which ThreadSanitizer's runtime cannot bear). Symbolization uses
 * elfutils' libdwfl: object, symbol, and source file:line from DWARF.
 *
 * Invariants:
 *  - One process-wide Dwfl session and one pc -> frame cache, both behind
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

__attribute__((noinline)) int err_capture(void **pcs, int max, int skip) {
  void *all[ERR_MAX_PCS + 8];
  int want = max + skip + 1;
  if (want > (int)(sizeof all / sizeof all[0])) want = sizeof all / sizeof all[0];
  int n = walk(all, want);
  int drop = skip + 1;   /* this function's own frame too */
  if (n <= drop) return 0;
  n -= drop;
  if (n > max) n = max;
  memcpy(pcs, all + drop, (size_t)n * sizeof(void *));
  return n;
}

/* ---- symbolization ------------------------------------------------------------ */

struct sym_entry {
  uintptr_t pc;        /* 0: empty slot */
  keel_err_frame frame;
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

/* dwfl_module_getsrc finds the compile unit through .debug_aranges, which
 * clang does not emit by default; then look through the units one by one. */
static void source_by_scan(Dwfl_Module *mod, Dwarf_Addr addr, keel_err_frame *f) {
  Dwarf_Addr bias = 0;
  Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
  if (!dw) return;
  Dwarf_CU *cu = NULL;
  Dwarf_Die cudie;
  uint8_t unit_type;
  while (dwarf_get_units(dw, cu, &cu, NULL, &unit_type, &cudie, NULL) == 0) {
    if (unit_type != DW_UT_compile && unit_type != DW_UT_partial) continue;
    if (dwarf_haspc(&cudie, addr - bias) != 1) continue;
    Dwarf_Line *l = dwarf_getsrc_die(&cudie, addr - bias);
    if (l) {
      int lineno = 0;
      f->file = keep(dwarf_linesrc(l, NULL, NULL));
      dwarf_lineno(l, &lineno);
      f->line = lineno;
    }
    return;
  }
}

static void resolve(uintptr_t pc, keel_err_frame *f) {
  memset(f, 0, sizeof *f);
  f->pc = pc;
  Dwfl *d = session();
  if (!d) return;
  Dwarf_Addr addr = (Dwarf_Addr)pc - 1;
  Dwfl_Module *mod = dwfl_addrmodule(d, addr);
  if (!mod && report_modules()) mod = dwfl_addrmodule(d, addr);
  if (!mod) return;
  Dwarf_Addr start = 0;
  const char *name = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL,
                                      NULL, NULL);
  f->object = keep(name);
  f->offset = pc - (uintptr_t)start;
  f->function = keep(dwfl_module_addrname(mod, addr));
  Dwfl_Line *line = dwfl_module_getsrc(mod, addr);
  if (line) {
    int lineno = 0;
    const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
    f->file = keep(file);
    f->line = lineno;
  } else {
    source_by_scan(mod, addr, f);
  }
}

void err_symbolize(const void *pcv, keel_err_frame *out) {
  uintptr_t pc = (uintptr_t)pcv;
  pthread_mutex_lock(&sym_lock);
  if (table_len * 2 >= table_cap && !table_grow()) {
    resolve(pc, out);   /* no room to cache: answer uncached (may leak a few
                           strings, only when memory is already exhausted) */
    pthread_mutex_unlock(&sym_lock);
    return;
  }
  struct sym_entry *s = table_slot(pc);
  if (s->pc == 0) {
    s->pc = pc;
    resolve(pc, &s->frame);
    table_len++;
  }
  *out = s->frame;
  pthread_mutex_unlock(&sym_lock);
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

size_t keel_err_stack_depth(const keel_err *e) {
  if (!e) return 0;
  return e->decoded ? e->nframes : (size_t)e->npcs;
}

size_t keel_err_stack(const keel_err *e, keel_err_frame *out, size_t cap) {
  size_t n = keel_err_stack_depth(e);
  if (n > cap) n = cap;
  for (size_t i = 0; i < n; i++) {
    if (e->decoded) out[i] = e->frames[i];
    else err_symbolize(e->pcs[i], &out[i]);
  }
  return n;
}

uint64_t keel_err_stack_hash(const keel_err *e) {
  if (!e) return 0;
  if (e->decoded) return e->stack_hash;
  uint64_t h = 0;
  for (int i = 0; i < e->npcs; i++) {
    keel_err_frame f;
    err_symbolize(e->pcs[i], &f);
    if (err_object_is_own(f.object)) h = err_hash_frame(h, f.object, f.offset);
  }
  return h;
}
