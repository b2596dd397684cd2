// SPDX-License-Identifier: MIT
// What a scan reads: row_view (contiguous float rows) and row_source (those rows with their metric, norms and keys).
#pragma once

#include <cstddef>
#include <cstdint>

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

namespace detail {

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

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
