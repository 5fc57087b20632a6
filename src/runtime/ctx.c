/* ctx.c — preparing a fresh task context for keel__ctx_switch.
 *
 * On x86-64 and aarch64 the switch is hand-written assembly (switch_*.S)
 * and a fresh context is a saved frame whose return address is the
 * trampoline; elsewhere ucontext is the fallback. Stacks grow down; the
 * initial frame sits at the 16-byte aligned top of the stack. */
#include <string.h>

#include "runtime/internal.h"

#if defined(__x86_64__)
void keel__ctx_trampoline(void);

void keel__ctx_make(keel_ctx *c, void *stack_lo, size_t size,
                    void (*entry)(void *), void *arg) {
  uintptr_t hi = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
  /* 8 slots popped by the switch: csr, r15, r14, r13, r12, rbx, rbp, rip.
   * After `ret` rsp is hi - 16 (16-aligned), as the trampoline's call needs. */
  uint64_t *sp = (uint64_t *)(hi - 80);
  uint32_t csr[2] = {0x1F80u, 0x037Fu};  /* default mxcsr, x87 control word */
  memcpy(&sp[0], csr, sizeof csr);
  sp[1] = 0;                       /* r15 */
  sp[2] = 0;                       /* r14 */
  sp[3] = (uint64_t)(uintptr_t)entry; /* r13 */
  sp[4] = (uint64_t)(uintptr_t)arg;   /* r12 */
  sp[5] = 0;                       /* rbx */
  sp[6] = 0;                       /* rbp: ends frame-pointer walks */
  sp[7] = (uint64_t)(uintptr_t)keel__ctx_trampoline;
  sp[8] = 0;
  sp[9] = 0;
  c->sp = sp;
}
#elif defined(__aarch64__)
void keel__ctx_trampoline(void);

void keel__ctx_make(keel_ctx *c, void *stack_lo, size_t size,
                    void (*entry)(void *), void *arg) {
  uintptr_t hi = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
  uint64_t *sp = (uint64_t *)(hi - 176);
  memset(sp, 0, 176);
  sp[0] = (uint64_t)(uintptr_t)arg;    /* x19 */
  sp[1] = (uint64_t)(uintptr_t)entry;  /* x20 */
  sp[10] = 0;                          /* x29 */
  sp[11] = (uint64_t)(uintptr_t)keel__ctx_trampoline; /* x30 */
  c->sp = sp;
}
#else
void keel__ctx_switch(keel_ctx *save, keel_ctx *to) {
  swapcontext(&save->uc, &to->uc);
}

/* makecontext passes int arguments only: split the pointers. */
static void uc_entry(unsigned ehi, unsigned elo, unsigned ahi, unsigned alo) {
  void (*entry)(void *) =
      (void (*)(void *))(((uintptr_t)ehi << 32) | (uintptr_t)elo);
  void *arg = (void *)(((uintptr_t)ahi << 32) | (uintptr_t)alo);
  entry(arg);
}

void keel__ctx_make(keel_ctx *c, void *stack_lo, size_t size,
                    void (*entry)(void *), void *arg) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack_lo;
  c->uc.uc_stack.ss_size = size;
  c->uc.uc_link = NULL;
  uint64_t e = (uint64_t)(uintptr_t)entry, a = (uint64_t)(uintptr_t)arg;
  makecontext(&c->uc, (void (*)(void))uc_entry, 4, (unsigned)(e >> 32),
              (unsigned)e, (unsigned)(a >> 32), (unsigned)a);
}
#endif
