#!/usr/bin/env bash
# The aarch64 check: cross-builds keel for aarch64 (build-aarch64/) and runs
# the tests of the floors that carry the runtime (base, runtime, chan, ctx,
# stage, rate) under qemu-user, so that the aarch64 context switch
# (src/runtime/switch_aarch64.S) runs for real on an x86-64 machine.
#
# As root it installs the Debian packages it needs (cross compiler, qemu-user);
# as anyone else it names the missing ones and stops. The arm64 builds of the
# errors module's libraries (libunwind, libdw and theirs) are not installed:
# they are downloaded with a private apt state and unpacked under
# build-aarch64/sysroot (the system's dpkg architectures stay as they are).
# Under emulation the tests scale down (KEEL_TEST_EMULATOR, see
# cmake/aarch64-linux-gnu.cmake and tests/keel_test.h).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
jobs=$(nproc 2>/dev/null || echo 2)
dir=${KEEL_CROSS_BUILD_DIR:-build-aarch64}  # the build directory (override for a private one)
case "$dir" in /*) ;; *) dir=$PWD/$dir ;; esac
triple=aarch64-linux-gnu
modules=(base runtime chan ctx stage rate)

# Tests left out under emulation, each with its reason (printed). Only what
# the emulator itself breaks belongs here; a test that fails on aarch64 for a
# reason of keel's own is a failure.
declare -A skip=(
  [runtime/shutdown]="qemu-user lets pthread_join return before the joined host thread has left /proc/self/task, so the no-threads-left count sees a worker still exiting"
)

# arm64 packages unpacked into the sysroot: the errors module's libraries
# (libunwind, libdw) with their headers and every shared library they pull in.
arm64_pkgs=(libunwind8 libunwind-dev liblzma5 liblzma-dev libdw1 libdw-dev
            libelf1 libelf-dev zlib1g zlib1g-dev libbz2-1.0 libzstd1)

scripts/deps.sh cross

# The million-task test (scaled down here) still wants more maps than the
# default when guard pages are mprotect'ed (two maps per stack).
want_maps=2200000
if [ "$(cat /proc/sys/vm/max_map_count 2>/dev/null || echo 0)" -lt $want_maps ] && [ "$(id -u)" -eq 0 ]; then
  sysctl -q -w vm.max_map_count=$want_maps 2>/dev/null || true
fi

# The arm64 libraries, unpacked (once per build directory).
mkdir -p "$dir"
sysroot=$dir/sysroot
stamp="$sysroot/.packages"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${arm64_pkgs[*]}" ]; then
  echo "check-cross: fetching arm64 ${arm64_pkgs[*]} into $sysroot" >&2
  apt_dir=$dir/apt
  rm -rf "$apt_dir" "$sysroot"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$sysroot"
  : >"$apt_dir/status"
  apt_opts=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64
            -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
            -o Dir::State::status="$apt_dir/status" -o Debug::NoLocking=1)
  [ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
  if ! apt-get "${apt_opts[@]}" update -qq >"$apt_dir/apt.log" 2>&1 ||
     ! (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" download "${arm64_pkgs[@]/%/:arm64}") >>"$apt_dir/apt.log" 2>&1; then
    cat "$apt_dir/apt.log" >&2
    echo "check-cross: could not download the arm64 packages (network?)" >&2
    exit 1
  fi
  for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  echo "${arm64_pkgs[*]}" >"$stamp"
fi

fetched=$(date +%s)
echo "== make check: aarch64 ($dir, tests under qemu-aarch64)"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEL_WERROR=ON \
  -DCMAKE_TOOLCHAIN_FILE=cmake/$triple.cmake -DKEEL_CROSS_SYSROOT="$sysroot" >/dev/null

# Only the test binaries of the floors run here (not examples, bench, tools).
targets=()
for m in "${modules[@]}"; do
  for t in tests/"$m"/*.c; do
    n=$(basename "$t" .c)
    case "$n" in fuzz_*) continue ;; esac
    targets+=("test_${m}_$n")
  done
done
if ! cmake --build "$dir" -j "$jobs" --target "${targets[@]}" >"$dir/build.log" 2>&1; then
  grep -E 'error|warning' "$dir/build.log" | head -40
  echo "build failed (aarch64); the whole log: $dir/build.log"
  exit 1
fi
built=$(date +%s)

exclude=""
for t in "${!skip[@]}"; do
  echo "check-cross: skipping $t under emulation: ${skip[$t]}"
  exclude+="${exclude:+|}^$t\$"
done
regex="^($(IFS='|'; echo "${modules[*]}"))/"
rc=0
(cd "$dir" && ctest -j "$jobs" --output-on-failure -R "$regex" ${exclude:+-E "$exclude"}) || rc=$?
end=$(date +%s)
echo "check-cross: $((end - start)) s in all: packages $((fetched - start)) s, build $((built - fetched)) s, tests $((end - built)) s"
exit $rc
