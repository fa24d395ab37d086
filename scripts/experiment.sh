#!/usr/bin/env bash
# The main job: installs what is missing (Debian 12, as root), builds waltz (release,
# default strategies) and runs the default experiment: gcbench, binary-trees and
# remset-stress at their WORKLOADS.md sizes, one run directory each, then one table.
# Usage: scripts/experiment.sh [--out DIR] [extra waltz run flags, e.g. --young-size 64M]
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/experiments/$(date +%Y%m%d-%H%M%S)
if [ "${1:-}" = "--out" ]; then
    [ $# -ge 2 ] || { echo "waltz: error: --out needs a directory" >&2; exit 2; }
    out=$2
    shift 2
fi
bash scripts/deps.sh --plots
if [ ! -f build/build.ninja ]; then
    meson setup build --buildtype=release >/dev/null
fi
ninja -C build >/dev/null
mkdir -p "$out"
for workload in gcbench binary-trees remset-stress; do
    echo "== waltz run $workload $*"
    build/tools/waltz/waltz run "$workload" --out "$out/$workload" "$@"
done
# One table for the whole experiment: the three summary rows under one header.
{
    head -n 1 "$out/gcbench/summary.csv"
    for workload in gcbench binary-trees remset-stress; do tail -n +2 "$out/$workload/summary.csv"; done
} >"$out/summary.csv"
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    /usr/bin/python3 tools/plot.py "$out"/*/ --out "$out/plots" >/dev/null && echo "plots: $out/plots"
fi
echo
/usr/bin/python3 - "$out/summary.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cols = [("workload", "workload"), ("wall_ms", "wall ms"), ("pauses", "pauses"),
        ("pause_p50_us", "p50 us"), ("pause_p99_us", "p99 us"), ("pause_max_us", "max us"),
        ("mmu_10ms", "MMU 10ms"), ("checksum", "checksum"), ("status", "status")]
table = [[h for _, h in cols]] + [[r[k] for k, _ in cols] for r in rows]
widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
for row in table:
    print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
PY
echo "experiment: $out"
