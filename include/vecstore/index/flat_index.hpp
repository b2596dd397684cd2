// SPDX-License-Identifier: MIT
// flat_index: the default IndexPolicy, exact search over a contiguous row-major float matrix.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <vecstore/detail/norm.hpp>
#include <vecstore/detail/page_array.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/index/kernel.hpp>
#include <vecstore/index/requirements.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {

/// Exact nearest-neighbour search: every query scores every eligible row
/// through the kernel, so results are exact and cost O(N * dim) per query at
/// memory bandwidth.
///
/// Storage: one row-major array of `size() * dim()` floats, row -> key in an
/// array and key -> row in a hash map; `erase` moves the last row into the
/// hole, so rows stay contiguous and removal is O(dim). The arrays are
/// `detail::page_array`s, so that `adopt` can take them mapped from a
/// store's vectors file; the hash map is then built on first use, not at open.
/// Cosine vectors are normalized when inserted, so a cosine search is a
/// plain dot product; l2 keeps ||x||^2 per row so that the scan is one
/// product as well.
///
/// Threads: const members may run concurrently; the store serializes the rest.
/// One search splits a large scan across up to `threads()` threads of the
/// process's search pool (kernel.hpp): by default `vecstore::search_threads()`,
/// i.e. `std::thread::hardware_concurrency()` unless `set_search_threads`
/// changed it; scans under `detail::min_parallel_work` floats per thread stay
/// on the caller. Results never depend on the thread count.
class flat_index {
 public:
  static constexpr bool exact = true;

  /// Throws `vecstore::invalid_argument` when `dim` is 0 or above `limits::max_dim`.
  flat_index(std::size_t dim, metric space) : dim_(dim), space_(space) {
    if (dim == 0 || dim > limits::max_dim)
      detail::throw_error<invalid_argument>(
          "cannot create flat_index", {},
          "dimension " + std::to_string(dim) + " is outside 1.." + std::to_string(limits::max_dim),
          "Pass the collection's dimension");
  }

  std::size_t dim() const noexcept { return dim_; }
  metric space() const noexcept { return space_; }
  std::size_t size() const noexcept { return keys_.size(); }

  /// Caps the threads one search of this index uses; 0 (the default) follows
  /// the process-wide `vecstore::search_threads()`. Not synchronized with
  /// searches: set it before sharing the index between threads.
  void set_threads(std::size_t n) noexcept { threads_ = n; }
  /// The thread count a search uses now (at least 1).
  std::size_t threads() const noexcept { return threads_ != 0 ? threads_ : search_threads(); }

  void reserve(std::size_t n) {
    data_.reserve(n * dim_);
    keys_.reserve(n);
    key_rows().reserve(n);
    if (space_ == metric::l2) sq_norms_.reserve(n);
  }

  /// Takes over an index's whole content as `rows()`, `keys()` and
  /// `squared_norms()` returned it (as the store's vectors file holds them), without
  /// copying: `rows` holds `keys.size()` rows of `dim()` floats, `sq_norms`
  /// one float per row for l2 and nothing otherwise, and the keys are
  /// distinct. Throws `vecstore::invalid_argument`, unchanged, when the sizes
  /// do not fit.
  void adopt(detail::page_array<float> rows, detail::page_array<std::int64_t> keys,
             detail::page_array<float> sq_norms) {
    const std::size_t n = keys.size();
    if (rows.size() != n * dim_ || sq_norms.size() != (space_ == metric::l2 ? n : 0)) {
      detail::throw_error<invalid_argument>("cannot adopt rows", {}, "the arrays' sizes do not fit this index",
                                            "Pass arrays taken from an index of the same dim and metric");
    }
    data_ = std::move(rows);
    keys_ = std::move(keys);
    sq_norms_ = std::move(sq_norms);
    rows_.reset();
  }

  /// Inserts `key`, or replaces its vector. Strong guarantee: when an
  /// allocation throws, the index is unchanged.
  void upsert(std::int64_t key, const float* vector) {
    // `vector` may point into this index's own rows (e.g. copying one key's
    // vector to another); growing would free them before they are read.
    std::vector<float> own_copy;
    if (aliases_storage(vector)) {
      own_copy.assign(vector, vector + dim_);
      vector = own_copy.data();
    }

    auto& row_of = key_rows();
    const auto found = row_of.find(key);
    if (found != row_of.end()) {
      store_row(found->second, vector);
      return;
    }
    // Grow every container first, then insert into the map (which may throw
    // with nothing else changed), then append without reallocating.
    grow_for_one_more();
    const std::size_t row = keys_.size();
    row_of.emplace(key, row);
    keys_.push_back(key);
    // Appended straight from `vector`: resizing first would zero the row
    // only to overwrite it (a third of the time to load a large store).
    data_.append(vector, vector + dim_);
    if (space_ == metric::l2) sq_norms_.push_back(0.0f);
    finish_row(row);
  }

  /// Removes `key` by moving the last row into its place; false when absent.
  bool erase(std::int64_t key) {
    auto& row_of = key_rows();
    const auto found = row_of.find(key);
    if (found == row_of.end()) return false;
    const std::size_t row = found->second;
    const std::size_t last = keys_.size() - 1;
    if (row != last) {
      std::copy(data_.begin() + last * dim_, data_.begin() + (last + 1) * dim_, data_.begin() + row * dim_);
      keys_[row] = keys_[last];
      row_of.find(keys_[row])->second = row;
      if (space_ == metric::l2) sq_norms_[row] = sq_norms_[last];
    }
    row_of.erase(found);
    keys_.pop_back();
    data_.shrink(last * dim_);
    if (space_ == metric::l2) sq_norms_.pop_back();
    return true;
  }

