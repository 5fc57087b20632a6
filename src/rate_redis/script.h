/* The Lua script behind every distributed check (src/rate_redis/script.c).
 *
 * Invariants: the script is the only writer of the tier keys; it reads the
 * clock with Redis's TIME, never a client's; it charges every tier or none.
 *
 * Call: EVALSHA <sha> <numkeys> <keys...> <m> <check_1> ... <check_m>
 *   m checks, run in order in one atomic step; check j is
 *     <k> <n> <em_1> <burst_1> ... <em_k> <burst_k>
 *   and uses the next k keys (its tiers' keys, in order).
 *   em_i    the emission interval of tier i in microseconds (1e6 / rate), as
 *           a decimal number; "0" for an infinite rate (the tier always admits)
 *   burst_i the tier's bucket depth (an integer >= 0)
 * Reply: an array of 6 x m integers, six per check:
 *   { allowed (1/0), remaining, retry_after_us (-1: never), reset_after_us,
 *     redis_now_us, refused_tier (1-based, 0 when allowed: the tier that
 *     refused with the longest wait, the binding one) } */
#ifndef KEEL_RATE_REDIS_SCRIPT_H
#define KEEL_RATE_REDIS_SCRIPT_H

extern const char keel_rate_redis_script[];

#endif
