#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Plots vecstore_compare results (the .json files it writes) as PNGs for docs/:

  recall-qps-<N>x<dim>.png  recall@10 against single-query QPS, one panel per thread count: the IVF nprobe
                            sweeps of vecstore and FAISS, the HNSW ef sweep, the exact scans as points;
  latency-n-<dim>.png       single-query p50 latency against N for every method (IVF and HNSW at their
                            fastest setting with recall@10 >= --recall), with the memory bound (matrix bytes /
                            measured read bandwidth), for each dimension that has results at two or more
                            sizes (tools/bench_sizes.sh makes them).

    /usr/bin/python3 tools/plot_benchmarks.py docs/bench-*.json --out docs/img

Runs under Debian's /usr/bin/python3 with python3-matplotlib (a pyenv or venv python3 usually lacks it).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

# One colour per method family, the same in every plot.
COLOURS = {
    "vecstore flat ip": "tab:blue", "vecstore flat l2": "tab:cyan", "vecstore ivf": "tab:blue",
    "faiss IndexFlatIP": "tab:red", "faiss IndexFlatL2": "tab:pink", "faiss IndexIVFFlat": "tab:red",
    "hnswlib brute force": "tab:green", "hnswlib hnsw": "tab:green",
}
EXACT = ("-",)  # the param of an exact scan


def label(method, param):
    if param.startswith("nprobe=") or param.startswith("ef="):
        return method + " (" + param.split("=")[0] + " sweep)"
    return method


def save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print("wrote", path, os.path.getsize(path) // 1024, "KiB")


def recall_qps(result, out):
    threads = sorted({r["threads"] for r in result["rows"]})
    fig, axes = plt.subplots(1, len(threads), figsize=(5 * len(threads), 4.2), sharey=True, squeeze=False)
    for ax, t in zip(axes[0], threads):
        rows = [r for r in result["rows"] if r["threads"] == t]
        param_of = {r["method"]: r["param"] for r in rows}  # insertion order: the program's order
        for method, param in param_of.items():
            pts = sorted((r["recall"], r["qps_single"]) for r in rows if r["method"] == method)
            exact = param in EXACT
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="s" if exact else "o", markersize=4,
                    linestyle="none" if exact else "-", color=COLOURS.get(method), label=label(method, param),
                    alpha=0.6 if method.lower().endswith("l2") else 1.0)
            if not exact:  # which nprobe / ef each point is
                for r in rows:
                    if r["method"] == method:
                        ax.annotate(r["param"].split("=")[1], (r["recall"], r["qps_single"]), fontsize=6,
                                    textcoords="offset points", xytext=(2, 3), color=COLOURS.get(method))
        ax.set_yscale("log")
        ax.set_xlabel("recall@10")
        ax.set_title(f"{t} thread{'s' if t > 1 else ''}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("queries/s, one query at a time")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    kind = "synthetic, seed 42" if result["dataset"].startswith("synthetic") else "real text embeddings"
    fig.suptitle(f"{result['n']:,} x {result['dim']} ({kind}): recall vs speed", fontsize=10)
    save(fig, os.path.join(out, f"recall-qps-{result['n']}x{result['dim']}.png"))


def latency_n(results, dim, target, out):
    # (method, threads) -> {n: p50}; a sweep contributes its fastest setting that reaches the target recall.
    series = {}
    bound = []
    for res in results:
        bound.append((res["n"], res["n"] * dim * 4 / (res["bandwidth_gbps"][0] * 1e9) * 1e3))
        for r in res["rows"]:
            if r["method"].lower().endswith("l2") or r["recall"] < target:
                continue
            by_n = series.setdefault((r["method"], r["param"] in EXACT, r["threads"]), {})
            by_n[res["n"]] = min(by_n.get(res["n"], float("inf")), r["p50_ms"])
    fig, ax = plt.subplots(figsize=(9.5, 4.6))
    for (method, exact, t), by_n in sorted(series.items()):
        pts = sorted(by_n.items())
        name = method if exact else f"{method} (recall >= {target})"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, color=COLOURS.get(method),
                linestyle="-" if t == 1 else "--", label=f"{name}, {t} thr", alpha=1.0 if exact else 0.6)
    bound.sort()
    ax.plot([b[0] for b in bound], [b[1] for b in bound], color="black", linestyle=":",
            label="memory bound: matrix bytes / read bandwidth (1 thr)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"N (vectors of dim {dim})")
    ax.set_ylabel("single-query latency p50 (ms)")
    ax.set_title(f"Latency vs N, dim {dim} (solid: 1 thread, dashed: 2)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save(fig, os.path.join(out, f"latency-n-{dim}.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="JSON files written by vecstore_compare")
    ap.add_argument("--out", default="docs/img", help="folder for the PNG files")
    ap.add_argument("--recall", type=float, default=0.95, help="recall@10 the latency-vs-N plot holds IVF and HNSW to")
    ap.add_argument("--recall-of", nargs="*", metavar="NxDIM",
                    help="draw recall-vs-QPS only for these data sets (default: every file with a sweep)")
    args = ap.parse_args()
    results = []
    for path in args.results:
        with open(path) as f:
            results.append(json.load(f))
    os.makedirs(args.out, exist_ok=True)

    for res in results:
        swept = len({r["param"] for r in res["rows"] if r["method"] == "vecstore ivf"}) > 1
        if (args.recall_of is None and swept) or (args.recall_of and f"{res['n']}x{res['dim']}" in args.recall_of):
            recall_qps(res, args.out)
    by_dim = {}
    for res in results:  # latency vs N: the synthetic series only, one result per size (the last file wins)
        if res["dataset"].startswith("synthetic"):
            by_dim.setdefault(res["dim"], {})[res["n"]] = res
    for dim, sizes in sorted(by_dim.items()):
        if len(sizes) >= 2:
            latency_n(list(sizes.values()), dim, args.recall, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
