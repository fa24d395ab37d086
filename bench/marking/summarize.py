#!/usr/bin/python3
"""Summarizes a bench/marking/run output directory: marking.csv, runs.csv and a table on
stdout. bench/results/README.md describes every column; in short, per run (the run
directory's CSVs, shared/design/OUTPUTS.md):

Old-generation cycles are the completed ones: cycles.csv rows of kind marking or full
(a marking cycle still running when the run ended has no row and is left out, its
mark_start pause and steps too; `unfinished_cycles` counts them).
  mark_main_us_per_cycle  marking time the mutators are stopped for, per cycle: mark_us
                          of the full, mark_start and mark_finalize pauses of those
                          cycles / their number (stw: full pauses only)
  mark_step_us_per_cycle  incremental: phases.csv mark_step rows (marking on the mutator
                          threads, outside pauses) of those cycles / cycles
  concurrent_us_per_cycle concurrent: cycles.csv concurrent_us (marker tasks) / cycles
Pauses: p99 (nearest rank) and max over every pause record (summary.csv), the longest
old-generation pause, and the longest stop (pause records back to back, less than
STOP_GAP_US apart, e.g. a scavenge and the full or mark_start pause it triggered);
MMU at 10 ms from mmu.csv.
Mutator progress with marking on and off: the run is cut at its scavenges; the
interval between two scavenges has a known young allocation (young_before of the second
- young_after of the first) and mutator time (elapsed - the pauses in it). An interval
is 'on' when a marking cycle runs through all of it, 'off' when none does (intervals in
which a cycle starts or ends are left out). The workload is deterministic with one
mutator, so the same stretch of cumulative young allocation is the same work in every
build: the mutator time of the 'on' (or 'off') intervals is divided by the stw run's
mutator time over the same stretches of allocation (same repetition; linear
interpolation inside the stw run's intervals). Above 1: slower than stw doing the same
work.
Across repetitions: medians; a ratio to stw is taken within each repetition and the
median of those is reported.

Usage: summarize.py OUT_DIR   (standard library only)
"""
import csv
import json
import os
import statistics
import sys

