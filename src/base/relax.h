/* base/relax.h — keel__cpu_relax(): the spin-wait hint, for every floor
 * (private). One pause on x86 (lets the sibling hyperthread run and avoids
 * the memory-order flush when the spun-on line changes), `yield` on
 * aarch64, and elsewhere a compiler barrier, so a spin loop re-reads memory. */
#ifndef KEEL_BASE_RELAX_H
#define KEEL_BASE_RELAX_H

static inline void keel__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield" ::: "memory");
#else
  __asm__ volatile("" ::: "memory");
#endif
}

#endif
