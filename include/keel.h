/* keel.h — everything keel offers, in one include. */
#ifndef KEEL_H
#define KEEL_H

#include "keel/status.h"
#include "keel/time.h"
#include "keel/err.h"
#include "keel/task.h"
#include "keel/chan.h"
#include "keel/timer.h"
#include "keel/ctx.h"
#include "keel/stage.h"
#include "keel/rate.h"
#include "keel/heartbeat.h"
#include "keel/steward.h"
#include "keel/replicate.h"

#endif
