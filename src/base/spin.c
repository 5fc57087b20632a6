/* spin.c — the contended path of base/spin.h's lock, out of line so every
 * floor shares one copy. */
#include <sched.h>

#include "base/relax.h"
#include "base/spin.h"

void keel__spin_lock_slow(_Atomic int *l) {
  for (unsigned spins = 0;; spins++) {
    if (keel__spin_trylock(l)) return;
    if (spins < 64) keel__cpu_relax();
    else sched_yield();
  }
}
