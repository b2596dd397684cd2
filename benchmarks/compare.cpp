// SPDX-License-Identifier: MIT
// vecstore_compare: vecstore's flat and IVF indexes side by side with FAISS and hnswlib (when found), on the same
// data in one process: build time, memory, single-query latency, batch QPS, recall@10, memory bandwidth.
//
//   vecstore_compare [--n 200000] [--dim 768] [--queries 1000] [--single 100] [--threads 1,2] [--repeats 3]
//                    [--nprobe 1,2,4,...] [--ef 16,32,...] [--methods vecstore-flat,faiss-ivf,...] [--seed 42]
//                    [--base x.fvecs --query q.fvecs [--gt gt.ivecs]] [--out docs/bench-200k-768]
//
// With --base, --n reads only the first N vectors (default: all of them; tools/real_embeddings.sh makes such files).
// --methods picks what to build and measure (default: all found), e.g. only the flat scans for a latency-vs-N
// series (tools/bench_sizes.sh), where training an IVF and an HNSW graph at every size would take most of the time.
//
// Run FAISS with its BLAS at its best: OPENBLAS_CORETYPE=SkylakeX (Debian's OpenBLAS does not recognise newer
// CPUs and falls back to SSE3 kernels otherwise; see docs/benchmarks.md).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vecstore/index/flat_index.hpp>
#include <vecstore/index/ivf_index.hpp>

#include "synthetic.hpp"

#if defined(VECSTORE_BENCH_HAVE_FAISS)
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <omp.h>
#endif
#if defined(VECSTORE_BENCH_HAVE_HNSWLIB)
#include <hnswlib/hnswlib.h>
#endif

namespace {

using clock_type = std::chrono::steady_clock;
using vecstore_bench::matrix;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())) - 1));
  return v[i];
}

/// 16 floats: one AVX-512 register, two AVX2 ones (GCC and Clang split the vector to what -march allows).
using lanes = float __attribute__((vector_size(64)));

/// Sums `n` floats with eight independent vector accumulators, so the adds never wait on each other and the
/// loop is limited by how fast one core can pull memory in, not by its own dependency chain.
float read_sum(const float* p, std::size_t n) {
  lanes acc[8] = {};
  std::size_t i = 0;
  for (; i + 128 <= n; i += 128)
    for (std::size_t k = 0; k < 8; ++k) {
      lanes v;
      std::memcpy(&v, p + i + 16 * k, sizeof v);
      acc[k] += v;
    }
  for (std::size_t k = 1; k < 8; ++k) acc[0] += acc[k];
  float sum = 0;
  for (std::size_t j = 0; j < 16; ++j) sum += acc[0][j];
  for (; i < n; ++i) sum += p[i];
  return sum;
}

/// Memory read bandwidth in GB/s with `threads` threads over a 1 GiB buffer (32x the L3), touched before
/// timing so no page faults are counted; each thread sums its own contiguous share; the best of
/// `repetitions`, since other tenants of this machine only ever make a repetition slower. `huge_pages`: the
/// buffer asks for transparent huge pages (MADV_HUGEPAGE, as vecstore's large arrays do), which read about
/// 20% faster here than ordinary 4 KiB pages (fewer TLB walks).
double read_bandwidth(std::size_t threads, int repetitions, bool huge_pages) {
  constexpr std::size_t floats = std::size_t{256} << 20;
  constexpr std::size_t bytes = floats * sizeof(float);
  const auto make = [](bool huge) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (huge) ::madvise(p, bytes, MADV_HUGEPAGE);
    std::fill_n(static_cast<float*>(p), floats, 1.0f);
    return static_cast<const float*>(p);
  };
  static const float* const ordinary = make(false);
  static const float* const huge = make(true);
  const float* buffer = huge_pages ? huge : ordinary;
  double best = 0;
  for (int rep = 0; rep < repetitions; ++rep) {
    std::vector<float> sums(threads);
    const auto t0 = clock_type::now();
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const std::size_t lo = floats / threads * t, hi = t + 1 == threads ? floats : floats / threads * (t + 1);
        sums[t] = read_sum(buffer + lo, hi - lo);
      });
    for (auto& th : pool) th.join();
    const double secs = seconds_since(t0);
    if (std::accumulate(sums.begin(), sums.end(), 0.0f) < 0) std::puts("");  // keeps the sums alive
    best = std::max(best, static_cast<double>(bytes) / secs / 1e9);
  }
  return best;
}

