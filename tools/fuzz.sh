#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets of tests/fuzz (CMake, VECSTORE_BUILD_FUZZERS,
# clang with ASan + UBSan) and runs each for a bounded time on a copy of its
# seed corpus, FUZZ_JOBS of them at once. Fails on any crash, leak, timeout or
# sanitizer report; the reproducer is left in the work dir. tools/test.sh runs
# it for 60 s per fuzzer; a long run is, for example, `tools/fuzz.sh 1800`.
#
#   tools/fuzz.sh [seconds per fuzzer, default 60] [fuzzer names...]
#
# Environment: FUZZ_WORK (default a new temp dir), FUZZ_JOBS (fuzzers run at
# once, default 2), FUZZ_BUILD (build dir, default build/fuzz).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
fuzzers=("$@")
if [ ${#fuzzers[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/*_fuzz.cpp; do fuzzers+=("$(basename "$f" .cpp)"); done
fi
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/vecstore-fuzz.XXXXXX")}
jobs=${FUZZ_JOBS:-2}
build=${FUZZ_BUILD:-$root/build/fuzz}
mkdir -p "$work"

echo "== building ${fuzzers[*]} in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_STANDARD=17 \
  -DVECSTORE_BUILD_TESTS=ON -DVECSTORE_BUILD_FUZZERS=ON -DVECSTORE_BUILD_EXAMPLES=OFF \
  -DVECSTORE_BUILD_TOOLS=OFF -DVECSTORE_BUILD_BENCHMARKS=OFF >/dev/null
targets=()
for name in "${fuzzers[@]}"; do targets+=("vecstore_$name"); done
cmake --build "$build" -j"${VECSTORE_JOBS:-2}" --target "${targets[@]}"

# fuzz NAME: one bounded run; its summary and verdict go to $work/NAME.log.
fuzz() {
  local name=$1 corpus="$work/corpus-${1%_fuzz}" rc=0
  mkdir -p "$corpus"
  if [ -d "$root/tests/fuzz/corpus/${name%_fuzz}" ]; then cp -n "$root/tests/fuzz/corpus/${name%_fuzz}"/* "$corpus"/; fi
  # -max_len: deep-nesting inputs (a 90,000-deep array is 180 KB) must fit.
  (cd "$work" && "$build/tests/fuzz/vecstore_$name" -max_len=400000 -timeout=25 -rss_limit_mb=2048 \
     -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/$name-" "$corpus" \
     >"$work/$name.out" 2>&1) || rc=$?
  {
    grep -hE '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs|==[0-9]+==ERROR|SUMMARY|stat::number_of_executed_units)' \
      "$work/$name.out" || true
    # crash-, leak-, timeout- and oom- reproducers fail; a slow-unit- one
    # (over 10 s, as on a loaded machine) is only reported.
    local kind found=0
    for kind in crash leak timeout oom; do
      if compgen -G "$work/$name-$kind-*" >/dev/null; then found=1; fi
    done
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
      echo "== $name: FAILED (exit $rc); see $work/$name.out and the $work/$name-* reproducers"
    else
      echo "== $name: no crash, leak or timeout in ${seconds}s"
    fi
  } >"$work/$name.log"
}

echo "== fuzzing ${fuzzers[*]} for ${seconds}s each, $jobs at a time (work dir $work)"
running=0
for name in "${fuzzers[@]}"; do
  fuzz "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true

status=0
for name in "${fuzzers[@]}"; do
  cat "$work/$name.log" 2>/dev/null || echo "== $name: no verdict (the run did not finish)"
  if ! grep -q ': no crash' "$work/$name.log" 2>/dev/null; then status=1; fi
done
exit $status
