# The errors module captures stacks with libunwind and symbolizes them with
# elfutils' libdw (both Debian packages: libunwind-dev, libdw-dev).
pkg_check_modules(LIBUNWIND REQUIRED IMPORTED_TARGET libunwind)
if(NOT LIBDW_FOUND)
  message(FATAL_ERROR "keel's errors module needs libdw (apt install libdw-dev)")
endif()
target_link_libraries(keel_err_obj PUBLIC PkgConfig::LIBDW PkgConfig::LIBUNWIND)
target_link_libraries(keel_err PUBLIC PkgConfig::LIBDW PkgConfig::LIBUNWIND)
list(APPEND KEEL_EXTERNAL_LIBS PkgConfig::LIBDW PkgConfig::LIBUNWIND)