/// The memory bound: the faster of the two page sizes, since no scan of a matrix larger than the last-level
/// cache can beat it, whatever pages its matrix sits on.
double read_bound(std::size_t threads, int repetitions) {
  return std::max(read_bandwidth(threads, repetitions, false), read_bandwidth(threads, repetitions, true));
}

/// One measured configuration.
struct row {
  std::string dataset, method, param;
  std::size_t threads = 1;
  double build_s = 0, rss_mib = 0, p50_ms = 0, p99_ms = 0, qps_single = 0, qps_batch = 0, recall = 0;
  double scan_bytes = 0;    // bytes one query reads (flat: the matrix; IVF: probed lists + centroids)
  double gbps = 0;          // effective scan rate: scan_bytes / p50
  double bw = 0;            // the memory bound (read_bound) with `threads` threads, measured right after this row
  double of_bw = 0;         // gbps / bw (1.0 = the memory bound)
};

using search_fn = std::function<void(const float* q, std::size_t nq, std::size_t k, std::int64_t* labels)>;

struct harness {
  std::string dataset;
  const matrix* base = nullptr;
  const matrix* queries = nullptr;
  std::vector<std::vector<std::int64_t>> truth;  // top-10 per query
  std::size_t single = 100;
  std::size_t batch = 1000;
  std::size_t repeats = 3;
  std::vector<double> bandwidth;     // the bound (read_bound), GB/s by thread count - 1
  std::vector<double> bandwidth_4k;  // on 4 KiB pages only
  std::vector<row> rows;

  double recall_of(const std::vector<std::int64_t>& labels, std::size_t nq) const {
    std::size_t hits = 0;
    for (std::size_t q = 0; q < nq; ++q) {
      const std::set<std::int64_t> want(truth[q].begin(), truth[q].end());
      for (std::size_t i = 0; i < 10; ++i) hits += want.count(labels[q * 10 + i]);
    }
    return static_cast<double>(hits) / static_cast<double>(nq * 10);
  }

  /// Measures single queries (latency) and one batch call (`batch_fn`, may be null) for a built index.
  void measure(row r, const search_fn& single_fn, const search_fn& batch_fn, std::size_t batch_limit = 0) {
    const std::size_t dim = queries->dim;
    const std::size_t ns = std::min(single, queries->rows);
    std::vector<double> p50s, p99s, qpss, qpsb, recalls;
    std::vector<std::int64_t> labels(std::max(ns, batch) * 10);
    for (std::size_t rep = 0; rep < repeats; ++rep) {
      std::vector<double> lat;
      const auto t0 = clock_type::now();
      for (std::size_t q = 0; q < ns; ++q) {
        const auto t1 = clock_type::now();
        single_fn(queries->row(q), 1, 10, labels.data() + q * 10);
        lat.push_back(seconds_since(t1) * 1e3);
      }
      qpss.push_back(static_cast<double>(ns) / seconds_since(t0));
      p50s.push_back(percentile(lat, 0.5));
      p99s.push_back(percentile(lat, 0.99));
      recalls.push_back(recall_of(labels, ns));
      if (batch_fn) {
        const std::size_t nb = std::min(batch_limit != 0 ? batch_limit : batch, queries->rows);
        const auto t2 = clock_type::now();
        batch_fn(queries->row(0), nb, 10, labels.data());
        qpsb.push_back(static_cast<double>(nb) / seconds_since(t2));
        recalls.back() = recall_of(labels, nb);
      }
    }
    r.p50_ms = median(p50s);
    r.p99_ms = median(p99s);
    r.qps_single = median(qpss);
    r.qps_batch = median(qpsb);
    r.recall = median(recalls);
    if (r.scan_bytes > 0 && r.p50_ms > 0) {
      r.gbps = r.scan_bytes / (r.p50_ms * 1e-3) / 1e9;
      // The machine's load changes within a run: measure the bound at the same moment as the scan.
      r.bw = read_bound(r.threads, 5);
      r.of_bw = r.gbps / r.bw;
    }
    (void)dim;
    print(r);
    rows.push_back(r);
  }

