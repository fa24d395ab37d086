#!/bin/bash
# Differential runs of lib/jit: every program of workloads/jit gives the same result
# (main's value and the checksum) with --opt on and --opt off, with --osr off, under
# --deopt-stress 1, 3
# and 7, --gc-stress, --verify-heap and with 4 mutators; a small tier-up threshold makes
# the hot functions optimize. fib must really be optimized (the stats line). Bad values
# of the new flags are one error line and exit status 2. Mode "tsan" skips the verifier.
set -u
waltz=$1 root=$2 work=$3 mode=${4:-full}
rm -rf "$work" && mkdir -p "$work"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
verify=--verify-heap
[ "$mode" = tsan ] && verify=
common=(--young-size 512K --heap-size 64M --tierup-calls 10 --tierup-loops 100)
n=0
result() { # prints "main returned ...|checksum ..." of one run, or fails
    n=$((n + 1))
    local out="$work/run$n.txt"
    if ! "$waltz" run jit "$@" "${common[@]}" --out "$work/run$n" >"$out" 2>&1; then
        fail "waltz run jit $* exited non-zero: $(tail -2 "$out")"
        return
    fi
    echo "$(grep '^main returned' "$out")|$(grep '^checksum' "$out")"
}
for prog in fib nbody objects arrays closures intloop; do
    file=$root/workloads/jit/$prog.vm
    for flags in "--repeat 2" "--repeat 2 --unbox-doubles off" "--repeat 2 --osr off" \
        "--repeat 2 --deopt-stress 1" \
        "--repeat 2 --deopt-stress 3" \
        "--repeat 2 --deopt-stress 7" "--gc-stress 7 $verify" "--gc-stress 50 --deopt-stress 3 $verify" \
        "--mutators 4 --repeat 2" "--mutators 4 --deopt-stress 7"; do
        # shellcheck disable=SC2086
        off=$(result "$file" --opt off $flags)
        # shellcheck disable=SC2086
        on=$(result "$file" --opt on $flags)
        [[ "$off" == "main returned"*"|checksum "* ]] && [ "$off" = "$on" ] || fail "$prog $flags: --opt off '$off', --opt on '$on'"
    done
    rm -rf "$work"/run[0-9]*
done

# deopt-storm (its own checksum is checked against its formula by waltz): the same
# checksum with the tier on and off; with it on, deopts.csv holds the guards that failed
# (not_smi and wrong_map per round and mutator, each materializing the elided object).
storm() { # prints the checksum line of one deopt-storm run, or fails
    n=$((n + 1))
    local out="$work/storm$n.txt"
    if ! "$waltz" run deopt-storm "$@" --iterations 1024 --rounds 2 --garbage 8 \
        --young-size 512K --heap-size 64M --out "$work/storm$n" >"$out" 2>&1; then
        fail "waltz run deopt-storm $* exited non-zero: $(tail -2 "$out")"
        return
    fi
    grep '^checksum' "$out"
}
for flags in "" "--deopt-stress 3" "--gc-stress 7 $verify" "--mutators 4" \
    "--mutators 4 --deopt-stress 7 --gc-stress 50 $verify"; do
    # shellcheck disable=SC2086
    off=$(storm --opt off $flags)
    # shellcheck disable=SC2086
    on=$(storm --opt on $flags)
    [[ "$off" == "checksum "* ]] && [ "$off" = "$on" ] || fail "deopt-storm $flags: --opt off '$off', --opt on '$on'"
done
"$waltz" run deopt-storm --iterations 1024 --rounds 2 --mutators 2 --out "$work/storm-csv" \
    >/dev/null 2>&1 || fail "deopt-storm --mutators 2 failed"
