#!/usr/bin/env bash
# usage: run_dir.sh WALTZ ok|failed [ARGS...]
# Runs "WALTZ run ARGS --out out" in an empty directory and checks the run directory:
#   ok:     exit 0, stderr empty, a "checksum N" line on stdout, every result file, and
#           run.json says "status": "ok" with that checksum;
#   failed: exit 1, one "waltz: error: " line on stderr, and run.json is the only file
#           left, saying "status": "failed" with that error.
set -u
waltz=$(realpath "$1")
expect=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

"$waltz" run "$@" --out out >stdout.txt 2>stderr.txt
status=$?
fail=0
report() { echo "FAIL: $*" >&2; fail=1; }

[ -f out/run.json ] || report "no run.json"
case "$expect" in
ok)
    [ "$status" -eq 0 ] || report "exit status $status, expected 0"
    [ -s stderr.txt ] && report "wrote to stderr: $(cat stderr.txt)"
    checksum=$(sed -n 's/^checksum \([0-9][0-9]*\)$/\1/p' stdout.txt)
    [ -n "$checksum" ] || report "no 'checksum N' line on stdout"
    for f in run.json pauses.csv phases.csv cycles.csv deopts.csv mmu.csv summary.csv trace.json; do
        [ -s "out/$f" ] || report "missing out/$f"
    done
    grep -q '"status": "ok"' out/run.json || report "run.json does not say ok"
    grep -q "\"checksum\": \"$checksum\"" out/run.json || report "run.json does not hold checksum $checksum"
    grep -q '"run_id": "out"' out/run.json || report "run id is not the directory name"
    ;;
failed)
    [ "$status" -eq 1 ] || report "exit status $status, expected 1"
    [ "$(wc -l <stderr.txt)" -eq 1 ] || report "expected one line on stderr"
    grep -q '^waltz: error: ' stderr.txt || report "stderr does not start with 'waltz: error: '"
    [ "$(ls -A out)" = "run.json" ] || report "files other than run.json: $(ls -A out | tr '\n' ' ')"
    grep -q '"status": "failed"' out/run.json || report "run.json does not say failed"
    message=$(sed 's/^waltz: error: //' stderr.txt)
    grep -qF -- "$message" out/run.json || report "run.json does not hold the error"
    ;;
*)
    report "expected ok or failed, got $expect"
    ;;
esac

echo "--- waltz run $* --out out: exit $status"
cat stdout.txt stderr.txt
[ -f out/run.json ] && cat out/run.json
exit "$fail"
