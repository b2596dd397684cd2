// SPDX-License-Identifier: MIT
// The top-k fold: a query's scores, a block at a time, folded into its k best (topk_accumulator, fold_block).
#pragma once

// One of the few headers of vecstore that include Eigen (kernel.hpp lists
// them): the fold tests a chunk of scores with Eigen's packet primitives.
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include <vecstore/index/eigen_maps.hpp>
#include <vecstore/index/requirements.hpp>
#include <vecstore/index/row_source.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// One result of the kernel: a row of the view and its distance to the query.
struct scored_row {
  std::size_t row;
  float distance;
};

/// The top k candidates seen so far, by blocked partial selection: a
/// candidate that passes the threshold test joins a buffer; when the buffer
/// holds 2k, `nth_element` keeps its best k and the k-th becomes the new
/// threshold. Once the threshold is tight almost every score fails that one
/// comparison, so selection costs O(N) compares plus amortized O(1) per
/// admitted candidate, and N scores are never sorted. Measured against a
/// bounded max-heap over 200,000 real scores (benchmarks/kernel_bench.cpp,
/// BM_topk_partial vs BM_topk_heap): 107 vs 134 us at k = 10, 119 vs 164 us
/// at k = 100, so the partial selection is kept.
///
/// One accumulator per query and per thread: a threaded scan fills one per
/// row range, then `merge`s them.
class topk_accumulator {
 public:
  explicit topk_accumulator(std::size_t k = 0, std::size_t expected_candidates = 0) : k_(k) {
    // Grows past this on demand: a huge k (up to limits::max_k) over a large
    // batch must not reserve gigabytes up front.
    buffer_.reserve((std::min)({2 * k, expected_candidates, std::size_t{1024}}));
  }

  std::size_t k() const noexcept { return k_; }
  /// Candidates held (at most 2k before `take_sorted` cuts them to k).
  std::size_t size() const noexcept { return buffer_.size(); }

  /// False when `distance` cannot enter: worse than the k-th best so far
  /// (ties still may enter, by key). Also false for NaN, which never enters.
  bool admits(float distance) const noexcept { return distance <= threshold_; }
  /// The distance a candidate must not exceed: the k-th best so far, or infinity.
  float threshold() const noexcept { return threshold_; }
  /// Lowers the threshold to `bound` if that is tighter. The caller vouches
  /// that k of the candidates it is about to offer lie within `bound`, so
  /// the best k still enter.
  void bound_threshold(float bound) noexcept { threshold_ = (std::min)(threshold_, bound); }

  /// Offers a candidate; keeps it when it may rank among the best k.
  /// `tie_key` points at its key, which ranks equal distances and is read
  /// only for a tie or when taken, so it must stay valid until then; null:
  /// `row` ranks them.
  void offer(float distance, const std::int64_t* tie_key, std::size_t row) {
    if (!admits(distance) || k_ == 0) return;
    buffer_.push_back(candidate{distance, tie_key, row});
    if (buffer_.size() >= 2 * k_) cut();
  }

  /// Folds in another accumulator's candidates (from a disjoint row range).
  /// One cut for all of them, not one per k offered: the k-th best of
  /// either bounds the k-th best of both.
  void merge(const topk_accumulator& other) {
    threshold_ = (std::min)(threshold_, other.threshold_);
    for (const candidate& c : other.buffer_)
      if (admits(c.distance)) buffer_.push_back(c);
    if (k_ != 0 && buffer_.size() >= 2 * k_) cut();
  }

  /// The kept candidates, best first; leaves the accumulator empty.
  std::vector<scored_row> take_sorted() {
    finish_selection();
    std::vector<scored_row> out;
    out.reserve(buffer_.size());
    for (const candidate& c : buffer_) out.push_back(scored_row{c.row, c.distance});
    reset();
    return out;
  }

