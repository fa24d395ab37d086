#!/usr/bin/python3
"""Summarizes a bench/codecache/run output directory (standard library only).

codecache.csv, one row per build (lazy, eager, nolists):
  wall_ms          median over repetitions of summary.csv's wall_ms (shared-code, no GC)
  deopts, deopt_p50_us, deopt_p99_us   every repetition's deopts.csv rows together
  weak_ms          median over repetitions of the summed duration of the "weak" phase
                   of phases.csv (shared-code --full-gc on: one old-generation pause per
                   round)
  full_gc_pause_ms median over repetitions of the summed full pauses (pauses.csv)
  wall_vs_lazy     median of the per-repetition ratios wall(build) / wall(lazy)
  weak_vs_nolists  median of the per-repetition ratios weak(build) / weak(nolists)

osr.csv, one row per --osr setting of osr-loop (lazy build):
  wall_ms          median over repetitions of summary.csv's wall_ms
  off_vs_on        median of the per-repetition ratios wall(off) / wall(on)
  osr_entries, osr_compiles, osr_cache_hits   the jit line of the first repetition
  osr_entries_cleared   cycles.csv osr_entries_cleared_count summed (first repetition)
"""
import re
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def pct(values, p):
    if not values:
        return ""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1)))))
    return round(v[k], 3)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def ratio(per_rep, build, base):
    r = [v[build] / v[base] for v in per_rep.values() if build in v and base in v and v[base] > 0]
    return round(statistics.median(r), 3) if r else ""


def main(out):
    out = Path(out)
    with open(out / "manifest.tsv", newline="") as f:
        runs = [r for r in csv.DictReader(f, delimiter="\t") if r["exit_status"] == "0"]
    wall = defaultdict(dict)   # rep -> build -> ms
    weak = defaultdict(dict)   # rep -> build -> ms
    pause = defaultdict(dict)  # rep -> build -> ms
    deopts = defaultdict(list)
    osr_wall = defaultdict(dict)  # rep -> "on"/"off" -> ms
    osr_first = {}                # "on"/"off" -> (entries, compiles, hits, cleared)
    for r in runs:
        d = Path(r["dir"])
        if r["mode"].startswith("osr-"):
            o = r["mode"][4:]
            osr_wall[r["rep"]][o] = float(read_csv(d / "summary.csv")[0]["wall_ms"])
            if o not in osr_first:
                m = re.search(r"OSR entries (\d+) \(compiles (\d+), cache hits (\d+)\)",
                              Path(str(d) + ".stdout").read_text())
                cleared = sum(int(c["osr_entries_cleared_count"])
                              for c in read_csv(d / "cycles.csv"))
                osr_first[o] = (m.groups() if m else ("", "", "")) + (cleared,)
            continue
        if r["mode"] == "plain":
            wall[r["rep"]][r["build"]] = float(read_csv(d / "summary.csv")[0]["wall_ms"])
            deopts[r["build"]] += [float(x["duration_us"]) for x in read_csv(d / "deopts.csv")]
        else:
            weak[r["rep"]][r["build"]] = sum(
                float(p["duration_us"]) for p in read_csv(d / "phases.csv")
                if p["phase"] == "weak") / 1000.0
            pause[r["rep"]][r["build"]] = sum(
                float(p["duration_us"]) for p in read_csv(d / "pauses.csv")
                if p["kind"] == "full") / 1000.0

    def median_of(table, build):
        v = [x[build] for x in table.values() if build in x]
        return round(statistics.median(v), 3) if v else ""

    with open(out / "codecache.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["build", "wall_ms", "deopts", "deopt_p50_us", "deopt_p99_us", "weak_ms",
                    "full_gc_pause_ms", "wall_vs_lazy", "weak_vs_nolists"])
        print("build     wall ms  deopts  p50 us  p99 us  weak ms  full pauses ms  wall/lazy"
              "  weak/nolists")
        for b in ("lazy", "eager", "nolists"):
            row = [b, median_of(wall, b), len(deopts[b]), pct(deopts[b], 50), pct(deopts[b], 99),
                   median_of(weak, b), median_of(pause, b), ratio(wall, b, "lazy"),
                   ratio(weak, b, "nolists")]
            w.writerow(row)
            print(f"{row[0]:8} {row[1]!s:>8} {row[2]!s:>7} {row[3]!s:>7} {row[4]!s:>7}"
                  f" {row[5]!s:>8} {row[6]!s:>15} {row[7]!s:>10} {row[8]!s:>13}")

    with open(out / "osr.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["osr", "wall_ms", "off_vs_on", "osr_entries", "osr_compiles",
                    "osr_cache_hits", "osr_entries_cleared"])
        print("osr-loop  wall ms  off/on  OSR entries  compiles  cache hits  cleared by GC")
        for o in ("on", "off"):
            first = osr_first.get(o, ("", "", "", ""))
            row = [o, median_of(osr_wall, o), ratio(osr_wall, "off", "on") if o == "on" else "",
                   *first]
            w.writerow(row)
            print(f"--osr {row[0]:3} {row[1]!s:>8} {row[2]!s:>7} {row[3]!s:>12} {row[4]!s:>9}"
                  f" {row[5]!s:>11} {row[6]!s:>14}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: summarize.py OUTPUT_DIR", file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
