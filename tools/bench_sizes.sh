#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The latency-vs-N series of docs/benchmarks.md: vecstore_compare at several sizes of one dimension, every
# method, but only the IVF and HNSW settings around recall 0.95 (what the plot shows), so that the IVF
# trainings and HNSW builds at each size are the only slow part. One process per size, so no run inherits another's
# memory. Writes <out>/bench-n<N>x<dim>.json|csv; plot with
#   /usr/bin/python3 tools/plot_benchmarks.py <out>/bench-n*x<dim>.json docs/bench-1m-100.json --out docs/img
#
#   tools/bench_sizes.sh [compare binary] [dim] [out dir] [sizes...]
set -euo pipefail

compare=${1:-build/bench/benchmarks/vecstore_compare}
dim=${2:-100}
out=${3:-docs}
shift $(($# < 3 ? $# : 3))
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(50000 100000 200000 500000)

# FAISS's BLAS at its best on this CPU (see the header of benchmarks/compare.cpp).
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
mkdir -p "$out"
for n in "${sizes[@]}"; do
  "$compare" --n "$n" --dim "$dim" --nprobe 8,16,32,64,128 --ef 64,128,256 --out "$out/bench-n${n}x${dim}"
done
