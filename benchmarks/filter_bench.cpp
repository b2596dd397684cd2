// SPDX-License-Identifier: MIT
// The filter builder: `f = f && cond` or `f = cond && f` in a loop (issue 19,
// item 6). Each step used to copy every child built so far (quadratic); it now
// shares them, so time per step stays flat as the chain grows. Not a test:
// nothing asserts a time.
#include <benchmark/benchmark.h>

#include <string>
#include <vecstore/filter.hpp>

namespace {

void BM_filter_and_chain(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    vecstore::filter f;
    for (int i = 0; i < n; ++i) f = f && vecstore::where("k" + std::to_string(i % 7)) != i;
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_filter_and_chain_prepending(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    vecstore::filter f;
    for (int i = 0; i < n; ++i) f = vecstore::where("k" + std::to_string(i % 7)) != i && f;
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_document_filter_or_chain(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    vecstore::document_filter f = vecstore::contains("t");
    for (int i = 1; i < n; ++i) f = f || vecstore::contains("t" + std::to_string(i));
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

}  // namespace

BENCHMARK(BM_filter_and_chain)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_filter_and_chain_prepending)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_document_filter_or_chain)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
