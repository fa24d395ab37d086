#!/usr/bin/env bash
# usage: good_input.sh WALTZ [--expect REGEX]... -- [ARGS...]
# Runs WALTZ ARGS in an empty directory; checks exit status 0, an empty stderr, and that
# stdout has a line matching each extended REGEX.
set -u
waltz=$(realpath "$1")
shift
expects=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case "$1" in
    --expect) expects+=("$2"); shift 2 ;;
    *) echo "good_input.sh: unknown option $1" >&2; exit 1 ;;
    esac
done
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

"$waltz" "$@" >stdout.txt 2>stderr.txt
status=$?
fail=0
report() { echo "FAIL: waltz $*" >&2; fail=1; }

[ "$status" -eq 0 ] || report "$@" ": exit status $status, expected 0"
[ -s stderr.txt ] && report "$@" ": wrote to stderr: $(cat stderr.txt)"
[ -s stdout.txt ] || report "$@" ": printed nothing"
for re in "${expects[@]+"${expects[@]}"}"; do
    grep -Eq -- "$re" stdout.txt || report "$@" ": no line of stdout matches /$re/"
done

echo "--- stdout of: waltz $*"
cat stdout.txt
exit "$fail"
