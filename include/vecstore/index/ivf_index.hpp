// SPDX-License-Identifier: MIT
// ivf_index: an approximate IndexPolicy, k-means inverted lists scanned by the shared kernel, persistent quantizer.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <vecstore/detail/norm.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/index/ivf/format.hpp>
#include <vecstore/index/ivf/lists.hpp>
#include <vecstore/index/ivf/quantizer.hpp>
#include <vecstore/index/ivf/scan.hpp>
#include <vecstore/index/kernel.hpp>
#include <vecstore/index/requirements.hpp>
#include <vecstore/index/search_pool.hpp>
#include <vecstore/types.hpp>

// The index's parts, each in a header of its own under index/ivf/: format.hpp
// (the quantizer as the bytes the store persists), quantizer.hpp (the
// centroids, canonical assignment and k-means), lists.hpp (the inverted
// lists' storage) and scan.hpp (probe and scan). This header ties them
// together into the IndexPolicy `ivf_index`: its life cycle (when to train,
// the training sample), what goes in (normalization) and its settings.

namespace vecstore {
inline namespace v0 {

/// Approximate nearest-neighbour search over inverted lists (IVF-Flat).
///
/// A k-means quantizer of `nlist()` centroids partitions the vectors; each
/// list keeps its vectors as contiguous float rows (with keys and, for l2,
/// squared norms), so a list is scanned by the same kernel as `flat_index`.
/// All lists share one array (detail::row_lists), on huge pages when large.
/// A query ranks the centroids, scans the `nprobe()` nearest lists and keeps
/// the exact top-k among what it scanned. Vectors are stored normalized for
/// cosine, so that metric is a dot product as in `flat_index`.
///
/// Life cycle:
///  - Untrained (a new or small collection): every vector sits in one flat
///    fallback list and search is exact, through the kernel.
///  - `wants_training(stored)`: true once the collection holds at least
///    `min_points_per_list` (39) points per list of the default `nlist`
///    (about 4 sqrt(N); with it, about 24,300 vectors), or once it has grown
///    to `retrain_factor` (4) times the size it was trained at.
///  - `train()`: k-means over a sample of at most `max_points_per_list`
///    (256) points per list, `kmeans_iterations` (10) Lloyd iterations from
///    distinct random sample points (k-means++ costs nlist passes over the
///    sample, more than the whole training here), empty lists re-seeded by
///    splitting the largest. Then every key is re-bucketed.
///  - Adds after training go to the nearest centroid; the quantizer is not
///    updated until the next `train()`.
///  - The quantizer is shared between processes through the store
///    (`load_state`, `assign`, `upsert(key, vector, list)`): see the
///    persistent-index extension in index/requirements.hpp.
///
/// Assignment is canonical: a vector's list is chosen by float products
/// (one matrix product for many vectors), then every centroid within the
/// rounding-error bound of the best is re-scored in double precision, in a
/// fixed order, with exact float-by-float products. So `assign()`, the
/// re-bucketing in `train()` and every process agree on every vector's list,
/// whatever the batch shape, thread count or SIMD width.
///
/// The quantizer is l2 k-means for every metric: for cosine over the
/// normalized vectors, for inner_product over the vectors as given. Queries
/// probe the lists whose centroids are nearest in l2 (after normalization
/// for cosine).
///
/// Filtered search: when the allowed keys are fewer than the rows the probed
/// lists would hold, the allowed rows are scored exactly (a filter that
/// selects few rows returns its exact top-k); otherwise a filter allowing a
/// share s of the rows probes nprobe / s lists (at most all), reading only
/// their allowed rows: about as many rows as an unfiltered search scores, so
/// recall stays about the same.
///
/// Threads: as `flat_index`; `search`, `assign` and the other const members
/// may run concurrently, the store serializes the rest. One search splits its
/// lists across up to `threads()` threads of the search pool.
class ivf_index {
 public:
  static constexpr bool exact = false;
  static constexpr bool persistent = true;

  /// Version of the blob `train()` returns; `load_state` accepts only this one.
  static constexpr std::uint32_t format_version = detail::ivf::format_version;
  /// Training sample: at most this many points per list (FAISS's default too).
  static constexpr std::size_t max_points_per_list = 256;
  /// Fewest points per list worth training on (FAISS warns below 39).
  static constexpr std::size_t min_points_per_list = 39;
  /// Retrain once the collection holds this many times its training size.
  static constexpr std::size_t retrain_factor = 4;
  /// Lloyd iterations per training (FAISS's IVF default is 10 too).
  static constexpr std::size_t kmeans_iterations = 10;
  /// Lists probed per query unless `set_nprobe` says otherwise. On the
  /// synthetic sets of docs/benchmarks.md, built to be as hard to index as
  /// real text embeddings (nlist = 4 sqrt(N)), recall@10 was 0.89-0.90 at
  /// nprobe 16, 0.95-0.96 at 32 and 0.98-0.99 at 64: 32 is the smallest that
  /// keeps 0.95, scanning about 2% of a 200k collection (0.8% at 1M).
  static constexpr std::size_t default_nprobe = 32;
  /// Seed of the training sample and initial centroids.
  static constexpr std::uint64_t default_seed = 0x5eed1f5eedULL;
  /// Floats one task of a query's centroid probe or list scan must read
  /// before it is split across threads (why an eighth of a flat scan's: see
  /// index/ivf/scan.hpp).
  static constexpr std::size_t min_parallel_list_work = detail::ivf::min_parallel_list_work;

  /// Throws `vecstore::invalid_argument` when `dim` is 0 or above `limits::max_dim`.
  ivf_index(std::size_t dim, metric space) : dim_(dim), space_(space), lists_(dim, space), quantizer_(dim) {
    if (dim == 0 || dim > limits::max_dim)
      detail::throw_error<invalid_argument>(
          "cannot create ivf_index", {},
          "dimension " + std::to_string(dim) + " is outside 1.." + std::to_string(limits::max_dim),
          "Pass the collection's dimension");
  }

  // ---- the IndexPolicy contract ----------------------------------------------

  std::size_t dim() const noexcept { return dim_; }
  metric space() const noexcept { return space_; }
  std::size_t size() const noexcept { return lists_.size(); }

  void reserve(std::size_t n) {
    lists_.reserve_keys(n);
    if (!trained()) lists_.reserve_rows(0, n);
  }

  /// Inserts or replaces `key` in the list of its nearest centroid (the
  /// fallback list while untrained).
  void upsert(std::int64_t key, const float* vector) {
    prepare_into(vector, staged_);
    lists_.place(key, staged_.data(), trained() ? quantizer_.nearest_list(staged_.data()) + 1 : 0);
  }

  bool erase(std::int64_t key) { return lists_.erase(key); }

  bool contains(std::int64_t key) const { return lists_.find(key) != nullptr; }

  /// Removes every key; keeps the quantizer, so that the store can refill
  /// the lists with the assignments it has stored.
  void clear() noexcept { lists_.clear(); }

  /// See the IndexPolicy contract in index/requirements.hpp.
  std::vector<std::vector<neighbor>> search(const float* queries, std::size_t nq, std::size_t k,
                                            const std::vector<std::int64_t>* allowed) const {
    return detail::ivf::searcher(lists_, quantizer_, threads()).search(queries, nq, k, allowed, nprobe());
  }

  // ---- the persistent-index extension (index/requirements.hpp) -----------------

  /// The list `vector` (raw) belongs to under the current quantizer; -1 while untrained.
  std::int32_t assign(const float* vector) const {
    if (!trained()) return -1;
    if (space_ != metric::cosine) return static_cast<std::int32_t>(quantizer_.nearest_list(vector));
    std::vector<float> prepared;
    prepare_into(vector, prepared);
    return static_cast<std::int32_t>(quantizer_.nearest_list(prepared.data()));
  }

  /// `assign` for `n` vectors (row-major, raw) at once, by matrix products:
  /// the same lists as `n` calls of `assign`, faster for a batch.
  void assign_many(const float* vectors, std::size_t n, std::int32_t* out) const {
    if (!trained()) {
      std::fill(out, out + n, -1);
      return;
    }
    std::vector<float> prepared(vectors, vectors + n * dim_);
    if (space_ == metric::cosine)
      for (std::size_t i = 0; i < n; ++i) normalize(prepared.data() + i * dim_);
    quantizer_.nearest_lists(prepared.data(), n, out, threads());
  }

  /// Inserts or replaces `key` in list `list` as `assign` computed it, without
  /// recomputing it. -1, or a list this quantizer does not have (a damaged
  /// row), puts the vector in the fallback list, which every search scans.
  void upsert(std::int64_t key, const float* vector, std::int32_t list) {
    prepare_into(vector, staged_);
    const bool known = list >= 0 && static_cast<std::size_t>(list) < nlist();
    lists_.place(key, staged_.data(), known ? static_cast<std::size_t>(list) + 1 : 0);
  }

  /// True when `train()` should run for a collection storing `stored`
  /// embeddings: untrained and `stored >= min_training_size(stored)`, or
  /// trained and `stored >= retrain_factor * trained_size()`.
  bool wants_training(std::size_t stored) const {
    if (!trained()) return stored > 0 && stored >= min_training_size(stored);
    return stored >= retrain_factor * trained_size_;
  }

  /// Trains the quantizer on the vectors held (a seeded sample), installs it,
  /// re-buckets every key, and returns the serialized quantizer. Throws
  /// `vecstore::invalid_argument` when the index is empty.
  std::vector<std::uint8_t> train() {
    const std::size_t n = size();
    if (n == 0)
      detail::throw_error<invalid_argument>("cannot train ivf_index", {}, "it holds no vectors",
                                            "Add vectors first");
    const std::size_t k = (std::min)(n, nlist_setting_ != 0 ? nlist_setting_ : default_nlist(n));

    // A canonical order (by key), so the sample depends on the contents and
    // the seed only, not on the history of inserts.
    std::vector<std::int64_t> keys = lists_.keys();
    std::sort(keys.begin(), keys.end());
    std::mt19937_64 rng(seed_);
    const std::size_t m = (std::min)(n, max_points_per_list * k);
    for (std::size_t i = 0; i < m; ++i) {
      std::uniform_int_distribution<std::size_t> pick(i, n - 1);
      std::swap(keys[i], keys[pick(rng)]);
    }
    std::vector<float> sample(m * dim_);
    for (std::size_t i = 0; i < m; ++i) {
      const detail::ivf::location at = *lists_.find(keys[i]);
      const float* row = lists_.row(at.slot, at.pos);
      std::copy(row, row + dim_, sample.data() + i * dim_);
    }
    keys.clear();
    keys.shrink_to_fit();

    quantizer_.install(detail::ivf::kmeans(sample, m, k, dim_, kmeans_iterations, threads()), k);
    trained_size_ = n;
    sample.clear();
    sample.shrink_to_fit();
    // Every vector into the list of its nearest centroid.
    lists_.rebucket(nlist(), [this](const float* rows, std::size_t count, std::int32_t* out) {
      quantizer_.nearest_lists(rows, count, out, threads());
    });
    return detail::ivf::write_state(space_, dim_, nlist(), trained_size_, seed_, quantizer_.data());
  }

  /// Installs a quantizer serialized by `train()`; drops every key (the store
  /// re-adds them with their lists). Throws `vecstore::corruption_error`,
  /// leaving the index unchanged, on a blob that does not parse, fails its
  /// checksum, or was made for another dimension or metric.
  void load_state(const std::uint8_t* data, std::size_t size) {
    detail::ivf::state state = detail::ivf::read_state(data, size, space_, dim_);
    seed_ = state.seed;
    quantizer_.install(std::move(state.centroids), state.nlist);
    trained_size_ = state.trained_size;
    lists_.reset(nlist());
  }

  // ---- tuning and introspection --------------------------------------------------

  /// Lists probed per query; 0 restores `default_nprobe`. Clamped to `nlist()`
  /// at search time. Not synchronized with searches.
  void set_nprobe(std::size_t n) noexcept { nprobe_ = n; }
  std::size_t nprobe() const noexcept { return nprobe_ != 0 ? nprobe_ : default_nprobe; }

  /// Lists of the next `train()`; 0 (the default) means `default_nlist(size())`.
  void set_nlist(std::size_t n) noexcept { nlist_setting_ = n; }
  /// Lists of the installed quantizer; 0 while untrained.
  std::size_t nlist() const noexcept { return quantizer_.nlist(); }
  /// About 4 sqrt(n), at least 1.
  static std::size_t default_nlist(std::size_t n) noexcept {
    return (std::max)(std::size_t{1}, static_cast<std::size_t>(std::lround(4.0 * std::sqrt(static_cast<double>(n)))));
  }
  /// Embeddings needed before a first training, for a collection of `stored`.
  std::size_t min_training_size(std::size_t stored) const noexcept {
    return min_points_per_list * (nlist_setting_ != 0 ? nlist_setting_ : default_nlist(stored));
  }

  bool trained() const noexcept { return nlist() != 0; }
  /// How many vectors the installed quantizer was trained on (0: untrained).
  std::size_t trained_size() const noexcept { return trained_size_; }

  /// Seed of the next `train()`.
  void set_seed(std::uint64_t seed) noexcept { seed_ = seed; }
  std::uint64_t seed() const noexcept { return seed_; }

  /// As `flat_index::set_threads`: 0 follows `vecstore::search_threads()`.
  void set_threads(std::size_t n) noexcept { threads_ = n; }
  std::size_t threads() const noexcept { return threads_ != 0 ? threads_ : search_threads(); }

  /// The list holding `key` (-1: the fallback list), or nothing when absent.
  std::optional<std::int32_t> list_of(std::int64_t key) const {
    const detail::ivf::location* at = lists_.find(key);
    if (at == nullptr) return std::nullopt;
    return static_cast<std::int32_t>(at->slot) - 1;
  }
  /// Vectors in list `list` (-1: the fallback list); 0 for a list that does not exist.
  std::size_t list_size(std::int32_t list) const noexcept {
    const std::size_t slot = static_cast<std::size_t>(static_cast<std::int64_t>(list) + 1);
    return list >= -1 && slot < lists_.slots() ? lists_.rows_in(slot) : 0;
  }
  /// The centroids, one row per list (empty while untrained).
  row_view centroids() const noexcept { return quantizer_.centroids(); }
  /// The `n` lists a query would probe, nearest centroid first (empty while untrained).
  std::vector<std::int32_t> probe(const float* query, std::size_t n) const {
    std::vector<std::int32_t> out;
    if (!trained()) return out;
    const detail::query_set qs(query, 1, dim_, space_);
    const std::vector<std::vector<detail::scored_row>> lists =
        detail::ivf::probe_lists(quantizer_, qs, (std::min)(n, nlist()), 1);
    for (const detail::scored_row& s : lists.front()) out.push_back(static_cast<std::int32_t>(s.row));
    return out;
  }

 private:
  // As flat_index::store_row.
  void normalize(float* v) const noexcept { detail::normalize(v, dim_); }

  // Copies `vector` (which may point into this index) and normalizes it for cosine.
  void prepare_into(const float* vector, std::vector<float>& out) const {
    out.assign(vector, vector + dim_);
    if (space_ == metric::cosine) normalize(out.data());
  }

  std::size_t dim_;
  metric space_;
  detail::ivf::inverted_lists lists_;  // the vectors, by list
  std::vector<float> staged_;          // upsert's prepared copy, reused
  detail::ivf::quantizer quantizer_;   // the centroids; none while untrained
  std::size_t trained_size_ = 0;

  std::size_t nlist_setting_ = 0;
  std::size_t nprobe_ = 0;
  std::size_t threads_ = 0;
  std::uint64_t seed_ = default_seed;
};

}  // namespace v0
}  // namespace vecstore
