// SPDX-License-Identifier: MIT
// id_table: row id -> record id of one collection, partly mapped from the vectors file.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <vecstore/detail/page_array.hpp>
#include <vecstore/errors.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Row id -> record id of one collection: what turns a search hit into the
/// id the caller stored.
///
/// Two parts. The base comes from the vectors file (storage/vectors_file.hpp): row ids in ascending order and
/// their ids packed end to end, mapped from the file rather than copied into
/// a million strings. Ids assigned since live in a hash map. Row ids are never
/// reused and a record keeps its row id for life, so the base needs no
/// deletes: an erased row's entry stays, and is never asked for, because hits
/// only name rows the index still holds.
class id_table {
 public:
  void reserve(std::size_t n) { added_.reserve(n); }

  void assign(std::int64_t rid, std::string_view id) {
    if (find_in_base(rid)) return;  // the same record, hence the same id
    added_[rid].assign(id);
  }

  void erase(std::int64_t rid) { added_.erase(rid); }

  std::optional<std::string_view> find(std::int64_t rid) const {
    if (const auto it = added_.find(rid); it != added_.end()) return std::string_view(it->second);
    return find_in_base(rid);
  }

  /// Replaces everything with a base: `rids` ascending, `ends[i]` the end of
  /// id i in `chars` (its start is the previous end, or 0). Throws
  /// `vecstore::invalid_argument`, unchanged, when they do not fit together.
  void adopt(page_array<std::int64_t> rids, page_array<std::uint64_t> ends, page_array<char> chars) {
    bool fits = rids.size() == ends.size() && (ends.empty() ? chars.empty() : ends[ends.size() - 1] == chars.size());
    for (std::size_t i = 1; fits && i < rids.size(); ++i) fits = rids[i - 1] < rids[i] && ends[i - 1] <= ends[i];
    if (!fits) {
      throw_error<invalid_argument>("cannot adopt record ids", {}, "the row ids are not ascending or the ids overrun",
                                    "Pass arrays written from an id_table");
    }
    rids_ = std::move(rids);
    ends_ = std::move(ends);
    chars_ = std::move(chars);
    added_.clear();
  }

 private:
  std::optional<std::string_view> find_in_base(std::int64_t rid) const {
    const auto it = std::lower_bound(rids_.begin(), rids_.end(), rid);
    if (it == rids_.end() || *it != rid) return std::nullopt;
    const std::size_t i = static_cast<std::size_t>(it - rids_.begin());
    const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(chars_.data() + begin, ends_[i] - begin);
  }

  page_array<std::int64_t> rids_;
  page_array<std::uint64_t> ends_;
  page_array<char> chars_;
  std::unordered_map<std::int64_t, std::string> added_;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