  /// The kept candidates as (tie key, distance), best first; leaves the
  /// accumulator empty. For scans over several views (the lists of an IVF
  /// index), where a row number alone does not name a vector but the tie key
  /// does.
  std::vector<neighbor> take_sorted_keys() {
    finish_selection();
    std::vector<neighbor> out;
    out.reserve(buffer_.size());
    for (const candidate& c : buffer_) out.push_back(neighbor{c.tie(), c.distance});
    reset();
    return out;
  }

 private:
  // The key by pointer: an IVF list's keys sit apart from its rows, and
  // loading one per offer was a cache miss each (one IVF query at 1M x 100,
  // nprobe 32, on two threads: 86.8-89.1 -> 84.7-86.9 us).
  struct candidate {
    float distance;
    const std::int64_t* tie_key;
    std::size_t row;
    std::int64_t tie() const noexcept { return tie_key != nullptr ? *tie_key : static_cast<std::int64_t>(row); }
  };
  // Strict weak order of "closer": by distance, then by the smaller tie key.
  // A function object, not a function, so that the algorithms inline it.
  struct closer {
    bool operator()(const candidate& a, const candidate& b) const noexcept {
      return a.distance < b.distance || (a.distance == b.distance && a.tie() < b.tie());
    }
  };

  // Keeps the best k of the buffer; the k-th is the new threshold (ties with
  // it may still enter: a smaller key ranks before it).
  void cut() {
    const auto kth = buffer_.begin() + static_cast<std::ptrdiff_t>(k_ - 1);
    std::nth_element(buffer_.begin(), kth, buffer_.end(), closer{});
    buffer_.resize(k_);
    // min: a bound from `bound_threshold` may be tighter than the k-th held.
    threshold_ = (std::min)(threshold_, buffer_.back().distance);
  }

  void finish_selection() {
    if (buffer_.size() > k_) cut();
    std::sort(buffer_.begin(), buffer_.end(), closer{});
  }

  void reset() noexcept {
    buffer_.clear();
    threshold_ = std::numeric_limits<float>::infinity();
  }

  std::size_t k_;
  float threshold_ = std::numeric_limits<float>::infinity();
  std::vector<candidate> buffer_;
};

/// One accumulator of `k` per query, each reserving room for `candidates`.
inline std::vector<topk_accumulator> make_accumulators(std::size_t nq, std::size_t k, std::size_t candidates) {
  std::vector<topk_accumulator> acc;
  acc.reserve(nq);
  for (std::size_t q = 0; q < nq; ++q) acc.emplace_back(k, candidates);
  return acc;
}

/// Turns the accumulators into sorted result lists.
inline std::vector<std::vector<scored_row>> finish(std::vector<topk_accumulator>& acc) {
  std::vector<std::vector<scored_row>> out;
  out.reserve(acc.size());
  for (topk_accumulator& a : acc) out.push_back(a.take_sorted());
  return out;
}

/// Turns l2 dot products into distances in place, a packet at a time:
/// ||x||^2 - 2x.q + ||q||^2 turns the scan into a product, but rounding can
/// make the distance of a vector to itself slightly negative, hence the max.
inline void l2_dots_to_distances(array_map d, const float* row_sq_norms, float query_sq_norm) {
  d = ((const_array_map(row_sq_norms, d.size()) - 2.0f * d + query_sq_norm).max)(0.0f);
}

/// The distance of a score, per ChromaDB's conventions (types.hpp). An l2
/// score already is one (`l2_dots_to_distances`); for cosine and
/// inner_product the score is the dot product, and its distance never
/// increases with it (rounding is monotonic), so the largest dot of a chunk
/// has its smallest distance.
template <metric Space>
inline float score_distance(float score) noexcept {
  if constexpr (Space == metric::l2) return score;
  // Rows and queries are unit vectors for cosine, yet rounding can push the
  // dot past +-1; types.hpp documents cosine distances as lying in [0, 2].
  if constexpr (Space == metric::cosine) return (std::min)((std::max)(1.0f - score, 0.0f), 2.0f);
  return 1.0f - score;
}

/// True when bit `row` of `bits` is set.
inline bool bit_is_set(const std::uint64_t* bits, std::size_t row) noexcept {
  return ((bits[row / 64] >> (row % 64)) & 1u) != 0;
}

