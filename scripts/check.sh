#!/usr/bin/env bash
# Builds and runs the whole test suite in each mode (default: plain asan tsan
# aarch64). Each mode has its own build directory, build-<mode>. The aarch64
# mode is scripts/check-cross.sh: a cross build whose runtime floors' tests
# run under qemu-user (the aarch64 context switch, run for real).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(plain asan tsan aarch64)

# The million-task test wants more memory maps than Linux allows by default.
want_maps=2200000
if [ "$(cat /proc/sys/vm/max_map_count 2>/dev/null || echo 0)" -lt $want_maps ] && [ "$(id -u)" -eq 0 ]; then
  sysctl -q -w vm.max_map_count=$want_maps 2>/dev/null || true
fi

failed=()
for mode in "${modes[@]}"; do
  if [ "$mode" = aarch64 ]; then
    scripts/check-cross.sh || failed+=("$mode")
    continue
  fi
  case "$mode" in
    plain) args=(-DKEEL_SANITIZE=none) ;;
    asan)  args=(-DKEEL_SANITIZE=address -DCMAKE_C_COMPILER=clang) ;;
    tsan)  args=(-DKEEL_SANITIZE=thread) ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
  dir=build-$mode
  echo "== make check: $mode ($dir)"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEL_WERROR=ON "${args[@]}" >/dev/null
  if ! cmake --build "$dir" -j "$jobs" >"$dir/build.log" 2>&1; then
    grep -E 'error|warning' "$dir/build.log" | head -40
    echo "build failed ($mode); the whole log: $dir/build.log"; failed+=("$mode build"); continue
  fi
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
  if ! (cd "$dir" && ctest -j "$jobs" --output-on-failure); then
    failed+=("$mode")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "make check FAILED: ${failed[*]}"
  exit 1
fi
echo "make check: all modes passed (${modes[*]})"