csv=$work/storm-csv/deopts.csv
[ "$(head -1 "$csv" | tr ',' '\n' | wc -l)" -eq 16 ] || fail "deopts.csv header: $(head -1 "$csv")"
rows=$(tail -n +2 "$csv" | wc -l)
[ "$(tail -n +2 "$csv" | cut -d, -f8 | grep -c '^not_smi$')" -eq 4 ] &&
    [ "$(tail -n +2 "$csv" | cut -d, -f8 | grep -c '^wrong_map$')" -eq 4 ] &&
    [ "$rows" -eq 8 ] || fail "deopt-storm deopts.csv: $rows rows: $(tail -n +2 "$csv" | cut -d, -f5-10)"
[ "$(tail -n +2 "$csv" | awk -F, '$10 >= 1' | wc -l)" -eq 8 ] ||
    fail "deopt-storm: a deopt materialized nothing: $(tail -n +2 "$csv" | cut -d, -f5-11)"
"$waltz" run deopt-storm --iterations 1024 --rounds 2 --opt off --out "$work/storm-off" \
    >/dev/null 2>&1 || fail "deopt-storm --opt off failed"
[ "$(wc -l <"$work/storm-off/deopts.csv")" -eq 1 ] || fail "deopt-storm --opt off has deopts"

# shared-code: the same checksum with the tier on and off, and the build's unlinking at
# work (lazy: the entry check resets the closures; eager: the deopt does).
shared() { # prints the checksum line of one shared-code run, or fails
    n=$((n + 1))
    local out="$work/shared$n.txt"
    if ! "$waltz" run shared-code "$@" --closures 50 --calls 5 --rounds 3 --tierup-calls 10 \
        --young-size 512K --heap-size 64M --out "$work/shared$n" >"$out" 2>&1; then
        fail "waltz run shared-code $* exited non-zero: $(tail -2 "$out")"
        return
    fi
    grep '^checksum' "$out"
}
for flags in "" "--deopt-stress 3" "--gc-stress 7 $verify" "--mutators 4 --deopt-stress 7" \
    "--mutators 4 --gc-stress 7 $verify"; do
    # shellcheck disable=SC2086
    off=$(shared --opt off $flags)
    # shellcheck disable=SC2086
    on=$(shared --opt on $flags)
    [[ "$off" == "checksum "* ]] && [ "$off" = "$on" ] || fail "shared-code $flags: --opt off '$off', --opt on '$on'"
done
unlinking=$("$waltz" info | awk '$1 == "code_unlinking" {print $2}')
shared --opt on >/dev/null
line=$(grep '^jit' "$work/shared$n.txt")
lazy=$(echo "$line" | sed -n 's/.*lazy unlinks \([0-9]*\).*/\1/p')
eager=$(echo "$line" | sed -n 's/.*eager unlinks \([0-9]*\).*/\1/p')
links=$(echo "$line" | sed -n 's/.*shared code links \([0-9]*\).*/\1/p')
if [ "$unlinking" = eager ]; then
    [ "${eager:-0}" -gt 0 ] && [ "${lazy:-1}" -eq 0 ] || fail "shared-code, eager build: $line"
else
    [ "${lazy:-0}" -gt 0 ] && [ "${eager:-1}" -eq 0 ] || fail "shared-code, lazy build: $line"
fi
[ "${links:-0}" -gt 0 ] || fail "shared-code: no closure shared the code: $line"
# With --full-gc on every round ends in an old-generation collection that finds the
# round's deoptimized code unreachable: cycles.csv counts it unlinked from the code lists
# (code_lists=weak-lists), or nothing (none).
lists=$("$waltz" info | awk '$1 == "code_lists" {print $2}')
for o in off on; do
    "$waltz" run shared-code --opt $o --full-gc on --closures 50 --calls 5 --rounds 3 \
        --tierup-calls 10 --out "$work/shared-gc-$o" >"$work/shared-gc-$o.txt" 2>&1 ||
        fail "shared-code --full-gc on --opt $o: $(tail -2 "$work/shared-gc-$o.txt")"
done
[ "$(grep '^checksum' "$work/shared-gc-on.txt")" = "$(grep '^checksum' "$work/shared-gc-off.txt")" ] ||
    fail "shared-code --full-gc on: the checksums differ"
