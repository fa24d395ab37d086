#!/usr/bin/env bash
# usage: pinning.sh WALTZ [CHECK...] -- [ARGS...]
# Runs "WALTZ run ARGS --out out" in an empty directory (it must succeed) and checks
# the placement recorded in out/run.json and the pinning column of out/summary.csv:
#   --summary TEXT     run.json "pinning" and summary.csv pinning are TEXT
#                      ("numa", "numa(planned)", ...)
#   --applied BOOL     placement.applied is true or false; when true every thread slot
#                      says "bound": true and uses only PUs this machine has; when
#                      false there is a reason and no slot is bound
#   --source TEXT      placement.topology_source
#   --slots "R:I ..."  the slots in order, role:index (mutator:0 ... gc:1 ...)
#   --nodes "N ..."    each slot's NUMA node
#   --first-cpus "C ..."  each slot's first PU
#   --cpu-count N      every slot has N PUs, consecutive
#   --pages yes|no     placement.page_binding lists chunks bound (yes: at least one, and
#                      the semispaces dealt round-robin) or is null (no)
set -u
waltz=$(realpath "$1")
shift
checks=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    checks+=("$1" "$2")
    shift 2
done
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

"$waltz" run "$@" --out out >stdout.txt 2>stderr.txt
status=$?
echo "--- waltz run $* --out out: exit $status"
cat stdout.txt stderr.txt
[ -f out/run.json ] && cat out/run.json
if [ "$status" -ne 0 ]; then
    echo "FAIL: exit status $status, expected 0" >&2
    exit 1
fi
[ -s stderr.txt ] && { echo "FAIL: wrote to stderr" >&2; exit 1; }

python3 - "${checks[@]+"${checks[@]}"}" <<'EOF'
import csv, json, os, sys

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
failures = []
def check(ok, what):
    if not ok:
        failures.append(what)

run = json.load(open("out/run.json"))  # must parse
rows = list(csv.DictReader(open("out/summary.csv")))
p = run["placement"]
threads = p["threads"]
check(run["status"] == "ok", "status is not ok")
check(run["host"]["topology_source"] == "this machine", "host is not this machine")
check(p["gc_worker_0"].startswith("no slot"), "gc_worker_0 not explained")
if "--summary" in args:
    check(run["pinning"] == args["--summary"], f"pinning {run['pinning']!r}")
    check(rows[0]["pinning"] == args["--summary"], f"summary.csv pinning {rows[0]['pinning']!r}")
    check(p["policy"] == args["--summary"].replace("(planned)", ""), f"policy {p['policy']!r}")
if "--source" in args:
    check(p["topology_source"] == args["--source"], f"topology_source {p['topology_source']!r}")
if "--applied" in args:
    applied = args["--applied"] == "true"
    check(p["applied"] is applied, f"applied is {p['applied']}")
    if applied:
        check(p["reason"] is None, "applied with a reason")
        machine = set(range(os.cpu_count()))
        for t in threads:
            check(t["bound"] is True, f"{t['role']} {t['index']} not bound")
            check(set(t["cpus"]) <= machine, f"{t['role']} {t['index']} on PUs {t['cpus']}")
        check(len(threads) == run["mutators"] + run["gc_workers"] - 1, "slot count")
    else:
        check(isinstance(p["reason"], str) and p["reason"], "not applied without a reason")
        check(all(t["bound"] is False for t in threads), "a planned slot is bound")
if "--slots" in args:
    got = [f"{t['role']}:{t['index']}" for t in threads]
    check(got == args["--slots"].split(), f"slots {got}")
if "--nodes" in args:
    got = [t["node"] for t in threads]
    check(got == [int(n) for n in args["--nodes"].split()], f"nodes {got}")
if "--first-cpus" in args:
    got = [t["cpus"][0] for t in threads]
    check(got == [int(c) for c in args["--first-cpus"].split()], f"first cpus {got}")
if "--cpu-count" in args:
    n = int(args["--cpu-count"])
    for t in threads:
        check(t["cpus"] == list(range(t["cpus"][0], t["cpus"][0] + n)),
              f"{t['role']} {t['index']} cpus {t['cpus']}")
if "--pages" in args:
    pages = p["page_binding"]
    if args["--pages"] == "yes":
        check(isinstance(pages, list) and pages, "no page_binding")
        if isinstance(pages, list) and pages:
            chunks = sum(n["chunks"] for n in pages)
            dealt = sum(n["round_robin_chunks"] for n in pages)
            young = run["young_size_bytes"] // (256 * 1024)
            check(chunks >= dealt >= 2 * young, f"{chunks} chunks, {dealt} dealt round-robin")
            check(all(n["bytes"] >= 256 * 1024 * n["chunks"] for n in pages), "bytes")
    else:
        check(pages is None, f"page_binding {pages}")
for f in failures:
    print("FAIL:", f, file=sys.stderr)
sys.exit(1 if failures else 0)
EOF
