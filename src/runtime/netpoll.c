#include "runtime/internal.h"
void keel__netpoll_stop(void) {}
