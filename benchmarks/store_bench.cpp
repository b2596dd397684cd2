// SPDX-License-Identifier: MIT
// Micro-benchmarks of store operations for the shipped compositions: add (batches of 1,000), upsert, get,
// query, open (load + verify), and catch-up after another process's writes, measured as the reader's next
// query; the same delta on stores of 10k and 200k records shows catch-up costs O(delta), not O(N).
//
// The catch-up benchmark runs the writer as a separate process: this binary re-executed with
// `--writer <store> <first> <count> <dim>`.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <vecstore/index/ivf_index.hpp>
#include <vecstore/vecstore.hpp>

namespace {

using flat_file = vecstore::basic_store<vecstore::file_lock, vecstore::flat_index, vecstore::strict_recovery>;
using flat_named = vecstore::basic_store<vecstore::named_mutex, vecstore::flat_index, vecstore::strict_recovery>;
using flat_null = vecstore::basic_store<vecstore::null_lock, vecstore::flat_index, vecstore::strict_recovery>;
using ivf_file = vecstore::basic_store<vecstore::file_lock, vecstore::ivf_index, vecstore::strict_recovery>;

std::string self_path;

std::filesystem::path fresh_store(const std::string& name) {
  static const std::filesystem::path dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "vecstore-storebench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return std::filesystem::path(pattern);
  }();
  const std::filesystem::path p = dir / (name + ".db");
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(p.string() + suffix);
  return p;
}

std::vector<vecstore::record> make_records(std::size_t first, std::size_t count, std::size_t dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::vector<vecstore::record> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    out[i].id = "id-" + std::to_string(first + i);
    out[i].embedding.resize(dim);
    for (float& x : out[i].embedding) x = g(rng);
  }
  return out;
}

template <class Store>
std::shared_ptr<Store> open_store(const std::filesystem::path& p) {
  vecstore::store_options o;
  o.path = p;
  return Store::open(o);
}

template <class Store>
void fill(const std::filesystem::path& p, std::size_t n, std::size_t dim) {
  auto db = open_store<Store>(p);
  auto c = db->get_or_create_collection("c", {dim, vecstore::metric::cosine});
  for (std::size_t first = 0; first < n; first += 1000)
    c.add(make_records(first, std::min<std::size_t>(1000, n - first), dim, static_cast<unsigned>(first)));
  db->close();
}

// ---- add: batches of 1,000 into a store on disk, durability full ---------------------------------

template <class Store>
void BM_add_batch(benchmark::State& state) {
  const auto dim = static_cast<std::size_t>(state.range(0));
  const auto p = fresh_store("add");
  auto db = open_store<Store>(p);
  auto c = db->create_collection("c", {dim, vecstore::metric::cosine});
  std::size_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto batch = make_records(next, 1000, dim, static_cast<unsigned>(next));
    next += 1000;
    state.ResumeTiming();
    c.add(batch);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 1000));  // vectors/s
  db->close();
}
BENCHMARK_TEMPLATE(BM_add_batch, flat_file)->Arg(100)->Arg(768)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_add_batch, flat_named)->Arg(100)->Arg(768)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_add_batch, flat_null)->Arg(100)->Arg(768)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_add_batch, ivf_file)->Arg(100)->Arg(768)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- upsert / get / query on a store of 10,000 x 128 ---------------------------------------------

template <class Store>
struct loaded {
  std::shared_ptr<Store> db;
  std::optional<typename Store::collection> c;
};

template <class Store>
loaded<Store>& store_10k() {
  static loaded<Store> s;
  if (!s.db) {
    const auto p = fresh_store(std::string("ops-") + typeid(Store).name());
    fill<Store>(p, 10000, 128);
    s.db = open_store<Store>(p);
    s.c.emplace(s.db->get_collection("c"));
  }
  return s;
}