  static void print_header() {
    std::printf("%-26s %-12s %3s %9s %9s %9s %9s %10s %10s %7s %7s %6s %6s\n", "method", "param", "thr", "build_s",
                "rss_MiB", "p50_ms", "p99_ms", "qps_1", "qps_batch", "recall", "GB/s", "bw", "of_bw");
  }
  static void print(const row& r) {
    std::printf("%-26s %-12s %3zu %9.2f %9.1f %9.3f %9.3f %10.1f %10.1f %7.4f %7.2f %6.1f %6.2f\n", r.method.c_str(),
                r.param.c_str(), r.threads, r.build_s, r.rss_mib, r.p50_ms, r.p99_ms, r.qps_single, r.qps_batch,
                r.recall, r.gbps, r.bw, r.of_bw);
    std::fflush(stdout);
  }

  void write(const std::string& prefix) const {
    std::ofstream csv(prefix + ".csv");
    csv << "dataset,method,param,threads,build_s,rss_mib,p50_ms,p99_ms,qps_single,qps_batch,recall,scan_bytes,gbps,"
           "bw_gbps,of_bw\n";
    std::ofstream json(prefix + ".json");
    json << "{\"dataset\":\"" << dataset << "\",\"n\":" << base->rows << ",\"dim\":" << base->dim
         << ",\"bandwidth_gbps\":[";
    for (std::size_t i = 0; i < bandwidth.size(); ++i) json << (i ? "," : "") << bandwidth[i];
    json << "],\"bandwidth_4k_gbps\":[";
    for (std::size_t i = 0; i < bandwidth_4k.size(); ++i) json << (i ? "," : "") << bandwidth_4k[i];
    json << "],\"rows\":[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const row& r = rows[i];
      csv << r.dataset << ',' << r.method << ',' << r.param << ',' << r.threads << ',' << r.build_s << ','
          << r.rss_mib << ',' << r.p50_ms << ',' << r.p99_ms << ',' << r.qps_single << ',' << r.qps_batch << ','
          << r.recall << ',' << r.scan_bytes << ',' << r.gbps << ',' << r.bw << ',' << r.of_bw << '\n';
      json << (i ? "," : "") << "{\"method\":\"" << r.method << "\",\"param\":\"" << r.param
           << "\",\"threads\":" << r.threads << ",\"build_s\":" << r.build_s << ",\"rss_mib\":" << r.rss_mib
           << ",\"p50_ms\":" << r.p50_ms << ",\"p99_ms\":" << r.p99_ms << ",\"qps_single\":" << r.qps_single
           << ",\"qps_batch\":" << r.qps_batch << ",\"recall\":" << r.recall << ",\"scan_bytes\":" << r.scan_bytes
           << ",\"gbps\":" << r.gbps << ",\"bw_gbps\":" << r.bw << ",\"of_bw\":" << r.of_bw << "}";
    }
    json << "]}\n";
  }
};

