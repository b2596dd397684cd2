// SPDX-License-Identifier: MIT
// ivf_index: an approximate IndexPolicy, k-means inverted lists scanned by the shared kernel, persistent quantizer.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <vecstore/detail/checksum.hpp>
#include <vecstore/detail/norm.hpp>
#include <vecstore/detail/row_lists.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/index/kernel.hpp>
#include <vecstore/index/requirements.hpp>
#include <vecstore/types.hpp>

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
/// selects few rows returns its exact top-k); otherwise the probed lists are
/// scanned under the filter.
///
/// Threads: as `flat_index`; `search`, `assign` and the other const members
/// may run concurrently, the store serializes the rest. One search splits its
/// lists across up to `threads()` threads of the search pool.
class ivf_index {
 public:
  static constexpr bool exact = false;
  static constexpr bool persistent = true;

  /// Version of the blob `train()` returns; `load_state` accepts only this one.
  static constexpr std::uint32_t format_version = 1;
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
  /// before it is split across threads: an eighth of a flat scan's
  /// (detail::min_parallel_work), since a query's two hand-overs are cheap
  /// while the pool's threads poll between queries (detail::pool_spin). At
  /// 1M x 100 with 2 threads this split the probe of the 4,000 centroids too:
  /// nprobe 16 gained 30% single-query QPS (docs/benchmarks.md).
  static constexpr std::size_t min_parallel_list_work = detail::min_parallel_work / 8;

  /// Throws `vecstore::invalid_argument` when `dim` is 0 or above `limits::max_dim`.
  ivf_index(std::size_t dim, metric space) : dim_(dim), space_(space), lists_(1), rows_(dim) {
    if (dim == 0 || dim > limits::max_dim)
      detail::throw_error<invalid_argument>(
          "cannot create ivf_index", {},
          "dimension " + std::to_string(dim) + " is outside 1.." + std::to_string(limits::max_dim),
          "Pass the collection's dimension");
    rows_.reset({0});
  }

  // ---- the IndexPolicy contract ----------------------------------------------

  std::size_t dim() const noexcept { return dim_; }
  metric space() const noexcept { return space_; }
  std::size_t size() const noexcept { return where_.size(); }

  void reserve(std::size_t n) {
    where_.reserve(n);
    if (!trained()) {
      rows_.reserve(0, n);
      lists_[0].keys.reserve(n);
      if (space_ == metric::l2) lists_[0].sq_norms.reserve(n);
    }
  }

  /// Inserts or replaces `key` in the list of its nearest centroid (the
  /// fallback list while untrained).
  void upsert(std::int64_t key, const float* vector) {
    prepare_into(vector, staged_);
    place(key, staged_.data(), trained() ? nearest_list(staged_.data()) + 1 : 0);
  }

  bool erase(std::int64_t key) {
    const auto found = where_.find(key);
    if (found == where_.end()) return false;
    remove_row(found->second);
    where_.erase(found);
    return true;
  }

  bool contains(std::int64_t key) const { return where_.find(key) != where_.end(); }

  /// Removes every key; keeps the quantizer, so that the store can refill
  /// the lists with the assignments it has stored.
  void clear() noexcept {
    for (list_keys& l : lists_) l.clear();
    rows_.clear();
    where_.clear();
  }

  /// See the IndexPolicy contract in index/requirements.hpp.
  std::vector<std::vector<neighbor>> search(const float* queries, std::size_t nq, std::size_t k,
                                            const std::vector<std::int64_t>* allowed) const {
    std::vector<std::vector<neighbor>> out(nq);
    if (nq == 0 || k == 0 || where_.empty()) return out;
    if (!trained()) return search_fallback(queries, nq, k, allowed);

    const detail::query_set qs(queries, nq, dim_, space_);
    std::vector<std::vector<std::size_t>> subsets;  // per slot: allowed positions, ascending
    std::size_t allowed_count = 0;
    if (allowed != nullptr) {
      subsets.resize(lists_.size());
      for (std::int64_t key : *allowed) {
        const auto it = where_.find(key);
        if (it != where_.end()) subsets[it->second.slot].push_back(it->second.pos);
      }
      for (auto& s : subsets) {
        std::sort(s.begin(), s.end());
        s.erase(std::unique(s.begin(), s.end()), s.end());
        allowed_count += s.size();
      }
      if (allowed_count == 0) return out;
    }

    // Work items: (slot, the queries that scan it).
    std::vector<work_item> items;
    std::vector<std::uint32_t> members;  // items' query ids, item by item
    const std::size_t probes = (std::min)(nprobe(), nlist_);
    const std::size_t probed_rows = probes * (size() / (std::max)(nlist_, std::size_t{1}) + 1);
    if (allowed != nullptr && allowed_count <= probed_rows) {
      // Few allowed rows: score them all, exactly; cheaper than probing.
      for (std::size_t slot = 0; slot < lists_.size(); ++slot) {
        if (subsets[slot].empty()) continue;
        items.push_back(work_item{slot, members.size(), members.size() + nq});
        for (std::size_t q = 0; q < nq; ++q) members.push_back(static_cast<std::uint32_t>(q));
      }
    } else {
      group_probes(qs, probes, items, members);
    }
    return scan_items(qs, k, items, members, allowed != nullptr ? &subsets : nullptr);
  }