  bool contains(std::int64_t key) const { return key_rows().count(key) != 0; }

  /// Removes every key; keeps the memory, since a cleared index is usually refilled.
  void clear() noexcept {
    data_.clear();
    keys_.clear();
    rows_.reset();
    sq_norms_.clear();
  }

  /// See the IndexPolicy contract in index/requirements.hpp.
  std::vector<std::vector<neighbor>> search(const float* queries, std::size_t nq, std::size_t k,
                                            const std::vector<std::int64_t>* allowed) const {
    const detail::row_source src{rows(), space_, space_ == metric::l2 ? sq_norms_.data() : nullptr,
                                 keys_.data()};
    std::vector<std::vector<detail::scored_row>> found;
    if (allowed == nullptr) {
      found = detail::search(src, queries, nq, k, threads());
    } else {
      std::vector<std::size_t> allowed_rows;
      allowed_rows.reserve((std::min)(allowed->size(), keys_.size()));
      const auto& row_of = key_rows();
      for (std::int64_t key : *allowed) {
        const auto it = row_of.find(key);
        if (it != row_of.end()) allowed_rows.push_back(it->second);
      }
      found = detail::search(src, queries, nq, k, std::move(allowed_rows), threads());
    }

    std::vector<std::vector<neighbor>> out(found.size());
    for (std::size_t q = 0; q < found.size(); ++q) {
      out[q].reserve(found[q].size());
      for (const detail::scored_row& s : found[q]) out[q].push_back(neighbor{keys_[s.row], s.distance});
    }
    return out;
  }

  /// The rows as stored (normalized for cosine); valid until the next non-const call.
  row_view rows() const noexcept { return row_view{data_.data(), keys_.size(), dim_, dim_}; }

  /// The key of each row of `rows()`, in row order.
  const detail::page_array<std::int64_t>& keys() const noexcept { return keys_; }

  /// ||x||^2 of each row of `rows()` for l2 (what the scan adds); empty otherwise.
  const detail::page_array<float>& squared_norms() const noexcept { return sq_norms_; }

 private:
  bool aliases_storage(const float* p) const noexcept {
    // std::less gives a total order even across unrelated arrays, where `<` would not.
    const std::less<const float*> before;
    const float* begin = data_.data();
    const float* end = begin + data_.size();
    return !before(p, begin) && before(p, end);
  }

  void grow_for_one_more() {
    // Geometric growth, decided here so that every container has room before
    // anything is modified; each is checked on its own since a vector may
    // hand out more capacity than asked for.
    const std::size_t n = keys_.size() + 1;
    const auto grow = [](auto& v, std::size_t needed) {
      if (v.capacity() < needed) v.reserve((std::max)(needed, v.capacity() * 2));
    };
    grow(data_, n * dim_);
    grow(keys_, n);
    if (space_ == metric::l2) grow(sq_norms_, n);
  }

  void store_row(std::size_t row, const float* vector) noexcept {
    std::copy(vector, vector + dim_, data_.data() + row * dim_);
    finish_row(row);
  }

  /// What the metric needs of a row just stored.
  void finish_row(std::size_t row) noexcept {
    float* dst = data_.data() + row * dim_;
    if (space_ == metric::cosine) {
      // Normalized once here, so every search is 1 - dot without dividing by norms.
      detail::normalize(dst, dim_);
    } else if (space_ == metric::l2) {
      sq_norms_[row] = static_cast<float>(detail::squared_norm(dst, dim_));
    }
  }

  using key_to_row = std::unordered_map<std::int64_t, std::size_t>;

  /// key -> row, built from `keys_` by the first call that needs it after
  /// `adopt`: a million-row map would cost more than mapping the rows, and
  /// an index that is only searched never needs it. Const callers (searches)
  /// may race to build it, hence the mutex; the store serializes the rest.
  class lazy_rows {
   public:
    lazy_rows() = default;
    lazy_rows(lazy_rows&& o) noexcept : map_(std::move(o.map_)), built_(o.built_.load()) {}
    lazy_rows& operator=(lazy_rows&& o) noexcept {
      map_ = std::move(o.map_);
      built_ = o.built_.load();
      return *this;
    }
    /// Forgets the map; the next get() builds it from the keys then present.
    void reset() noexcept {
      map_.clear();
      built_ = false;
    }
    key_to_row& get(const detail::page_array<std::int64_t>& keys) {
      if (!built_.load(std::memory_order_acquire)) {
        std::lock_guard<std::mutex> guard(mutex_);
        if (!built_.load(std::memory_order_relaxed)) {
          map_.reserve(keys.size());
          for (std::size_t row = 0; row < keys.size(); ++row) map_.emplace(keys[row], row);
          built_.store(true, std::memory_order_release);
        }
      }
      return map_;
    }

   private:
    key_to_row map_;
    std::atomic<bool> built_{true};  // an empty index has its (empty) map
    std::mutex mutex_;
  };

  key_to_row& key_rows() { return rows_.get(keys_); }
  const key_to_row& key_rows() const { return rows_.get(keys_); }

  std::size_t dim_;
  metric space_;
  detail::page_array<float> data_;         // size() rows of dim_ floats, row-major
  detail::page_array<std::int64_t> keys_;  // row -> key
  mutable lazy_rows rows_;                 // key -> row
  detail::page_array<float> sq_norms_;     // row -> ||x||^2; l2 only
  std::size_t threads_ = 0;                // 0: vecstore::search_threads()
};

}  // namespace v0
}  // namespace vecstore