#if defined(VECSTORE_BENCH_HAVE_FAISS)
/// FAISS's threads: its OpenMP loops and the OpenBLAS under its products.
void set_blas_threads(std::size_t threads) {
  using setter = void (*)(int);
  if (auto f = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(static_cast<int>(threads));
  omp_set_num_threads(static_cast<int>(threads));
}
#endif

/// Runs `body(i)` for i in [0, n) on `threads` threads (what hnswlib's Python binding does for a batch).
void parallel_for(std::size_t n, std::size_t threads, const std::function<void(std::size_t)>& body) {
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < n; i = next++) body(i);
    });
  for (auto& th : pool) th.join();
}

#if defined(VECSTORE_BENCH_HAVE_HNSWLIB)
/// One query on an hnswlib index (brute force or HNSW), labels nearest first: its queue pops the farthest first.
template <class Index>
search_fn hnswlib_single(Index& index) {
  return [&index](const float* q, std::size_t, std::size_t k, std::int64_t* labels) {
    auto result = index.searchKnn(q, k);
    for (std::size_t j = k; j-- > 0;) {
      labels[j] = result.empty() ? -1 : static_cast<std::int64_t>(result.top().second);
      if (!result.empty()) result.pop();
    }
  };
}

/// A batch as `threads` single queries at a time (hnswlib has no intra-query threads).
search_fn hnswlib_batch(const search_fn& one, std::size_t dim, std::size_t threads) {
  return [one, dim, threads](const float* q, std::size_t count, std::size_t k, std::int64_t* labels) {
    parallel_for(count, threads, [&](std::size_t i) { one(q + i * dim, 1, k, labels + i * k); });
  };
}
#endif

