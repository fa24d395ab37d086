#!/bin/bash
# waltz run jit FILE: a good program runs and writes its run directory; a bad or
# missing FILE is one "waltz: error:" line naming the place, exit status 2, and no run
# directory; a wrong .expect fails the run (exit 1, run.json "failed").
set -u
waltz=$1 root=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$waltz" run jit "$root/workloads/jit/fib.vm" --quiet --out "$work/good" >"$work/out" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "good run exited $rc: $(cat "$work/out")"
grep -qx 'checksum 75025' "$work/out" || fail "good run: no 'checksum 75025' line"
[ -f "$work/good/run.json" ] && grep -q '"status": "ok"' "$work/good/run.json" ||
    fail "good run: run.json missing or not ok"
grep -q '"file"' "$work/good/run.json" || fail "good run: run.json does not record the file"

# A FILE with a long path (CI's clones are deep): it runs, run.json records it whole, and
# its assembly errors name it whole.
long=$work/$(printf 'd%.0s' $(seq 1 200))/$(printf 'e%.0s' $(seq 1 200))
mkdir -p "$long" && cp "$root/workloads/jit/fib.vm" "$long/fib.vm"
"$waltz" run jit "$long/fib.vm" --quiet --out "$work/long" >"$work/long.out" 2>&1 ||
    fail "long path: $(cat "$work/long.out")"
grep -q "\"$long/fib.vm\"" "$work/long/run.json" || fail "long path: run.json does not hold it"
grep -q "\"command_line\": \".* run jit $long/fib.vm --quiet --out $work/long\"" \
    "$work/long/run.json" || fail "long path: run.json's command_line is not whole"
printf 'function main\n    Bogus\nend\n' >"$long/bogus.vm"
"$waltz" run jit "$long/bogus.vm" --quiet --out "$work/long-bogus" >/dev/null 2>"$work/long.err"
grep -qx "waltz: error: $long/bogus.vm:2:5: error: unknown opcode 'Bogus'" "$work/long.err" ||
    fail "long path: $(cat "$work/long.err")"

bad() { # name, expected stderr line (grep -x pattern), file contents
    local name=$1 want=$2
    printf '%b' "$3" >"$work/$name.vm"
    "$waltz" run jit "$work/$name.vm" --quiet --out "$work/run-$name" >"$work/$name.out" \
        2>"$work/$name.err"
    local rc=$?
    [ $rc -eq 2 ] || fail "$name: exit status $rc, expected 2"
    [ "$(wc -l <"$work/$name.err")" -eq 1 ] || fail "$name: stderr is not one line: $(cat "$work/$name.err")"
    grep -qx -- "$want" "$work/$name.err" || fail "$name: stderr '$(cat "$work/$name.err")' does not match '$want'"
    [ ! -e "$work/run-$name" ] || fail "$name: a run directory was written"
}
bad unknown-opcode "waltz: error: .*/unknown-opcode.vm:2:5: error: unknown opcode 'Bogus'" \
    'function main\n    Bogus\nend\n'
bad empty "waltz: error: .*/empty.vm:1:1: error: the program has no functions (it needs a 'main')" ''
bad garbage "waltz: error: .*/garbage.vm:1:1: error: unexpected byte 0x.. (not printable ASCII)" \
    '\x00\x01\x02\xff\xfe'
bad missing-end "waltz: error: .*/missing-end.vm:3:1: error: missing 'end' of the last function" \
    'function main\n    Return\n'

"$waltz" run jit "$work/no-such-file.vm" --quiet --out "$work/run-nofile" >/dev/null 2>"$work/nofile.err"
rc=$?
[ $rc -eq 2 ] || fail "missing file: exit status $rc"
grep -qx "waltz: error: .*no-such-file.vm: error: cannot open: No such file or directory" \
    "$work/nofile.err" || fail "missing file: $(cat "$work/nofile.err")"

"$waltz" run jit --quiet >/dev/null 2>"$work/nofile2.err"
rc=$?
[ $rc -eq 2 ] && grep -qx "waltz: error: waltz run jit needs a FILE: waltz run jit FILE \[flags\]" \
    "$work/nofile2.err" || fail "no FILE: exit $rc, $(cat "$work/nofile2.err")"

"$waltz" run jit a.vm b.vm >/dev/null 2>"$work/two.err"
[ $? -eq 2 ] || fail "two files accepted"

printf 'function main\n    LdaSmi 41\n    Return\nend\n.expect 42\n' >"$work/wrong.vm"
"$waltz" run jit "$work/wrong.vm" --quiet --out "$work/run-wrong" >/dev/null 2>"$work/wrong.err"
rc=$?
[ $rc -eq 1 ] || fail "wrong result: exit status $rc, expected 1"
grep -qx "waltz: error: workload jit failed: mutator 0: main returned 41, the program expects 42" \
    "$work/wrong.err" || fail "wrong result: $(cat "$work/wrong.err")"
grep -q '"status": "failed"' "$work/run-wrong/run.json" || fail "wrong result: run.json not failed"

printf 'function main registers 1\n    LdaSmi 1\n    Star r0\n    Call r0, r0, 0\n    Return\nend\n' >"$work/rterr.vm"
"$waltz" run jit "$work/rterr.vm" --quiet --out "$work/run-rterr" >/dev/null 2>"$work/rterr.err"
rc=$?
[ $rc -eq 1 ] && grep -qx "waltz: error: workload jit failed: mutator 0: run-time error: main@7: calling a non-function: 1" \
    "$work/rterr.err" || fail "run-time error: exit $rc, $(cat "$work/rterr.err")"

"$waltz" run jit --help >"$work/help" 2>&1 && grep -q "usage: waltz run jit FILE" "$work/help" ||
    fail "waltz run jit --help"

[ $fails -eq 0 ] && echo "jit cli: all checks passed"
exit $((fails > 0))
