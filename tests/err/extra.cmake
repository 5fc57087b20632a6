# The decoder's fuzz harness. With clang in the ASan build (`make check`'s
# asan mode) it is a libFuzzer binary, run briefly as the test err/fuzz_decode
# over the seed corpus tests/err/corpus (new inputs go to a corpus directory
# in the build tree, never into the sources). The other modes replay the
# corpus and random mutations in the plain test err/decode_hostile instead.
if(CMAKE_C_COMPILER_ID STREQUAL "Clang" AND KEEL_SANITIZE STREQUAL "address")
  file(GLOB _err_fuzz_srcs ${CMAKE_SOURCE_DIR}/src/err/*.c)
  add_executable(fuzz_err_decode ${CMAKE_SOURCE_DIR}/tests/err/fuzz_decode.c
                                 ${_err_fuzz_srcs})
  target_include_directories(fuzz_err_decode PRIVATE
    ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(fuzz_err_decode PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_err_decode PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_err_decode PRIVATE keel_base
    PkgConfig::LIBDW PkgConfig::LIBUNWIND Threads::Threads m)
  set(_err_fuzz_work ${CMAKE_BINARY_DIR}/fuzz/err_decode)
  file(MAKE_DIRECTORY ${_err_fuzz_work})
  add_test(NAME err/fuzz_decode
    COMMAND fuzz_err_decode -max_total_time=20 -runs=2000000 -max_len=8192
            -rss_limit_mb=1024 -print_final_stats=1
            ${_err_fuzz_work} ${CMAKE_SOURCE_DIR}/tests/err/corpus)
  set_tests_properties(err/fuzz_decode PROPERTIES TIMEOUT 120)
endif()
