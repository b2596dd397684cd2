// SPDX-License-Identifier: MIT
// The squared norm both index policies take of every vector they store.
#pragma once

#include <cstddef>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// ||v||^2 in double, as eight interleaved partial sums: a single running sum
/// is one chain of dependent adds that the compiler may not reorder (about
/// 1 us per 768-float row, once the largest cost of opening a store); eight
/// chains overlap, and the compiler may vectorize them.
inline double squared_norm(const float* v, std::size_t n) noexcept {
  double part[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (std::size_t j = 0; j < 8; ++j) part[j] += static_cast<double>(v[i + j]) * v[i + j];
  }
  for (std::size_t j = 0; i < n; ++i, ++j) part[j] += static_cast<double>(v[i]) * v[i];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
