#!/usr/bin/python3
"""Summarizes a bench/scavenge/run output directory: throughput.csv, steal.csv,
ceiling.csv, runs.csv and a table on stdout (copy.csv, written by copy_bench, is only
printed).

Per run, from the run directory (shared/design/OUTPUTS.md): pauses.csv rows of kind
scavenge give the scavenge count, mean and p99 (nearest rank) pause, mean evacuate
phase and throughput = (copied + promoted bytes) / total scavenge pause in ms; phases.csv
rows 'evacuate_task' (one per GC task per parallel scavenge) give steals per scavenge,
the idle share (idle_us / task duration), the share of the objects copied by the
busiest task in each scavenge (summed over scavenges, divided by all objects copied),
the start skew (last task start - first task start, over the scavenges in which more
than one task ran) and the share of scavenges in which more than one task ran (task 0
wakes the others only once it has work to share: lib/scavenge/parallel.c).
The ceiling part: the serial build alone (solo) and two serial processes at once (pair-a,
pair-b); inflation = mean of the pair's mean pauses / solo's, per repetition, and
ceiling = 2 / inflation, the speedup that two GC threads could reach if they shared
nothing but the machine (an upper bound: the pair's pauses overlap the other process's
mutator as often as its pauses).
Across repetitions: medians; a ratio is taken within each repetition (configurations
of one repetition ran back to back) and the median of those is reported.

Usage: summarize.py OUT_DIR   (standard library only)
"""
import csv
import json
import os
import statistics
import sys