  // ---- the persistent-index extension (index/requirements.hpp) -----------------

  /// The list `vector` (raw) belongs to under the current quantizer; -1 while untrained.
  std::int32_t assign(const float* vector) const {
    if (!trained()) return -1;
    if (space_ != metric::cosine) return static_cast<std::int32_t>(nearest_list(vector));
    std::vector<float> prepared;
    prepare_into(vector, prepared);
    return static_cast<std::int32_t>(nearest_list(prepared.data()));
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
    nearest_lists(prepared.data(), n, out);
  }

  /// Inserts or replaces `key` in list `list` as `assign` computed it, without
  /// recomputing it. -1, or a list this quantizer does not have (a damaged
  /// row), puts the vector in the fallback list, which every search scans.
  void upsert(std::int64_t key, const float* vector, std::int32_t list) {
    prepare_into(vector, staged_);
    const bool known = list >= 0 && static_cast<std::size_t>(list) < nlist_;
    place(key, staged_.data(), known ? static_cast<std::size_t>(list) + 1 : 0);
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
    std::vector<std::int64_t> keys;
    keys.reserve(n);
    for (const auto& kv : where_) keys.push_back(kv.first);
    std::sort(keys.begin(), keys.end());
    std::mt19937_64 rng(seed_);
    const std::size_t m = (std::min)(n, max_points_per_list * k);
    for (std::size_t i = 0; i < m; ++i) {
      std::uniform_int_distribution<std::size_t> pick(i, n - 1);
      std::swap(keys[i], keys[pick(rng)]);
    }
    std::vector<float> sample(m * dim_);
    for (std::size_t i = 0; i < m; ++i) {
      const location at = where_.find(keys[i])->second;
      const float* row = rows_.row(at.slot, at.pos);
      std::copy(row, row + dim_, sample.data() + i * dim_);
    }
    keys.clear();
    keys.shrink_to_fit();

    install(kmeans(sample, m, k), k, n);
    sample.clear();
    sample.shrink_to_fit();
    rebucket();
    return serialize();
  }

  /// Installs a quantizer serialized by `train()`; drops every key (the store
  /// re-adds them with their lists). Throws `vecstore::corruption_error`,
  /// leaving the index unchanged, on a blob that does not parse, fails its
  /// checksum, or was made for another dimension or metric.
  void load_state(const std::uint8_t* data, std::size_t size) {
    const auto bad = [](const std::string& why) {
      detail::throw_error<corruption_error>("cannot load the ivf_index quantizer", {}, why,
                                            "Retrain the collection's index or restore a backup");
    };
    if (data == nullptr || size < header_bytes + trailer_bytes)
      bad("the blob has " + std::to_string(size) + " bytes, fewer than a header");
    if (std::memcmp(data, magic, sizeof magic) != 0) bad("the blob does not start with the ivf_index magic");
    const std::uint64_t stored_sum = read_u64(data + size - trailer_bytes);
    if (stored_sum != detail::xxh64(data, size - trailer_bytes, checksum_seed)) bad("the blob's checksum does not match");
    const std::uint32_t version = read_u32(data + 8);
    if (version != format_version)
      bad("format version " + std::to_string(version) + ", this build reads version " +
          std::to_string(format_version));
    const std::uint32_t space_code = read_u32(data + 12);
    const std::uint32_t dim = read_u32(data + 16);
    const std::uint32_t nlist = read_u32(data + 20);
    const std::uint64_t trained_size = read_u64(data + 24);
    if (space_code != metric_code(space_))
      bad("it was trained for metric code " + std::to_string(space_code) + ", this collection uses " +
          to_string(space_));
    if (dim != dim_) bad("it was trained for dimension " + std::to_string(dim) + ", not " + std::to_string(dim_));
    const std::size_t payload = size - header_bytes - trailer_bytes;
    if (nlist == 0 || payload % (sizeof(float) * dim_) != 0 || payload / (sizeof(float) * dim_) != nlist)
      bad("it names " + std::to_string(nlist) + " lists but holds " + std::to_string(payload) + " bytes of centroids");
    std::vector<float> centroids(static_cast<std::size_t>(nlist) * dim_);
    for (std::size_t i = 0; i < centroids.size(); ++i) {
      centroids[i] = read_f32(data + header_bytes + i * sizeof(float));
      if (!std::isfinite(centroids[i])) bad("a centroid holds a value that is not finite");
    }
    seed_ = read_u64(data + 32);
    install(std::move(centroids), nlist, static_cast<std::size_t>(trained_size));
    std::vector<list_keys> lists(nlist_ + 1);
    rows_.reset(std::vector<std::size_t>(nlist_ + 1, 0));
    lists_ = std::move(lists);
    where_.clear();
  }

