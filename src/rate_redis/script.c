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
 * bucket is full again (PEXPIRE at tat), so idle keys cost no memory.
 * One call may carry several checks (a connection's batch): they run in
 * order, each seeing the ones before it, on one reading of TIME; each key is
 * read once (one MGET for the call) and written at most once, at the end,
 * which spares Redis two command calls per check. */
#include "rate_redis/script.h"

const char keel_rate_redis_script[] =
  "if redis.replicate_commands then pcall(redis.replicate_commands) end\n"
  /* globals as locals, and each distinct argument parsed once (a batch's
   * checks repeat their tiers' arguments; tonumber costs ~0.3-0.5 us here) */
  "local tonumber, KEYS, ARGV, floor, ceil = tonumber, KEYS, ARGV, math.floor, math.ceil\n"
  "local num = setmetatable({}, {__index = function(t, s) local v = tonumber(s); t[s] = v; return v end})\n"
  "local t = redis.call('TIME')\n"
  "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
  /* every key's TAT, read once (MGET in chunks: unpack is bounded by Lua's
   * C stack); later checks of the call see earlier ones' charges here */
  "local tats, nk = {}, #KEYS\n"
  "for i = 1, nk, 512 do\n"
  "  local j = math.min(i + 511, nk)\n"
  "  local v = redis.call('MGET', unpack(KEYS, i, j))\n"
  "  for x = i, j do\n"
  "    if tats[KEYS[x]] == nil then tats[KEYS[x]] = tonumber(v[x - i + 1]) or 0 end\n"
  "  end\n"
  "end\n"
  "local out, dirty, order = {}, {}, {}\n"
  "local olds, news, ems, depths = {}, {}, {}, {}\n"
  "local a = 2\n"
  "local kb = 0\n"
  "for c = 1, num[ARGV[1]] do\n"
  "  local k = num[ARGV[a]]\n"
  "  local n = num[ARGV[a + 1]]\n"
  "  a = a + 2\n"
  "  local allowed, refused, retry = 1, 0, 0\n"
  "  for i = 1, k do\n"
  "    local em = num[ARGV[a]]\n"
  "    local burst = num[ARGV[a + 1]]\n"
  "    a = a + 2\n"
  "    ems[i] = false\n"
  "    if em > 0 then\n"
  "      local tat = tats[KEYS[kb + i]]\n"
  "      if tat < now then tat = now end\n"
  "      local depth = burst * em\n"
  "      local new = tat + n * em\n"
  "      if new - now > depth + 0.001 then\n"
  "        if allowed == 1 then refused = i end\n"
  "        allowed = 0\n"
  "        if n > burst then\n"
  "          if retry >= 0 then refused = i end\n"
  "          retry = -1\n"
  "        elseif retry >= 0 and new - depth - now > retry then\n"
  "          retry = new - depth - now\n"
  "          refused = i\n"
  "        end\n"
  "      end\n"
  "      olds[i], news[i], ems[i], depths[i] = tat, new, em, depth\n"
  "    end\n"
  "  end\n"
  "  local remaining, reset = 2147483647, 0\n"
  "  for i = 1, k do\n"
  "    if ems[i] then\n"
  "      local tat = olds[i]\n"
  "      if allowed == 1 then tat = news[i] end\n"
  "      local left = floor((now + depths[i] - tat) / ems[i] + 0.000001)\n"
  "      if left < remaining then remaining = left end\n"
  "      if tat - now > reset then reset = tat - now end\n"
  "      if allowed == 1 and n > 0 and tat > now then\n"
  "        local key = KEYS[kb + i]\n"
  "        tats[key] = tat\n"
  "        if not dirty[key] then dirty[key] = true; order[#order + 1] = key end\n"
  "      end\n"
  "    end\n"
  "  end\n"
  "  kb = kb + k\n"
  "  if allowed == 1 then retry = 0 end\n"
  "  local o = #out\n"
  "  out[o + 1], out[o + 2], out[o + 3] = allowed, remaining, ceil(retry)\n"
  "  out[o + 4], out[o + 5], out[o + 6] = ceil(reset), now, refused\n"
  "end\n"
  /* one write per charged key, its final TAT: what the charges one by one
   * would have left (the last write wins, with the last expiry) */
  "for _, key in ipairs(order) do\n"
  "  local tat = tats[key]\n"
  "  redis.call('SET', key, string.format('%.17g', tat), 'PX', ceil((tat - now) / 1000))\n"
  "end\n"
  "return out\n";
