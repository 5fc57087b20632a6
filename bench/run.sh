#!/usr/bin/env bash
# `make bench`: every keel benchmark beside its Go twin, in one run, as ratios.
#
# A benchmark is bench/<name>.c (built as <build>/bench/<name>) and its twin
# bench/go/<name>/main.go. Each prints lines
#     BENCH <case> <value> [unit]
# (unit defaults to ns, per operation; lower is better). Cases are paired by
# name; a case only keel prints is reported without a ratio. The table goes to
# stdout and bench/results.json gets one object per case:
#     {"name", "keel_ns", "go_ns", "ratio"}   (+ "unit" when it is not ns)
# BENCH_FILTER=<regex> runs only the benchmarks whose name matches.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=bench/results.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export GO111MODULE=off GOFLAGS= GOPATH="$tmp/gopath:/usr/share/gocode" GOCACHE="$tmp/gocache"
export GOTOOLCHAIN=local GOPROXY=off
filter=${BENCH_FILTER:-.}

for src in bench/*.c; do
  name=$(basename "$src" .c)
  [[ "$name" =~ $filter ]] || continue
  echo "-- $name" >&2
  if [ -x "$build/bench/$name" ]; then
    "$build/bench/$name" | grep '^BENCH ' | sed "s/^BENCH /keel /" >>"$tmp/lines"
  else
    echo "   (keel binary $build/bench/$name missing)" >&2
  fi
  if [ -f "bench/go/$name/main.go" ]; then
    if (cd "bench/go/$name" && go build -o "$tmp/go_$name" . ) >&2; then
      "$tmp/go_$name" | grep '^BENCH ' | sed "s/^BENCH /go /" >>"$tmp/lines"
    else
      echo "   (go twin of $name failed to build)" >&2
    fi
  fi
done

touch "$tmp/lines"
python3 - "$tmp/lines" "$out" <<'PY'
import json, sys
lines, out = sys.argv[1], sys.argv[2]
keel, go, units, order = {}, {}, {}, []
for line in open(lines):
    parts = line.split()
    if len(parts) < 3:
        continue
    side, case, value = parts[0], parts[1], float(parts[2])
    units[case] = parts[3] if len(parts) > 3 else "ns"
    if case not in order:
        order.append(case)
    (keel if side == "keel" else go)[case] = value
rows = []
print(f"{'case':<48} {'keel':>14} {'go':>14} {'ratio':>7}")
for case in order:
    k, g = keel.get(case), go.get(case)
    ratio = (k / g) if (k is not None and g) else None
    row = {"name": case, "keel_ns": k, "go_ns": g,
           "ratio": round(ratio, 4) if ratio is not None else None}
    if units[case] != "ns":
        row["unit"] = units[case]
    rows.append(row)
    fmt = lambda v: "-" if v is None else f"{v:.1f}"
    print(f"{case:<48} {fmt(k):>14} {fmt(g):>14} {('-' if ratio is None else f'{ratio:.3f}'):>7}  {units[case]}")
json.dump(rows, open(out, "w"), indent=1)
print(f"\nwrote {out}")
PY
