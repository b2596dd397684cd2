#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds each libFuzzer target under tests/fuzz with clang (ASan + UBSan) and
# runs it for a bounded time on a copy of its seed corpus. Fails on any crash,
# leak, timeout or sanitizer report; the reproducer is left in the work dir.
#
#   tools/fuzz.sh [seconds per fuzzer, default 60] [fuzzer names...]
#
# Environment: CXX (default clang++), FUZZ_WORK (default a new temp dir),
# FUZZ_JOBS (parallel workers per fuzzer, default 1).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
fuzzers=("$@")
if [ ${#fuzzers[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/*_fuzz.cpp; do fuzzers+=("$(basename "$f" .cpp)"); done
fi
cxx=${CXX:-clang++}
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/vecstore-fuzz.XXXXXX")}
jobs=${FUZZ_JOBS:-1}
mkdir -p "$work"

status=0
for name in "${fuzzers[@]}"; do
  corpus_name=${name%_fuzz}
  bin="$work/$name"
  echo "== $name: building"
  "$cxx" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer -Wall -Wextra -Wpedantic -Werror \
    -I"$root/include" -I"$root/tools/cli" -I/usr/include/eigen3 -DVECSTORE_FIXTURES="\"$root/tests/fixtures\"" \
    "$root/tests/fuzz/$name.cpp" \
    -lSQLiteCpp -lsqlite3 -lpthread -o "$bin"
  corpus="$work/corpus-$corpus_name"
  mkdir -p "$corpus"
  if [ -d "$root/tests/fuzz/corpus/$corpus_name" ]; then cp -n "$root/tests/fuzz/corpus/$corpus_name"/* "$corpus"/; fi
  echo "== $name: fuzzing for ${seconds}s (work dir $work)"
  # -max_len: deep-nesting inputs (a 90,000-deep array is 180 KB) must fit.
  parallel=()
  if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi
  rc=0
  (cd "$work" && "$bin" -max_len=400000 -timeout=25 -rss_limit_mb=2048 -max_total_time="$seconds" \
     "${parallel[@]}" -print_final_stats=1 -artifact_prefix="$work/$name-" "$corpus" \
     >"$work/$name.log" 2>&1) || rc=$?
  # With -jobs > 1 libFuzzer writes each worker's output to fuzz-N.log in $work.
  grep -hE '^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs|==[0-9]+==ERROR|SUMMARY|stat::number_of_executed_units)' \
    "$work/$name.log" "$work"/fuzz-*.log 2>/dev/null || true
  if [ "$rc" -ne 0 ] || ls "$work/$name-"* >/dev/null 2>&1; then
    echo "== $name: FAILED (exit $rc); see $work/$name.log and the $work/$name-* reproducers" >&2
    status=1
  else
    echo "== $name: no crash, leak or timeout"
  fi
done
exit $status
