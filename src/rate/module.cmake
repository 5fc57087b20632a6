# rate: the token bucket's lock-free allow publishes a 16-byte state with one
# compare-and-swap; on x86-64 that is cmpxchg16b, which needs -mcx16 (every
# x86-64 CPU since 2006 has it). Without it limiter.c falls back to a spin
# lock around the pair.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  target_compile_options(keel_rate_obj PRIVATE -mcx16)
endif()
