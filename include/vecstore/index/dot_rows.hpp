// SPDX-License-Identifier: MIT
// The single-query scan: one query's dot products with many rows, streamed from memory (dot_rows_by, dot_rows).
#pragma once

// One of the few headers of vecstore that include Eigen (kernel.hpp lists
// them): the scan is written with Eigen's packet primitives, so that one
// source serves SSE, AVX2, AVX-512 and NEON.
#include <Eigen/Core>

#include <algorithm>
#include <cstddef>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// A packet's lanes added pairwise down to 4 (a 4-lane packet as it is).
template <class Packet>
auto fold_to_quad(const Packet& p) noexcept {
  if constexpr (Eigen::internal::unpacket_traits<Packet>::size > 4)
    return fold_to_quad(Eigen::internal::predux_half_dowto4(p));
  else
    return p;
}

/// out[i] = row_at(i) . query for `n` rows of `dim` floats: the single-query
/// scan, which asks for each row's data 4 KiB before reading it (streaming
/// from memory, that beats Eigen's own product, which leaves the memory
/// system idle at row ends).
///
/// Rows of up to 512 bytes are scored four at a time, side by side: the
/// floats past the last whole packet are added through one more packet that
/// overlaps it, its repeated lanes multiplied by 0, and the four sums are
/// reduced together by one transpose. Summing each short row on its own, with
/// a scalar tail and a reduction per row, left the core busy rather than the
/// memory: the probe of 4,000 centroids of dim 100 (compute-bound) took 31
/// us, now 27, and an IVF query at 1M x 100 (nprobe 32, lists of ~100 KiB)
/// 149-153 us on one core, now 134-138. Longer rows keep one sum per row,
/// read one after the other: four long rows side by side are four streams to
/// memory, and scanned 6-9% slower at dim 256 and 768.
///
/// Each row's sum is formed the same way wherever it sits (a missing fourth
/// row repeats the last), so results do not depend on blocking, threads or
/// gathering.
template <class RowAt>
void dot_rows_by(RowAt row_at, std::size_t n, const float* query, std::size_t dim, float* out) noexcept {
  namespace ei = Eigen::internal;
  using packet = typename ei::packet_traits<float>::type;
  constexpr std::size_t width = static_cast<std::size_t>(ei::packet_traits<float>::size);
  constexpr std::size_t prefetch_ahead = 1024;  // floats
  if constexpr (width >= 4) {
    if (dim >= width && dim * sizeof(float) <= 512) {
      using quad = decltype(fold_to_quad(packet{}));
      const std::size_t whole = dim - dim % width;  // floats in whole packets
      float tail[width] = {};                       // the query's last `dim % width` floats, at the end
      for (std::size_t i = width - dim % width; i < width; ++i) tail[i] = query[dim - width + i];
      const packet tail_query = ei::ploadu<packet>(tail);
      auto score_four = [&](const float* r0, const float* r1, const float* r2, const float* r3, float* to) {
        packet s0 = ei::pset1<packet>(0.0f), s1 = s0, s2 = s0, s3 = s0;
        for (std::size_t j = 0; j < whole; j += width) {
          ei::prefetch(r0 + j + prefetch_ahead);  // a hint: never faults, even past the end
          ei::prefetch(r1 + j + prefetch_ahead);
          ei::prefetch(r2 + j + prefetch_ahead);
          ei::prefetch(r3 + j + prefetch_ahead);
          const packet q = ei::ploadu<packet>(query + j);
          s0 = ei::pmadd(ei::ploadu<packet>(r0 + j), q, s0);
          s1 = ei::pmadd(ei::ploadu<packet>(r1 + j), q, s1);
          s2 = ei::pmadd(ei::ploadu<packet>(r2 + j), q, s2);
          s3 = ei::pmadd(ei::ploadu<packet>(r3 + j), q, s3);
        }
        if (whole != dim) {
          const std::size_t j = dim - width;
          s0 = ei::pmadd(ei::ploadu<packet>(r0 + j), tail_query, s0);
          s1 = ei::pmadd(ei::ploadu<packet>(r1 + j), tail_query, s1);
          s2 = ei::pmadd(ei::ploadu<packet>(r2 + j), tail_query, s2);
          s3 = ei::pmadd(ei::ploadu<packet>(r3 + j), tail_query, s3);
        }
        ei::PacketBlock<quad, 4> sums;
        sums.packet[0] = fold_to_quad(s0);
        sums.packet[1] = fold_to_quad(s1);
        sums.packet[2] = fold_to_quad(s2);
        sums.packet[3] = fold_to_quad(s3);
        ei::ptranspose(sums);
        ei::pstoreu(to, ei::padd(ei::padd(sums.packet[0], sums.packet[1]), ei::padd(sums.packet[2], sums.packet[3])));
      };
      std::size_t r = 0;
      for (; r + 4 <= n; r += 4) score_four(row_at(r), row_at(r + 1), row_at(r + 2), row_at(r + 3), out + r);
      if (r < n) {
        const std::size_t last = n - 1;
        float four[4];
        score_four(row_at(r), row_at((std::min)(r + 1, last)), row_at((std::min)(r + 2, last)),
                   row_at((std::min)(r + 3, last)), four);
        std::copy(four, four + (n - r), out + r);
      }
      return;
    }
  }
  for (std::size_t r = 0; r < n; ++r) {
    const float* row = row_at(r);
    packet acc = ei::pset1<packet>(0.0f);
    std::size_t j = 0;
    for (; j + width <= dim; j += width) {
      ei::prefetch(row + j + prefetch_ahead);
      acc = ei::pmadd(ei::ploadu<packet>(row + j), ei::ploadu<packet>(query + j), acc);
    }
    float sum = ei::predux(acc);
    for (; j < dim; ++j) sum += row[j] * query[j];
    out[r] = sum;
  }
}

/// `dot_rows_by` over `n` rows `stride` floats apart.
inline void dot_rows(const float* rows, std::size_t n, std::size_t stride, const float* query, std::size_t dim,
                     float* out) noexcept {
  dot_rows_by([rows, stride](std::size_t r) { return rows + r * stride; }, n, query, dim, out);
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
