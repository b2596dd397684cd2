// SPDX-License-Identifier: MIT
// The similarity kernel shared by every index: Eigen products over contiguous float rows, then bounded top-k.
#pragma once

// With product.hpp, the headers of vecstore that include Eigen (STYLE.md §3.1:
// compile time, §3.6: alignment). Everything Eigen stays in namespace detail.
#include <Eigen/Core>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include <vecstore/index/product.hpp>
#include <vecstore/index/requirements.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {

/// A read-only view of contiguous float rows: row `r` is the `dim` floats at
/// `data + r * stride`. An index hands this out instead of its container so
/// that the rows may later live in a memory-mapped file shared by processes.
struct row_view {
  const float* data = nullptr;
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::size_t stride = 0;  ///< distance between rows, in floats; at least `dim`

  const float* row(std::size_t r) const noexcept { return data + r * stride; }
};

/// @name Search threads
///
/// A scan over many rows is split into row ranges scored on several threads
/// (each with its own top-k, merged at the end). How many threads one search
/// may use is a process-wide setting, read by every index at each search:
/// the store constructs its indexes itself, so a per-index knob would not be
/// reachable through it. An index may still override it (`flat_index::set_threads`,
/// `ivf_index::set_threads`).
///
/// The threads come from one persistent pool per process, created on first
/// use (spawning threads per query costs more than a small scan: see
/// docs/benchmarks.md), and the calling thread always works too. A search
/// that reads less than `detail::min_parallel_work` floats per thread stays on
/// the calling thread. After `fork()` the child builds its own pool on first
/// use (the parent's threads do not exist there).
/// @{

namespace detail {
/// 0 means "not set": use std::thread::hardware_concurrency().
inline std::atomic<std::size_t>& search_threads_setting() noexcept {
  static std::atomic<std::size_t> setting{0};
  return setting;
}
}  // namespace detail

/// Sets how many threads one search may use, the caller included; 0 restores
/// the default, `std::thread::hardware_concurrency()`. 1 keeps every search on
/// the calling thread. Safe to call at any time from any thread; searches
/// already running keep the count they started with.
inline void set_search_threads(std::size_t n) noexcept { detail::search_threads_setting().store(n); }

/// The thread count a search may use now (at least 1).
inline std::size_t search_threads() noexcept {
  const std::size_t n = detail::search_threads_setting().load();
  if (n != 0) return n;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<std::size_t>(hw);
}

/// @}

