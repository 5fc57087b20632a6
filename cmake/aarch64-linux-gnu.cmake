# Cross build for aarch64 Linux with Debian's cross toolchain, tests run under
# qemu-user (no binfmt needed: ctest calls qemu-aarch64 itself).
#
#   apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         [-DKEEL_CROSS_SYSROOT=<dir>]
#
# KEEL_CROSS_SYSROOT (optional) is a directory holding arm64 Debian packages
# unpacked with dpkg-deb -x (libunwind, libdw and their dependencies, for the
# errors module): scripts/check-cross.sh fills one without installing
# anything. pkg-config looks only there (the host's libraries are x86-64), so
# a library missing there is missing for the build (hiredis: rate_redis is
# then left out, as natively).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(KEEL_CROSS_TRIPLE aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${KEEL_CROSS_TRIPLE}-gcc)
set(CMAKE_ASM_COMPILER ${KEEL_CROSS_TRIPLE}-gcc)

# try_compile projects re-read this file: pass the sysroot on to them.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES KEEL_CROSS_SYSROOT)

set(CMAKE_FIND_ROOT_PATH /usr/${KEEL_CROSS_TRIPLE})
set(_keel_libpath "")
if(KEEL_CROSS_SYSROOT)
  list(APPEND CMAKE_FIND_ROOT_PATH ${KEEL_CROSS_SYSROOT})
  set(_keel_libpath
    "${KEEL_CROSS_SYSROOT}/lib/${KEEL_CROSS_TRIPLE}:${KEEL_CROSS_SYSROOT}/usr/lib/${KEEL_CROSS_TRIPLE}")
  # The unpacked libraries' own dependencies (libdw -> libelf, libz, ...).
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_keel_libpath}")
  set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_keel_libpath}")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} ${KEEL_CROSS_SYSROOT})
  set(ENV{PKG_CONFIG_LIBDIR}
    "${KEEL_CROSS_SYSROOT}/usr/lib/${KEEL_CROSS_TRIPLE}/pkgconfig:${KEEL_CROSS_SYSROOT}/usr/share/pkgconfig")
else()
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/${KEEL_CROSS_TRIPLE}/lib/pkgconfig")
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest runs every test binary through this. -L: the arm64 C library and
# dynamic loader. -E sets the guest's environment:
# - KEEL_TEST_EMULATOR: tests scale down as under a sanitizer (KT_SANITIZED()
#   in tests/keel_test.h): emulated code runs many times slower.
# (qemu-user 7.2 answers madvise(MADV_GUARD_INSTALL) with success and does
# nothing: the runtime's probe sees that the page does not fault and falls
# back to mprotect guard pages, which qemu does emulate.)
# - LD_LIBRARY_PATH: the unpacked libraries, if any.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/${KEEL_CROSS_TRIPLE}
    -E KEEL_TEST_EMULATOR=qemu-aarch64)
if(_keel_libpath)
  list(APPEND CMAKE_CROSSCOMPILING_EMULATOR -E LD_LIBRARY_PATH=${_keel_libpath})
endif()
