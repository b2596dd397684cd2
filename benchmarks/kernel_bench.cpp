// SPDX-License-Identifier: MIT
// Micro-benchmarks of the similarity kernel: one query and batches, the batch product (Eigen's vs the packed
// one), top-k selection (bounded heap vs blocked partial selection), the thread pool vs a thread per query, and
// where threads start to pay, and IVF-sized lists scanned from separate allocations vs one huge-page array.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include <vecstore/detail/row_lists.hpp>
#include <vecstore/index/flat_index.hpp>
#include <vecstore/index/kernel.hpp>
#include <vecstore/index/product.hpp>

#include "synthetic.hpp"

namespace {

namespace detail = vecstore::detail;

/// One data set per (n, dim), built on first use and kept for the process.
struct fixture {
  vecstore_bench::matrix base, queries;
  std::unique_ptr<vecstore::flat_index> index;
};

fixture& data(std::size_t n, std::size_t dim) {
  static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<fixture>> cache;
  auto& slot = cache[{n, dim}];
  if (!slot) {
    slot = std::make_unique<fixture>();
    vecstore_bench::make_embeddings(n, 1000, dim, 7, slot->base, slot->queries);
    slot->index = std::make_unique<vecstore::flat_index>(dim, vecstore::metric::inner_product);
    slot->index->reserve(n);
    for (std::size_t i = 0; i < n; ++i) slot->index->upsert(static_cast<std::int64_t>(i), slot->base.row(i));
  }
  return *slot;
}

// ---- one query and batches: args n, dim, batch, k, threads ------------------------------------

void BM_flat_search(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto dim = static_cast<std::size_t>(state.range(1));
  const auto nq = static_cast<std::size_t>(state.range(2));
  const auto k = static_cast<std::size_t>(state.range(3));
  fixture& f = data(n, dim);
  f.index->set_threads(static_cast<std::size_t>(state.range(4)));
  for (auto _ : state) benchmark::DoNotOptimize(f.index->search(f.queries.data.data(), nq, k, nullptr));
  f.index->set_threads(0);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * nq));  // queries/s
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n * dim * sizeof(float)));
}
// 100k x 768 (293 MiB, far past the 32 MiB L3): batches 1/8/64/1000, k 10/100, 1 and 2 threads.
BENCHMARK(BM_flat_search)
    ->ArgNames({"n", "dim", "batch", "k", "threads"})
    ->ArgsProduct({{100000}, {768}, {1, 8, 64, 1000}, {10, 100}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Where threads pay: one query, growing n, 1 vs 2 threads (the pool), dim 128.
BENCHMARK(BM_flat_search)
    ->Name("BM_flat_threads")
    ->ArgNames({"n", "dim", "batch", "k", "threads"})
    ->ArgsProduct({{2000, 8000, 32000, 128000, 512000}, {128}, {1}, {10}, {1, 2}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// ---- the batch product: args rows per block, dim, method (0 Eigen's product, 1 packed_product) ---------

// Scores 1,008 queries against 50k (dim 768) or 200k (dim 100) rows, one block of rows at a time as
// score_block does: Eigen's general product of the block by the queries, or packed_product (the block
// packed, then multiplied by the queries packed once). Items/s are floating-point operations per second.
void BM_block_product(benchmark::State& state) {
  using product = detail::native_product;
  const auto block = static_cast<std::size_t>(state.range(0));
  const auto dim = static_cast<std::size_t>(state.range(1));
  const bool packed = state.range(2) == 1;
  const std::size_t n = dim >= 768 ? 50000 : 200000;
  const std::size_t nq = 1008;
  fixture& f = data(n, dim);
  const vecstore::row_view rows = f.index->rows();
  std::vector<float> queries(nq * dim);
  for (std::size_t q = 0; q < nq; ++q) std::copy(f.queries.row(q % f.queries.rows), f.queries.row(q % f.queries.rows) + dim,
                                                  queries.begin() + static_cast<std::ptrdiff_t>(q * dim));
  std::vector<float> packed_queries(nq * dim);
  product::pack_queries(queries.data(), nq, dim, packed_queries.data());
  std::vector<float> packed_rows(product::packed_rows_size(block, dim));
  Eigen::MatrixXf scores(static_cast<Eigen::Index>(block), static_cast<Eigen::Index>(nq));
  const detail::const_rows_map q(queries.data(), static_cast<Eigen::Index>(nq), static_cast<Eigen::Index>(dim),
                                 Eigen::OuterStride<>(static_cast<Eigen::Index>(dim)));
  for (auto _ : state) {
    for (std::size_t r0 = 0; r0 + block <= n; r0 += block) {
      if (packed) {
        product::pack_rows(rows.row(r0), block, rows.stride, dim, packed_rows.data());
        product::multiply(packed_rows.data(), block, dim, packed_queries.data(), nq, scores.data(), block);
      } else {
        const detail::const_rows_map x(rows.row(r0), static_cast<Eigen::Index>(block), static_cast<Eigen::Index>(dim),
                                       Eigen::OuterStride<>(static_cast<Eigen::Index>(rows.stride)));
        scores.noalias() = x * q.transpose();
      }
      benchmark::DoNotOptimize(scores.data());
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 2 * (n / block * block) * dim * nq));
}
BENCHMARK(BM_block_product)
    ->ArgNames({"block", "dim", "packed"})
    ->ArgsProduct({{128, 341}, {768}, {0, 1}})
    ->ArgsProduct({{1024, 2621}, {100}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

// ---- top-k selection over one query's scores ---------------------------------------------------

std::vector<float>& scores(std::size_t n) {
  static std::map<std::size_t, std::vector<float>> cache;
  auto& s = cache[n];
  if (s.empty()) {
    fixture& f = data(n, 128);
    s.resize(n);
    const detail::query_set qs(f.queries.row(0), 1, 128, vecstore::metric::inner_product);
    for (std::size_t i = 0; i < n; ++i) {
      float dot = 0;
      for (std::size_t j = 0; j < 128; ++j) dot += f.base.row(i)[j] * qs.query(0)[j];
      s[i] = 1.0f - dot;
    }
  }
  return s;
}

// The kernel's way: a bounded max-heap behind a threshold test.
void BM_topk_heap(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto k = static_cast<std::size_t>(state.range(1));
  const std::vector<float>& s = scores(n);
  const detail::row_source src{vecstore::row_view{nullptr, n, 1, 1}, vecstore::metric::inner_product, nullptr,
                               nullptr};
  for (auto _ : state) {
    detail::topk_accumulator acc(k, n);
    for (std::size_t i = 0; i < n; ++i)
      if (acc.admits(s[i])) acc.offer(s[i], nullptr, i);
    benchmark::DoNotOptimize(acc.take_sorted());
  }
  (void)src;
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// The alternative: candidates under the threshold go to a buffer; when it holds 2k, nth_element cuts it to k.
void BM_topk_partial(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto k = static_cast<std::size_t>(state.range(1));
  const std::vector<float>& s = scores(n);
  struct cand {
    float d;
    std::int64_t key;
  };
  const auto closer = [](const cand& a, const cand& b) { return a.d < b.d || (a.d == b.d && a.key < b.key); };
  std::vector<cand> buf;
  buf.reserve(2 * k + 1);
  for (auto _ : state) {
    buf.clear();
    float threshold = std::numeric_limits<float>::infinity();
    for (std::size_t i = 0; i < n; ++i) {
      if (!(s[i] <= threshold)) continue;
      buf.push_back(cand{s[i], static_cast<std::int64_t>(i)});
      if (buf.size() == 2 * k) {
        std::nth_element(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(k - 1), buf.end(), closer);
        buf.resize(k);
        threshold = buf[k - 1].d;
      }
    }
    const std::size_t keep = std::min(k, buf.size());
    std::partial_sort(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(keep), buf.end(), closer);
    buf.resize(keep);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_topk_heap)->ArgNames({"n", "k"})->ArgsProduct({{200000}, {10, 100}});
BENCHMARK(BM_topk_partial)->ArgNames({"n", "k"})->ArgsProduct({{200000}, {10, 100}});

// ---- dispatching work to threads: the persistent pool vs a thread per query ------------------------

void BM_dispatch_pool(benchmark::State& state) {
  std::vector<int> sink(2);
  for (auto _ : state) detail::parallel_run(2, [&](std::size_t i) { benchmark::DoNotOptimize(++sink[i]); });
}
void BM_dispatch_spawn(benchmark::State& state) {
  std::vector<int> sink(2);
  for (auto _ : state) {
    std::thread t([&] { benchmark::DoNotOptimize(++sink[1]); });
    benchmark::DoNotOptimize(++sink[0]);
    t.join();
  }
}
BENCHMARK(BM_dispatch_pool)->UseRealTime();
BENCHMARK(BM_dispatch_spawn)->UseRealTime();

// A whole one-query scan split in two halves, on the pool or on a fresh thread.
void scan_half(const fixture& f, std::size_t n, std::size_t begin, std::size_t end, detail::topk_accumulator* acc) {
  const detail::row_source src{f.index->rows(), vecstore::metric::inner_product, nullptr, f.index->keys().data()};
  const detail::query_set qs(f.queries.row(0), 1, f.base.dim, vecstore::metric::inner_product);
  (void)n;
  detail::scan_rows(src, qs, begin, end, nullptr, acc);
}
void BM_scan_two_threads_pool(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  fixture& f = data(n, 128);
  for (auto _ : state) {
    std::vector<detail::topk_accumulator> acc{detail::topk_accumulator(10, 10), detail::topk_accumulator(10, 10)};
    detail::parallel_run(2, [&](std::size_t t) { scan_half(f, n, t * n / 2, (t + 1) * n / 2, &acc[t]); });
    acc[0].merge(acc[1]);
    benchmark::DoNotOptimize(acc[0].take_sorted());
  }
}
void BM_scan_two_threads_spawn(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  fixture& f = data(n, 128);
  for (auto _ : state) {
    std::vector<detail::topk_accumulator> acc{detail::topk_accumulator(10, 10), detail::topk_accumulator(10, 10)};
    std::thread t([&] { scan_half(f, n, n / 2, n, &acc[1]); });
    scan_half(f, n, 0, n / 2, &acc[0]);
    t.join();
    acc[0].merge(acc[1]);
    benchmark::DoNotOptimize(acc[0].take_sorted());
  }
}
BENCHMARK(BM_scan_two_threads_pool)->Arg(2000)->Arg(32000)->Arg(128000)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_scan_two_threads_spawn)->Arg(2000)->Arg(32000)->Arg(128000)->Unit(benchmark::kMicrosecond)->UseRealTime();

// ---- IVF lists: where their rows live ------------------------------------------------------------------

/// 4,000 lists of 50-450 rows of dim 100 (~400 MB, like a 1M x 100 IVF index), either one std::vector each or
/// all in one detail::row_lists (one page_array, on transparent huge pages); each iteration scores a query
/// against 32 lists picked at random, as a query at nprobe 32 does. Reports bytes scanned per second.
struct list_data {
  static constexpr std::size_t dim = 100, lists = 4000, probes = 32;
  std::vector<std::vector<float>> separate;
  detail::row_lists together{dim};
  list_data() {
    std::mt19937_64 rng(3);
    std::uniform_int_distribution<std::size_t> rows(50, 450);
    separate.resize(lists);
    together.reset(std::vector<std::size_t>(lists, 0));
    std::vector<float> row(dim, 0.5f);
    for (std::size_t l = 0; l < lists; ++l) {
      separate[l].assign(rows(rng) * dim, 0.5f);
      for (std::size_t r = 0; r < separate[l].size() / dim; ++r) together.push_back(l, row.data());
    }
  }
};

void list_scan(benchmark::State& state, bool one_array) {
  static list_data d;
  std::mt19937_64 rng(5);
  std::vector<float> query(list_data::dim, 1.0f), out(512);
  double bytes = 0;
  for (auto _ : state) {
    for (std::size_t p = 0; p < list_data::probes; ++p) {
      const std::size_t l = rng() % list_data::lists;
      const std::size_t n = one_array ? d.together.size(l) : d.separate[l].size() / list_data::dim;
      const float* rows = one_array ? d.together.rows(l) : d.separate[l].data();
      detail::dot_rows(rows, n, list_data::dim, query.data(), list_data::dim, out.data());
      benchmark::DoNotOptimize(out.data());
      bytes += static_cast<double>(n * list_data::dim * sizeof(float));
    }
  }
  state.counters["bytes/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsRate);
}
void BM_list_scan_separate(benchmark::State& state) { list_scan(state, false); }
void BM_list_scan_row_lists(benchmark::State& state) { list_scan(state, true); }
BENCHMARK(BM_list_scan_separate)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_list_scan_row_lists)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
