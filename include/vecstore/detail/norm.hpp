// SPDX-License-Identifier: MIT
// The squared norm both index policies take of every vector they store.
#pragma once

#include <cmath>
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

/// Scales v[0..n) to unit length; leaves a zero vector as it is. The norm is
/// taken in double: in float, ||v||^2 underflows to 0 below a norm of about
/// 1e-19 and overflows to inf above about 1.8e19, and either leaves the vector
/// unscaled or zeroed, so every cosine distance reads 1. In double the sum of
/// squares of any finite floats is finite and, unless all are 0, non-zero
/// (the smallest float squared is about 2e-90, the largest about 1.2e77, and
/// at most limits::max_dim of them are summed), so every finite non-zero
/// vector keeps its direction.
inline void normalize(float* v, std::size_t n) noexcept {
  const double sq = squared_norm(v, n);
  if (!(sq > 0.0)) return;
  const double inv = 1.0 / std::sqrt(sq);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(v[i] * inv);
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
