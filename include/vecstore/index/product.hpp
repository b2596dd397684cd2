// SPDX-License-Identifier: MIT
// The batch product: many queries against a block of rows, both packed once, summed in register tiles (packed_product).
#pragma once

// One of the few headers of vecstore that include Eigen (kernel.hpp lists
// them): the product is written with Eigen's packet primitives.
#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <utility>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// The many-query product, scores = rows x queries^T, the way optimized BLAS
/// does it. Both operands are packed once: a block of rows into panels of
/// `panel_rows` rows, the queries into groups of `tile_queries`, each stored
/// dimension by dimension. Each tile of panel_rows rows x tile_queries
/// queries is then summed in registers: one step over a dimension loads two
/// packets of the panel and multiplies them by each query's coordinate,
/// broadcast from one contiguous stream, for 2 x tile_queries fused
/// multiply-adds per 2 + tile_queries loads and no shuffle. On one core of
/// this machine (AVX-512, 1,008 queries, dims 768 and 100) Eigen's general
/// product, which packs both operands on every call, reached 170-173
/// GFLOPS, this one 248-258 (benchmarks/kernel_bench.cpp, BM_block_product):
/// as fast as OpenBLAS's SkylakeX kernel under FAISS.
///
/// `PacketTraits::type` is an Eigen packet of floats (named through a
/// traits class: a vector type as a template argument loses its alignment
/// attributes, and GCC warns); `Queries` is the tile's width, chosen so that
/// 2 x Queries accumulators, two panel packets and a broadcast fit in the
/// registers. Each score is the same chain of multiply-adds over the
/// dimensions in order, wherever its row and query sit in the tiles, so
/// results do not depend on how rows are blocked or split across threads.
template <class PacketTraits, std::size_t Queries>
struct packed_product {
  using Packet = typename PacketTraits::type;
  static constexpr std::size_t width = static_cast<std::size_t>(Eigen::internal::unpacket_traits<Packet>::size);
  static constexpr std::size_t panel_rows = 2 * width;
  static constexpr std::size_t tile_queries = Queries;

  /// Floats `pack_rows` writes for `n` rows of `dim` (the last panel padded).
  static std::size_t packed_rows_size(std::size_t n, std::size_t dim) noexcept {
    return (n + panel_rows - 1) / panel_rows * panel_rows * dim;
  }

// Eigen's PacketBlock takes the packet type as a template argument, which
// drops the vector type's attributes; harmless here (the block lives in
// registers), but GCC warns. Eigen silences that warning inside its own
// headers; this is the one place vecstore needs to.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
  /// Packs `n` rows, `stride` floats apart, into `packed`: panel p holds
  /// rows [p * panel_rows, (p + 1) * panel_rows), coordinate j of its row i
  /// at [p * panel_rows * dim + j * panel_rows + i]. The lanes of a last
  /// panel's missing rows are left as they are: their sums are never stored.
  static void pack_rows(const float* rows, std::size_t n, std::size_t stride, std::size_t dim,
                        float* packed) noexcept {
    namespace ei = Eigen::internal;
    for (std::size_t first = 0; first < n; first += width) {
      // `width` rows at a time, each of them one lane of the panel's packets.
      float* lanes = packed + (first / panel_rows) * panel_rows * dim + first % panel_rows;
      const float* row = rows + first * stride;
      const std::size_t count = (std::min)(width, n - first);
      std::size_t j = 0;
      if constexpr (width > 1) {
        // A width x width square of the rows, transposed in registers: one
        // packet load and one store per row instead of a float each.
        if (count == width) {
          for (; j + width <= dim; j += width) {
            ei::PacketBlock<Packet, width> square;
            for (std::size_t i = 0; i < width; ++i) square.packet[i] = ei::ploadu<Packet>(row + i * stride + j);
            ei::ptranspose(square);
            for (std::size_t i = 0; i < width; ++i) ei::pstoreu(lanes + (j + i) * panel_rows, square.packet[i]);
          }
        }
      }
      for (; j < dim; ++j)
        for (std::size_t i = 0; i < count; ++i) lanes[j * panel_rows + i] = row[i * stride + j];
    }
  }
#pragma GCC diagnostic pop

  /// Packs `m` queries (row-major, `dim` floats each) into `packed`
  /// (m x dim floats): group g holds queries [g * tile_queries, ...), the
  /// last one fewer when m is not a multiple; coordinate j of a group's
  /// query i sits at [g * tile_queries * dim + j * (queries in the group) + i].
  /// Queries [q, m) for a multiple q of tile_queries start at packed + q * dim.
  static void pack_queries(const float* queries, std::size_t m, std::size_t dim, float* packed) noexcept {
    for (std::size_t first = 0; first < m; first += Queries) {
      const std::size_t count = (std::min)(Queries, m - first);
      float* group = packed + first * dim;
      for (std::size_t i = 0; i < count; ++i)
        for (std::size_t j = 0; j < dim; ++j) group[j * count + i] = queries[(first + i) * dim + j];
    }
  }

