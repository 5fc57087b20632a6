#include "runtime/internal.h"
void keel__offload_stop(void) {}