STOP_GAP_US = 10.0  # pause records closer than this belong to one stop
TARGET_RATIO = 0.35  # issue 4: main-thread marking time per cycle at least 65% below stw
OLD_KINDS = ("full", "mark_start", "mark_finalize")
CONFIG_ORDER = ["stw", "incremental-dijkstra", "incremental-satb", "concurrent-dijkstra",
                "concurrent-satb"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def stops_of(pauses):
    """Groups of pause records back to back: lists of indices into pauses (by start)."""
    groups, end = [], None
    for i, p in enumerate(pauses):
        if end is not None and p["start"] - end < STOP_GAP_US:
            groups[-1].append(i)
            end = max(end, p["start"] + p["duration"])
        else:
            groups.append([i])
            end = p["start"] + p["duration"]
    return groups


def intervals_of(pauses, steps):
    """Per interval between scavenge i and i+1: cumulative young allocation (bytes) and
    mutator time (us) at both ends, mark_step time in it (us) and the marking state
    ('on', 'off' or 'mixed')."""
    stop_of = {}
    for g in stops_of(pauses):
        for i in g:
            stop_of[i] = g
    scav = [i for i, p in enumerate(pauses) if p["kind"] == "scavenge"]
    marking, state_after, paused_before = False, [], []
    paused = 0.0
    for p in pauses:
        if p["kind"] == "mark_start":
            marking = True
        elif p["kind"] == "mark_finalize":
            marking = False
        state_after.append(marking)
        paused_before.append(paused)
        paused += p["duration"]
    out = []
    alloc = pauses[scav[0]]["young_before"] if scav else 0
    for a, b in zip(scav, scav[1:]):
        last_of_stop = max(i for i in stop_of[a] if i < b)
        resumed = pauses[last_of_stop]["start"] + pauses[last_of_stop]["duration"]
        changes = [i for i in range(last_of_stop + 1, b) if pauses[i]["kind"] in OLD_KINDS]
        state = "mixed" if changes else ("on" if state_after[last_of_stop] else "off")
        end_alloc = alloc + pauses[b]["young_before"] - pauses[a]["young_after"]
        out.append({
            "alloc": (alloc, end_alloc),
            "mutator_us": (pauses[a]["start"] - paused_before[a],
                           pauses[b]["start"] - paused_before[b]),
            "steps_us": sum(d for s, d in steps if resumed <= s < pauses[b]["start"]),
            "state": state,
        })
        alloc = end_alloc
    return out


def mutator_us_at(intervals, alloc):
    """Mutator time of a run at cumulative young allocation alloc, interpolated linearly
    within the interval between scavenges that holds it; None outside the run."""
    lo, hi = 0, len(intervals)
    while lo < hi:  # the first interval ending at or after alloc
        mid = (lo + hi) // 2
        if intervals[mid]["alloc"][1] < alloc:
            lo = mid + 1
        else:
            hi = mid
    if lo == len(intervals) or intervals[lo]["alloc"][0] > alloc:
        return None
    (a0, a1), (m0, m1) = intervals[lo]["alloc"], intervals[lo]["mutator_us"]
    return m0 if a1 == a0 else m0 + (m1 - m0) * (alloc - a0) / (a1 - a0)


def run_metrics(run_dir):
    """The numbers of one finished run, or None if its directory says it failed."""
    try:
        with open(os.path.join(run_dir, "run.json")) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    if info.get("status") != "ok":
        return None
    summary = read_csv(os.path.join(run_dir, "summary.csv"))[0]
    pauses = sorted(({"id": r["pause_id"], "cycle": r["cycle_id"], "kind": r["kind"],
                      "reason": r["reason"], "start": float(r["start_us"]),
                      "duration": float(r["duration_us"]), "mark": float(r["mark_us"]),
                      "young_before": int(r["young_before_bytes"]),
                      "young_after": int(r["young_after_bytes"])}
                     for r in read_csv(os.path.join(run_dir, "pauses.csv"))),
                    key=lambda p: p["start"])
    cycles = [r for r in read_csv(os.path.join(run_dir, "cycles.csv"))
              if r["kind"] in ("marking", "full")]
    done = {r["cycle_id"] for r in cycles}
    phases = [r for r in read_csv(os.path.join(run_dir, "phases.csv")) if r["pause_id"] == ""]
    steps = [(float(r["start_us"]), float(r["duration_us"])) for r in phases
             if r["phase"] == "mark_step"]
    n = len(cycles)
    marking_cycles = [r for r in cycles if r["kind"] == "marking"]
    old_pauses = [p for p in pauses if p["kind"] in OLD_KINDS]
    finalizes = [p for p in old_pauses if p["kind"] == "mark_finalize"]
    mark_main_us = sum(p["mark"] for p in old_pauses if p["cycle"] in done)
    step_us = sum(float(r["duration_us"]) for r in phases
                  if r["phase"] == "mark_step" and r["cycle_id"] in done)
    marker_us = sum(float(r["concurrent_us"]) for r in marking_cycles)
    old_gc = summary["old_gc"]

    def per_cycle(total):
        return total / n if n else None

    # Wall time with a marking cycle under way: mark_start to the end of its finalization
    # (or to the end of the run).
    wall_us = float(summary["wall_ms"]) * 1000
    active_us, since = 0.0, None
    for p in pauses:
        if p["kind"] == "mark_start":
            since = p["start"]
        elif p["kind"] == "mark_finalize" and since is not None:
            active_us += p["start"] + p["duration"] - since
            since = None
    if since is not None:
        active_us += wall_us - since
    mmu_10ms = None
    try:
        for r in read_csv(os.path.join(run_dir, "mmu.csv")):
            if abs(float(r["window_us"]) - 10000) < 1e-6:
                mmu_10ms = float(r["mmu"])
    except OSError:
        pass
    if mmu_10ms is None:
        mmu_10ms = float(summary["mmu_10ms"])
    stop_max = max((pauses[g[-1]]["start"] + pauses[g[-1]]["duration"] - pauses[g[0]]["start"]
                    for g in stops_of(pauses)), default=None)
    return {
        "old_gc": old_gc,
        "marking_barrier": summary["marking_barrier"] if old_gc != "stw" else "",
        "old_cycles": n,
        "marking_cycles": len(marking_cycles),
        "full_cycles": n - len(marking_cycles),
        "unfinished_cycles": len({p["cycle"] for p in old_pauses if p["cycle"] not in done}),
        "completed_by_marker_share": (sum(p["reason"] == "marking_complete" for p in finalizes)
                                      / len(finalizes) if finalizes else None),
        "mark_main_us_per_cycle": per_cycle(mark_main_us),
        "mark_main_total_ms": mark_main_us / 1000,
        "mark_step_us_per_cycle": per_cycle(step_us) if old_gc == "incremental" else None,
        "concurrent_us_per_cycle": per_cycle(marker_us) if old_gc == "concurrent" else None,
        "mark_total_us_per_cycle": per_cycle(mark_main_us + step_us +
                                             (marker_us if old_gc == "concurrent" else 0)),
        "marked_bytes_per_cycle": per_cycle(sum(int(r["marked_bytes"]) for r in cycles)),
        "barrier_slow_count_per_cycle": (sum(int(r["barrier_slow_count"]) for r in marking_cycles)
                                         / len(marking_cycles) if marking_cycles else None),
        "old_pause_max_us": max((p["duration"] for p in old_pauses), default=None),
        "pause_p99_us": float(summary["pause_p99_us"]),
        "pause_max_us": float(summary["pause_max_us"]),
        "stop_max_us": stop_max,
        "mmu_10ms": mmu_10ms,
        "scavenges": sum(p["kind"] == "scavenge" for p in pauses),
        "wall_ms": float(summary["wall_ms"]),
        "mutator_ms": float(summary["mutator_ms"]),
        "gc_pause_total_ms": float(summary["gc_pause_total_ms"]),
        "marking_on_share": active_us / wall_us if wall_us else None,
        "intervals": intervals_of(pauses, steps),
    }


def slowdown(cfg, stw, state, ex_steps=False):
    """Mutator time over the intervals where cfg's marking is in `state`, divided by the
    stw run's mutator time over the same stretches of young allocation. Returns it and
    the number of intervals; None without intervals or outside the stw run."""
    mine = theirs = 0.0
    count = 0
    for iv in cfg["intervals"]:
        if iv["state"] != state or iv["alloc"][1] <= iv["alloc"][0]:
            continue
        t0, t1 = (mutator_us_at(stw["intervals"], a) for a in iv["alloc"])
        if t0 is None or t1 is None:
            continue
        mine += iv["mutator_us"][1] - iv["mutator_us"][0] - (iv["steps_us"] if ex_steps else 0)
        theirs += t1 - t0
        count += 1
    return (mine / theirs if count and theirs > 0 else None), count


def paired_metrics(r, stw):
    """Ratios of run r to the stw run of its repetition (stw may be None)."""
    m = {k: None for k in PAIRED}
    if stw is None:
        return m
    if r.get("mark_main_us_per_cycle") is not None and stw.get("mark_main_us_per_cycle"):
        m["mark_main_ratio_vs_stw"] = r["mark_main_us_per_cycle"] / stw["mark_main_us_per_cycle"]
    if stw.get("mark_main_total_ms"):
        m["mark_main_total_ratio_vs_stw"] = r["mark_main_total_ms"] / stw["mark_main_total_ms"]
    if stw.get("mutator_ms"):
        m["mutator_ms_ratio_vs_stw"] = r["mutator_ms"] / stw["mutator_ms"]
    if r["old_gc"] != "stw":
        m["mut_slowdown_on"], m["on_intervals"] = slowdown(r, stw, "on")
        m["mut_slowdown_off"], m["off_intervals"] = slowdown(r, stw, "off")
        ex = r["old_gc"] == "incremental"
        m["mut_slowdown_on_ex_steps"] = slowdown(r, stw, "on", ex)[0] if ex else m["mut_slowdown_on"]
        if m["mut_slowdown_on_ex_steps"] and m["mut_slowdown_off"]:
            m["marking_on_cost"] = m["mut_slowdown_on_ex_steps"] / m["mut_slowdown_off"] - 1
    return m


METRICS = ["old_cycles", "marking_cycles", "full_cycles", "unfinished_cycles",
           "completed_by_marker_share", "mark_main_us_per_cycle", "mark_main_total_ms",
           "mark_step_us_per_cycle", "concurrent_us_per_cycle", "mark_total_us_per_cycle",
           "marked_bytes_per_cycle", "barrier_slow_count_per_cycle", "pause_p99_us",
           "pause_max_us", "old_pause_max_us", "stop_max_us", "mmu_10ms", "scavenges",
           "wall_ms", "mutator_ms", "gc_pause_total_ms", "marking_on_share"]
PAIRED = ["mark_main_ratio_vs_stw", "mark_main_total_ratio_vs_stw", "mutator_ms_ratio_vs_stw",
          "mut_slowdown_on", "mut_slowdown_on_ex_steps", "mut_slowdown_off", "marking_on_cost",
          "on_intervals", "off_intervals"]
DIGITS = {"completed_by_marker_share": 3, "mmu_10ms": 3, "marking_on_share": 3,
          "mark_main_ratio_vs_stw": 3, "mark_main_total_ratio_vs_stw": 3,
          "mutator_ms_ratio_vs_stw": 3, "mut_slowdown_on": 3, "mut_slowdown_on_ex_steps": 3,
          "mut_slowdown_off": 3, "marking_on_cost": 3, "marked_bytes_per_cycle": 0,
          "barrier_slow_count_per_cycle": 0}


def fmt(v, digits=1):
    if v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def print_table(title, header, rows):
    print(title)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header] + rows:
        print("  " + "  ".join(str(x).rjust(w) for x, w in zip(row, widths)))
    print()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py OUT_DIR")
    out = sys.argv[1]
    with open(os.path.join(out, "manifest.tsv"), newline="") as f:
        manifest = list(csv.DictReader(f, delimiter="\t"))
    runs, failed = [], 0
    for row in manifest:
        m = run_metrics(row["dir"]) if row["exit_status"] == "0" else None
        r = dict(row, rep=int(row["rep"]), status="ok" if m else "failed")
        failed += m is None
        r.update(m or {})
        runs.append(r)
    stw_of = {(r["workload"], r["rep"]): r for r in runs
              if r["config"] == "stw" and r["status"] == "ok"}
    for r in runs:
        if r["status"] == "ok":
            r.update(paired_metrics(r, stw_of.get((r["workload"], r["rep"]))))

    cols = METRICS + PAIRED
    header = ["workload", "params", "config", "rep", "status", "process_wall_s", "dir"] + cols
    write_csv(os.path.join(out, "runs.csv"), header,
              [[r["workload"], r["params"], r["config"], r["rep"], r["status"],
                r["process_wall_s"], os.path.relpath(r["dir"], out)]
               + [fmt(r.get(k), DIGITS.get(k, 1)) for k in cols] for r in runs])

    workloads = list(dict.fromkeys((r["workload"], r["params"]) for r in runs))
    configs = sorted(dict.fromkeys(r["config"] for r in runs),
                     key=lambda c: CONFIG_ORDER.index(c) if c in CONFIG_ORDER else len(CONFIG_ORDER))
    header = ["workload", "params", "config", "old_gc", "marking_barrier", "runs_ok", "runs"] \
        + cols + ["target_met"]
    rows, marking_table, mutator_table = [], [], []
    for wl, params in workloads:
        for c in configs:
            all_runs = [r for r in runs if r["workload"] == wl and r["config"] == c]
            g = [r for r in all_runs if r["status"] == "ok"]
            med = {k: median_of(g, k) for k in cols}
            ratio = med["mark_main_ratio_vs_stw"]
            target = "" if c == "stw" or ratio is None else ("yes" if ratio <= TARGET_RATIO else "no")
            old_gc, barrier = (c, "") if c == "stw" else tuple(c.split("-", 1))
            rows.append([wl, params, c, old_gc, barrier, len(g), len(all_runs)]
                        + [fmt(med[k], DIGITS.get(k, 1)) for k in cols] + [target])

            def ms(k, digits=2):
                return fmt(med[k] / 1000 if med[k] is not None else None, digits)

            marking_table.append([wl, c, f"{len(g)}/{len(all_runs)}", fmt(med["old_cycles"], 0),
                                  ms("mark_main_us_per_cycle"), fmt(ratio, 3), target,
                                  ms("mark_step_us_per_cycle"), ms("concurrent_us_per_cycle"),
                                  fmt(med["completed_by_marker_share"], 2), ms("pause_p99_us"),
                                  ms("pause_max_us"), ms("stop_max_us"), fmt(med["mmu_10ms"], 3)])
            if c != "stw":
                mutator_table.append([wl, c, fmt(med["marking_on_share"], 2),
                                      fmt(med["mut_slowdown_on"], 3),
                                      fmt(med["mut_slowdown_on_ex_steps"], 3)
                                      if old_gc == "incremental" else "",
                                      fmt(med["mut_slowdown_off"], 3), fmt(med["marking_on_cost"], 3),
                                      fmt(med["on_intervals"], 0), fmt(med["mutator_ms_ratio_vs_stw"], 3),
                                      fmt(med["barrier_slow_count_per_cycle"], 0)])
    write_csv(os.path.join(out, "marking.csv"), header, rows)
    print_table(
        "Old-generation marking (medians over repetitions; /stw paired per repetition)\n"
        "  main/cyc: marking time with the mutators stopped, per old-generation cycle (ms);"
        f" /stw: that over stw's (target <= {TARGET_RATIO})\n"
        "  step/cyc: incremental steps on the mutator thread; marker/cyc: concurrent marker"
        " tasks (ms per cycle)\n"
        "  by_mkr: share of cycles finished because marking ran out of work (not cut short by"
        " the old limit)\n"
        "  stop_ms: longest run of back-to-back pauses (e.g. a scavenge and the full GC it"
        " triggered)",
        ["workload", "config", "ok", "cycles", "main/cyc", "/stw", "target", "step/cyc",
         "marker/cyc", "by_mkr", "p99_ms", "max_ms", "stop_ms", "mmu10ms"], marking_table)
    if mutator_table:
        print_table(
            "Mutator progress (medians; each run against the stw run of its repetition over the"
            " same young allocation)\n"
            "  on: share of wall time with a marking cycle running; slow_on, slow_off: mutator"
            " time with marking on, off / stw's\n"
            "  ex_steps: slow_on without the incremental steps; on_cost: slow_on (ex_steps) /"
            " slow_off - 1; n_on: intervals\n"
            "  mut/stw: whole-run mutator time (wall - pauses) / stw's; greyed/cyc: objects"
            " greyed by the marking barrier per cycle",
            ["workload", "config", "on", "slow_on", "ex_steps", "slow_off", "on_cost", "n_on",
             "mut/stw", "greyed/cyc"], mutator_table)
    if failed:
        print(f"{failed} run(s) FAILED: see runs.csv and the .stderr files beside the run directories")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