namespace detail {

/// Floats one task must read before a scan is split across threads. Waking a
/// pooled thread and merging its top-k costs about 5-20 us; 1 Mi floats
/// (4 MiB, ~0.3 ms on one core) is where two threads measured faster than
/// one for a single query on this machine (benchmarks/kernel_bench.cpp,
/// BM_flat_threads; docs/benchmarks.md).
inline constexpr std::size_t min_parallel_work = std::size_t{1} << 20;

/// How many tasks a scan of `work` floats (rows x dim x queries) is split
/// into: at most `threads`, and none smaller than `min_work`.
inline std::size_t tasks_for(std::size_t work, std::size_t threads,
                             std::size_t min_work = min_parallel_work) noexcept {
  const std::size_t by_work = work / min_work;
  return (std::max)(std::size_t{1}, (std::min)(threads, by_work));
}

/// How long an idle pool thread, and a caller waiting for the last task of
/// its job, poll before they sleep. Searches come in quick succession (an IVF
/// query is two jobs: probe, then scan), and waking a sleeping thread costs
/// tens of microseconds on a virtual machine, as much as a small scan.
inline constexpr std::chrono::microseconds pool_spin{100};

/// Polls `ready()` for up to `pool_spin`, yielding the core between polls.
template <class Ready>
void spin_until(Ready ready) {
  const auto until = std::chrono::steady_clock::now() + pool_spin;
  while (!ready() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
}

/// A small persistent pool. `run(n, fn)` calls `fn(0..n-1)`, each once, on
/// the pool's threads and on the caller, and returns when all are done
/// (rethrowing the first exception). Any number of threads may call `run` at
/// once: each call is a job in a queue, and a caller always works through its
/// own job too, so a busy pool delays a search but never deadlocks it.
class thread_pool {
 public:
  explicit thread_pool(long owner_pid = 0) : owner_(owner_pid) {}
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  /// Grows the pool to at least `n` worker threads (it never shrinks).
  void ensure_workers(std::size_t n) {
    if (worker_count_.load(std::memory_order_acquire) >= n) return;
    std::lock_guard<std::mutex> guard(mutex_);
    while (workers_.size() < n) {
      workers_.emplace_back([this] { work(); });
      worker_count_.store(workers_.size(), std::memory_order_release);
    }
  }

  std::size_t workers() const noexcept { return worker_count_.load(std::memory_order_acquire); }
  /// The process that created the pool; its threads exist only there.
  long owner() const noexcept { return owner_; }

  void run(std::size_t tasks, const std::function<void(std::size_t)>& fn) {
    if (tasks == 0) return;
    if (tasks == 1 || workers() == 0) {
      for (std::size_t i = 0; i < tasks; ++i) fn(i);
      return;
    }
    auto j = std::make_shared<job>();
    j->fn = &fn;
    j->count = tasks;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      queue_.push_back(j);
      queued_.store(queue_.size(), std::memory_order_release);
    }
    // Wake as many workers as there are tasks besides the caller's.
    if (tasks - 1 >= workers()) {
      wake_.notify_all();
    } else {
      for (std::size_t i = 0; i + 1 < tasks; ++i) wake_.notify_one();
    }
    execute(*j);
    spin_until([&] { return j->finished.load(std::memory_order_acquire) == j->count; });
    {
      std::unique_lock<std::mutex> done(j->mutex);
      j->done.wait(done, [&] { return j->finished == j->count; });
    }
    retire(j);
    if (j->error) std::rethrow_exception(j->error);
  }

 private:
  struct job {
    const std::function<void(std::size_t)>* fn = nullptr;
    std::size_t count = 0;
    std::atomic<std::size_t> next{0};
    std::mutex mutex;                 // guards changes of finished, and error
    std::condition_variable done;
    std::atomic<std::size_t> finished{0};  // also read without the mutex, while spinning
    std::exception_ptr error;
  };

  // Claims and runs tasks of `j` until none is left.
  static void execute(job& j) {
    for (;;) {
      const std::size_t i = j.next.fetch_add(1, std::memory_order_relaxed);
      if (i >= j.count) return;
      std::exception_ptr failed;
      try {
        (*j.fn)(i);
      } catch (...) {
        failed = std::current_exception();
      }
      std::lock_guard<std::mutex> guard(j.mutex);
      if (failed && !j.error) j.error = failed;
      if (++j.finished == j.count) j.done.notify_all();
    }
  }

  void retire(const std::shared_ptr<job>& j) {
    std::lock_guard<std::mutex> guard(mutex_);
    const auto it = std::find(queue_.begin(), queue_.end(), j);
    if (it != queue_.end()) queue_.erase(it);
    queued_.store(queue_.size(), std::memory_order_release);
  }

  void work() {
    for (;;) {
      std::shared_ptr<job> j;
      spin_until([&] { return queued_.load(std::memory_order_acquire) != 0; });
      {
        std::unique_lock<std::mutex> guard(mutex_);
        wake_.wait(guard, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        j = queue_.front();
        // A job whose tasks are all claimed leaves the queue; its owner
        // still waits for the ones running.
        if (j->next.load(std::memory_order_relaxed) + 1 >= j->count) {
          queue_.pop_front();
          queued_.store(queue_.size(), std::memory_order_release);
        }
      }
      execute(*j);
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<job>> queue_;
  std::atomic<std::size_t> queued_{0};  // queue_.size(), for idle workers to poll without the mutex
  std::vector<std::thread> workers_;
  std::atomic<std::size_t> worker_count_{0};
  bool stop_ = false;
  long owner_;
};

/// The process's search pool, with at least `workers` threads. Created on
/// first use and never destroyed: at exit its idle threads simply end with
/// the process, and a child of fork() (where those threads do not exist)
/// builds a pool of its own instead of touching the parent's.
inline thread_pool& search_pool(std::size_t workers) {
  static std::atomic<thread_pool*> current{nullptr};
  const long pid = static_cast<long>(::getpid());
  thread_pool* p = current.load(std::memory_order_acquire);
  while (p == nullptr || p->owner() != pid) {
    // Intentionally leaked (see above); a thread that loses the race deletes its own.
    thread_pool* fresh = new thread_pool(pid);
    if (current.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) {
      p = fresh;
      break;
    }
    delete fresh;
  }
  p->ensure_workers(workers);
  return *p;
}

/// Runs `fn(0..tasks-1)` on the search pool (the caller included).
inline void parallel_run(std::size_t tasks, const std::function<void(std::size_t)>& fn) {
  if (tasks <= 1) {
    if (tasks == 1) fn(0);
    return;
  }
  search_pool(tasks - 1).run(tasks, fn);
}

}  // namespace detail

namespace detail {

// Dynamic-size, unaligned maps only: rows live in a std::vector<float> (or a
// mapped file) with no alignment promise (STYLE.md §3.6, Eigen's
// UnalignedArrayAssert.dox).
using row_major_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using const_rows_map = Eigen::Map<const row_major_matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using const_vector_map = Eigen::Map<const Eigen::VectorXf, Eigen::Unaligned>;
using vector_map = Eigen::Map<Eigen::VectorXf, Eigen::Unaligned>;

/// Bytes of rows scored per block. About 1 MiB stays in L2 while a block of
/// queries is multiplied against it, so a batch reads each row from memory
/// once per batch rather than once per query.
inline constexpr std::size_t block_bytes = std::size_t{1} << 20;
/// Row-count bounds of a block: the upper one keeps a block's scores
/// (rows x queries_per_block floats, 4 MiB at most) in L3 for tiny dims.
inline constexpr std::size_t min_block_rows = 16;
inline constexpr std::size_t max_block_rows = 4096;
/// Queries multiplied by a block of rows together: their scores (rows x
/// queries) stay in L2/L3 until folded. A multiple of every tile width of
/// `packed_product` (12, 6), so that each block of queries starts a packed
/// group.
inline constexpr std::size_t queries_per_block = 252;
static_assert(queries_per_block % native_product::tile_queries == 0, "a block of queries must start a packed group");
/// Below this many queries a block is scored by one matrix-vector product per
/// query, re-reading the block from cache: packing the block for the
/// matrix-matrix product costs more than it saves for so few (100k x 768
/// rows, one core: 2 queries 12.5 vs 26.3 ms, 4 queries 17.7 vs 29.1 ms,
/// 7 queries 27.8 vs 27.4 ms; BM_flat_search).
inline constexpr std::size_t min_queries_for_product = 8;
/// A filter allowing at most rows / gather_divisor rows is served by reading
/// only those rows; a larger one by the dense scan with a bitmap, since
/// streaming every row beats hopping between most of them.
inline constexpr std::size_t gather_divisor = 4;

/// Rows scored per block for vectors of `dim` floats.
inline std::size_t rows_per_block(std::size_t dim) noexcept {
  const std::size_t row_bytes = (std::max)(dim, std::size_t{1}) * sizeof(float);
  return (std::min)(max_block_rows, (std::max)(min_block_rows, block_bytes / row_bytes));
}

/// One result of the kernel: a row of the view and its distance to the query.
struct scored_row {
  std::size_t row;
  float distance;
};

/// What the kernel reads besides the query: the rows, and facts about them.
struct row_source {
  row_view rows;
  metric space = metric::cosine;
  /// ||row||^2 per row; read only for l2. Null: computed per block on the fly
  /// (a second pass over the block, while it is in cache).
  const float* sq_norms = nullptr;
  /// One key per row; equal distances rank the smaller key first. Null: the
  /// smaller row index ranks first.
  const std::int64_t* tie_keys = nullptr;
};

/// The top k candidates seen so far, by blocked partial selection: a
/// candidate that passes the threshold test joins a buffer; when the buffer
/// holds 2k, `nth_element` keeps its best k and the k-th becomes the new
/// threshold. Once the threshold is tight almost every score fails that one
/// comparison, so selection costs O(N) compares plus amortized O(1) per
/// admitted candidate, and N scores are never sorted. Measured against a
/// bounded max-heap over 200,000 real scores (benchmarks/kernel_bench.cpp,
/// BM_topk_partial vs BM_topk_heap): 107 vs 134 us at k = 10, 119 vs 164 us
/// at k = 100, so the partial selection is kept.
///
/// One accumulator per query and per thread: a threaded scan fills one per
/// row range, then `merge`s them.
class topk_accumulator {
 public:
  explicit topk_accumulator(std::size_t k = 0, std::size_t expected_candidates = 0) : k_(k) {
    // Grows past this on demand: a huge k (up to limits::max_k) over a large
    // batch must not reserve gigabytes up front.
    buffer_.reserve((std::min)({2 * k, expected_candidates, std::size_t{1024}}));
  }

  std::size_t k() const noexcept { return k_; }
  /// Candidates held (at most 2k before `take_sorted` cuts them to k).
  std::size_t size() const noexcept { return buffer_.size(); }

  /// False when `distance` cannot enter: worse than the k-th best so far
  /// (ties still may enter, by key). Also false for NaN, which never enters.
  bool admits(float distance) const noexcept { return distance <= threshold_; }
  /// The distance a candidate must not exceed: the k-th best so far, or infinity.
  float threshold() const noexcept { return threshold_; }
  /// Lowers the threshold to `bound` if that is tighter. The caller vouches
  /// that k of the candidates it is about to offer lie within `bound`, so
  /// the best k still enter.
  void bound_threshold(float bound) noexcept { threshold_ = (std::min)(threshold_, bound); }

  /// Offers a candidate; keeps it when it may rank among the best k.
  /// `tie_key` points at its key, which ranks equal distances and is read
  /// only for a tie or when taken, so it must stay valid until then; null:
  /// `row` ranks them.
  void offer(float distance, const std::int64_t* tie_key, std::size_t row) {
    if (!admits(distance) || k_ == 0) return;
    buffer_.push_back(candidate{distance, tie_key, row});
    if (buffer_.size() >= 2 * k_) cut();
  }

  /// Folds in another accumulator's candidates (from a disjoint row range).
  /// One cut for all of them, not one per k offered: the k-th best of
  /// either bounds the k-th best of both.
  void merge(const topk_accumulator& other) {
    threshold_ = (std::min)(threshold_, other.threshold_);
    for (const candidate& c : other.buffer_)
      if (admits(c.distance)) buffer_.push_back(c);
    if (k_ != 0 && buffer_.size() >= 2 * k_) cut();
  }

  /// The kept candidates, best first; leaves the accumulator empty.
  std::vector<scored_row> take_sorted() {
    finish_selection();
    std::vector<scored_row> out;
    out.reserve(buffer_.size());
    for (const candidate& c : buffer_) out.push_back(scored_row{c.row, c.distance});
    reset();
    return out;
  }

  /// The kept candidates as (tie key, distance), best first; leaves the
  /// accumulator empty. For scans over several views (the lists of an IVF
  /// index), where a row number alone does not name a vector but the tie key
  /// does.
  std::vector<neighbor> take_sorted_keys() {
    finish_selection();
    std::vector<neighbor> out;
    out.reserve(buffer_.size());
    for (const candidate& c : buffer_) out.push_back(neighbor{c.tie(), c.distance});
    reset();
    return out;
  }

 private:
  // The key by pointer: an IVF list's keys sit apart from its rows, and
  // loading one per offer was a cache miss each (one IVF query at 1M x 100,
  // nprobe 32, on two threads: 86.8-89.1 -> 84.7-86.9 us).
  struct candidate {
    float distance;
    const std::int64_t* tie_key;
    std::size_t row;
    std::int64_t tie() const noexcept { return tie_key != nullptr ? *tie_key : static_cast<std::int64_t>(row); }
  };
  // Strict weak order of "closer": by distance, then by the smaller tie key.
  // A function object, not a function, so that the algorithms inline it.
  struct closer {
    bool operator()(const candidate& a, const candidate& b) const noexcept {
      return a.distance < b.distance || (a.distance == b.distance && a.tie() < b.tie());
    }
  };

  // Keeps the best k of the buffer; the k-th is the new threshold (ties with
  // it may still enter: a smaller key ranks before it).
  void cut() {
    const auto kth = buffer_.begin() + static_cast<std::ptrdiff_t>(k_ - 1);
    std::nth_element(buffer_.begin(), kth, buffer_.end(), closer{});
    buffer_.resize(k_);
    // min: a bound from `bound_threshold` may be tighter than the k-th held.
    threshold_ = (std::min)(threshold_, buffer_.back().distance);
  }

  void finish_selection() {
    if (buffer_.size() > k_) cut();
    std::sort(buffer_.begin(), buffer_.end(), closer{});
  }

  void reset() noexcept {
    buffer_.clear();
    threshold_ = std::numeric_limits<float>::infinity();
  }

  std::size_t k_;
  float threshold_ = std::numeric_limits<float>::infinity();
  std::vector<candidate> buffer_;
};

/// The queries of one search, made ready for scoring: normalized for cosine
/// (so that 1 - dot is 1 - cos), and with squared norms for l2.
class query_set {
 public:
  query_set(const float* queries, std::size_t count, std::size_t dim, metric space)
      : data_(queries), count_(count), dim_(dim) {
    if (space == metric::cosine) {
      normalized_.assign(queries, queries + count * dim);
      for (std::size_t q = 0; q < count; ++q) {
        vector_map v(normalized_.data() + q * dim, static_cast<Eigen::Index>(dim));
        const float norm = v.norm();
        // A zero query scores 1 - 0 = 1 against every row instead of NaN;
        // the store rejects it before it gets here anyway.
        if (norm > 0.0f) v /= norm;
      }
      data_ = normalized_.data();
    } else if (space == metric::l2) {
      sq_norms_.resize(count);
      for (std::size_t q = 0; q < count; ++q)
        sq_norms_[q] = const_vector_map(query(q), static_cast<Eigen::Index>(dim)).squaredNorm();
    }
    pack_for_product();
  }

  /// The queries `which[0..count)` of `from`, copied contiguously, already
  /// prepared (normalized, with their norms): a group of queries that probe
  /// the same IVF list, scored together by one product.
  query_set(const query_set& from, const std::uint32_t* which, std::size_t count)
      : data_(nullptr), count_(count), dim_(from.dim_) {
    normalized_.resize(count * dim_);
    for (std::size_t i = 0; i < count; ++i) std::copy(from.query(which[i]), from.query(which[i]) + dim_,
                                                        normalized_.data() + i * dim_);
    if (!from.sq_norms_.empty()) {
      sq_norms_.resize(count);
      for (std::size_t i = 0; i < count; ++i) sq_norms_[i] = from.sq_norms_[which[i]];
    }
    data_ = normalized_.data();
    pack_for_product();
  }
  query_set(const query_set&) = delete;
  query_set& operator=(const query_set&) = delete;

  std::size_t count() const noexcept { return count_; }
  std::size_t dim() const noexcept { return dim_; }
  const float* query(std::size_t q) const noexcept { return data_ + q * dim_; }
  /// ||q||^2; zero for metrics that do not need it.
  float sq_norm(std::size_t q) const noexcept { return sq_norms_.empty() ? 0.0f : sq_norms_[q]; }
  /// Queries [q, count) packed for `native_product`; `q` a multiple of its
  /// tile_queries. Only when count() >= min_queries_for_product.
  const float* packed(std::size_t q) const noexcept { return packed_.data() + q * dim_; }

 private:
  // Packed once per search, since every block of rows is multiplied by them.
  void pack_for_product() {
    if (count_ < min_queries_for_product) return;
    packed_.resize(count_ * dim_);
    native_product::pack_queries(data_, count_, dim_, packed_.data());
  }

  const float* data_;
  std::size_t count_;
  std::size_t dim_;
  std::vector<float> normalized_;
  std::vector<float> sq_norms_;
  std::vector<float> packed_;
};

using array_map = Eigen::Map<Eigen::ArrayXf, Eigen::Unaligned>;
using const_array_map = Eigen::Map<const Eigen::ArrayXf, Eigen::Unaligned>;

/// Turns l2 dot products into distances in place, a packet at a time:
/// ||x||^2 - 2x.q + ||q||^2 turns the scan into a product, but rounding can
/// make the distance of a vector to itself slightly negative, hence the max.
inline void l2_dots_to_distances(array_map d, const float* row_sq_norms, float query_sq_norm) {
  d = ((const_array_map(row_sq_norms, d.size()) - 2.0f * d + query_sq_norm).max)(0.0f);
}

/// The distance of a score, per ChromaDB's conventions (types.hpp). An l2
/// score already is one (`l2_dots_to_distances`); for cosine and
/// inner_product the score is the dot product, and its distance never
/// increases with it (rounding is monotonic), so the largest dot of a chunk
/// has its smallest distance.
template <metric Space>
inline float score_distance(float score) noexcept {
  if constexpr (Space == metric::l2) return score;
  // Rows and queries are unit vectors for cosine, yet rounding can push the
  // dot past +-1; types.hpp documents cosine distances as lying in [0, 2].
  if constexpr (Space == metric::cosine) return (std::min)((std::max)(1.0f - score, 0.0f), 2.0f);
  return 1.0f - score;
}

/// True when bit `row` of `bits` is set.
inline bool bit_is_set(const std::uint64_t* bits, std::size_t row) noexcept {
  return ((bits[row / 64] >> (row % 64)) & 1u) != 0;
}

/// Where the rows of a block came from: row `first + i`, or `ids[i]` when
/// the block was gathered from a subset.
struct block_rows {
  std::size_t first = 0;
  const std::size_t* ids = nullptr;
  std::size_t row(std::size_t i) const noexcept { return ids != nullptr ? ids[i] : first + i; }
};

/// Candidates are looked for in chunks of this many scores: one vectorized
/// test per chunk, and the scalar loop only for a chunk that holds one.
inline constexpr std::size_t fold_chunk = 64;

/// False when none of the `n` scores at `scores` can enter a top-k whose
/// k-th distance is `threshold` (NaN never enters); true when some may.
/// The best score of each lane is kept across the chunk's packets (NaN only
/// where a lane saw nothing else), turned into a distance exactly as
/// `score_distance` does, and compared lane by lane: no horizontal
/// reduction, which Eigen's minCoeff/maxCoeff do a float at a time when NaN
/// must be skipped (that took 8% of a 1,000-query batch).
template <metric Space>
inline bool chunk_may_enter(const float* scores, std::size_t n, float threshold) noexcept {
  namespace ei = Eigen::internal;
  using packet = ei::packet_traits<float>::type;
  constexpr std::size_t width = static_cast<std::size_t>(ei::packet_traits<float>::size);
  if (n < width) {
    for (std::size_t i = 0; i < n; ++i)
      if (score_distance<Space>(scores[i]) <= threshold) return true;
    return false;
  }
  const auto better = [](const packet& a, const packet& b) {
    if constexpr (Space == metric::l2) {
      return ei::pmin<Eigen::PropagateNumbers>(a, b);
    } else {
      return ei::pmax<Eigen::PropagateNumbers>(a, b);
    }
  };
  packet best = ei::ploadu<packet>(scores);
  std::size_t i = width;
  for (; i + width <= n; i += width) best = better(best, ei::ploadu<packet>(scores + i));
  if (i < n) best = better(best, ei::ploadu<packet>(scores + n - width));  // the tail, overlapping
  if constexpr (Space != metric::l2) {
    best = ei::psub(ei::pset1<packet>(1.0f), best);
    if constexpr (Space == metric::cosine)
      best = ei::pmin(ei::pmax(best, ei::pset1<packet>(0.0f)), ei::pset1<packet>(2.0f));
  }
  // NaN lanes compare false here; a chunk of NaN alone has no candidate.
  return ei::predux_any(ei::pcmp_le(best, ei::pset1<packet>(threshold)));
}

/// An upper bound on the k-th best distance among `count` scores, found in
/// one vectorized pass: the scores are dealt into 2k groups by position, and
/// the k-th best of the groups' bests is the distance of k of the scores, so
/// the k-th best of all lies within it. Infinity when there are too few
/// scores (under 4k) to make groups of two or more, or k is large.
///
/// Why: a fresh top-k admits every score until it holds 2k, and then about
/// k ln(count / k) more (a cut of 2k candidates each k of them). For an IVF
/// probe, 32 of 2,000 centroids, that was 5.5 us of folding against 6.6 us
/// of dot products; from this bound 44 scores pass on average (1,000 queries
/// against the 1M x 100 quantizer) and the fold takes 2.0 us. 2k groups: with k, 4k or 8k the fold took 2.8, 2.5 or 3.3 us
/// (fewer groups let more scores through, more cost more to select from).
template <metric Space>
inline float kth_distance_bound(const float* scores, std::size_t count, std::size_t k) {
  constexpr std::size_t max_groups = 256;
  const std::size_t groups = 2 * k;
  if (k == 0 || groups > max_groups || count < 2 * groups) return std::numeric_limits<float>::infinity();
  float best[max_groups];
  array_map bests(best, static_cast<Eigen::Index>(groups));
  bests = const_array_map(scores, bests.size());
  for (std::size_t s = groups; s + groups <= count; s += groups) {
    // Either operand of a NaN comparison may come out: always a score of the group.
    if constexpr (Space == metric::l2) {
      bests = (bests.min)(const_array_map(scores + s, bests.size()));
    } else {
      bests = (bests.max)(const_array_map(scores + s, bests.size()));
    }
  }
  std::size_t valid = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    const float distance = score_distance<Space>(best[g]);
    if (!std::isnan(distance)) best[valid++] = distance;
  }
  if (valid < k) return std::numeric_limits<float>::infinity();
  std::nth_element(best, best + (k - 1), best + valid);
  return best[k - 1];
}

/// Offers to `acc` those of `count` dot products of one query that can
/// enter its top-k. Scores are looked at a chunk at a time, by one
/// vectorized test (`chunk_may_enter`): once the top-k is full almost no
/// chunk holds a candidate, so the scores are read at SIMD speed instead of
/// by a branch each. `row_sq_norms` is per block row (l2 only; l2 turns
/// `dots` into distances in place); `allowed_bits` (nullable) masks rows by
/// their view index.
template <metric Space>
inline void fold_block(float* dots, std::size_t count, block_rows where, const float* row_sq_norms,
                       float query_sq_norm, const row_source& src, const std::uint64_t* allowed_bits,
                       topk_accumulator& acc) {
  if constexpr (Space == metric::l2)
    l2_dots_to_distances(array_map(dots, static_cast<Eigen::Index>(count)), row_sq_norms, query_sq_norm);
  // A fresh top-k: bounded by this block's own scores first. Not under a
  // filter, whose excluded rows may be the ones the bound came from.
  if (allowed_bits == nullptr && acc.threshold() == std::numeric_limits<float>::infinity())
    acc.bound_threshold(kth_distance_bound<Space>(dots, count, acc.k()));
  std::uint8_t passing[fold_chunk];  // the chunk's scores that pass the threshold, by offset
  static_assert(fold_chunk <= 256, "offsets in a chunk must fit passing[]");
  for (std::size_t i0 = 0; i0 < count; i0 += fold_chunk) {
    const std::size_t n = (std::min)(fold_chunk, count - i0);
    const float threshold = acc.threshold();
    if (!chunk_may_enter<Space>(dots + i0, n, threshold)) continue;
    // Listed without a branch per score: while the threshold is loose (a
    // large k, such as an IVF probe's 32 of 4,000, or the first rows) that
    // branch mispredicts often. One IVF query at 1M x 100 (nprobe 32): 138
    // -> 135 us on one core, 90 -> 88 us on two.
    std::size_t m = 0;
    for (std::size_t j = 0; j < n; ++j) {
      passing[m] = static_cast<std::uint8_t>(j);
      m += score_distance<Space>(dots[i0 + j]) <= threshold ? 1 : 0;
    }
    for (std::size_t p = 0; p < m; ++p) {
      const std::size_t i = i0 + passing[p];
      const float distance = score_distance<Space>(dots[i]);
      if (!acc.admits(distance)) continue;  // an offer in this chunk may have tightened the threshold
      const std::size_t row = where.row(i);
      if (allowed_bits != nullptr && !bit_is_set(allowed_bits, row)) continue;
      acc.offer(distance, src.tie_keys != nullptr ? src.tie_keys + row : nullptr, row);
    }
  }
}

inline void fold_block(metric space, float* dots, std::size_t count, block_rows where,
                       const float* row_sq_norms, float query_sq_norm, const row_source& src,
                       const std::uint64_t* allowed_bits, topk_accumulator& acc) {
  // Dispatch once per block so the per-row loop has no switch in it.
  switch (space) {
    case metric::cosine:
      fold_block<metric::cosine>(dots, count, where, row_sq_norms, query_sq_norm, src, allowed_bits, acc);
      return;
    case metric::l2:
      fold_block<metric::l2>(dots, count, where, row_sq_norms, query_sq_norm, src, allowed_bits, acc);
      return;
    case metric::inner_product:
      fold_block<metric::inner_product>(dots, count, where, row_sq_norms, query_sq_norm, src, allowed_bits,
                                        acc);
      return;
  }
}

/// Buffers one scan reuses from block to block; one per call (and per
/// thread), never shared, which is what keeps `search` const and reentrant.
struct scan_scratch {
  Eigen::MatrixXf scores;         // block rows x queries, column-major: one query's scores are contiguous
  std::vector<float> packed;      // a block packed for native_product
  std::vector<float> sq_norms;    // a block's ||x||^2 when the source has none, or gathered ones
  std::vector<float> gathered;    // a block of subset rows copied contiguously
};

/// Accumulators reached through pointers: `acc[i]` is `*table[i]`. Lets a
/// scan over a group of queries fold into the accumulators of the whole
/// batch (IVF lists are probed by different subsets of a batch).
struct accumulator_refs {
  topk_accumulator* const* table;
  topk_accumulator& operator[](std::size_t i) const noexcept { return *table[i]; }
};

/// Scores one block of rows (a `const_rows_map` over the view or over
/// gathered rows) against every query, blocked by queries_per_block, and
/// folds each query's scores into `acc[q]`. `Accumulators` is
/// `topk_accumulator*` or `accumulator_refs`.
template <class Accumulators>
void score_block(const const_rows_map& block, block_rows where, const float* block_sq_norms, const row_source& src,
                 const query_set& queries, const std::uint64_t* allowed_bits, scan_scratch& scratch,
                 Accumulators acc) {
  const Eigen::Index n = block.rows();
  const Eigen::Index dim = block.cols();
  const std::size_t rows = static_cast<std::size_t>(n);
  const std::size_t width = static_cast<std::size_t>(dim);
  const std::size_t stride = static_cast<std::size_t>(block.outerStride());
  const std::size_t ld = static_cast<std::size_t>(scratch.scores.rows());
  const std::size_t nq = queries.count();
  // Packed once for every block of queries that uses the product (the first
  // one does whenever any does).
  if (nq >= min_queries_for_product) {
    scratch.packed.resize(native_product::packed_rows_size(rows, width));
    native_product::pack_rows(block.data(), rows, stride, width, scratch.packed.data());
  }
  for (std::size_t q0 = 0; q0 < nq; q0 += queries_per_block) {
    const std::size_t m = (std::min)(queries_per_block, nq - q0);
    if (m < min_queries_for_product) {
      // Few queries: one pass over the block each. One query streams it
      // from memory (dot_rows); of several, all but the first find it in
      // cache, where Eigen's product, which scores 4-8 rows together, is
      // faster (4 queries, 200k x 768: 35 vs 37 ms).
      if (m == 1) {
        dot_rows(block.data(), rows, stride, queries.query(q0), width, scratch.scores.data());
      } else {
        for (std::size_t j = 0; j < m; ++j)
          vector_map(scratch.scores.data() + ld * j, n).noalias() = block * const_vector_map(queries.query(q0 + j), dim);
      }
    } else {
      // Many queries: the packed block is multiplied by all m in one product,
      // which reads it from cache.
      native_product::multiply(scratch.packed.data(), rows, width, queries.packed(q0), m, scratch.scores.data(), ld);
    }
    for (std::size_t j = 0; j < m; ++j) {
      float* dots = scratch.scores.data() + ld * j;
      fold_block(src.space, dots, rows, where, block_sq_norms, queries.sq_norm(q0 + j), src,
                 allowed_bits, acc[q0 + j]);
    }
  }
}

/// Makes `scratch` fit blocks of up to `block` rows and `nq` queries; keeps
/// what it has when that is enough, so one scratch serves many small scans.
inline void fit_scratch(scan_scratch& scratch, std::size_t block, std::size_t nq, bool norms, bool gather,
                        std::size_t dim) {
  const Eigen::Index rows = static_cast<Eigen::Index>(block);
  const Eigen::Index cols = static_cast<Eigen::Index>((std::max)(std::size_t{1}, (std::min)(nq, queries_per_block)));
  if (scratch.scores.rows() < rows || scratch.scores.cols() < cols)
    scratch.scores.resize((std::max)(rows, scratch.scores.rows()), (std::max)(cols, scratch.scores.cols()));
  if (norms && scratch.sq_norms.size() < block) scratch.sq_norms.resize(block);
  if (gather && scratch.gathered.size() < block * dim) scratch.gathered.resize(block * dim);
}

/// Scans rows [begin, end) of the view for every query into `acc[q]`: the
/// unit of work of a threaded scan, which splits the rows into ranges, gives
/// each its own accumulators, then `merge`s them. `allowed_bits` (nullable):
/// one bit per view row; clear bits are skipped, but their rows are still
/// scored, keeping the scan a dense product.
template <class Accumulators>
void scan_rows(const row_source& src, const query_set& queries, std::size_t begin, std::size_t end,
               const std::uint64_t* allowed_bits, Accumulators acc, scan_scratch& scratch) {
  end = (std::min)(end, src.rows.rows);
  if (begin >= end || queries.count() == 0 || src.rows.dim == 0) return;
  const std::size_t dim = src.rows.dim;
  const std::size_t block = (std::min)(rows_per_block(dim), end - begin);
  const bool need_norms = src.space == metric::l2 && src.sq_norms == nullptr;
  fit_scratch(scratch, block, queries.count(), need_norms, false, dim);
  for (std::size_t r0 = begin; r0 < end; r0 += block) {
    const std::size_t n = (std::min)(block, end - r0);
    const const_rows_map rows(src.rows.row(r0), static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(dim),
                              Eigen::OuterStride<>(static_cast<Eigen::Index>(src.rows.stride)));
    const float* norms = src.sq_norms != nullptr ? src.sq_norms + r0 : nullptr;
    if (need_norms) {
      vector_map(scratch.sq_norms.data(), static_cast<Eigen::Index>(n)).noalias() = rows.rowwise().squaredNorm();
      norms = scratch.sq_norms.data();
    }
    score_block(rows, block_rows{r0, nullptr}, norms, src, queries, allowed_bits, scratch, acc);
  }
}

/// `scan_rows` with a scratch of its own.
template <class Accumulators>
void scan_rows(const row_source& src, const query_set& queries, std::size_t begin, std::size_t end,
               const std::uint64_t* allowed_bits, Accumulators acc) {
  scan_scratch scratch;
  scan_rows(src, queries, begin, end, allowed_bits, acc, scratch);
}

/// Scans only the listed rows (ascending, unique, each below `src.rows.rows`)
/// for every query into `acc[q]`. One query: `dot_rows_by` over the rows in
/// place. Several: rows are gathered into a contiguous block first, so the
/// batch is scored by `score_block` exactly like the dense scan (products
/// that read each gathered row once per block of queries). Split `subset`
/// to thread it.
template <class Accumulators>
void scan_subset(const row_source& src, const query_set& queries, const std::size_t* subset, std::size_t count,
                 Accumulators acc, scan_scratch& scratch) {
  if (count == 0 || queries.count() == 0 || src.rows.dim == 0) return;
  const std::size_t dim = src.rows.dim;
  const Eigen::Index edim = static_cast<Eigen::Index>(dim);
  const bool l2 = src.space == metric::l2;
  auto row_sq_norm = [&](std::size_t row) -> float {
    if (!l2) return 0.0f;
    if (src.sq_norms != nullptr) return src.sq_norms[row];
    return const_vector_map(src.rows.row(row), edim).squaredNorm();
  };

  const std::size_t block = (std::min)(rows_per_block(dim), count);
  const bool one = queries.count() == 1;
  fit_scratch(scratch, block, queries.count(), l2, !one, dim);

  if (one) {
    // One query: the rows read in place (copying them would cost as much
    // memory traffic as scoring them), each summed exactly as the dense scan
    // sums it.
    for (std::size_t i0 = 0; i0 < count; i0 += block) {
      const std::size_t n = (std::min)(block, count - i0);
      const std::size_t* rows = subset + i0;
      dot_rows_by([&](std::size_t i) { return src.rows.row(rows[i]); }, n, queries.query(0), dim,
                  scratch.scores.data());
      if (l2)
        for (std::size_t i = 0; i < n; ++i) scratch.sq_norms[i] = row_sq_norm(rows[i]);
      fold_block(src.space, scratch.scores.data(), n, block_rows{0, subset + i0},
                 l2 ? scratch.sq_norms.data() : nullptr, queries.sq_norm(0), src, nullptr, acc[0]);
    }
    return;
  }

  for (std::size_t i0 = 0; i0 < count; i0 += block) {
    const std::size_t n = (std::min)(block, count - i0);
    for (std::size_t i = 0; i < n; ++i) {
      const float* from = src.rows.row(subset[i0 + i]);
      std::copy(from, from + dim, scratch.gathered.data() + i * dim);
      if (l2) scratch.sq_norms[i] = row_sq_norm(subset[i0 + i]);
    }
    const const_rows_map rows(scratch.gathered.data(), static_cast<Eigen::Index>(n), edim,
                              Eigen::OuterStride<>(edim));
    score_block(rows, block_rows{0, subset + i0}, l2 ? scratch.sq_norms.data() : nullptr, src, queries, nullptr,
                scratch, acc);
  }
}

/// `scan_subset` with a scratch of its own.
template <class Accumulators>
void scan_subset(const row_source& src, const query_set& queries, const std::size_t* subset, std::size_t count,
                 Accumulators acc) {
  scan_scratch scratch;
  scan_subset(src, queries, subset, count, acc, scratch);
}

/// Turns the accumulators into sorted result lists.
inline std::vector<std::vector<scored_row>> finish(std::vector<topk_accumulator>& acc) {
  std::vector<std::vector<scored_row>> out;
  out.reserve(acc.size());
  for (topk_accumulator& a : acc) out.push_back(a.take_sorted());
  return out;
}

inline std::vector<topk_accumulator> make_accumulators(std::size_t nq, std::size_t k, std::size_t candidates) {
  std::vector<topk_accumulator> acc;
  acc.reserve(nq);
  for (std::size_t q = 0; q < nq; ++q) acc.emplace_back(k, candidates);
  return acc;
}

/// Splits `count` items into `tasks` nearly equal ranges, each a multiple of
/// `grain` (but the last); range `t` is [cut(t), cut(t + 1)).
inline std::size_t range_cut(std::size_t count, std::size_t tasks, std::size_t t, std::size_t grain) noexcept {
  if (t >= tasks) return count;
  const std::size_t raw = count / tasks * t + (std::min)(t, count % tasks);
  return (std::min)(count, raw / grain * grain);
}

/// Where a threaded scan may cut its rows. Several queries' scores may
/// depend on blocking (Eigen's product for 2-7 queries treats a block's tail
/// rows differently), so theirs are cut at the scan's block boundaries: every
/// block then holds the same rows as in a single-threaded scan. One query's
/// do not (`dot_rows` sums each row alike wherever it sits), so its ranges may
/// be cut anywhere, and a small matrix, such as an IVF index's centroids,
/// still splits evenly.
inline std::size_t split_grain(std::size_t dim, std::size_t nq) noexcept {
  return nq == 1 ? min_block_rows : rows_per_block(dim);
}

/// Runs `scan(begin, end, acc)` over `count` rows of `dim` floats split into
/// `tasks` ranges on the search pool, each into accumulators of its own
/// (one per query of `acc`), merged into `acc` at the end. One task runs on
/// the caller, straight into `acc`. The ranges are cut where `split_grain`
/// says, so the results do not depend on the thread count, to the last bit.
template <class Scan>
void parallel_scan(std::size_t count, std::size_t dim, std::size_t tasks, std::vector<topk_accumulator>& acc,
                   const Scan& scan) {
  const std::size_t grain = split_grain(dim, acc.size());
  tasks = (std::min)(tasks, (count + grain - 1) / grain);
  if (tasks <= 1) {
    scan(std::size_t{0}, count, acc.data());
    return;
  }
  const std::size_t nq = acc.size();
  const std::size_t k = nq == 0 ? 0 : acc[0].k();
  std::vector<std::vector<topk_accumulator>> parts(tasks - 1);
  for (auto& part : parts) part = make_accumulators(nq, k, k);
  parallel_run(tasks, [&](std::size_t t) {
    topk_accumulator* into = t == 0 ? acc.data() : parts[t - 1].data();
    scan(range_cut(count, tasks, t, grain), range_cut(count, tasks, t + 1, grain), into);
  });
  for (auto& part : parts)
    for (std::size_t q = 0; q < nq; ++q) acc[q].merge(part[q]);
}

/// Exact top-k over every row: `queries` holds `nq` rows of `src.rows.dim`
/// floats, row-major. Returns `nq` lists of at most `k` rows, nearest first,
/// ties by `src.tie_keys` (or row). `k == 0` yields empty lists. Uses up to
/// `threads` threads, none reading fewer than `min_work` floats (see `tasks_for`);
/// results do not depend on the count.
inline std::vector<std::vector<scored_row>> search(const row_source& src, const float* queries, std::size_t nq,
                                                   std::size_t k, std::size_t threads = 1,
                                                   std::size_t min_work = min_parallel_work) {
  if (nq == 0 || k == 0 || src.rows.rows == 0 || src.rows.dim == 0)
    return std::vector<std::vector<scored_row>>(nq);
  const query_set qs(queries, nq, src.rows.dim, src.space);
  std::vector<topk_accumulator> acc = make_accumulators(nq, k, src.rows.rows);
  const std::size_t tasks = tasks_for(src.rows.rows * src.rows.dim * nq, threads, min_work);
  parallel_scan(src.rows.rows, src.rows.dim, tasks, acc,
                [&](std::size_t begin, std::size_t end, topk_accumulator* into) {
                  scan_rows(src, qs, begin, end, nullptr, into);
                });
  return finish(acc);
}

/// Exact top-k over the rows listed in `allowed_rows` (any order, repeats
/// allowed, rows past the view ignored). A small subset is read row by row; a
/// large one runs the dense scan under a bitmap.
inline std::vector<std::vector<scored_row>> search(const row_source& src, const float* queries, std::size_t nq,
                                                   std::size_t k, std::vector<std::size_t> allowed_rows,
                                                   std::size_t threads = 1) {
  const std::size_t n_rows = src.rows.rows;
  allowed_rows.erase(std::remove_if(allowed_rows.begin(), allowed_rows.end(),
                                    [n_rows](std::size_t r) { return r >= n_rows; }),
                     allowed_rows.end());
  if (nq == 0 || k == 0 || allowed_rows.empty() || src.rows.dim == 0)
    return std::vector<std::vector<scored_row>>(nq);
  // Ascending and unique: a row listed twice must not be returned twice, and
  // ascending order turns the gather into a forward sweep through memory.
  std::sort(allowed_rows.begin(), allowed_rows.end());
  allowed_rows.erase(std::unique(allowed_rows.begin(), allowed_rows.end()), allowed_rows.end());

  const query_set qs(queries, nq, src.rows.dim, src.space);
  std::vector<topk_accumulator> acc = make_accumulators(nq, k, allowed_rows.size());
  if (allowed_rows.size() == n_rows) {
    const std::size_t tasks = tasks_for(n_rows * src.rows.dim * nq, threads);
    parallel_scan(n_rows, src.rows.dim, tasks, acc, [&](std::size_t begin, std::size_t end, topk_accumulator* into) {
      scan_rows(src, qs, begin, end, nullptr, into);
    });
  } else if (allowed_rows.size() * gather_divisor <= n_rows) {
    const std::size_t tasks = tasks_for(allowed_rows.size() * src.rows.dim * nq, threads);
    parallel_scan(allowed_rows.size(), src.rows.dim, tasks, acc, [&](std::size_t begin, std::size_t end, topk_accumulator* into) {
      scan_subset(src, qs, allowed_rows.data() + begin, end - begin, into);
    });
  } else {
    std::vector<std::uint64_t> bits((n_rows + 63) / 64, 0);
    for (std::size_t r : allowed_rows) bits[r / 64] |= std::uint64_t{1} << (r % 64);
    const std::size_t tasks = tasks_for(n_rows * src.rows.dim * nq, threads);
    parallel_scan(n_rows, src.rows.dim, tasks, acc, [&](std::size_t begin, std::size_t end, topk_accumulator* into) {
      scan_rows(src, qs, begin, end, bits.data(), into);
    });
  }
  return finish(acc);
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
