// SPDX-License-Identifier: MIT
// The inverted lists of an ivf_index: each list's keys and (for l2) squared
// norms beside its float rows, which all lists keep in one detail::row_lists,
// and where each key sits. Slot 0 is the fallback list (every vector while the
// index is untrained, and vectors of lists the quantizer does not have); slot
// l + 1 is list l. This storage knows nothing of centroids: callers say which
// slot a vector goes to, so that an insert, a re-bucketing and the store's
// stored assignments all fill the lists the same way, and the search
// (ivf/scan.hpp) reads a list as a detail::row_source.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include <vecstore/detail/norm.hpp>
#include <vecstore/detail/row_lists.hpp>
#include <vecstore/index/row_source.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {
namespace ivf {

/// Where a key's row sits.
struct location {
  std::size_t slot;  // 0: fallback; list + 1 otherwise
  std::size_t pos;
};

/// The inverted lists, by slot, of prepared (for cosine: normalized) vectors
/// of `dim` floats. Starts with the fallback slot alone.
class inverted_lists {
 public:
  inverted_lists(std::size_t dim, metric space) : dim_(dim), space_(space), lists_(1), rows_(dim) {
    rows_.reset({0});
  }

  std::size_t dim() const noexcept { return dim_; }
  metric space() const noexcept { return space_; }
  /// Keys held, in all slots.
  std::size_t size() const noexcept { return where_.size(); }
  bool empty() const noexcept { return where_.empty(); }
  /// Slots: the fallback and one per list.
  std::size_t slots() const noexcept { return lists_.size(); }
  /// Rows in `slot`.
  std::size_t rows_in(std::size_t slot) const noexcept { return lists_[slot].keys.size(); }
  /// The key of row `pos` of `slot`.
  std::int64_t key_at(std::size_t slot, std::size_t pos) const noexcept { return lists_[slot].keys[pos]; }
  /// The prepared vector of row `pos` of `slot`.
  const float* row(std::size_t slot, std::size_t pos) const noexcept { return rows_.row(slot, pos); }

  /// Where `key` sits, or null when absent; valid until the next change.
  const location* find(std::int64_t key) const {
    const auto it = where_.find(key);
    return it != where_.end() ? &it->second : nullptr;
  }

  /// Every key held, in no particular order.
  std::vector<std::int64_t> keys() const {
    std::vector<std::int64_t> out;
    out.reserve(where_.size());
    for (const auto& kv : where_) out.push_back(kv.first);
    return out;
  }

  /// Room for `n` keys in all, and for `n` rows in `slot` (which the caller
  /// fills, the fallback of an untrained index).
  void reserve_keys(std::size_t n) { where_.reserve(n); }
  void reserve_rows(std::size_t slot, std::size_t n) {
    rows_.reserve(slot, n);
    lists_[slot].keys.reserve(n);
    if (space_ == metric::l2) lists_[slot].sq_norms.reserve(n);
  }

  /// Puts the prepared vector of `key` into `slot`. Strong guarantee.
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

  /// Removes `key`; false when absent.
  bool erase(std::int64_t key) {
    const auto found = where_.find(key);
    if (found == where_.end()) return false;
    remove_row(found->second);
    where_.erase(found);
    return true;
  }

  /// Removes every key; keeps the slots.
  void clear() noexcept {
    for (list_keys& l : lists_) l.clear();
    rows_.clear();
    where_.clear();
  }

  /// Drops every key and makes the fallback and `nlist` empty lists.
  void reset(std::size_t nlist) {
    std::vector<list_keys> lists(nlist + 1);
    rows_.reset(std::vector<std::size_t>(nlist + 1, 0));
    lists_ = std::move(lists);
    where_.clear();
  }

  /// Moves every vector into the list `assign(rows, n, out)` names for it
  /// (out[i]: list of row i, in 0..nlist-1), over the fallback and `nlist`
  /// lists; sizes are counted first, so each list is allocated once.
  template <class Assign>
  void rebucket(std::size_t nlist, const Assign& assign) {
    std::vector<list_keys> old = std::move(lists_);
    detail::row_lists old_rows = std::move(rows_);
    std::vector<std::vector<std::int32_t>> target(old.size());
    std::vector<std::size_t> sizes(nlist + 1, 0);  // by slot
    for (std::size_t s = 0; s < old.size(); ++s) {
      const std::size_t rows = old[s].keys.size();
      target[s].resize(rows);
      if (rows != 0) assign(old_rows.rows(s), rows, target[s].data());
      for (std::int32_t t : target[s]) ++sizes[static_cast<std::size_t>(t) + 1];
    }
    lists_.assign(nlist + 1, list_keys{});
    rows_.reset(sizes);
    for (std::size_t slot = 1; slot <= nlist; ++slot) {
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

  /// `slot` as the kernel reads it.
  detail::row_source source(std::size_t slot) const noexcept {
    const list_keys& l = lists_[slot];
    return detail::row_source{row_view{rows_.rows(slot), l.keys.size(), dim_, dim_}, space_,
                              space_ == metric::l2 ? l.sq_norms.data() : nullptr, l.keys.data()};
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

  float sq_norm(const float* v) const noexcept {
    return static_cast<float>(detail::squared_norm(v, dim_));
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

  std::size_t dim_;
  metric space_;
  std::vector<list_keys> lists_;                      // [0]: fallback; [l + 1]: list l
  detail::row_lists rows_;                            // the lists' vectors, by the same slots
  std::unordered_map<std::int64_t, location> where_;  // key -> slot, row
};

}  // namespace ivf
}  // namespace detail
}  // namespace v0
}  // namespace vecstore