std::vector<std::size_t> parse_list(const std::string& s) {
  std::vector<std::size_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoul(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 0, dim = 768, nq = 1000, single = 100, repeats = 3;  // n = 0: all of --base, or 200,000
  std::vector<std::size_t> thread_counts{1, std::max(1u, std::thread::hardware_concurrency())};
  std::vector<std::size_t> nprobes{1, 2, 4, 8, 16, 32, 64, 128};
  std::vector<std::size_t> efs{16, 32, 64, 128, 256};
  std::string base_path, query_path, gt_path, out = "vecstore_compare";
  const std::vector<std::string> all_methods{"vecstore-flat", "vecstore-ivf", "faiss-flat",
                                             "faiss-ivf",     "hnswlib-bf",   "hnswlib-hnsw"};
  std::set<std::string> methods(all_methods.begin(), all_methods.end());
  std::uint64_t seed = 42;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value after " + a);
      return argv[++i];
    };
    if (a == "--n") n = std::stoul(next());
    else if (a == "--dim") dim = std::stoul(next());
    else if (a == "--queries") nq = std::stoul(next());
    else if (a == "--single") single = std::stoul(next());
    else if (a == "--repeats") repeats = std::stoul(next());
    else if (a == "--threads") thread_counts = parse_list(next());
    else if (a == "--nprobe") nprobes = parse_list(next());
    else if (a == "--ef") efs = parse_list(next());
    else if (a == "--base") base_path = next();
    else if (a == "--query") query_path = next();
    else if (a == "--gt") gt_path = next();
    else if (a == "--out") out = next();
    else if (a == "--seed") seed = std::stoull(next());
    else if (a == "--no-hnsw") methods.erase("hnswlib-hnsw");
    else if (a == "--methods") {
      methods.clear();
      std::stringstream list(next());
      for (std::string m; std::getline(list, m, ',');) {
        if (std::find(all_methods.begin(), all_methods.end(), m) == all_methods.end()) {
          std::cerr << "unknown method " << m << "\n";
          return 2;
        }
        methods.insert(m);
      }
    } else {
      (a == "--help" ? std::cout : std::cerr) << (a == "--help" ? "" : "unknown option " + a + "\n")
                << "usage: vecstore_compare [--n N] [--dim D] [--queries Q] [--single S] [--threads 1,2] [--repeats R]\n"
                   "       [--nprobe 1,2,...] [--ef 16,32,...] [--seed S] [--out PREFIX] [--no-hnsw]\n"
                   "       [--methods vecstore-flat,vecstore-ivf,faiss-flat,faiss-ivf,hnswlib-bf,hnswlib-hnsw]\n"
                   "       [--base x.fvecs --query q.fvecs [--gt gt.ivecs]]\n";
      return a == "--help" ? 0 : 2;
    }
  }

  matrix base, queries;
  std::string dataset;
  const double rss_start = rss_mib();
  if (!base_path.empty()) {
    base = vecstore_bench::read_fvecs(base_path, n);  // n = 0 reads them all
    queries = vecstore_bench::read_fvecs(query_path, nq);
    dataset = base_path;
  } else {
    if (n == 0) n = 200000;
    vecstore_bench::make_embeddings(n, nq, dim, seed, base, queries);
    dataset = "synthetic-" + std::to_string(n) + "x" + std::to_string(dim);
  }
  n = base.rows;
  dim = base.dim;
  nq = queries.rows;
  std::printf("dataset %s: %zu x %zu, %zu queries; data %.1f MiB (rss %.1f MiB)\n", dataset.c_str(), n, dim, nq,
              static_cast<double>(n * dim * 4) / (1024.0 * 1024.0), rss_mib() - rss_start);

  harness h;
  h.dataset = dataset;
  h.base = &base;
  h.queries = &queries;
  h.single = single;
  h.batch = nq;
  h.repeats = repeats;
  const std::size_t max_threads = *std::max_element(thread_counts.begin(), thread_counts.end());
  for (std::size_t t = 1; t <= max_threads; ++t) {
    h.bandwidth_4k.push_back(read_bandwidth(t, 20, false));
    const double huge = read_bandwidth(t, 20, true);
    h.bandwidth.push_back(std::max(h.bandwidth_4k.back(), huge));
    std::printf("memory read bandwidth, %zu thread(s): %.2f GB/s on 4 KiB pages, %.2f GB/s on huge pages\n", t,
                h.bandwidth_4k.back(), huge);
  }
  const double matrix_bytes = static_cast<double>(n * dim * sizeof(float));

  // Ground truth: exact inner product (the vectors are unit length, so also cosine and l2 order).
  {
    vecstore::set_search_threads(max_threads);
    if (!gt_path.empty()) {
      for (auto& r : vecstore_bench::read_ivecs(gt_path)) h.truth.emplace_back(r.begin(), r.begin() + 10);
    } else {
      vecstore::flat_index exact(dim, vecstore::metric::inner_product);
      exact.reserve(n);
      for (std::size_t i = 0; i < n; ++i) exact.upsert(static_cast<std::int64_t>(i), base.row(i));
      const auto t0 = clock_type::now();
      for (const auto& list : exact.search(queries.data.data(), nq, 10, nullptr)) {
        std::vector<std::int64_t> ids;
        for (const auto& nb : list) ids.push_back(nb.key);
        h.truth.push_back(ids);
      }
      std::printf("ground truth: %.2f s\n", seconds_since(t0));
    }
  }
  harness::print_header();

  const auto wants = [&](const char* method) { return methods.count(method) != 0; };

  // ---- vecstore flat ----------------------------------------------------------------------
  for (const vecstore::metric space : {vecstore::metric::inner_product, vecstore::metric::l2}) {
    if (!wants("vecstore-flat")) break;
    const double rss0 = rss_mib();
    const auto t0 = clock_type::now();
    auto index = std::make_unique<vecstore::flat_index>(dim, space);
    index->reserve(n);
    for (std::size_t i = 0; i < n; ++i) index->upsert(static_cast<std::int64_t>(i), base.row(i));
    const double build = seconds_since(t0);
    const double rss = rss_mib() - rss0;
    const search_fn fn = [&](const float* q, std::size_t count, std::size_t k, std::int64_t* labels) {
      const auto got = index->search(q, count, k, nullptr);
      for (std::size_t i = 0; i < count; ++i)
        for (std::size_t j = 0; j < k; ++j) labels[i * k + j] = j < got[i].size() ? got[i][j].key : -1;
    };
    for (std::size_t t : thread_counts) {
      vecstore::set_search_threads(t);
      row r{dataset, std::string(space == vecstore::metric::l2 ? "vecstore flat l2" : "vecstore flat ip"),
            "-", t, build, rss};
      r.scan_bytes = matrix_bytes;
      h.measure(r, fn, fn);
    }
  }

  // ---- vecstore IVF -----------------------------------------------------------------------
  const std::size_t nlist = vecstore::ivf_index::default_nlist(n);
  if (wants("vecstore-ivf")) {
    const double rss0 = rss_mib();
    vecstore::set_search_threads(max_threads);
    const auto t0 = clock_type::now();
    auto index = std::make_unique<vecstore::ivf_index>(dim, vecstore::metric::inner_product);
    index->reserve(n);
    for (std::size_t i = 0; i < n; ++i) index->upsert(static_cast<std::int64_t>(i), base.row(i));
    const double add = seconds_since(t0);
    index->train();
    const double build = seconds_since(t0);
    const double rss = rss_mib() - rss0;
    std::printf("vecstore ivf: nlist %zu, add %.2f s, train+rebucket %.2f s (%zu threads)\n", index->nlist(), add,
                build - add, max_threads);
    const search_fn fn = [&](const float* q, std::size_t count, std::size_t k, std::int64_t* labels) {
      const auto got = index->search(q, count, k, nullptr);
      for (std::size_t i = 0; i < count; ++i)
        for (std::size_t j = 0; j < k; ++j) labels[i * k + j] = j < got[i].size() ? got[i][j].key : -1;
    };
    for (std::size_t t : thread_counts) {
      vecstore::set_search_threads(t);
      for (std::size_t p : nprobes) {
        if (p > index->nlist()) continue;
        index->set_nprobe(p);
        // Bytes one query reads: its probed lists and the centroids.
        double bytes = 0;
        const std::size_t sample = std::min<std::size_t>(100, nq);
        for (std::size_t q = 0; q < sample; ++q)
          for (std::int32_t l : index->probe(queries.row(q), p)) bytes += static_cast<double>(index->list_size(l));
        bytes = bytes / static_cast<double>(sample) * static_cast<double>(dim * 4) +
                static_cast<double>(index->nlist() * dim * 4);
        row r{dataset, std::string("vecstore ivf"), "nprobe=" + std::to_string(p), t, build, rss};
        r.scan_bytes = bytes;
        h.measure(r, fn, fn);
      }
    }
  }

