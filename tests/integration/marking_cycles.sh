#!/bin/bash
# Marking cycles happen, and their telemetry says so (old_gc=incremental|concurrent):
# graph-mutator with an old generation past the point where the policy starts a cycle
# (70% of the 32 MiB minimum old limit), no --gc-stress, so the policy alone starts them.
# cycles.csv must have marking rows with marked bytes and concurrent (or step) time,
# pauses.csv a mark_start and a mark_finalize pause per cycle, and phases.csv the marking
# work outside pauses: mark_concurrent rows from the marker tasks (concurrent) or
# mark_step rows on the mutator (incremental), and concurrent sweeping (concurrent).
set -u
waltz=$1 old_gc=$2 work=$3
rm -rf "$work"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
"$waltz" run graph-mutator --nodes 300000 --rewires 1000000 --young-size 1M --heap-size 256M \
    --quiet --out "$work" || { echo "FAIL: the run failed"; exit 1; }
col() { # file, column name: its index
    head -1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1
}
c=$work/cycles.csv p=$work/pauses.csv f=$work/phases.csv
kind=$(col "$c" kind) marked=$(col "$c" marked_bytes) conc=$(col "$c" concurrent_us)
cycles=$(awk -F, -v k="$kind" -v m="$marked" -v t="$conc" \
    'NR > 1 && $k == "marking" && $m > 0 && $t > 0' "$c" | wc -l)
[ "$cycles" -ge 1 ] || fail "no marking cycle with marked bytes and concurrent time: $(cat "$c")"
pk=$(col "$p" kind)
starts=$(awk -F, -v k="$pk" 'NR > 1 && $k == "mark_start"' "$p" | wc -l)
finals=$(awk -F, -v k="$pk" 'NR > 1 && $k == "mark_finalize"' "$p" | wc -l)
[ "$starts" -ge "$cycles" ] && [ "$finals" -ge "$cycles" ] ||
    fail "$cycles marking cycles but $starts mark_start and $finals mark_finalize pauses"
ph=$(col "$f" phase) wk=$(col "$f" worker)
if [ "$old_gc" = concurrent ]; then
    workers=$(awk -F, -v k="$ph" -v w="$wk" 'NR > 1 && $k == "mark_concurrent" { print $w }' "$f" |
        sort -u | wc -l)
    [ "$workers" -ge 1 ] || fail "no mark_concurrent rows in phases.csv"
    sweeps=$(awk -F, -v k="$ph" 'NR > 1 && $k == "sweep_concurrent"' "$f" | wc -l)
    [ "$sweeps" -ge 1 ] || fail "no sweep_concurrent rows in phases.csv"
else
    steps=$(awk -F, -v k="$ph" 'NR > 1 && $k == "mark_step"' "$f" | wc -l)
    [ "$steps" -ge 1 ] || fail "no mark_step rows in phases.csv"
fi
[ $fails -eq 0 ] && echo "marking cycles: $cycles, with their pauses and phases"
exit $((fails > 0))
