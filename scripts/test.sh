#!/usr/bin/env bash
# The whole test suite: installs what is missing (Debian 12, as root), then builds and
# tests waltz in several configurations, each in its own build directory:
#   store-buffer  default strategies, -Dremembered_set=store-buffer, every suite
#   slot-set      -Dremembered_set=slot-set, every suite
#   card-table    -Dremembered_set=card-table, every suite
#   parallel      -Dyoung_gc=parallel, every suite (1 to 8 GC threads, stealing on and off)
#   parallel-slot-set, parallel-card-table
#                 -Dyoung_gc=parallel with the other remembered sets: the collector suites
#                 (barrier, heap, gc, scavenge) and the integration runs
#   asan          AddressSanitizer + UBSan, every suite
#   asan-card-table  the same with -Dyoung_gc=parallel -Dremembered_set=card-table
#                 -Dold_gc=concurrent -Dmarking_barrier=dijkstra: the collector suites
#                 (marking and concurrent sweeping included) and the integration runs
#   tsan          ThreadSanitizer, -Dyoung_gc=parallel: the concurrency suites (platform,
#                 safepoint, barrier, gc, scavenge, telemetry), the toy VM (vm, deopt, jit, codecache) and the
#                 integration runs (in ThreadSanitizer builds without the verifier, which
#                 made them ten times slower)
#   tsan-card-table  the same with -Dremembered_set=card-table (barrier, gc, scavenge,
#                 integration)
#   incremental-dijkstra, incremental-satb, concurrent-dijkstra, concurrent-satb
#                 -Dold_gc=... -Dmarking_barrier=... with the parallel scavenger (the
#                 serial one for incremental-satb): the collector suites (barrier, heap, gc,
#                 marking, scavenge), cli and the integration runs, in which scavenges run
#                 during marking cycles under --gc-stress, and the toy VM (vm, deopt, jit,
#                 codecache: its programs run during marking cycles too)
#   tsan-concurrent  ThreadSanitizer, -Dold_gc=concurrent -Dmarking_barrier=satb with the
#                 parallel scavenger: platform, safepoint, barrier, gc, marking, scavenge,
#                 telemetry, the marking-integration runs and the toy VM (vm, deopt, jit,
#                 codecache)
#   tsan-concurrent-dijkstra  the same with -Dmarking_barrier=dijkstra (barrier, gc, marking,
#                 marking-integration, deopt, codecache; the vm and jit suites' runs, a
#                 minute and a half under ThreadSanitizer, are tsan-concurrent's)
#   numa-disabled -Dnuma=disabled: the cli and platform suites (--pin is refused)
#   eager         -Dcode_unlinking=eager with concurrent SATB marking and the parallel
#                 scavenger: the toy VM and the code cache (vm, deopt, jit, codecache)
#   no-code-lists -Dcode_lists=none: the toy VM and the code cache (vm, jit, codecache)
#   fuzz          scripts/fuzz.sh 90: clang, -Dfuzz=true, AddressSanitizer + UBSan, a
#                 bounded libFuzzer run of the assembler + interpreter harness
#                 (tests/fuzz); one test, passed when it finds no crash, leak or hang
# Warnings are errors in every build. Ends with the line "N passed, N failed".
# Usage: scripts/test.sh [CONFIG ...]   (default: all of them)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || exit 1

configs=("$@")
all_configs=(store-buffer slot-set card-table parallel parallel-slot-set parallel-card-table asan
    asan-card-table tsan tsan-card-table incremental-dijkstra incremental-satb concurrent-dijkstra
    concurrent-satb tsan-concurrent tsan-concurrent-dijkstra numa-disabled eager no-code-lists fuzz)
[ ${#configs[@]} -eq 0 ] && configs=("${all_configs[@]}")
passed=0
failed=0
mkdir -p build-test
failures=build-test/failures.txt # every failed test of this run, named by configuration
: >"$failures"

count_results() { # log file
    local ok fail
    ok=$(grep -E '^Ok:' "$1" | awk '{print $2}' | tail -1)
    fail=$(grep -E '^(Fail|Timeout):' "$1" | awk '{s += $2} END {print s + 0}')
    passed=$((passed + ${ok:-0}))
    failed=$((failed + ${fail:-0}))
}

run_config() { # name, setup options..., -- test suites...
    local name=$1 dir=build-test/$1 start=$SECONDS
    shift
    local setup=() suites=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do setup+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    for s in "$@"; do suites+=(--suite "$s"); done
    echo "== $name: meson setup ${setup[*]}"
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dwerror=true "${setup[@]}" >"$dir.setup.log" 2>&1 ||
            { cat "$dir.setup.log"; echo "$name: setup FAILED" >>"$failures"; failed=$((failed + 1)); return; }
    fi
    if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
        cat "$dir.build.log"
        echo "== $name: build FAILED"
        echo "$name: build FAILED (log: $dir.build.log)" >>"$failures"
        failed=$((failed + 1))
        return
    fi
    local log=$dir.test.log built=$SECONDS
    meson test -C "$dir" --print-errorlogs --num-processes 2 "${suites[@]}" 2>&1 | tee "$log" |
        grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Timeout|Skipped|Expected Fail|Unexpected Pass):'
    count_results "$log"
    sed '/^Summary of Failures/q' "$log" | grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR) ' |
        sed "s|^|$name: |" >>"$failures"
    echo "== $name: $((built - start)) s build, $((SECONDS - built)) s tests"
}