#if defined(VECSTORE_BENCH_HAVE_FAISS)
  // ---- FAISS --------------------------------------------------------------------------------
  for (const bool ip : {true, false}) {
    if (!wants("faiss-flat")) break;
    const double rss0 = rss_mib();
    const auto t0 = clock_type::now();
    std::unique_ptr<faiss::IndexFlat> index;
    if (ip) index = std::make_unique<faiss::IndexFlatIP>(static_cast<faiss::Index::idx_t>(dim));
    else index = std::make_unique<faiss::IndexFlatL2>(static_cast<faiss::Index::idx_t>(dim));
    index->add(static_cast<faiss::Index::idx_t>(n), base.data.data());
    const double build = seconds_since(t0);
    const double rss = rss_mib() - rss0;
    std::vector<float> dist(std::max(nq, single) * 10);
    const search_fn fn = [&](const float* q, std::size_t count, std::size_t k, std::int64_t* labels) {
      index->search(static_cast<faiss::Index::idx_t>(count), q, static_cast<faiss::Index::idx_t>(k), dist.data(), labels);
    };
    for (std::size_t t : thread_counts) {
      set_blas_threads(t);
      row r{dataset, ip ? "faiss IndexFlatIP" : "faiss IndexFlatL2", "-", t, build, rss};
      r.scan_bytes = matrix_bytes;
      h.measure(r, fn, fn);
    }
  }
  if (wants("faiss-ivf")) {
    set_blas_threads(max_threads);
    const double rss0 = rss_mib();
    const auto t0 = clock_type::now();
    faiss::IndexFlatIP quantizer(static_cast<faiss::Index::idx_t>(dim));
    faiss::IndexIVFFlat index(&quantizer, dim, nlist, faiss::METRIC_INNER_PRODUCT);
    index.verbose = false;
    index.train(static_cast<faiss::Index::idx_t>(n), base.data.data());
    const double train = seconds_since(t0);
    index.add(static_cast<faiss::Index::idx_t>(n), base.data.data());
    const double build = seconds_since(t0);
    const double rss = rss_mib() - rss0;
    std::printf("faiss ivf: nlist %zu, train %.2f s, add %.2f s (%zu threads)\n", nlist, train, build - train,
                max_threads);
    std::vector<float> dist(std::max(nq, single) * 10);
    const search_fn fn = [&](const float* q, std::size_t count, std::size_t k, std::int64_t* labels) {
      index.search(static_cast<faiss::Index::idx_t>(count), q, static_cast<faiss::Index::idx_t>(k), dist.data(), labels);
    };
    for (std::size_t t : thread_counts) {
      set_blas_threads(t);
      for (std::size_t p : nprobes) {
        if (p > nlist) continue;
        index.nprobe = p;
        row r{dataset, "faiss IndexIVFFlat", "nprobe=" + std::to_string(p), t, build, rss};
        h.measure(r, fn, fn);
      }
    }
  }