unlinked=$(awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "code_unlinked_count") c = i}
    NR > 1 {s += $c} END {print s + 0}' "$work/shared-gc-on/cycles.csv")
if [ "$lists" = none ]; then
    [ "$unlinked" -eq 0 ] || fail "shared-code --full-gc on, code_lists=none: $unlinked unlinked"
else
    [ "$unlinked" -ge 3 ] || fail "shared-code --full-gc on: $unlinked code objects unlinked"
fi

# choreography: the same checksum with the tier on and off (and with 4 mutators under
# stress); with it on, its one deopt waited for the pending scavenge in its entry poll,
# the scavenge flushed the remembered set, the code went to the deoptimized list (a
# trace.json span) and the full GC unlinked it (cycles.csv; none without code lists).
for flags in "--opt off" "--opt on" "--opt on --mutators 4 --gc-stress 7 $verify"; do
    dir=$work/choreo-${flags// /}
    # shellcheck disable=SC2086
    "$waltz" run choreography $flags --warmup 200 --tierup-calls 50 --out "$dir" \
        >"$dir.txt" 2>&1 || fail "choreography $flags: $(tail -2 "$dir.txt")"
    grep -qx 'checksum 21509' "$dir.txt" || fail "choreography $flags: $(grep checksum "$dir.txt")"
done
dir=$work/choreo---opton
col() { # file column: the values of a named CSV column
    awk -F, -v want="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == want) c = i; next}
        {print $c}' "$1"
}
[ "$(tail -n +2 "$dir/deopts.csv" | wc -l)" -eq 1 ] || fail "choreography: not one deopt"
awk -v w="$(col "$dir/deopts.csv" waited_for_gc_us)" 'BEGIN {exit !(w > 0)}' ||
    fail "choreography: the deopt did not wait for the scavenge: $(cat "$dir/deopts.csv")"
grep -q '"code to the deoptimized list"\|"code marked for deoptimization (no code lists)"' \
    "$dir/trace.json" || fail "choreography: no code list span in trace.json"
unlinked=$(col "$dir/cycles.csv" code_unlinked_count | awk '{s += $1} END {print s + 0}')
if [ "$lists" = none ]; then
    [ "$unlinked" -eq 0 ] || fail "choreography, code_lists=none: $unlinked unlinked"
else
    [ "$unlinked" -ge 1 ] || fail "choreography: the full GC unlinked no code"
fi
# map-churn: the same checksum with the tier on and off, under stress, the verifier and
# 4 mutators (the classes are shared: one thread's generalization invalidates the
# others' code through handshakes); with it on and one mutator, every round's sum
# deoptimizes lazily (dependency_changed) when touch returns to it, and the handshake's
# stack walk found its frame (code_lists=none: the only way it is found).
for flags in "--opt off" "--opt on" "--opt on --gc-stress 7 $verify" "--opt on --deopt-stress 5" \
    "--opt on --mutators 4 --gc-stress 11 $verify" "--opt on --mutators 4 --tierup-calls 20"; do
    dir=$work/churn-${flags// /}
    # shellcheck disable=SC2086
    "$waltz" run map-churn $flags --objects 300 --passes 12 --rounds 4 --tierup-loops 1000 \
        --out "$dir" >"$dir.txt" 2>&1 || fail "map-churn $flags: $(tail -2 "$dir.txt")"
    want=2689804 # rounds x ((passes + 3) S - 2 t + 1), S = objects (objects - 1) / 2, t = objects / 2
    [[ $flags == *"--mutators 4"* ]] && want=$((4 * want))
    grep -qx "checksum $want" "$dir.txt" || fail "map-churn $flags: $(grep checksum "$dir.txt")"
done
dir=$work/churn---opton
lazy=$(awk -F, 'NR > 1 && $7 == "lazy" && $8 == "dependency_changed"' "$dir/deopts.csv" | wc -l)
[ "$lazy" -eq 4 ] || fail "map-churn: $lazy lazy dependency_changed deopts, not 4: $(cat "$dir/deopts.csv")"
grep -Eq 'field dependencies [1-9][0-9]*, lazy deopts 4, invalidated code [0-9]+ \(frames [1-9]' "$dir.txt" ||
    fail "map-churn: $(grep '^jit' "$dir.txt")"

# osr-loop: the same checksum with the tier on and off, with OSR off, under stress, the
# verifier and 4 mutators; with it on and one mutator, each round compiles OSR code twice
# (the inner call's loop, then the outer's after its deopt), hits the cache once (the outer
# frame finds the inner's code), deoptimizes out of it once (not_smi), and the full GC that
# ends the round clears the one entry left (cycles.csv osr_entries_cleared_count).
for flags in "--opt off" "--opt on" "--opt on --osr off" "--opt on --gc-stress 7 $verify" \
    "--opt on --deopt-stress 5" "--opt on --mutators 4 --gc-stress 11 $verify" \
    "--opt on --full-gc off --unbox-doubles off"; do
    dir=$work/osr-${flags// /}
    # shellcheck disable=SC2086
    "$waltz" run osr-loop $flags --iterations 3000 --rounds 4 --tierup-loops 1000 \
        --out "$dir" >"$dir.txt" 2>&1 || fail "osr-loop $flags: $(tail -2 "$dir.txt")"
    want=59984 # (iterations - 1) rounds (rounds + 1) + rounds
    [[ $flags == *"--mutators 4"* ]] && want=$((4 * want))
    grep -qx "checksum $want" "$dir.txt" || fail "osr-loop $flags: $(grep checksum "$dir.txt")"
done
dir=$work/osr---opton
grep -q 'OSR entries 12 (compiles 8, cache hits 4)$' "$dir.txt" ||
    fail "osr-loop: $(grep -o 'OSR entries.*' "$dir.txt")"
[ "$(awk -F, 'NR > 1 && $7 == "eager" && $8 == "not_smi" && $16 != ""' "$dir/deopts.csv" | wc -l)" -eq 4 ] ||
    fail "osr-loop: deopts.csv $(cat "$dir/deopts.csv")"
[ "$(awk -F, 'NR > 1 && $3 == "full" { s += $13 } END { print s + 0 }' "$dir/cycles.csv")" -eq 4 ] ||
    fail "osr-loop: cycles.csv osr_entries_cleared_count: $(cat "$dir/cycles.csv")"
grep -q 'OSR entries 0 (compiles 0, cache hits 0)$' "$work/osr---opton--osroff.txt" ||
    fail "osr-loop --osr off: $(grep -o 'OSR entries.*' "$work/osr---opton--osroff.txt")"

"$waltz" run choreography --mutators 1 --out "$work/choreo-1" >/dev/null 2>"$work/choreo-1.err"
[ $? -eq 2 ] && grep -qx "waltz: error: waltz run choreography needs --mutators 2 or more, not 1" \
    "$work/choreo-1.err" || fail "choreography --mutators 1: $(cat "$work/choreo-1.err")"

"$waltz" run jit "$root/workloads/jit/fib.vm" --out "$work/stats" >"$work/stats.txt" 2>&1
grep -Eq '^jit \(--opt on\): functions optimized [1-9][0-9]*, .*optimized calls [1-9]' \
    "$work/stats.txt" || fail "fib was not optimized: $(grep '^jit' "$work/stats.txt")"
"$waltz" run jit "$root/workloads/jit/fib.vm" --opt off --out "$work/stats-off" \
    >"$work/stats-off.txt" 2>&1
grep -Eq '^jit \(--opt off\): functions optimized 0, ' "$work/stats-off.txt" ||
    fail "--opt off optimized: $(grep '^jit' "$work/stats-off.txt")"
# Under --deopt-stress 1 fib deopts at the same site every time: after JIT_SITE_MAX_DEOPTS
# (2) there, the next compiles stop speculating at it, until the cap of 5 deopts.
"$waltz" run jit "$root/workloads/jit/fib.vm" --deopt-stress 1 --tierup-calls 10 \
    --out "$work/stats-k" >"$work/stats-k.txt" 2>&1
grep -Eq 'functions optimized 5, .* deopts 5 \(stress 5\), soft deopts 0, unspeculated sites 3,' \
    "$work/stats-k.txt" || fail "fib --deopt-stress 1: $(grep '^jit' "$work/stats-k.txt")"

# Deep recursion: optimized activations count as frames, so both tiers stop at the frame
# limit with a stack overflow (and neither crashes); 1500 deep fits in both.
deep() { # depth
    printf 'function down params 1 registers 3\n  LdaSmi 0\n  TestEqual r0\n  JumpIfFalse more\n  LdaSmi 0\n  Return\nmore:\n  LdaGlobal down\n  Star r1\n  Ldar r0\n  Dec\n  Star r2\n  Call r1, r2, 1\n  Inc\n  Return\nend\nfunction main registers 2\n  LdaGlobal down\n  Star r0\n  LdaSmi %d\n  Star r1\n  Call r0, r1, 1\n  Return\nend\n' "$1" >"$work/deep.vm"
}
deep 5000
for o in off on; do
    "$waltz" run jit "$work/deep.vm" --opt $o --tierup-calls 2 --quiet --out "$work/deep-$o" \
        >/dev/null 2>"$work/deep-$o.err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "stack overflow: more than 2048 frames" "$work/deep-$o.err" ||
        fail "deep recursion --opt $o: exit $rc, $(cat "$work/deep-$o.err")"
done
deep 1500
for o in off on; do
    "$waltz" run jit "$work/deep.vm" --opt $o --tierup-calls 2 --quiet --out "$work/deep2-$o" \
        >"$work/deep2-$o.out" 2>&1
    grep -qx "checksum 1500" "$work/deep2-$o.out" || fail "1500 deep --opt $o: $(cat "$work/deep2-$o.out")"
done

bad() { # expected stderr line, flags
    local want=$1
    shift
    "$waltz" run jit "$root/workloads/jit/fib.vm" "$@" --quiet --out "$work/bad" >/dev/null \
        2>"$work/bad.err"
    local rc=$?
    [ $rc -eq 2 ] || fail "$*: exit status $rc, expected 2"
    [ "$(wc -l <"$work/bad.err")" -eq 1 ] || fail "$*: stderr is not one line"
    grep -qx -- "$want" "$work/bad.err" || fail "$*: stderr '$(cat "$work/bad.err")'"
}
bad "waltz: error: --opt: 'maybe' is not off or on" --opt maybe
bad "waltz: error: --deopt-stress: 'x' .*" --deopt-stress x
bad "waltz: error: --tierup-calls 0 is out of range for jit: 1..1000000000" --tierup-calls 0
"$waltz" run jit --help >"$work/help" 2>&1
grep -q -- "--opt off|on .*(default on)" "$work/help" || fail "--help does not show --opt"
grep -q -- "--deopt-stress N" "$work/help" || fail "--help does not show --deopt-stress"
grep -q -- "--unbox-doubles off|on .*(default on)" "$work/help" ||
    fail "--help does not show --unbox-doubles"
grep -q -- "--osr off|on .*(default on)" "$work/help" || fail "--help does not show --osr"

# nbody's hot loop computes on unboxed doubles, and boxes fewer results than it computes.
"$waltz" run jit "$root/workloads/jit/nbody.vm" --repeat 3 "${common[@]}" --out "$work/nbody" \
    >"$work/nbody.txt" 2>&1
line=$(grep '^jit' "$work/nbody.txt")
ops=$(echo "$line" | sed -n 's/.*double ops \([0-9]*\) (boxes \([0-9]*\)).*/\1/p')
boxes=$(echo "$line" | sed -n 's/.*double ops \([0-9]*\) (boxes \([0-9]*\)).*/\2/p')
[ -n "$ops" ] && [ "$ops" -gt 0 ] && [ "$boxes" -lt "$ops" ] || fail "nbody unboxed: $line"

[ $fails -eq 0 ] && echo "jit differential: all checks passed"
exit $((fails > 0))
