#!/usr/bin/env bash
# usage: bad_input.sh WALTZ [ARGS...]
# Runs WALTZ ARGS in an empty directory and checks the contract for bad input
# (tools/waltz/cli.h): exit status 2, exactly one line on stderr that starts with
# "waltz: error: ", nothing on stdout, and no file written.
set -u
waltz=$(realpath "$1")
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

"$waltz" "$@" >"$work.out" 2>"$work.err"
status=$?
mv "$work.out" stdout.txt
mv "$work.err" stderr.txt
fail=0
report() { echo "FAIL: waltz $*" >&2; fail=1; }

[ "$status" -eq 2 ] || report "$@" ": exit status $status, expected 2"
lines=$(wc -l <stderr.txt)
[ "$lines" -eq 1 ] || report "$@" ": $lines lines on stderr, expected 1"
head -n 1 stderr.txt | grep -q '^waltz: error: ' || report "$@" ": stderr does not start with 'waltz: error: '"
[ -s stdout.txt ] && report "$@" ": wrote to stdout"
extra=$(ls -A | grep -v -x -e stdout.txt -e stderr.txt)
[ -z "$extra" ] || report "$@" ": left files behind: $extra"

echo "--- stderr of: waltz $*"
cat stderr.txt
exit "$fail"