def nearest_rank(values, pct):
    if not values:
        return None
    s = sorted(values)
    k = max(1, -(-len(s) * pct // 100))  # ceil(n * pct / 100), at least 1
    return s[int(k) - 1]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run_metrics(run_dir):
    """The numbers of one finished run, or None if its directory says it failed."""
    try:
        with open(os.path.join(run_dir, "run.json")) as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    if info.get("status") != "ok":
        return None
    pauses = [r for r in read_csv(os.path.join(run_dir, "pauses.csv")) if r["kind"] == "scavenge"]
    durations = [float(r["duration_us"]) for r in pauses]
    moved = sum(int(r["copied_bytes"]) + int(r["promoted_bytes"]) for r in pauses)
    m = {
        "scavenges": len(pauses),
        "mean_pause_us": statistics.mean(durations) if durations else None,
        "p99_pause_us": nearest_rank(durations, 99),
        "max_pause_us": max(durations) if durations else None,
        "mean_evacuate_us": statistics.mean(float(r["evacuate_us"]) for r in pauses) if pauses else None,
        "moved_bytes": moved,
        "throughput_bytes_per_ms": moved / (sum(durations) / 1000) if durations and sum(durations) > 0 else None,
        "steals_per_scavenge": None,
        "idle_share": None,
        "busiest_task_item_share": None,
        "start_skew_us": None,
        "multi_task_share": None,
    }
    summary = read_csv(os.path.join(run_dir, "summary.csv"))
    m["wall_ms"] = float(summary[0]["wall_ms"]) if summary else None
    scavenge_ids = {r["pause_id"] for r in pauses}
    tasks = {}
    for r in read_csv(os.path.join(run_dir, "phases.csv")):
        if r["phase"] == "evacuate_task" and r["pause_id"] in scavenge_ids:
            tasks.setdefault(r["pause_id"], []).append(r)
    if tasks and any(len(t) > 1 for t in tasks.values()):
        all_rows = [r for t in tasks.values() for r in t]
        busy = sum(float(r["duration_us"]) for r in all_rows)
        m["steals_per_scavenge"] = sum(int(r["steals"]) for r in all_rows) / len(tasks)
        m["idle_share"] = sum(float(r["idle_us"]) for r in all_rows) / busy if busy else None
        # Weighted by objects: the many tiny scavenges would otherwise dominate the mean.
        busiest = sum(max(int(r["items"]) for r in t) for t in tasks.values())
        total = sum(int(r["items"]) for r in all_rows)
        m["busiest_task_item_share"] = busiest / total if total else None
        multi = [t for t in tasks.values() if len(t) > 1]
        m["start_skew_us"] = statistics.mean(
            max(float(r["start_us"]) for r in t) - min(float(r["start_us"]) for r in t)
            for t in multi)
        m["multi_task_share"] = len(multi) / len(tasks)
    return m


METRICS = ["scavenges", "mean_pause_us", "p99_pause_us", "max_pause_us", "mean_evacuate_us",
           "throughput_bytes_per_ms", "steals_per_scavenge", "idle_share",
           "busiest_task_item_share", "start_skew_us", "multi_task_share", "wall_ms"]


def median_of(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def paired_ratio(runs_a, runs_b, key, invert=False):
    """Median over repetitions of a/b (b/a if invert), pairing runs of the same repetition."""
    b_by_rep = {r["rep"]: r for r in runs_b}
    ratios = []
    for a in runs_a:
        b = b_by_rep.get(a["rep"])
        if b and a.get(key) and b.get(key):
            ratios.append(b[key] / a[key] if invert else a[key] / b[key])
    return statistics.median(ratios) if ratios else None


def fmt(v, digits=1):
    if v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


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
    runs = []
    failed = 0
    with open(os.path.join(out, "manifest.tsv"), newline="") as f:
        manifest = list(csv.DictReader(f, delimiter="\t"))
    for row in manifest:
        m = run_metrics(row["dir"]) if row["exit_status"] == "0" else None
        r = dict(row)
        r["rep"] = int(row["rep"])
        r["status"] = "ok" if m else "failed"
        if m is None:
            failed += 1
        else:
            r.update(m)
        runs.append(r)

    header = ["part", "workload", "params", "config", "rep", "status", "process_wall_s"] + METRICS
    write_csv(os.path.join(out, "runs.csv"), header,
              [[r["part"], r["workload"], r["params"], r["config"], r["rep"], r["status"],
                r["process_wall_s"]] + [fmt(r.get(k), 3) for k in METRICS] for r in runs])

    def group(part, workload, config):
        return [r for r in runs if r["part"] == part and r["workload"] == workload
                and r["config"] == config and r["status"] == "ok"]

    # --- throughput: serial against parallel -------------------------------------------------
    tp = [r for r in runs if r["part"] == "throughput"]
    if tp:
        workloads = list(dict.fromkeys((r["workload"], r["params"]) for r in tp))
        order = ["serial", "parallel-g2", "parallel-g1", "parallel-g2-lastchild",
                 "parallel-g1-lastchild"]
        configs = sorted(dict.fromkeys(r["config"] for r in tp),
                         key=lambda c: order.index(c) if c in order else len(order))
        header = ["workload", "params", "config", "runs_ok", "runs", "scavenges", "mean_pause_us",
                  "p99_pause_us", "mean_evacuate_us", "throughput_bytes_per_ms",
                  "speedup_mean_pause", "speedup_p99_pause", "speedup_throughput",
                  "steals_per_scavenge", "idle_share", "busiest_task_item_share", "start_skew_us",
                  "multi_task_share"]
        rows, table = [], []
        for wl, params in workloads:
            base = group("throughput", wl, "serial")
            for c in configs:
                g = group("throughput", wl, c)
                n = len([r for r in tp if r["workload"] == wl and r["config"] == c])
                sp_mean = paired_ratio(g, base, "mean_pause_us", invert=True)
                sp_p99 = paired_ratio(g, base, "p99_pause_us", invert=True)
                sp_tp = paired_ratio(g, base, "throughput_bytes_per_ms")
                med = {k: median_of(g, k) for k in METRICS}
                rows.append([wl, params, c, len(g), n, fmt(med["scavenges"], 0),
                             fmt(med["mean_pause_us"]), fmt(med["p99_pause_us"]),
                             fmt(med["mean_evacuate_us"]), fmt(med["throughput_bytes_per_ms"], 0),
                             fmt(sp_mean, 3), fmt(sp_p99, 3), fmt(sp_tp, 3),
                             fmt(med["steals_per_scavenge"]), fmt(med["idle_share"], 3),
                             fmt(med["busiest_task_item_share"], 3), fmt(med["start_skew_us"]),
                             fmt(med["multi_task_share"], 3)])
                table.append([wl, c, f"{len(g)}/{n}", fmt(med["scavenges"], 0),
                              fmt(med["mean_pause_us"] and med["mean_pause_us"] / 1000, 2),
                              fmt(med["p99_pause_us"] and med["p99_pause_us"] / 1000, 2),
                              fmt(med["throughput_bytes_per_ms"] and med["throughput_bytes_per_ms"] / 1000, 0),
                              fmt(sp_mean, 2), fmt(sp_p99, 2), fmt(sp_tp, 2),
                              fmt(med["busiest_task_item_share"], 2), fmt(med["idle_share"], 2)])
        write_csv(os.path.join(out, "throughput.csv"), header, rows)
        print_table("Scavenge throughput and pauses (medians; speedups: serial/this for pauses, "
                    "this/serial for throughput, paired per repetition)",
                    ["workload", "config", "ok", "scav", "mean_ms", "p99_ms", "MB/s",
                     "x_mean", "x_p99", "x_tput", "busiest", "idle"], table)

    # --- steal: on against off on unbalanced --------------------------------------------------
    st = [r for r in runs if r["part"] == "steal"]
    if st:
        wl = st[0]["workload"]
        on, off, one = (group("steal", wl, c) for c in ("steal-on", "steal-off", "parallel-g1"))
        header = ["workload", "params", "metric", "steal_on", "steal_off", "one_thread",
                  "on_over_off", "runs_ok_on", "runs_ok_off", "runs_ok_one_thread"]
        rows, table = [], []
        for k in ["mean_pause_us", "mean_evacuate_us", "p99_pause_us", "scavenges",
                  "steals_per_scavenge", "idle_share", "busiest_task_item_share", "start_skew_us",
                  "wall_ms"]:
            ratio = paired_ratio(on, off, k) if k in ("mean_pause_us", "mean_evacuate_us",
                                                       "p99_pause_us", "wall_ms") else None
            vals = [median_of(on, k), median_of(off, k), median_of(one, k)]
            digits = 3 if k in ("idle_share", "busiest_task_item_share") else 1
            rows.append([wl, st[0]["params"], k] + [fmt(v, digits) for v in vals]
                        + [fmt(ratio, 3), len(on), len(off), len(one)])
            table.append([k] + [fmt(v, digits) for v in vals] + [fmt(ratio, 3)])
        write_csv(os.path.join(out, "steal.csv"), header, rows)
        print_table(f"Work stealing on {wl} {st[0]['params']} (parallel, 2 GC threads; medians; "
                    "on/off paired per repetition, below 1: stealing wins)",
                    ["metric", "steal_on", "steal_off", "1_thread", "on/off"], table)

    # --- ceiling: two serial processes at once against one -------------------------------------
    ce = [r for r in runs if r["part"] == "ceiling"]
    if ce:
        header = ["workload", "params", "runs_ok_solo", "runs_ok_pair", "solo_mean_pause_us",
                  "pair_mean_pause_us", "inflation", "ceiling_speedup"]
        rows, table = [], []
        for wl, params in dict.fromkeys((r["workload"], r["params"]) for r in ce):
            solo = {r["rep"]: r for r in group("ceiling", wl, "solo")}
            a = {r["rep"]: r for r in group("ceiling", wl, "pair-a")}
            b = {r["rep"]: r for r in group("ceiling", wl, "pair-b")}
            pair, inflation = [], []
            for rep_n in sorted(set(a) & set(b)):
                both = statistics.mean([a[rep_n]["mean_pause_us"], b[rep_n]["mean_pause_us"]])
                pair.append(both)
                if rep_n in solo:
                    inflation.append(both / solo[rep_n]["mean_pause_us"])
            infl = statistics.median(inflation) if inflation else None
            ceiling = 2 / infl if infl else None
            solo_med = median_of(list(solo.values()), "mean_pause_us")
            pair_med = statistics.median(pair) if pair else None
            rows.append([wl, params, len(solo), len(pair), fmt(solo_med), fmt(pair_med),
                         fmt(infl, 3), fmt(ceiling, 3)])
            table.append([wl, f"{len(solo)}/{len(pair)}",
                          fmt(solo_med and solo_med / 1000, 2), fmt(pair_med and pair_med / 1000, 2),
                          fmt(infl, 3), fmt(ceiling, 2)])
        write_csv(os.path.join(out, "ceiling.csv"), header, rows)
        print_table("Ceiling: the serial build alone against two serial processes at once "
                    "(mean scavenge pause, ms; inflation paired per repetition; ceiling = "
                    "2 / inflation)",
                    ["workload", "ok", "solo_ms", "pair_ms", "inflation", "ceiling"], table)

    copy_csv = os.path.join(out, "copy.csv")
    if os.path.exists(copy_csv) and os.path.getsize(copy_csv):
        rows = read_csv(copy_csv)
        print_table("Copy rate of large survivors against memcpy (MB/s; evacuation = roots + "
                    "evacuate phases; medians)",
                    ["build", "thr", "kind", "bytes", "dest", "scavenge", "memcpy", "ratio"],
                    [[r["build"], r["gc_threads"], r["kind"], r["object_bytes"], r["destination"],
                      r["evacuation_mb_per_s"], r["memcpy_mb_per_s"], r["evacuation_memcpy_ratio"]]
                     for r in rows])
    if failed:
        print(f"{failed} run(s) FAILED: see runs.csv and the .stderr files beside the run directories")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
