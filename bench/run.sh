#!/usr/bin/env bash
# `make bench`: every keel benchmark beside its Go twin, in one run, as ratios.
#
# A benchmark is bench/<name>.c (built as <build>/bench/<name>) and its twin
# bench/go/<name>/main.go. Each prints lines
#     BENCH <case> <value> [unit]
# (unit defaults to ns, per operation; lower is better). Cases are paired by
# name; a case only keel prints is reported without a ratio. The table goes to
# stdout and bench/results.json gets one object per case:
#     {"name", "keel_ns", "go_ns", "ratio", "ratio_min", "ratio_max", "rounds"}
# (+ "unit" when it is not ns); keel_ns, go_ns and ratio are medians.
# BENCH_FILTER=<regex> runs only the benchmarks whose name matches.
#
# This VM's timings drift by up to 1.5-2x over seconds, so one keel run and
# one Go run a few seconds apart can land in different states of the host.
# Each benchmark therefore runs BENCH_ROUNDS times (default 3), keel and Go
# alternating, and every figure is the median of its side's rounds; the
# table also shows the lowest and highest ratio of the rounds paired in
# order (round i of keel over round i of Go).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=bench/results.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export GO111MODULE=off GOFLAGS= GOPATH="$tmp/gopath:/usr/share/gocode" GOCACHE="$tmp/gocache"
export GOTOOLCHAIN=local GOPROXY=off
filter=${BENCH_FILTER:-.}

rounds=${BENCH_ROUNDS:-3}

for src in bench/*.c; do
  name=$(basename "$src" .c)
  [[ "$name" =~ $filter ]] || continue
  echo "-- $name" >&2
  go_bin=
  if [ -f "bench/go/$name/main.go" ]; then
    if (cd "bench/go/$name" && go build -o "$tmp/go_$name" . ) >&2; then
      go_bin="$tmp/go_$name"
    else
      echo "   (go twin of $name failed to build)" >&2
    fi
  fi
  [ -x "$build/bench/$name" ] || echo "   (keel binary $build/bench/$name missing)" >&2
  for ((r = 1; r <= rounds; r++)); do
    if [ -x "$build/bench/$name" ]; then
      "$build/bench/$name" | grep '^BENCH ' | sed "s/^BENCH /keel $r /" >>"$tmp/lines"
    fi
    if [ -n "$go_bin" ]; then
      "$go_bin" | grep '^BENCH ' | sed "s/^BENCH /go $r /" >>"$tmp/lines"
    fi
  done
done

touch "$tmp/lines"
python3 - "$tmp/lines" "$out" <<'PY'
import json, statistics, sys
lines, out = sys.argv[1], sys.argv[2]
runs, units, order = {"keel": {}, "go": {}}, {}, []   # runs[side][case][round]
for line in open(lines):
    parts = line.split()
    if len(parts) < 4:
        continue
    side, rnd, case, value = parts[0], int(parts[1]), parts[2], float(parts[3])
    units[case] = parts[4] if len(parts) > 4 else "ns"
    if case not in order:
        order.append(case)
    runs[side].setdefault(case, {})[rnd] = value
med = lambda d: statistics.median(d.values()) if d else None
rows = []
print(f"{'case':<40} {'keel':>14} {'go':>14} {'ratio':>7} {'rounds':>13}")
for case in order:
    kr, gr = runs["keel"].get(case, {}), runs["go"].get(case, {})
    k, g = med(kr), med(gr)
    ratio = (k / g) if (k is not None and g) else None
    paired = [kr[r] / gr[r] for r in kr if r in gr and gr[r]]
    row = {"name": case, "keel_ns": k, "go_ns": g,
           "ratio": round(ratio, 4) if ratio is not None else None}
    if paired:
        row["ratio_min"], row["ratio_max"] = round(min(paired), 4), round(max(paired), 4)
    row["rounds"] = max(len(kr), len(gr))
    if units[case] != "ns":
        row["unit"] = units[case]
    rows.append(row)
    fmt = lambda v: "-" if v is None else f"{v:.1f}"
    spread = f"{min(paired):.2f}-{max(paired):.2f}" if paired else "-"
    print(f"{case:<40} {fmt(k):>14} {fmt(g):>14} {('-' if ratio is None else f'{ratio:.3f}'):>7} {spread:>13}  {units[case]}")
json.dump(rows, open(out, "w"), indent=1)
print(f"\nwrote {out} (medians of {max((r['rounds'] for r in rows), default=0)} rounds; ratio range of the paired rounds)")
PY