#endif

#if defined(VECSTORE_BENCH_HAVE_HNSWLIB)
  // ---- hnswlib ------------------------------------------------------------------------------
  if (wants("hnswlib-bf")) {
    hnswlib::InnerProductSpace space(dim);
    const double rss0 = rss_mib();
    const auto t0 = clock_type::now();
    hnswlib::BruteforceSearch<float> index(&space, n);
    for (std::size_t i = 0; i < n; ++i) index.addPoint(base.row(i), static_cast<hnswlib::labeltype>(i));
    const double build = seconds_since(t0);
    const double rss = rss_mib() - rss0;
    const search_fn one = hnswlib_single(index);
    for (std::size_t t : thread_counts) {
      const search_fn batch = hnswlib_batch(one, dim, t);
      row r{dataset, "hnswlib brute force", "-", t, build, rss};
      r.scan_bytes = matrix_bytes;
      // No intra-query threads in hnswlib: single queries run on one thread; the batch (a subset, it is slow)
      // runs `t` queries at once.
      h.measure(r, one, batch, std::min<std::size_t>(nq, 200));
    }
  }
  if (wants("hnswlib-hnsw")) {
    hnswlib::InnerProductSpace space(dim);
    const double rss0 = rss_mib();
    const auto t0 = clock_type::now();
    hnswlib::HierarchicalNSW<float> index(&space, n, 16, 100, 42);
    index.addPoint(base.row(0), 0);
    parallel_for(n - 1, max_threads,
                 [&](std::size_t i) { index.addPoint(base.row(i + 1), static_cast<hnswlib::labeltype>(i + 1)); });
    const double build = seconds_since(t0);
    const double rss = rss_mib() - rss0;
    std::printf("hnswlib hnsw: M 16, ef_construction 100, build %.2f s (%zu threads)\n", build, max_threads);
    const search_fn one = hnswlib_single(index);
    for (std::size_t t : thread_counts) {
      const search_fn batch = hnswlib_batch(one, dim, t);
      for (std::size_t ef : efs) {
        index.setEf(ef);
        row r{dataset, "hnswlib hnsw", "ef=" + std::to_string(ef), t, build, rss};
        h.measure(r, one, batch);
      }
    }
  }
#endif

  h.write(out);
  std::printf("wrote %s.csv and %s.json\n", out.c_str(), out.c_str());
  return 0;
}
