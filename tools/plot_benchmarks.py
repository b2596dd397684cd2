#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Plots vecstore_compare results: recall@10 vs QPS (one PNG per data set and thread count) and
single-query latency vs N for the flat scans (all data sets together).

    tools/plot_benchmarks.py docs/bench-200k-768.json docs/bench-1m-100.json --out docs

Needs matplotlib (python3-matplotlib); without it, prints the tables it would plot and exits 0.
"""
import argparse
import json
import os
import sys


def load(paths):
    sets = []
    for p in paths:
        with open(p) as f:
            sets.append(json.load(f))
    return sets


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="JSON files written by vecstore_compare")
    ap.add_argument("--out", default="docs", help="folder for the PNG files")
    args = ap.parse_args()
    sets = load(args.results)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; the data:")
        for s in sets:
            for r in s["rows"]:
                print(s["dataset"], r["method"], r["param"], r["threads"], r["qps_single"], r["recall"])
        return 0

    os.makedirs(args.out, exist_ok=True)
    for s in sets:
        name = f'{s["n"]}x{s["dim"]}'
        for threads in sorted({r["threads"] for r in s["rows"]}):
            fig, ax = plt.subplots(figsize=(7, 5))
            methods = []
            for r in s["rows"]:
                if r["threads"] == threads and r["method"] not in methods:
                    methods.append(r["method"])
            for m in methods:
                pts = [(r["recall"], r["qps_single"], r["param"]) for r in s["rows"]
                       if r["method"] == m and r["threads"] == threads]
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=m)
            ax.set_xlabel("recall@10")
            ax.set_ylabel("queries per second (one query at a time)")
            ax.set_yscale("log")
            ax.set_title(f"{s['dataset']}, {threads} thread(s)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
            path = os.path.join(args.out, f"recall-qps-{name}-t{threads}.png")
            fig.tight_layout()
            fig.savefig(path, dpi=110)
            plt.close(fig)
            print("wrote", path)

    # Latency vs N for the flat scans, one line per method and thread count.
    fig, ax = plt.subplots(figsize=(7, 5))
    series = {}
    for s in sets:
        for r in s["rows"]:
            if r["param"] != "-":
                continue
            series.setdefault((r["method"], r["threads"]), []).append((s["n"] * s["dim"], r["p50_ms"], s["dataset"]))
    for (method, threads), pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{method}, {threads} thr")
    ax.set_xlabel("N x dim (floats scanned per query)")
    ax.set_ylabel("single-query latency p50 (ms)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    path = os.path.join(args.out, "latency-vs-n.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