template <class Store>
void BM_upsert_batch(benchmark::State& state) {
  auto& s = store_10k<Store>();
  const auto batch = make_records(0, static_cast<std::size_t>(state.range(0)), 128, 99);
  for (auto _ : state) s.c->upsert(batch);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * state.range(0)));
}
template <class Store>
void BM_get(benchmark::State& state) {
  auto& s = store_10k<Store>();
  std::vector<std::string> ids;
  for (int i = 0; i < state.range(0); ++i) ids.push_back("id-" + std::to_string(i * 37 % 10000));
  for (auto _ : state) benchmark::DoNotOptimize(s.c->get(ids));
}
template <class Store>
void BM_query(benchmark::State& state) {
  auto& s = store_10k<Store>();
  const auto q = make_records(0, 1, 128, 5).front().embedding;
  vecstore::query_options o;
  o.k = 10;
  o.fields = vecstore::include::none;
  for (auto _ : state) benchmark::DoNotOptimize(s.c->query(q, o));
}
BENCHMARK_TEMPLATE(BM_upsert_batch, flat_file)->Arg(1)->Arg(1000)->UseRealTime();
BENCHMARK_TEMPLATE(BM_upsert_batch, flat_null)->Arg(1)->Arg(1000)->UseRealTime();
BENCHMARK_TEMPLATE(BM_get, flat_file)->Arg(10)->UseRealTime();
BENCHMARK_TEMPLATE(BM_get, flat_null)->Arg(10)->UseRealTime();
BENCHMARK_TEMPLATE(BM_query, flat_file)->UseRealTime();
BENCHMARK_TEMPLATE(BM_query, flat_null)->UseRealTime();
BENCHMARK_TEMPLATE(BM_query, ivf_file)->UseRealTime();

// ---- open: load and verify every embedding ------------------------------------------------------------

template <class Store>
void BM_open(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto dim = static_cast<std::size_t>(state.range(1));
  const auto p = fresh_store("open-" + std::to_string(n) + "-" + std::to_string(dim));
  fill<Store>(p, n, dim);
  const auto q = make_records(0, 1, dim, 5).front().embedding;
  vecstore::query_options o;
  o.fields = vecstore::include::none;
  for (auto _ : state) {
    auto db = open_store<Store>(p);
    auto c = db->get_collection("c");
    benchmark::DoNotOptimize(c.query(q, o));  // the first read loads the index
    db->close();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));  // vectors loaded/s
}
BENCHMARK_TEMPLATE(BM_open, flat_file)->Args({100000, 100})->Args({50000, 768})->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- catch-up: another process adds `delta` records; the reader's next query applies them ----------------

void run_writer(const std::filesystem::path& p, std::size_t first, std::size_t count, std::size_t dim) {
  const pid_t child = ::fork();
  if (child == 0) {
    const std::string a = p.string(), b = std::to_string(first), c = std::to_string(count), d = std::to_string(dim);
    ::execl(self_path.c_str(), self_path.c_str(), "--writer", a.c_str(), b.c_str(), c.c_str(), d.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::abort();
}

void BM_catch_up(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto delta = static_cast<std::size_t>(state.range(1));
  const std::size_t dim = 64;
  const auto p = fresh_store("catchup-" + std::to_string(n));
  fill<flat_file>(p, n, dim);
  auto db = open_store<flat_file>(p);
  auto c = db->get_collection("c");
  const auto q = make_records(0, 1, dim, 5).front().embedding;
  vecstore::query_options o;
  o.fields = vecstore::include::none;
  benchmark::DoNotOptimize(c.query(q, o));  // loaded
  std::size_t next = n;
  for (auto _ : state) {
    state.PauseTiming();
    run_writer(p, next, delta, dim);
    next += delta;
    state.ResumeTiming();
    benchmark::DoNotOptimize(c.query(q, o));
  }
  db->close();
}
BENCHMARK(BM_catch_up)
    ->ArgNames({"n", "delta"})
    ->ArgsProduct({{10000, 200000}, {0, 10, 1000}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(20);

}  // namespace

int main(int argc, char** argv) {
  self_path = std::filesystem::canonical("/proc/self/exe").string();
  if (argc == 6 && std::strcmp(argv[1], "--writer") == 0) {
    auto db = open_store<flat_file>(argv[2]);
    auto c = db->get_collection("c");
    c.add(make_records(std::stoul(argv[3]), std::stoul(argv[4]), std::stoul(argv[5]), 1234));
    db->close();
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
