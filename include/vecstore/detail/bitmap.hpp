// SPDX-License-Identifier: MIT
// One bit per row: the allowed rows of a filtered search (index/kernel.hpp)
// and a filter's matches over metadata columns (filter/metadata_columns.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Words of a bitmap over `rows` rows.
inline std::size_t bitmap_words(std::size_t rows) noexcept { return (rows + 63) / 64; }

/// `fn(row)` for every set bit, in ascending order.
template <class Fn>
void for_each_set_bit(const std::vector<std::uint64_t>& bits, Fn&& fn) {
  for (std::size_t w = 0; w < bits.size(); ++w) {
    for (std::uint64_t word = bits[w]; word != 0; word &= word - 1) {
      fn(w * 64 + static_cast<std::size_t>(__builtin_ctzll(word)));
    }
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