  // ---- tuning and introspection --------------------------------------------------

  /// Lists probed per query; 0 restores `default_nprobe`. Clamped to `nlist()`
  /// at search time. Not synchronized with searches.
  void set_nprobe(std::size_t n) noexcept { nprobe_ = n; }
  std::size_t nprobe() const noexcept { return nprobe_ != 0 ? nprobe_ : default_nprobe; }

  /// Lists of the next `train()`; 0 (the default) means `default_nlist(size())`.
  void set_nlist(std::size_t n) noexcept { nlist_setting_ = n; }
  /// Lists of the installed quantizer; 0 while untrained.
  std::size_t nlist() const noexcept { return nlist_; }
  /// About 4 sqrt(n), at least 1.
  static std::size_t default_nlist(std::size_t n) noexcept {
    return (std::max)(std::size_t{1}, static_cast<std::size_t>(std::lround(4.0 * std::sqrt(static_cast<double>(n)))));
  }
  /// Embeddings needed before a first training, for a collection of `stored`.
  std::size_t min_training_size(std::size_t stored) const noexcept {
    return min_points_per_list * (nlist_setting_ != 0 ? nlist_setting_ : default_nlist(stored));
  }

  bool trained() const noexcept { return nlist_ != 0; }
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
    const auto it = where_.find(key);
    if (it == where_.end()) return std::nullopt;
    return static_cast<std::int32_t>(it->second.slot) - 1;
  }
  /// Vectors in list `list` (-1: the fallback list); 0 for a list that does not exist.
  std::size_t list_size(std::int32_t list) const noexcept {
    const std::size_t slot = static_cast<std::size_t>(static_cast<std::int64_t>(list) + 1);
    return list >= -1 && slot < lists_.size() ? lists_[slot].keys.size() : 0;
  }
  /// The centroids, one row per list (empty while untrained).
  row_view centroids() const noexcept { return row_view{centroids_.data(), nlist_, dim_, dim_}; }
  /// The `n` lists a query would probe, nearest centroid first (empty while untrained).
  std::vector<std::int32_t> probe(const float* query, std::size_t n) const {
    std::vector<std::int32_t> out;
    if (!trained()) return out;
    const detail::query_set qs(query, 1, dim_, space_);
    const std::vector<std::vector<detail::scored_row>> lists = probe_lists(qs, (std::min)(n, nlist_), 1);
    for (const detail::scored_row& s : lists.front()) out.push_back(static_cast<std::int32_t>(s.row));
    return out;
  }

 private:
  // What a list holds besides its vectors (which are in rows_), row by row.
  struct list_keys {
    std::vector<std::int64_t> keys;
    std::vector<float> sq_norms;  // l2 only
    void clear() noexcept {
      keys.clear();
      sq_norms.clear();
    }
  };
  struct location {
    std::size_t slot;  // 0: fallback; list + 1 otherwise
    std::size_t pos;
  };
  struct work_item {
    std::size_t slot;
    std::size_t begin;  // into members
    std::size_t end;
  };

  static constexpr unsigned char magic[8] = {'v', 'e', 'c', 's', 'I', 'V', 'F', '1'};
  static constexpr std::size_t header_bytes = 40;
  static constexpr std::size_t trailer_bytes = 8;
  static constexpr std::uint64_t checksum_seed = 0x1f5eedULL;
  // Sample rows per matrix product in k-means and re-bucketing.
  static constexpr std::size_t assign_block = 256;

  // ---- vectors -------------------------------------------------------------------

  static std::uint32_t metric_code(metric m) noexcept {
    switch (m) {
      case metric::cosine: return 0;
      case metric::l2: return 1;
      case metric::inner_product: return 2;
    }
    return 3;
  }

  // As flat_index::store_row: double sums, one scale.
  void normalize(float* v) const noexcept {
    const double sq = detail::squared_norm(v, dim_);
    if (sq > 0.0) {
      const double inv = 1.0 / std::sqrt(sq);
      for (std::size_t i = 0; i < dim_; ++i) v[i] = static_cast<float>(v[i] * inv);
    }
  }

  // Copies `vector` (which may point into this index) and normalizes it for cosine.
  void prepare_into(const float* vector, std::vector<float>& out) const {
    out.assign(vector, vector + dim_);
    if (space_ == metric::cosine) normalize(out.data());
  }

  float sq_norm(const float* v) const noexcept {
    return static_cast<float>(detail::squared_norm(v, dim_));
  }

  // Puts the prepared vector of `key` into `slot`. Strong guarantee.
  void place(std::int64_t key, const float* v, std::size_t slot) {
    const auto found = where_.find(key);
    if (found != where_.end() && found->second.slot == slot) {
      list_keys& l = lists_[slot];
      std::copy(v, v + dim_, rows_.row(slot, found->second.pos));
      if (space_ == metric::l2) l.sq_norms[found->second.pos] = sq_norm(v);
      return;
    }
    list_keys& l = lists_[slot];
    const std::size_t pos = l.keys.size();
    const auto grow = [](auto& vec, std::size_t needed) {
      if (vec.capacity() < needed) vec.reserve((std::max)(needed, vec.capacity() * 2));
    };
    rows_.reserve_next(slot);
    grow(l.keys, pos + 1);
    if (space_ == metric::l2) grow(l.sq_norms, pos + 1);
    if (found == where_.end()) {
      where_.emplace(key, location{slot, pos});  // may throw; nothing changed yet
    } else {
      remove_row(found->second);  // cannot throw: no allocation
      found->second = location{slot, pos};
    }
    rows_.push_back(slot, v);
    l.keys.push_back(key);
    if (space_ == metric::l2) l.sq_norms.push_back(sq_norm(v));
  }

  // Swap-deletes the row at `at`; the caller fixes the key's own entry.
  void remove_row(location at) noexcept {
    list_keys& l = lists_[at.slot];
    const std::size_t last = l.keys.size() - 1;
    if (at.pos != last) {
      std::copy(rows_.row(at.slot, last), rows_.row(at.slot, last) + dim_, rows_.row(at.slot, at.pos));
      l.keys[at.pos] = l.keys[last];
      if (space_ == metric::l2) l.sq_norms[at.pos] = l.sq_norms[last];
      where_.find(l.keys[at.pos])->second.pos = at.pos;
    }
    l.keys.pop_back();
    rows_.pop_back(at.slot);
    if (space_ == metric::l2) l.sq_norms.pop_back();
  }

  detail::row_source source(std::size_t slot) const noexcept {
    const list_keys& l = lists_[slot];
    return detail::row_source{row_view{rows_.rows(slot), l.keys.size(), dim_, dim_}, space_,
                              space_ == metric::l2 ? l.sq_norms.data() : nullptr, l.keys.data()};
  }

  // ---- quantizer -------------------------------------------------------------------

  void install(std::vector<float> centroids, std::size_t nlist, std::size_t trained_size) {
    std::vector<double> sq(nlist);
    std::vector<float> sqf(nlist);
    double max_sq = 0.0;
    for (std::size_t l = 0; l < nlist; ++l) {
      double s = 0.0;
      const float* c = centroids.data() + l * dim_;
      for (std::size_t i = 0; i < dim_; ++i) s += static_cast<double>(c[i]) * c[i];
      sq[l] = s;
      sqf[l] = static_cast<float>(s);
      max_sq = (std::max)(max_sq, s);
    }
    centroids_ = std::move(centroids);
    centroid_sq_ = std::move(sq);
    centroid_sqf_ = std::move(sqf);
    max_centroid_norm_ = std::sqrt(max_sq);
    nlist_ = nlist;
    trained_size_ = trained_size;
  }

  // Exact l2 distance minus ||x||^2, in double: each float product is exact in
  // double (24 + 24 bits < 53), and the sum runs in one fixed order, so the
  // result does not depend on compiler flags (FMA contraction included).
  double exact_distance(const float* x, std::size_t list) const noexcept {
    const float* c = centroids_.data() + list * dim_;
    double dot = 0.0;
    for (std::size_t i = 0; i < dim_; ++i) dot += static_cast<double>(x[i]) * static_cast<double>(c[i]);
    return centroid_sq_[list] - 2.0 * dot;
  }

  // The canonical nearest list of prepared vector `x`, given its float dot
  // products with every centroid: the best float distance, then every list
  // within the rounding bound of it re-scored exactly. A float dot product of
  // n terms errs by at most about n * 2^-24 * ||x|| ||c|| whatever the order
  // of its sums; twice that bound (and the float rounding of the norms)
  // keeps the exact winner among the candidates in every process.
  std::size_t pick_nearest(const float* x, const float* dots) const noexcept {
    float best = std::numeric_limits<float>::infinity();
    for (std::size_t l = 0; l < nlist_; ++l) best = (std::min)(best, centroid_sqf_[l] - 2.0f * dots[l]);
    const double x_norm = std::sqrt(static_cast<double>(sq_norm(x)));
    const double unit = std::ldexp(1.0, -23);
    const double tol = 2.0 * (2.0 * static_cast<double>(dim_ + 2) * unit * x_norm * max_centroid_norm_ +
                              4.0 * unit * (max_centroid_norm_ * max_centroid_norm_ + std::abs(static_cast<double>(best))));
    const double limit = static_cast<double>(best) + tol;
    std::size_t winner = 0;
    double winner_d = std::numeric_limits<double>::infinity();
    for (std::size_t l = 0; l < nlist_; ++l) {
      if (static_cast<double>(centroid_sqf_[l] - 2.0f * dots[l]) > limit) continue;
      const double d = exact_distance(x, l);
      if (d < winner_d) {
        winner_d = d;
        winner = l;
      }
    }
    return winner;
  }

  std::size_t nearest_list(const float* x) const {
    const detail::const_rows_map c(centroids_.data(), static_cast<Eigen::Index>(nlist_),
                                   static_cast<Eigen::Index>(dim_), Eigen::OuterStride<>(static_cast<Eigen::Index>(dim_)));
    Eigen::VectorXf dots(static_cast<Eigen::Index>(nlist_));
    dots.noalias() = c * detail::const_vector_map(x, static_cast<Eigen::Index>(dim_));
    return pick_nearest(x, dots.data());
  }

  // Canonical lists of `n` prepared rows, by blocked matrix products on the search pool.
  void nearest_lists(const float* xs, std::size_t n, std::int32_t* out) const {
    const std::size_t blocks = (n + assign_block - 1) / assign_block;
    const std::size_t tasks = detail::tasks_for(n * nlist_ * dim_ / 8, threads());
    const std::size_t used = (std::min)(tasks, blocks);
    detail::parallel_run(used, [&](std::size_t t) {
      const detail::const_rows_map c(centroids_.data(), static_cast<Eigen::Index>(nlist_),
                                     static_cast<Eigen::Index>(dim_), Eigen::OuterStride<>(static_cast<Eigen::Index>(dim_)));
      Eigen::MatrixXf dots;
      for (std::size_t b = detail::range_cut(blocks, used, t, 1); b < detail::range_cut(blocks, used, t + 1, 1); ++b) {
        const std::size_t first = b * assign_block;
        const std::size_t m = (std::min)(assign_block, n - first);
        const detail::const_rows_map x(xs + first * dim_, static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(dim_),
                                       Eigen::OuterStride<>(static_cast<Eigen::Index>(dim_)));
        dots.noalias() = c * x.transpose();  // nlist x m, column-major: one vector's dots are contiguous
        for (std::size_t i = 0; i < m; ++i)
          out[first + i] = static_cast<std::int32_t>(pick_nearest(xs + (first + i) * dim_, dots.data() + i * nlist_));
      }
    });
  }

  // Lloyd's k-means on `m` sample rows into `k` centroids; returns them.
  std::vector<float> kmeans(const std::vector<float>& sample, std::size_t m, std::size_t k) const {
    // The sample is already a seeded random permutation: its first k rows are
    // k distinct random points.
    std::vector<float> centroids(sample.begin(), sample.begin() + static_cast<std::ptrdiff_t>(k * dim_));
    std::vector<std::uint32_t> assigned(m, 0);
    std::vector<double> sums(k * dim_);
    std::vector<std::size_t> counts(k);
    std::vector<float> c_sq(k);
    const std::size_t blocks = (m + assign_block - 1) / assign_block;
    const std::size_t tasks = (std::min)(blocks, detail::tasks_for(m * k * dim_ / 8, threads()));

    for (std::size_t iter = 0; iter < kmeans_iterations; ++iter) {
      for (std::size_t l = 0; l < k; ++l) c_sq[l] = sq_norm(centroids.data() + l * dim_);
      detail::parallel_run(tasks, [&](std::size_t t) {
        const detail::const_rows_map c(centroids.data(), static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(dim_),
                                       Eigen::OuterStride<>(static_cast<Eigen::Index>(dim_)));
        Eigen::MatrixXf dots;
        for (std::size_t b = detail::range_cut(blocks, tasks, t, 1); b < detail::range_cut(blocks, tasks, t + 1, 1);
             ++b) {
          const std::size_t first = b * assign_block;
          const std::size_t rows = (std::min)(assign_block, m - first);
          const detail::const_rows_map x(sample.data() + first * dim_, static_cast<Eigen::Index>(rows),
                                         static_cast<Eigen::Index>(dim_),
                                         Eigen::OuterStride<>(static_cast<Eigen::Index>(dim_)));
          dots.noalias() = c * x.transpose();
          for (std::size_t i = 0; i < rows; ++i) {
            const float* d = dots.data() + i * k;
            std::size_t best = 0;
            float best_d = std::numeric_limits<float>::infinity();
            for (std::size_t l = 0; l < k; ++l) {
              const float dist = c_sq[l] - 2.0f * d[l];
              if (dist < best_d) {
                best_d = dist;
                best = l;
              }
            }
            assigned[first + i] = static_cast<std::uint32_t>(best);
          }
        }
      });

      std::fill(sums.begin(), sums.end(), 0.0);
      std::fill(counts.begin(), counts.end(), std::size_t{0});
      for (std::size_t i = 0; i < m; ++i) {
        const std::size_t l = assigned[i];
        ++counts[l];
        const float* x = sample.data() + i * dim_;
        double* s = sums.data() + l * dim_;
        for (std::size_t j = 0; j < dim_; ++j) s[j] += x[j];
      }
      for (std::size_t l = 0; l < k; ++l) {
        if (counts[l] == 0) continue;
        const double inv = 1.0 / static_cast<double>(counts[l]);
        for (std::size_t j = 0; j < dim_; ++j)
          centroids[l * dim_ + j] = static_cast<float>(sums[l * dim_ + j] * inv);
      }
      // An empty list takes half of the largest one: both centroids move a
      // little apart along alternate coordinates (as FAISS does).
      for (std::size_t l = 0; l < k; ++l) {
        if (counts[l] != 0) continue;
        const std::size_t big = static_cast<std::size_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
        if (counts[big] < 2) break;
        const float eps = 1.0f / 1024.0f;
        for (std::size_t j = 0; j < dim_; ++j) {
          const float v = centroids[big * dim_ + j];
          const float sign = (j % 2 == 0) ? 1.0f : -1.0f;
          centroids[l * dim_ + j] = v * (1.0f + sign * eps);
          centroids[big * dim_ + j] = v * (1.0f - sign * eps);
        }
        counts[l] = counts[big] / 2;
        counts[big] -= counts[l];
      }
    }
    return centroids;
  }

  // Moves every vector into the list of its nearest centroid (sizes counted
  // first, so each list is allocated once).
  void rebucket() {
    std::vector<list_keys> old = std::move(lists_);
    detail::row_lists old_rows = std::move(rows_);
    std::vector<std::vector<std::int32_t>> target(old.size());
    std::vector<std::size_t> sizes(nlist_ + 1, 0);  // by slot
    for (std::size_t s = 0; s < old.size(); ++s) {
      const std::size_t rows = old[s].keys.size();
      target[s].resize(rows);
      if (rows != 0) nearest_lists(old_rows.rows(s), rows, target[s].data());
      for (std::int32_t t : target[s]) ++sizes[static_cast<std::size_t>(t) + 1];
    }
    lists_.assign(nlist_ + 1, list_keys{});
    rows_.reset(sizes);
    for (std::size_t slot = 1; slot <= nlist_; ++slot) {
      lists_[slot].keys.reserve(sizes[slot]);
      if (space_ == metric::l2) lists_[slot].sq_norms.reserve(sizes[slot]);
    }
    for (std::size_t s = 0; s < old.size(); ++s) {
      list_keys& from = old[s];
      for (std::size_t pos = 0; pos < from.keys.size(); ++pos) {
        const std::size_t slot = static_cast<std::size_t>(target[s][pos]) + 1;
        list_keys& to = lists_[slot];
        where_.find(from.keys[pos])->second = location{slot, to.keys.size()};
        rows_.push_back(slot, old_rows.row(s, pos));
        to.keys.push_back(from.keys[pos]);
        if (space_ == metric::l2) to.sq_norms.push_back(from.sq_norms[pos]);
      }
      from = list_keys{};  // frees as it goes
    }
  }

  // ---- serialization (little-endian, whatever the host) ------------------------------

  static void put_u32(std::uint8_t* out, std::uint32_t v) noexcept {
    for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  static void put_u64(std::uint8_t* out, std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  static std::uint32_t read_u32(const std::uint8_t* p) noexcept {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  static std::uint64_t read_u64(const std::uint8_t* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  static float read_f32(const std::uint8_t* p) noexcept {
    const std::uint32_t bits = read_u32(p);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }

  // magic[8] version metric dim nlist (u32 each) trained_size seed (u64 each),
  // nlist * dim float32 centroids, XXH64 of all that.
  std::vector<std::uint8_t> serialize() const {
    const std::size_t body = header_bytes + centroids_.size() * sizeof(float);
    std::vector<std::uint8_t> out(body + trailer_bytes);
    std::uint8_t* p = out.data();
    for (std::size_t i = 0; i < sizeof magic; ++i) p[i] = magic[i];
    put_u32(p + 8, format_version);
    put_u32(p + 12, metric_code(space_));
    put_u32(p + 16, static_cast<std::uint32_t>(dim_));
    put_u32(p + 20, static_cast<std::uint32_t>(nlist_));
    put_u64(p + 24, trained_size_);
    put_u64(p + 32, seed_);
    for (std::size_t i = 0; i < centroids_.size(); ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, &centroids_[i], sizeof bits);
      put_u32(p + header_bytes + i * sizeof(float), bits);
    }
    put_u64(p + body, detail::xxh64(p, body, checksum_seed));
    return out;
  }

  // ---- search ----------------------------------------------------------------------

  // Exact search over the fallback list (the whole index while untrained).
  std::vector<std::vector<neighbor>> search_fallback(const float* queries, std::size_t nq, std::size_t k,
                                                     const std::vector<std::int64_t>* allowed) const {
    const detail::row_source src = source(0);
    std::vector<std::vector<detail::scored_row>> found;
    if (allowed == nullptr) {
      found = detail::search(src, queries, nq, k, threads());
    } else {
      std::vector<std::size_t> rows;
      rows.reserve((std::min)(allowed->size(), size()));
      for (std::int64_t key : *allowed) {
        const auto it = where_.find(key);
        if (it != where_.end()) rows.push_back(it->second.pos);
      }
      found = detail::search(src, queries, nq, k, std::move(rows), threads());
    }
    std::vector<std::vector<neighbor>> out(nq);
    for (std::size_t q = 0; q < found.size(); ++q) {
      out[q].reserve(found[q].size());
      for (const detail::scored_row& s : found[q]) out[q].push_back(neighbor{lists_[0].keys[s.row], s.distance});
    }
    return out;
  }

  // The `n` nearest centroids of each prepared query (l2 to the centroids).
  std::vector<std::vector<detail::scored_row>> probe_lists(const detail::query_set& qs, std::size_t n,
                                                           std::size_t threads) const {
    const detail::row_source centroids{row_view{centroids_.data(), nlist_, dim_, dim_}, metric::l2,
                                       centroid_sqf_.data(), nullptr};
    return detail::search(centroids, qs.query(0), qs.count(), n, threads, min_parallel_list_work);
  }

  // Groups the (query, probed list) pairs by list; the fallback list, when
  // not empty, is scanned by every query.
  void group_probes(const detail::query_set& qs, std::size_t probes, std::vector<work_item>& items,
                    std::vector<std::uint32_t>& members) const {
    const std::size_t nq = qs.count();
    const auto probed = probe_lists(qs, probes, threads());
    // (slot << 32 | query), grouped by slot. One query's lists already are
    // (each once), and stay nearest first (scan_items). Several queries' are
    // ordered by slot, then query: sorted when fewer than the lists (a pass
    // over all 4,000 lists cost a single query 7 us), else counted into place.
    std::vector<std::uint64_t> pairs;
    pairs.reserve(nq * probes);
    for (std::size_t q = 0; q < nq; ++q)
      for (const detail::scored_row& s : probed[q]) pairs.push_back((std::uint64_t{s.row} + 1) << 32 | q);
    if (nq > 1 && pairs.size() < lists_.size()) {
      std::sort(pairs.begin(), pairs.end());
    } else if (nq > 1) {
      std::vector<std::size_t> next(lists_.size() + 1, 0);  // next[slot]: where its next pair goes
      for (std::uint64_t p : pairs) ++next[(p >> 32) + 1];
      for (std::size_t s = 1; s < next.size(); ++s) next[s] += next[s - 1];
      std::vector<std::uint64_t> sorted(pairs.size());
      for (std::uint64_t p : pairs) sorted[next[p >> 32]++] = p;  // stable: queries stay ascending
      pairs.swap(sorted);
    }
    items.reserve((std::min)(pairs.size() + 1, lists_.size()));  // the fallback, then one item per list probed
    members.clear();
    members.reserve(pairs.size() + nq);
    if (!lists_[0].keys.empty()) {
      items.push_back(work_item{0, 0, nq});
      for (std::size_t q = 0; q < nq; ++q) members.push_back(static_cast<std::uint32_t>(q));
    }
    for (std::size_t i = 0, end = 0; i < pairs.size(); i = end) {
      const std::size_t slot = static_cast<std::size_t>(pairs[i] >> 32);
      for (end = i + 1; end < pairs.size() && pairs[end] >> 32 == slot;) ++end;
      if (lists_[slot].keys.empty()) continue;
      items.push_back(work_item{slot, members.size(), members.size() + (end - i)});
      for (std::size_t j = i; j < end; ++j) members.push_back(static_cast<std::uint32_t>(pairs[j]));
    }
  }

  // Scans every item (a list and its queries) into per-query top-k. Threads
  // claim items one at a time, in order, each into accumulators of its own:
  // lists differ in size and threads in speed, and a single query's lists
  // come nearest first, so every thread tightens its threshold early.
  std::vector<std::vector<neighbor>> scan_items(const detail::query_set& qs, std::size_t k,
                                                const std::vector<work_item>& items,
                                                const std::vector<std::uint32_t>& members,
                                                const std::vector<std::vector<std::size_t>>* subsets) const {
    const std::size_t nq = qs.count();
    std::size_t total = 0;  // rows x queries
    for (const work_item& it : items)
      total += (subsets != nullptr ? (*subsets)[it.slot].size() : lists_[it.slot].keys.size()) * (it.end - it.begin);
    const std::size_t tasks =
        (std::min)(items.size(), detail::tasks_for(total * dim_, threads(), min_parallel_list_work));

    std::vector<std::vector<detail::topk_accumulator>> acc(tasks);
    std::atomic<std::size_t> next_item{0};
    detail::parallel_run(tasks, [&](std::size_t t) {
      acc[t] = detail::make_accumulators(nq, k, k);
      detail::scan_scratch scratch;
      std::vector<detail::topk_accumulator*> refs;
      std::vector<std::uint64_t> bits;
      for (std::size_t i; (i = next_item.fetch_add(1, std::memory_order_relaxed)) < items.size();) {
        const work_item& it = items[i];
        const std::size_t group = it.end - it.begin;
        refs.clear();
        for (std::size_t j = it.begin; j < it.end; ++j) refs.push_back(&acc[t][members[j]]);
        const detail::accumulator_refs into{refs.data()};
        std::optional<detail::query_set> gathered;
        if (group != nq) gathered.emplace(qs, members.data() + it.begin, group);
        const detail::query_set& queries = gathered ? *gathered : qs;
        const detail::row_source src = source(it.slot);
        if (subsets == nullptr) {
          detail::scan_rows(src, queries, 0, src.rows.rows, nullptr, into, scratch);
          continue;
        }
        const std::vector<std::size_t>& subset = (*subsets)[it.slot];
        if (subset.empty()) continue;
        if (subset.size() == src.rows.rows) {
          detail::scan_rows(src, queries, 0, src.rows.rows, nullptr, into, scratch);
        } else if (subset.size() * detail::gather_divisor <= src.rows.rows) {
          detail::scan_subset(src, queries, subset.data(), subset.size(), into, scratch);
        } else {
          bits.assign((src.rows.rows + 63) / 64, 0);
          for (std::size_t r : subset) bits[r / 64] |= std::uint64_t{1} << (r % 64);
          detail::scan_rows(src, queries, 0, src.rows.rows, bits.data(), into, scratch);
        }
      }
    });
    std::vector<std::vector<neighbor>> out(nq);
    if (tasks == 0) return out;
    for (std::size_t t = 1; t < tasks; ++t)
      for (std::size_t q = 0; q < nq; ++q) acc[0][q].merge(acc[t][q]);
    for (std::size_t q = 0; q < nq; ++q) out[q] = acc[0][q].take_sorted_keys();
    return out;
  }

  std::size_t dim_;
  metric space_;
  std::vector<list_keys> lists_;                      // [0]: fallback; [l + 1]: list l
  detail::row_lists rows_;                            // the lists' vectors, by the same slots
  std::unordered_map<std::int64_t, location> where_;  // key -> slot, row
  std::vector<float> staged_;                         // upsert's prepared copy, reused

  std::vector<float> centroids_;      // nlist_ x dim_, row-major
  std::vector<double> centroid_sq_;   // ||c||^2, exact
  std::vector<float> centroid_sqf_;   // ||c||^2 for the float scans
  double max_centroid_norm_ = 0.0;
  std::size_t nlist_ = 0;             // 0: untrained
  std::size_t trained_size_ = 0;

  std::size_t nlist_setting_ = 0;
  std::size_t nprobe_ = 0;
  std::size_t threads_ = 0;
  std::uint64_t seed_ = default_seed;
};

}  // namespace v0
}  // namespace vecstore
