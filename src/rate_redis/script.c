/* The GCRA script (see script.h for its calling convention).
 *
 * Each tier key holds the tier's theoretical arrival time (TAT) in
 * microseconds of Redis's clock: the moment the bucket would be full again.
 * A bucket of depth b refilled every em microseconds holds
 * (now + b*em - max(tat, now)) / em tokens, so a missing key is a full bucket
 * (the in-process limiter's "new limiters start full"). Charging n tokens
 * moves tat to max(tat, now) + n*em; it is allowed when that lands no later
 * than now + b*em. Every tier is computed first and written only if all of
 * them admit, so a refusal by one tier charges none. Keys expire when their
 * bucket is full again (PEXPIRE at tat), so idle keys cost no memory. */
#include "rate_redis/script.h"

const char keel_rate_redis_script[] =
  "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
  "local t = redis.call('TIME')\n"
  "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
  "local n = tonumber(ARGV[1])\n"
  "local allowed = 1\n"
  "local refused = 0\n"
  "local retry = 0\n"
  "local olds, news, ems, depths = {}, {}, {}, {}\n"
  "for i = 1, #KEYS do\n"
  "  local em = tonumber(ARGV[2 * i])\n"
  "  local burst = tonumber(ARGV[2 * i + 1])\n"
  "  if em > 0 then\n"
  "    local tat = tonumber(redis.call('GET', KEYS[i]) or 0)\n"
  "    if tat < now then tat = now end\n"
  "    local depth = burst * em\n"
  "    local new = tat + n * em\n"
  "    if new - now > depth + 0.001 then\n"
  "      if allowed == 1 then refused = i end\n"
  "      allowed = 0\n"
  "      if n > burst then\n"
  "        if retry >= 0 then refused = i end\n"
  "        retry = -1\n"
  "      elseif retry >= 0 and new - depth - now > retry then\n"
  "        retry = new - depth - now\n"
  "        refused = i\n"
  "      end\n"
  "    end\n"
  "    olds[i], news[i], ems[i], depths[i] = tat, new, em, depth\n"
  "  end\n"
  "end\n"
  "local remaining = 2147483647\n"
  "local reset = 0\n"
  "for i = 1, #KEYS do\n"
  "  if ems[i] then\n"
  "    local tat = olds[i]\n"
  "    if allowed == 1 then tat = news[i] end\n"
  "    local left = math.floor((now + depths[i] - tat) / ems[i] + 0.000001)\n"
  "    if left < remaining then remaining = left end\n"
  "    if tat - now > reset then reset = tat - now end\n"
  "    if allowed == 1 and n > 0 and tat > now then\n"
  "      redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', math.ceil((tat - now) / 1000))\n"
  "    end\n"
  "  end\n"
  "end\n"
  "if allowed == 1 then retry = 0 end\n"
  "return {allowed, remaining, math.ceil(retry), math.ceil(reset), now, refused}\n";