  /// scores[q * ld + r] = row r . query q, for the `n` rows packed in
  /// `rows` and the `m` queries packed in `queries`.
  static void multiply(const float* rows, std::size_t n, std::size_t dim, const float* queries, std::size_t m,
                       float* scores, std::size_t ld) noexcept {
    // Every group of queries passes over all the panels it is given: in
    // chunks of 384 KiB they stay in L2 for all the groups (one core, 1,008
    // queries, blocks of 1 MiB: 248 vs 238 GFLOPS at dim 768, 255 vs 242 at
    // dim 100).
    const std::size_t chunk = (std::max)(std::size_t{1}, chunk_bytes / (panel_rows * dim * sizeof(float))) * panel_rows;
    for (std::size_t first = 0; first < n; first += chunk) {
      const float* panels = rows + first * dim;
      const std::size_t count = (std::min)(chunk, n - first);
      std::size_t q = 0;
      for (; q + Queries <= m; q += Queries)
        tiles(panels, count, dim, queries + q * dim, scores + q * ld + first, ld, std::make_index_sequence<Queries>{});
      // The last few queries in one narrower tile: the same chain of multiply-adds per score.
      if (q < m)
        rest(m - q, panels, count, dim, queries + q * dim, scores + q * ld + first, ld,
             std::make_index_sequence<Queries - 1>{});
    }
  }

 private:
  static constexpr std::size_t chunk_bytes = std::size_t{384} << 10;

  // `tiles` for a group of `count` queries, 0 < count < Queries. (With
  // Queries = 1 the pack is empty and nothing reads the parameters; GCC's
  // -Wunused-but-set-parameter then fires under some flag sets, e.g. TSan.)
  template <std::size_t... C>
  static void rest([[maybe_unused]] std::size_t count, [[maybe_unused]] const float* rows,
                   [[maybe_unused]] std::size_t n, [[maybe_unused]] std::size_t dim,
                   [[maybe_unused]] const float* queries, [[maybe_unused]] float* scores,
                   [[maybe_unused]] std::size_t ld, std::index_sequence<C...>) noexcept {
    ((count == C + 1 ? tiles(rows, n, dim, queries, scores, ld, std::make_index_sequence<C + 1>{}) : void()), ...);
  }

  // Every panel against one group of queries Q...: the index sequence
  // unrolls the queries at compile time, so the accumulators live in registers.
  template <std::size_t... Q>
  static void tiles(const float* rows, std::size_t n, std::size_t dim, const float* group, float* scores,
                    std::size_t ld, std::index_sequence<Q...>) noexcept {
    namespace ei = Eigen::internal;
    constexpr std::size_t count = sizeof...(Q);
    for (std::size_t first = 0; first < n; first += panel_rows) {
      const float* panel = rows + first * dim;
      Packet low[count];
      Packet high[count];
      ((low[Q] = ei::pset1<Packet>(0.0f), high[Q] = ei::pset1<Packet>(0.0f)), ...);
      for (std::size_t j = 0; j < dim; ++j) {
        const Packet x_low = ei::ploadu<Packet>(panel + j * panel_rows);
        const Packet x_high = ei::ploadu<Packet>(panel + j * panel_rows + width);
        const float* coordinates = group + j * count;
        ((low[Q] = ei::pmadd(x_low, ei::pset1<Packet>(coordinates[Q]), low[Q]),
          high[Q] = ei::pmadd(x_high, ei::pset1<Packet>(coordinates[Q]), high[Q])),
         ...);
      }
      float* out = scores + first;
      const std::size_t valid = (std::min)(panel_rows, n - first);
      if (valid == panel_rows) {
        ((ei::pstoreu(out + Q * ld, low[Q]), ei::pstoreu(out + Q * ld + width, high[Q])), ...);
      } else {
        float tail[panel_rows];
        ((ei::pstoreu(tail, low[Q]), ei::pstoreu(tail + width, high[Q]),
          std::copy(tail, tail + valid, out + Q * ld)),
         ...);
      }
    }
  }
};

/// The product for the instruction set this translation unit is compiled
/// for: 12 queries a tile with 32 vector registers (AVX-512, 24
/// accumulators), 6 with 16 (SSE, AVX2, 12 accumulators).
using native_product = packed_product<Eigen::internal::packet_traits<float>,
                                      (EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 12 : 6)>;

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
