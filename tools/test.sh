#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's second command and CI's (.ci/run runs this file): installs what
# is missing, then builds and runs the whole suite in every configuration CI
# requires. Any warning fails the build (-Werror); any sanitizer report fails
# its test. Ends with one "N passed, M failed" line over all configurations.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh

jobs=${VECSTORE_JOBS:-2}
total_passed=0
total_failed=0
failed_configs=()
timings=()

# timed NAME COMMAND...: runs a stage and notes how long it took.
timed() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  timings+=("$name $((SECONDS - start)) s")
}

# run_config NAME CMAKE_ARGS...: configure, build, run ctest; tally the result.
run_config() {
  local name=$1; shift
  local dir="build/test-$name"
  echo "=== $name ==="
  cmake -S . -B "$dir" -G Ninja -DVECSTORE_BUILD_TESTS=ON -DVECSTORE_BUILD_EXAMPLES=ON "$@" >/dev/null
  if ! cmake --build "$dir" -j"$jobs"; then
    failed_configs+=("$name (build)")
    total_failed=$((total_failed + 1))
    return
  fi
  local log="$dir/ctest.log"
  local status=0
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600 ${CTEST_EXCLUDE:+-E "$CTEST_EXCLUDE"}) 2>&1 \
    | tee "$log" || status=$?
  local line
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n1 || true)
  if [ -z "$line" ]; then
    failed_configs+=("$name (no ctest summary)")
    total_failed=$((total_failed + 1))
    return
  fi
  local failed total
  failed=$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/')
  total=$(echo "$line" | sed -E 's/.* tests failed out of ([0-9]+).*/\1/')
  total_passed=$((total_passed + total - failed))
  total_failed=$((total_failed + failed))
  if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then failed_configs+=("$name"); fi
}

# run_tsan: ThreadSanitizer over the concurrency suites (threads, locks, fork),
# run by tag from the test binary; any report fails the run.
run_tsan() {
  local dir="build/test-tsan"
  echo "=== tsan ==="
  cmake -S . -B "$dir" -G Ninja -DVECSTORE_BUILD_TESTS=ON -DVECSTORE_BUILD_EXAMPLES=OFF \
    -DVECSTORE_BUILD_TOOLS=OFF -DVECSTORE_BUILD_BENCHMARKS=OFF -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_FLAGS="-O1 -g" -DVECSTORE_SANITIZE=thread >/dev/null
  if ! cmake --build "$dir" -j"$jobs" --target vecstore_concurrency_tests vecstore_test_child; then
    failed_configs+=("tsan (build)")
    total_failed=$((total_failed + 1))
    return
  fi
  local log="$dir/tsan.log" status=0
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    "$dir/tests/vecstore_concurrency_tests" "[concurrency],[lock],[fork],[visibility]" 2>&1 | tee "$log" || status=$?
  local cases
  cases=$(grep -oE '[0-9]+ test cases' "$log" | tail -n1 | grep -oE '[0-9]+' || echo 0)
  if [ "$status" -ne 0 ] || grep -q "WARNING: ThreadSanitizer" "$log" || [ "$cases" -eq 0 ]; then
    failed_configs+=("tsan")
    total_failed=$((total_failed + 1))
  else
    total_passed=$((total_passed + cases))
  fi
}

# run_fuzz: each libFuzzer target of tests/fuzz for 60 s on its seed corpus
# (tools/fuzz.sh); a crash, leak, timeout or sanitizer report fails it.
run_fuzz() {
  echo "=== fuzz ==="
  local log="build/test-fuzz.log" status=0
  FUZZ_BUILD="$PWD/build/test-fuzz" FUZZ_WORK="$PWD/build/test-fuzz/work" bash tools/fuzz.sh 60 2>&1 \
    | tee "$log" || status=$?
  local passed
  passed=$(grep -c ': no crash' "$log" || true)
  total_passed=$((total_passed + passed))
  if [ "$status" -ne 0 ]; then
    failed_configs+=("fuzz")
    total_failed=$((total_failed + 1))
  fi
}

# The stress tests run 30 s in the main configuration and 10 s under the
# sanitizers; VECSTORE_STRESS_SECONDS=600 tools/test.sh soaks for longer.
stress=${VECSTORE_STRESS_SECONDS:-30}
short_stress=$(( stress < 10 ? stress : 10 ))

# g++, C++17, the headers in include/.
VECSTORE_STRESS_SECONDS=$stress timed gcc-cxx17 run_config gcc-cxx17 -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=17 \
  -DCMAKE_CXX_FLAGS=-O2
# clang++, C++20, compiled against the generated single header instead.
# (Benchmarks and the CLI build, with -Werror, in the first configuration
# only; the packaging and compile-fail checks, which do not depend on the
# compiler, run there only too. The fuzzers build the CLI's readers with clang.)
CTEST_EXCLUDE='^(consumer|compile_fail)[.]' VECSTORE_STRESS_SECONDS=$short_stress timed clang-cxx20-single run_config clang-cxx20-single -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_STANDARD=20 -DCMAKE_CXX_FLAGS=-O2 -DVECSTORE_USE_SINGLE_INCLUDE=ON -DVECSTORE_BUILD_BENCHMARKS=OFF \
  -DVECSTORE_BUILD_TOOLS=OFF
# AddressSanitizer + UndefinedBehaviorSanitizer.
# (The sanitizers instrument the test binaries: examples, tools and benchmarks are left out.)
VECSTORE_STRESS_SECONDS=$short_stress timed asan-ubsan run_config asan-ubsan -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_STANDARD=17 \
  -DCMAKE_CXX_FLAGS="-O1 -g" -DVECSTORE_SANITIZE=address,undefined -DVECSTORE_BUILD_EXAMPLES=OFF \
  -DVECSTORE_BUILD_TOOLS=OFF -DVECSTORE_BUILD_BENCHMARKS=OFF
timed tsan run_tsan
timed fuzz run_fuzz

echo
echo "time per stage: ${timings[*]}; total $SECONDS s"
if [ ${#failed_configs[@]} -ne 0 ]; then
  echo "failing configurations: ${failed_configs[*]}"
fi
echo "vecstore: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ] && [ ${#failed_configs[@]} -eq 0 ]