/// Where the rows of a block came from: row `first + i`, or `ids[i]` when
/// the block was gathered from a subset.
struct block_rows {
  std::size_t first = 0;
  const std::size_t* ids = nullptr;
  std::size_t row(std::size_t i) const noexcept { return ids != nullptr ? ids[i] : first + i; }
};

/// Candidates are looked for in chunks of this many scores: one vectorized
/// test per chunk, and the scalar loop only for a chunk that holds one.
inline constexpr std::size_t fold_chunk = 64;

/// False when none of the `n` scores at `scores` can enter a top-k whose
/// k-th distance is `threshold` (NaN never enters); true when some may.
/// The best score of each lane is kept across the chunk's packets (NaN only
/// where a lane saw nothing else), turned into a distance exactly as
/// `score_distance` does, and compared lane by lane: no horizontal
/// reduction, which Eigen's minCoeff/maxCoeff do a float at a time when NaN
/// must be skipped (that took 8% of a 1,000-query batch).
template <metric Space>
inline bool chunk_may_enter(const float* scores, std::size_t n, float threshold) noexcept {
  namespace ei = Eigen::internal;
  using packet = ei::packet_traits<float>::type;
  constexpr std::size_t width = static_cast<std::size_t>(ei::packet_traits<float>::size);
  if (n < width) {
    for (std::size_t i = 0; i < n; ++i)
      if (score_distance<Space>(scores[i]) <= threshold) return true;
    return false;
  }
  const auto better = [](const packet& a, const packet& b) {
    if constexpr (Space == metric::l2) {
      return ei::pmin<Eigen::PropagateNumbers>(a, b);
    } else {
      return ei::pmax<Eigen::PropagateNumbers>(a, b);
    }
  };
  packet best = ei::ploadu<packet>(scores);
  std::size_t i = width;
  for (; i + width <= n; i += width) best = better(best, ei::ploadu<packet>(scores + i));
  if (i < n) best = better(best, ei::ploadu<packet>(scores + n - width));  // the tail, overlapping
  if constexpr (Space != metric::l2) {
    best = ei::psub(ei::pset1<packet>(1.0f), best);
    if constexpr (Space == metric::cosine)
      best = ei::pmin(ei::pmax(best, ei::pset1<packet>(0.0f)), ei::pset1<packet>(2.0f));
  }
  // NaN lanes compare false here; a chunk of NaN alone has no candidate.
  return ei::predux_any(ei::pcmp_le(best, ei::pset1<packet>(threshold)));
}

/// An upper bound on the k-th best distance among `count` scores, found in
/// one vectorized pass: the scores are dealt into 2k groups by position, and
/// the k-th best of the groups' bests is the distance of k of the scores, so
/// the k-th best of all lies within it. Infinity when there are too few
/// scores (under 4k) to make groups of two or more, or k is large.
///
/// Why: a fresh top-k admits every score until it holds 2k, and then about
/// k ln(count / k) more (a cut of 2k candidates each k of them). For an IVF
/// probe, 32 of 2,000 centroids, that was 5.5 us of folding against 6.6 us
/// of dot products; from this bound 44 scores pass on average (1,000 queries
/// against the 1M x 100 quantizer) and the fold takes 2.0 us. 2k groups: with k, 4k or 8k the fold took 2.8, 2.5 or 3.3 us
/// (fewer groups let more scores through, more cost more to select from).
template <metric Space>
inline float kth_distance_bound(const float* scores, std::size_t count, std::size_t k) {
  constexpr std::size_t max_groups = 256;
  const std::size_t groups = 2 * k;
  if (k == 0 || groups > max_groups || count < 2 * groups) return std::numeric_limits<float>::infinity();
  float best[max_groups];
  array_map bests(best, static_cast<Eigen::Index>(groups));
  bests = const_array_map(scores, bests.size());
  for (std::size_t s = groups; s + groups <= count; s += groups) {
    // Either operand of a NaN comparison may come out: always a score of the group.
    if constexpr (Space == metric::l2) {
      bests = (bests.min)(const_array_map(scores + s, bests.size()));
    } else {
      bests = (bests.max)(const_array_map(scores + s, bests.size()));
    }
  }
  std::size_t valid = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    const float distance = score_distance<Space>(best[g]);
    if (!std::isnan(distance)) best[valid++] = distance;
  }
  if (valid < k) return std::numeric_limits<float>::infinity();
  std::nth_element(best, best + (k - 1), best + valid);
  return best[k - 1];
}

