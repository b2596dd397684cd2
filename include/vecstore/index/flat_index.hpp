// SPDX-License-Identifier: MIT
// flat_index: the default IndexPolicy, exact search over a contiguous row-major float matrix.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include <vecstore/detail/norm.hpp>
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
/// Storage: one row-major `std::vector<float>` of `size() * dim()` floats,
/// row -> key in a vector and key -> row in a hash map; `erase` moves the
/// last row into the hole, so rows stay contiguous and removal is O(dim).
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
    rows_.reserve(n);
    if (space_ == metric::l2) sq_norms_.reserve(n);
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

    const auto found = rows_.find(key);
    if (found != rows_.end()) {
      store_row(found->second, vector);
      return;
    }
    // Grow every container first, then insert into the map (which may throw
    // with nothing else changed), then append without reallocating.
    grow_for_one_more();
    const std::size_t row = keys_.size();
    rows_.emplace(key, row);
    keys_.push_back(key);
    // Appended straight from `vector`: resizing first would zero the row
    // only to overwrite it (a third of the time to load a large store).
    data_.insert(data_.end(), vector, vector + dim_);
    if (space_ == metric::l2) sq_norms_.push_back(0.0f);
    finish_row(row);
  }

  /// Removes `key` by moving the last row into its place; false when absent.
  bool erase(std::int64_t key) {
    const auto found = rows_.find(key);
    if (found == rows_.end()) return false;
    const std::size_t row = found->second;
    const std::size_t last = keys_.size() - 1;
    if (row != last) {
      std::copy(data_.begin() + static_cast<std::ptrdiff_t>(last * dim_),
                data_.begin() + static_cast<std::ptrdiff_t>((last + 1) * dim_),
                data_.begin() + static_cast<std::ptrdiff_t>(row * dim_));
      keys_[row] = keys_[last];
      rows_.find(keys_[row])->second = row;
      if (space_ == metric::l2) sq_norms_[row] = sq_norms_[last];
    }
    rows_.erase(found);
    keys_.pop_back();
    data_.resize(last * dim_);
    if (space_ == metric::l2) sq_norms_.pop_back();
    return true;
  }

  bool contains(std::int64_t key) const { return rows_.find(key) != rows_.end(); }

  /// Removes every key; keeps the memory, since a cleared index is usually refilled.
  void clear() noexcept {
    data_.clear();
    keys_.clear();
    rows_.clear();
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
      for (std::int64_t key : *allowed) {
        const auto it = rows_.find(key);
        if (it != rows_.end()) allowed_rows.push_back(it->second);
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
  const std::vector<std::int64_t>& keys() const noexcept { return keys_; }

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
      const double sq = detail::squared_norm(dst, dim_);
      if (sq > 0.0) {
        const double inv = 1.0 / std::sqrt(sq);
        for (std::size_t i = 0; i < dim_; ++i) dst[i] = static_cast<float>(dst[i] * inv);
      }
    } else if (space_ == metric::l2) {
      sq_norms_[row] = static_cast<float>(detail::squared_norm(dst, dim_));
    }
  }

  std::size_t dim_;
  metric space_;
  std::vector<float> data_;                           // size() rows of dim_ floats, row-major
  std::vector<std::int64_t> keys_;                    // row -> key
  std::unordered_map<std::int64_t, std::size_t> rows_;  // key -> row
  std::vector<float> sq_norms_;                       // row -> ||x||^2; l2 only
  std::size_t threads_ = 0;                           // 0: vecstore::search_threads()
};

}  // namespace v0
}  // namespace vecstore
