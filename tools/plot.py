#!/usr/bin/python3
"""Plots of waltz runs: pause timeline, pause-duration CDF and MMU curve.

usage: tools/plot.py RUN_DIR [RUN_DIR ...] [--out DIR]

Each RUN_DIR is a directory written by `waltz run` (pauses.csv, mmu.csv, run.json).
Writes pauses.png (duration of every pause against its start time), pause_cdf.png and
mmu.png (minimum mutator utilization against window size, Cheng & Blelloch 2001), one
line per run, into --out (default: the first run directory). Needs Debian's
python3-matplotlib, so run it with /usr/bin/python3.
"""
import csv
import json
import os
import sys


def fail(message):
    print(f"plot: error: {message}", file=sys.stderr)
    sys.exit(2)


def load(run_dir):
    try:
        with open(os.path.join(run_dir, "run.json")) as f:
            info = json.load(f)
        with open(os.path.join(run_dir, "pauses.csv")) as f:
            pauses = list(csv.DictReader(f))
        with open(os.path.join(run_dir, "mmu.csv")) as f:
            mmu = list(csv.DictReader(f))
    except (OSError, ValueError) as e:
        fail(f"{run_dir}: not a complete waltz run directory ({e})")
    if info.get("status") != "ok":
        fail(f"{run_dir}: run status is {info.get('status')!r}, not ok")
    label = f"{info.get('workload')} [{info.get('build', {}).get('young_gc')}/{info.get('build', {}).get('old_gc')}/{info.get('build', {}).get('remembered_set')}]"
    return label, pauses, mmu


def main(argv):
    out = None
    dirs = []
    i = 0
    while i < len(argv):
        if argv[i] in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        if argv[i] == "--out":
            if i + 1 >= len(argv):
                fail("--out needs a directory")
            out = argv[i + 1]
            i += 2
            continue
        if argv[i].startswith("-"):
            fail(f"unknown option {argv[i]}")
        dirs.append(argv[i])
        i += 1
    if not dirs:
        fail("no run directory given (see --help)")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail("matplotlib is missing: apt-get install python3-matplotlib, and run with /usr/bin/python3")
    runs = [load(d) for d in dirs]
    out = out or dirs[0]
    os.makedirs(out, exist_ok=True)

    fig, ax = plt.subplots(figsize=(8, 4))
    for label, pauses, _ in runs:
        for kind, marker in (("scavenge", "."), ("full", "x"), ("mark_start", "^"), ("mark_finalize", "v")):
            xs = [float(p["start_us"]) / 1e3 for p in pauses if p["kind"] == kind]
            ys = [float(p["duration_us"]) / 1e3 for p in pauses if p["kind"] == kind]
            if xs:
                ax.scatter(xs, ys, s=8, marker=marker, label=f"{label} {kind}")
    ax.set_xlabel("time since run start (ms)")
    ax.set_ylabel("pause (ms)")
    ax.set_title("stop-the-world pauses")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "pauses.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, pauses, _ in runs:
        ds = sorted(float(p["duration_us"]) / 1e3 for p in pauses)
        if ds:
            ax.step(ds, [(k + 1) / len(ds) for k in range(len(ds))], where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("pause (ms)")
    ax.set_ylabel("fraction of pauses <= x")
    ax.set_title("pause-duration CDF")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "pause_cdf.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, _, mmu in runs:
        ax.plot([float(r["window_us"]) / 1e3 for r in mmu], [float(r["mmu"]) for r in mmu],
                marker="o", markersize=3, label=label)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("window (ms)")
    ax.set_ylabel("minimum mutator utilization")
    ax.set_title("MMU")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "mmu.png"), dpi=120)
    plt.close(fig)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
