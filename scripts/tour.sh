#!/usr/bin/env bash
# The tour behind `make run`: every examples/tour_<NN>_<capability>.c, in order.
# Each is a short, readable scenario of one capability.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
status=0
shopt -s nullglob
for src in examples/tour_*.c; do
  name=$(basename "$src" .c)
  title=$(sed -n 's@^/\* *tour: *\(.*[^ ]\) *\*/.*@\1@p;q' "$src")
  printf '\n==== %s ====\n' "${title:-$name}"
  if ! "$build/examples/$name"; then
    echo "(tour step $name failed)"; status=1
  fi
done
exit $status
