#!/usr/bin/env bash
# A bounded libFuzzer run of the assembler + interpreter harness (tests/fuzz/fuzz_vm.c):
# builds it with clang, -Dfuzz=true and AddressSanitizer + UBSan in build-fuzz/ (or
# $WALTZ_FUZZ_BUILD), then fuzzes for SECONDS (default 60) from a temporary copy of
# tests/fuzz/corpus (the repository's corpus never grows), one job, -timeout=5 per input,
# -rss_limit_mb=2048, the dictionary tests/fuzz/vm.dict. Exits non-zero on any crash,
# sanitizer report, leak, timeout or out-of-memory; the reproducer is left in the build
# directory (crash-*, leak-*, timeout-*, oom-*) and named on stderr.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "waltz: error: fuzz.sh takes a number of seconds, not '$seconds'" >&2; exit 2; }
dir=${WALTZ_FUZZ_BUILD:-build-fuzz}
command -v clang >/dev/null || { echo "waltz: error: fuzz.sh needs clang (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
if [ ! -f "$dir/build.ninja" ]; then
    CC=clang meson setup "$dir" -Dfuzz=true -Dbuildtype=debugoptimized -Dwerror=true \
        -Db_sanitize=address,undefined -Db_lundef=false >"$dir.setup.log" 2>&1 ||
        { cat "$dir.setup.log"; exit 1; }
fi
ninja -C "$dir" -j2 tests/fuzz/fuzz_vm >"$dir.build.log" 2>&1 || { cat "$dir.build.log"; exit 1; }
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp tests/fuzz/corpus/* "$corpus"/
artifacts=$(cd "$dir" && pwd)/
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
"$dir/tests/fuzz/fuzz_vm" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
    -max_len=16384 -dict=tests/fuzz/vm.dict -artifact_prefix="$artifacts" -print_final_stats=1 \
    "$corpus"
