#!/usr/bin/python3
"""Summarizes a bench/jit/run output directory (standard library only).

speed.csv: per program, the median over repetitions of summary.csv's wall_ms with
--opt off, with --opt on --unbox-doubles off ("boxed") and with --opt on, and the medians
of the per-repetition ratios off/on and boxed/on (runs of one repetition ran side by
side).
latency.csv: bench/deopt_latency's samples (latency-samples.csv): per mode (none: no
collection pending; pending: a scavenge pending at the deopt's entry poll) the count and
duration_us p50/p99/max, and waited_for_gc_us p50.
deopts.csv: per deopt-storm configuration (opt, mutators), the deopts of every
repetition together: count, duration_us p50/p99, how many waited for a collection in
their entry poll, reasons; plus the pauses (count, p50/p99/max us).
storm.txt: the same as text tables.
"""
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


def main(out):
    out = Path(out)
    with open(out / "manifest.tsv", newline="") as f:
        runs = list(csv.DictReader(f, delimiter="\t"))
    failed = [r for r in runs if r["exit_status"] != "0"]
    wall = defaultdict(dict)  # (name) -> rep -> opt -> wall_ms
    storm = defaultdict(lambda: {"deopts": [], "pauses": []})
    for r in runs:
        if r["exit_status"] != "0":
            continue
        d = Path(r["dir"])
        summary = read_csv(d / "summary.csv")[0]
        if r["kind"] == "speed":
            wall[r["name"]].setdefault(r["rep"], {})[r["opt"]] = float(summary["wall_ms"])
        else:
            key = (r["opt"], r["mutators"])
            storm[key]["deopts"] += read_csv(d / "deopts.csv")
            storm[key]["pauses"] += read_csv(d / "pauses.csv")
            storm[key].setdefault("wall", []).append(float(summary["wall_ms"]))

    with open(out / "speed.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["program", "reps", "wall_ms_off", "wall_ms_boxed", "wall_ms_on",
                    "speedup_off_over_on", "unboxing_boxed_over_on"])
        print("program      reps  wall ms off  wall ms boxed   wall ms on   off/on   boxed/on"
              " (medians of paired ratios)")
        for name in sorted(wall):
            pairs = [v for v in wall[name].values() if "off" in v and "on" in v]
            if not pairs:
                continue
            off = statistics.median(p["off"] for p in pairs)
            on = statistics.median(p["on"] for p in pairs)
            ratio = statistics.median(p["off"] / p["on"] for p in pairs)
            boxed_pairs = [p for p in pairs if "boxed" in p]
            boxed = statistics.median(p["boxed"] for p in boxed_pairs) if boxed_pairs else None
            unbox = (statistics.median(p["boxed"] / p["on"] for p in boxed_pairs)
                     if boxed_pairs else None)
            w.writerow([name, len(pairs), round(off, 2), "" if boxed is None else round(boxed, 2),
                        round(on, 2), round(ratio, 3), "" if unbox is None else round(unbox, 3)])
            bs = "" if boxed is None else f"{boxed:11.1f}"
            us = "" if unbox is None else f"{unbox:.2f}x"
            print(f"{name:12} {len(pairs):4}  {off:11.1f}  {bs:>13}  {on:11.1f}   {ratio:.2f}x"
                  f"   {us}")

    lines = []
    with open(out / "deopts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["opt", "mutators", "runs", "wall_ms_median", "deopts", "p50_us", "p99_us",
                    "pending_gc_deopts", "pending_p50_us", "pending_p99_us",
                    "no_gc_deopts", "no_gc_p50_us", "no_gc_p99_us", "reasons",
                    "pauses", "pause_p50_us", "pause_p99_us", "pause_max_us"])
        for (opt, m), s in sorted(storm.items()):
            dur = [float(d["duration_us"]) for d in s["deopts"]]
            pend = [float(d["duration_us"]) for d in s["deopts"] if float(d["waited_for_gc_us"]) > 0]
            free = [float(d["duration_us"]) for d in s["deopts"] if float(d["waited_for_gc_us"]) == 0]
            reasons = defaultdict(int)
            for d in s["deopts"]:
                reasons[d["reason"]] += 1
            reason_text = " ".join(f"{k}:{v}" for k, v in sorted(reasons.items()))
            pauses = [float(p["duration_us"]) for p in s["pauses"]]
            row = [opt, m, len(s["wall"]), round(statistics.median(s["wall"]), 2), len(dur),
                   pct(dur, 50), pct(dur, 99), len(pend), pct(pend, 50), pct(pend, 99),
                   len(free), pct(free, 50), pct(free, 99), reason_text,
                   len(pauses), pct(pauses, 50), pct(pauses, 99), pct(pauses, 100)]
            w.writerow(row)
            lines.append(f"deopt-storm --opt {opt}, {m} mutator(s), {len(s['wall'])} run(s): "
                         f"wall median {row[3]} ms")
            lines.append(f"  deopts {len(dur)} ({reason_text or 'none'}): p50 {row[5]} us, "
                         f"p99 {row[6]} us")
            lines.append(f"    of which waited for a collection in their entry poll: {len(pend)}")
            lines.append(f"  pauses {len(pauses)}: p50 {row[15]} us, p99 {row[16]} us, "
                         f"max {row[17]} us")
    samples = out / "latency-samples.csv"
    if samples.exists():
        rows = read_csv(samples)
        with open(out / "latency.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["mode", "samples", "p50_us", "p99_us", "max_us", "waited_for_gc_p50_us"])
            lines.append("one eager deopt (bench/deopt_latency):")
            for mode in ("none", "pending"):
                dur = [float(r["duration_us"]) for r in rows if r["mode"] == mode]
                wait = [float(r["waited_for_gc_us"]) for r in rows if r["mode"] == mode]
                w.writerow([mode, len(dur), pct(dur, 50), pct(dur, 99), pct(dur, 100),
                            pct(wait, 50)])
                lines.append(f"  {mode:8} {len(dur)} samples: p50 {pct(dur, 50)} us, "
                             f"p99 {pct(dur, 99)} us, max {pct(dur, 100)} us "
                             f"(entry poll p50 {pct(wait, 50)} us)")
    text = "\n".join(lines) + "\n"
    (out / "storm.txt").write_text(text)
    print(text, end="")
    if failed:
        print(f"{len(failed)} run(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