# --- fuzz: not a meson test suite but one test of its own --------------------------------
# A bounded libFuzzer run (scripts/fuzz.sh) in build-test/fuzz; about 100 s on 2
# cores with the clang build. Counts as one passed or one failed test.
run_fuzz() {
    local start=$SECONDS log=build-test/fuzz.log
    echo "== fuzz: scripts/fuzz.sh 90"
    if WALTZ_FUZZ_BUILD=build-test/fuzz bash scripts/fuzz.sh 90 >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "== fuzz: OK ($(grep -E '^Done ' "$log" | tail -1))"
    else
        failed=$((failed + 1))
        tail -60 "$log"
        echo "== fuzz: FAILED (log: $log)"
        echo "fuzz: FAILED (log: $log)" >>"$failures"
    fi
    echo "== fuzz: $((SECONDS - start)) s"
}

mkdir -p build-test
for c in "${configs[@]}"; do
    case $c in
    store-buffer) run_config store-buffer -Dbuildtype=debugoptimized -Dremembered_set=store-buffer ;;
    slot-set) run_config slot-set -Dbuildtype=debugoptimized -Dremembered_set=slot-set ;;
    card-table) run_config card-table -Dbuildtype=debugoptimized -Dremembered_set=card-table ;;
    parallel) run_config parallel -Dbuildtype=debugoptimized -Dyoung_gc=parallel ;;
    parallel-slot-set | parallel-card-table)
        run_config "$c" -Dbuildtype=debugoptimized -Dyoung_gc=parallel \
            -Dremembered_set="${c#parallel-}" -- barrier heap gc scavenge integration ;;
    asan) run_config asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false ;;
    asan-card-table) run_config asan-card-table -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false -Dyoung_gc=parallel \
        -Dremembered_set=card-table -Dold_gc=concurrent -Dmarking_barrier=dijkstra \
        -- barrier heap gc marking scavenge integration ;;
    tsan) run_config tsan -Dbuildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false \
        -Dyoung_gc=parallel -- platform safepoint barrier gc marking scavenge telemetry integration vm deopt jit codecache ;;
    tsan-card-table) run_config tsan-card-table -Dbuildtype=debugoptimized -Db_sanitize=thread \
        -Db_lundef=false -Dyoung_gc=parallel -Dremembered_set=card-table \
        -- barrier gc scavenge integration ;;
    incremental-dijkstra | concurrent-dijkstra | concurrent-satb)
        run_config "$c" -Dbuildtype=debugoptimized -Dyoung_gc=parallel -Dold_gc="${c%-*}" \
            -Dmarking_barrier="${c#*-}" -- barrier heap gc marking scavenge cli integration vm deopt jit codecache ;;
    incremental-satb) run_config incremental-satb -Dbuildtype=debugoptimized -Dold_gc=incremental \
        -Dmarking_barrier=satb -- barrier heap gc marking scavenge cli integration vm deopt jit \
        codecache ;;
    tsan-concurrent) run_config tsan-concurrent -Dbuildtype=debugoptimized -Db_sanitize=thread \
        -Db_lundef=false -Dyoung_gc=parallel -Dold_gc=concurrent -Dmarking_barrier=satb \
        -- platform safepoint barrier gc marking scavenge telemetry marking-integration vm deopt \
        jit codecache ;;
    tsan-concurrent-dijkstra) run_config tsan-concurrent-dijkstra -Dbuildtype=debugoptimized \
        -Db_sanitize=thread -Db_lundef=false -Dyoung_gc=parallel -Dold_gc=concurrent \
        -Dmarking_barrier=dijkstra -- barrier gc marking marking-integration deopt codecache ;;
    numa-disabled) run_config numa-disabled -Dbuildtype=debugoptimized -Dnuma=disabled -- cli platform ;;
    eager) run_config eager -Dbuildtype=debugoptimized -Dcode_unlinking=eager -Dyoung_gc=parallel \
        -Dold_gc=concurrent -Dmarking_barrier=satb -- vm deopt jit codecache ;;
    no-code-lists) run_config no-code-lists -Dbuildtype=debugoptimized -Dcode_lists=none \
        -- vm jit codecache ;;
    fuzz) run_fuzz ;;
    *)
        echo "waltz: error: unknown test configuration '$c' (${all_configs[*]})" >&2
        exit 2
        ;;
    esac
done
echo "== all: $SECONDS s"
if [ -s "$failures" ]; then
    echo "== failed tests (logs: build-test/CONFIG.test.log):"
    cat "$failures"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