/// Offers to `acc` those of `count` dot products of one query that can
/// enter its top-k. Scores are looked at a chunk at a time, by one
/// vectorized test (`chunk_may_enter`): once the top-k is full almost no
/// chunk holds a candidate, so the scores are read at SIMD speed instead of
/// by a branch each. `row_sq_norms` is per block row (l2 only; l2 turns
/// `dots` into distances in place); `allowed_bits` (nullable) masks rows by
/// their view index.
template <metric Space>
inline void fold_block(float* dots, std::size_t count, block_rows where, const float* row_sq_norms,
                       float query_sq_norm, const row_source& src, const std::uint64_t* allowed_bits,
                       topk_accumulator& acc) {
  if constexpr (Space == metric::l2)
    l2_dots_to_distances(array_map(dots, static_cast<Eigen::Index>(count)), row_sq_norms, query_sq_norm);
  // A fresh top-k: bounded by this block's own scores first. Not under a
  // filter, whose excluded rows may be the ones the bound came from.
  if (allowed_bits == nullptr && acc.threshold() == std::numeric_limits<float>::infinity())
    acc.bound_threshold(kth_distance_bound<Space>(dots, count, acc.k()));
  std::uint8_t passing[fold_chunk];  // the chunk's scores that pass the threshold, by offset
  static_assert(fold_chunk <= 256, "offsets in a chunk must fit passing[]");
  for (std::size_t i0 = 0; i0 < count; i0 += fold_chunk) {
    const std::size_t n = (std::min)(fold_chunk, count - i0);
    const float threshold = acc.threshold();
    if (!chunk_may_enter<Space>(dots + i0, n, threshold)) continue;
    // Listed without a branch per score: while the threshold is loose (a
    // large k, such as an IVF probe's 32 of 4,000, or the first rows) that
    // branch mispredicts often. One IVF query at 1M x 100 (nprobe 32): 138
    // -> 135 us on one core, 90 -> 88 us on two.
    std::size_t m = 0;
    for (std::size_t j = 0; j < n; ++j) {
      passing[m] = static_cast<std::uint8_t>(j);
      m += score_distance<Space>(dots[i0 + j]) <= threshold ? 1 : 0;
    }
    for (std::size_t p = 0; p < m; ++p) {
      const std::size_t i = i0 + passing[p];
      const float distance = score_distance<Space>(dots[i]);
      if (!acc.admits(distance)) continue;  // an offer in this chunk may have tightened the threshold
      const std::size_t row = where.row(i);
      if (allowed_bits != nullptr && !bit_is_set(allowed_bits, row)) continue;
      acc.offer(distance, src.tie_keys != nullptr ? src.tie_keys + row : nullptr, row);
    }
  }
}

inline void fold_block(metric space, float* dots, std::size_t count, block_rows where,
                       const float* row_sq_norms, float query_sq_norm, const row_source& src,
                       const std::uint64_t* allowed_bits, topk_accumulator& acc) {
  // Dispatch once per block so the per-row loop has no switch in it.
  switch (space) {
    case metric::cosine:
      fold_block<metric::cosine>(dots, count, where, row_sq_norms, query_sq_norm, src, allowed_bits, acc);
      return;
    case metric::l2:
      fold_block<metric::l2>(dots, count, where, row_sq_norms, query_sq_norm, src, allowed_bits, acc);
      return;
    case metric::inner_product:
      fold_block<metric::inner_product>(dots, count, where, row_sq_norms, query_sq_norm, src, allowed_bits,
                                        acc);
      return;
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
