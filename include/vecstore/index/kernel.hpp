// SPDX-License-Identifier: MIT
// The similarity kernel shared by every index: exact top-k search over contiguous float rows, for one query or a batch.
#pragma once

// The headers of vecstore that include Eigen are this one and the parts of the
// kernel it includes (eigen_maps.hpp, dot_rows.hpp, product.hpp, topk.hpp),
// plus ivf/quantizer.hpp: all of them search, so that headers which do not
// search do not pay for Eigen's compile time. Everything Eigen stays in
// namespace detail.
#include <Eigen/Core>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <vecstore/detail/bitmap.hpp>
#include <vecstore/detail/norm.hpp>
#include <vecstore/index/dot_rows.hpp>
#include <vecstore/index/eigen_maps.hpp>
#include <vecstore/index/product.hpp>
#include <vecstore/index/requirements.hpp>
#include <vecstore/index/row_source.hpp>
#include <vecstore/index/search_pool.hpp>
#include <vecstore/index/topk.hpp>
#include <vecstore/types.hpp>

// The kernel's parts, each in a header of its own: row_source.hpp (what a scan
// reads), dot_rows.hpp (one query's dot products), product.hpp (a batch's),
// topk.hpp (scores folded into each query's k best) and search_pool.hpp (the
// threads a scan is split across). This header ties them together: blocks of
// rows, the queries made ready (query_set), the scans (scan_rows, scan_subset)
// and search().

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Bytes of rows scored per block. About 1 MiB stays in L2 while a block of
/// queries is multiplied against it, so a batch reads each row from memory
/// once per batch rather than once per query.
inline constexpr std::size_t block_bytes = std::size_t{1} << 20;
/// Row-count bounds of a block: the upper one keeps a block's scores
/// (rows x queries_per_block floats, 4 MiB at most) in L3 for tiny dims.
inline constexpr std::size_t min_block_rows = 16;
inline constexpr std::size_t max_block_rows = 4096;
/// Queries multiplied by a block of rows together: their scores (rows x
/// queries) stay in L2/L3 until folded. A multiple of every tile width of
/// `packed_product` (12, 6), so that each block of queries starts a packed
/// group.
inline constexpr std::size_t queries_per_block = 252;
static_assert(queries_per_block % native_product::tile_queries == 0, "a block of queries must start a packed group");
/// Below this many queries a block is scored by one matrix-vector product per
/// query, re-reading the block from cache: packing the block for the
/// matrix-matrix product costs more than it saves for so few (100k x 768
/// rows, one core: 2 queries 12.5 vs 26.3 ms, 4 queries 17.7 vs 29.1 ms,
/// 7 queries 27.8 vs 27.4 ms; BM_flat_search).
inline constexpr std::size_t min_queries_for_product = 8;
/// A filter allowing at most rows / gather_divisor rows is served by reading
/// only those rows; a larger one by the dense scan with a bitmap, since
/// streaming every row beats hopping between most of them.
inline constexpr std::size_t gather_divisor = 4;

/// Rows scored per block for vectors of `dim` floats.
inline std::size_t rows_per_block(std::size_t dim) noexcept {
  const std::size_t row_bytes = (std::max)(dim, std::size_t{1}) * sizeof(float);
  return (std::min)(max_block_rows, (std::max)(min_block_rows, block_bytes / row_bytes));
}

/// The queries of one search, made ready for scoring: normalized for cosine
/// (so that 1 - dot is 1 - cos), and with squared norms for l2.
class query_set {
 public:
  query_set(const float* queries, std::size_t count, std::size_t dim, metric space)
      : data_(queries), count_(count), dim_(dim) {
    if (space == metric::cosine) {
      normalized_.assign(queries, queries + count * dim);
      // In double (detail::normalize): a float norm underflows or overflows
      // for queries of extreme magnitude. A zero query stays zero and scores
      // 1 - 0 = 1 against every row instead of NaN; the store rejects it
      // before it gets here anyway.
      for (std::size_t q = 0; q < count; ++q) detail::normalize(normalized_.data() + q * dim, dim);
      data_ = normalized_.data();
    } else if (space == metric::l2) {
      sq_norms_.resize(count);
      for (std::size_t q = 0; q < count; ++q)
        sq_norms_[q] = const_vector_map(query(q), static_cast<Eigen::Index>(dim)).squaredNorm();
    }
    pack_for_product();
  }

  /// The queries `which[0..count)` of `from`, copied contiguously, already
  /// prepared (normalized, with their norms): a group of queries that probe
  /// the same IVF list, scored together by one product.
  query_set(const query_set& from, const std::uint32_t* which, std::size_t count)
      : data_(nullptr), count_(count), dim_(from.dim_) {
    normalized_.resize(count * dim_);
    for (std::size_t i = 0; i < count; ++i) std::copy(from.query(which[i]), from.query(which[i]) + dim_,
                                                        normalized_.data() + i * dim_);
    if (!from.sq_norms_.empty()) {
      sq_norms_.resize(count);
      for (std::size_t i = 0; i < count; ++i) sq_norms_[i] = from.sq_norms_[which[i]];
    }
    data_ = normalized_.data();
    pack_for_product();
  }
  query_set(const query_set&) = delete;
  query_set& operator=(const query_set&) = delete;

  std::size_t count() const noexcept { return count_; }
  std::size_t dim() const noexcept { return dim_; }
  const float* query(std::size_t q) const noexcept { return data_ + q * dim_; }
  /// ||q||^2; zero for metrics that do not need it.
  float sq_norm(std::size_t q) const noexcept { return sq_norms_.empty() ? 0.0f : sq_norms_[q]; }
  /// Queries [q, count) packed for `native_product`; `q` a multiple of its
  /// tile_queries. Only when count() >= min_queries_for_product.
  const float* packed(std::size_t q) const noexcept { return packed_.data() + q * dim_; }

 private:
  // Packed once per search, since every block of rows is multiplied by them.
  void pack_for_product() {
    if (count_ < min_queries_for_product) return;
    packed_.resize(count_ * dim_);
    native_product::pack_queries(data_, count_, dim_, packed_.data());
  }

  const float* data_;
  std::size_t count_;
  std::size_t dim_;
  std::vector<float> normalized_;
  std::vector<float> sq_norms_;
  std::vector<float> packed_;
};

/// Buffers one scan reuses from block to block; one per call (and per
/// thread), never shared, which is what keeps `search` const and reentrant.
struct scan_scratch {
  Eigen::MatrixXf scores;         // block rows x queries, column-major: one query's scores are contiguous
  std::vector<float> packed;      // a block packed for native_product
  std::vector<float> sq_norms;    // a block's ||x||^2 when the source has none, or gathered ones
  std::vector<float> gathered;    // a block of subset rows copied contiguously
};

/// Accumulators reached through pointers: `acc[i]` is `*table[i]`. Lets a
/// scan over a group of queries fold into the accumulators of the whole
/// batch (IVF lists are probed by different subsets of a batch).
struct accumulator_refs {
  topk_accumulator* const* table;
  topk_accumulator& operator[](std::size_t i) const noexcept { return *table[i]; }
};

/// Scores one block of rows (a `const_rows_map` over the view or over
/// gathered rows) against every query, blocked by queries_per_block, and
/// folds each query's scores into `acc[q]`. `Accumulators` is
/// `topk_accumulator*` or `accumulator_refs`.
template <class Accumulators>
void score_block(const const_rows_map& block, block_rows where, const float* block_sq_norms, const row_source& src,
                 const query_set& queries, const std::uint64_t* allowed_bits, scan_scratch& scratch,
                 Accumulators acc) {
  const Eigen::Index n = block.rows();
  const Eigen::Index dim = block.cols();
  const std::size_t rows = static_cast<std::size_t>(n);
  const std::size_t width = static_cast<std::size_t>(dim);
  const std::size_t stride = static_cast<std::size_t>(block.outerStride());
  const std::size_t ld = static_cast<std::size_t>(scratch.scores.rows());
  const std::size_t nq = queries.count();
  // Packed once for every block of queries that uses the product (the first
  // one does whenever any does).
  if (nq >= min_queries_for_product) {
    scratch.packed.resize(native_product::packed_rows_size(rows, width));
    native_product::pack_rows(block.data(), rows, stride, width, scratch.packed.data());
  }
  for (std::size_t q0 = 0; q0 < nq; q0 += queries_per_block) {
    const std::size_t m = (std::min)(queries_per_block, nq - q0);
    if (m < min_queries_for_product) {
      // Few queries: one pass over the block each. One query streams it
      // from memory (dot_rows); of several, all but the first find it in
      // cache, where Eigen's product, which scores 4-8 rows together, is
      // faster (4 queries, 200k x 768: 35 vs 37 ms).
      if (m == 1) {
        dot_rows(block.data(), rows, stride, queries.query(q0), width, scratch.scores.data());
      } else {
        for (std::size_t j = 0; j < m; ++j)
          vector_map(scratch.scores.data() + ld * j, n).noalias() = block * const_vector_map(queries.query(q0 + j), dim);
      }
    } else {
      // Many queries: the packed block is multiplied by all m in one product,
      // which reads it from cache.
      native_product::multiply(scratch.packed.data(), rows, width, queries.packed(q0), m, scratch.scores.data(), ld);
    }
    for (std::size_t j = 0; j < m; ++j) {
      float* dots = scratch.scores.data() + ld * j;
      fold_block(src.space, dots, rows, where, block_sq_norms, queries.sq_norm(q0 + j), src,
                 allowed_bits, acc[q0 + j]);
    }
  }
}

/// Makes `scratch` fit blocks of up to `block` rows and `nq` queries; keeps
/// what it has when that is enough, so one scratch serves many small scans.
inline void fit_scratch(scan_scratch& scratch, std::size_t block, std::size_t nq, bool norms, bool gather,
                        std::size_t dim) {
  const Eigen::Index rows = static_cast<Eigen::Index>(block);
  const Eigen::Index cols = static_cast<Eigen::Index>((std::max)(std::size_t{1}, (std::min)(nq, queries_per_block)));
  if (scratch.scores.rows() < rows || scratch.scores.cols() < cols)
    scratch.scores.resize((std::max)(rows, scratch.scores.rows()), (std::max)(cols, scratch.scores.cols()));
  if (norms && scratch.sq_norms.size() < block) scratch.sq_norms.resize(block);
  if (gather && scratch.gathered.size() < block * dim) scratch.gathered.resize(block * dim);
}

/// Scans rows [begin, end) of the view for every query into `acc[q]`: the
/// unit of work of a threaded scan, which splits the rows into ranges, gives
/// each its own accumulators, then `merge`s them. `allowed_bits` (nullable):
/// one bit per view row; clear bits are skipped, but their rows are still
/// scored, keeping the scan a dense product.
template <class Accumulators>
void scan_rows(const row_source& src, const query_set& queries, std::size_t begin, std::size_t end,
               const std::uint64_t* allowed_bits, Accumulators acc, scan_scratch& scratch) {
  end = (std::min)(end, src.rows.rows);
  if (begin >= end || queries.count() == 0 || src.rows.dim == 0) return;
  const std::size_t dim = src.rows.dim;
  const std::size_t block = (std::min)(rows_per_block(dim), end - begin);
  const bool need_norms = src.space == metric::l2 && src.sq_norms == nullptr;
  fit_scratch(scratch, block, queries.count(), need_norms, false, dim);
  for (std::size_t r0 = begin; r0 < end; r0 += block) {
    const std::size_t n = (std::min)(block, end - r0);
    const const_rows_map rows(src.rows.row(r0), static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(dim),
                              Eigen::OuterStride<>(static_cast<Eigen::Index>(src.rows.stride)));
    const float* norms = src.sq_norms != nullptr ? src.sq_norms + r0 : nullptr;
    if (need_norms) {
      vector_map(scratch.sq_norms.data(), static_cast<Eigen::Index>(n)).noalias() = rows.rowwise().squaredNorm();
      norms = scratch.sq_norms.data();
    }
    score_block(rows, block_rows{r0, nullptr}, norms, src, queries, allowed_bits, scratch, acc);
  }
}

/// `scan_rows` with a scratch of its own.
template <class Accumulators>
void scan_rows(const row_source& src, const query_set& queries, std::size_t begin, std::size_t end,
               const std::uint64_t* allowed_bits, Accumulators acc) {
  scan_scratch scratch;
  scan_rows(src, queries, begin, end, allowed_bits, acc, scratch);
}

/// Scans only the listed rows (ascending, unique, each below `src.rows.rows`)
/// for every query into `acc[q]`. One query: `dot_rows_by` over the rows in
/// place. Several: rows are gathered into a contiguous block first, so the
/// batch is scored by `score_block` exactly like the dense scan (products
/// that read each gathered row once per block of queries). Split `subset`
/// to thread it.
template <class Accumulators>
void scan_subset(const row_source& src, const query_set& queries, const std::size_t* subset, std::size_t count,
                 Accumulators acc, scan_scratch& scratch) {
  if (count == 0 || queries.count() == 0 || src.rows.dim == 0) return;
  const std::size_t dim = src.rows.dim;
  const Eigen::Index edim = static_cast<Eigen::Index>(dim);
  const bool l2 = src.space == metric::l2;
  auto row_sq_norm = [&](std::size_t row) -> float {
    if (!l2) return 0.0f;
    if (src.sq_norms != nullptr) return src.sq_norms[row];
    return const_vector_map(src.rows.row(row), edim).squaredNorm();
  };

  const std::size_t block = (std::min)(rows_per_block(dim), count);
  const bool one = queries.count() == 1;
  fit_scratch(scratch, block, queries.count(), l2, !one, dim);

  if (one) {
    // One query: the rows read in place (copying them would cost as much
    // memory traffic as scoring them), each summed exactly as the dense scan
    // sums it.
    for (std::size_t i0 = 0; i0 < count; i0 += block) {
      const std::size_t n = (std::min)(block, count - i0);
      const std::size_t* rows = subset + i0;
      dot_rows_by([&](std::size_t i) { return src.rows.row(rows[i]); }, n, queries.query(0), dim,
                  scratch.scores.data());
      if (l2)
        for (std::size_t i = 0; i < n; ++i) scratch.sq_norms[i] = row_sq_norm(rows[i]);
      fold_block(src.space, scratch.scores.data(), n, block_rows{0, subset + i0},
                 l2 ? scratch.sq_norms.data() : nullptr, queries.sq_norm(0), src, nullptr, acc[0]);
    }
    return;
  }

  for (std::size_t i0 = 0; i0 < count; i0 += block) {
    const std::size_t n = (std::min)(block, count - i0);
    for (std::size_t i = 0; i < n; ++i) {
      const float* from = src.rows.row(subset[i0 + i]);
      std::copy(from, from + dim, scratch.gathered.data() + i * dim);
      if (l2) scratch.sq_norms[i] = row_sq_norm(subset[i0 + i]);
    }
    const const_rows_map rows(scratch.gathered.data(), static_cast<Eigen::Index>(n), edim,
                              Eigen::OuterStride<>(edim));
    score_block(rows, block_rows{0, subset + i0}, l2 ? scratch.sq_norms.data() : nullptr, src, queries, nullptr,
                scratch, acc);
  }
}

/// `scan_subset` with a scratch of its own.
template <class Accumulators>
void scan_subset(const row_source& src, const query_set& queries, const std::size_t* subset, std::size_t count,
                 Accumulators acc) {
  scan_scratch scratch;
  scan_subset(src, queries, subset, count, acc, scratch);
}

/// Where a threaded scan may cut its rows. Several queries' scores may
/// depend on blocking (Eigen's product for 2-7 queries treats a block's tail
/// rows differently), so theirs are cut at the scan's block boundaries: every
/// block then holds the same rows as in a single-threaded scan. One query's
/// do not (`dot_rows` sums each row alike wherever it sits), so its ranges may
/// be cut anywhere, and a small matrix, such as an IVF index's centroids,
/// still splits evenly.
inline std::size_t split_grain(std::size_t dim, std::size_t nq) noexcept {
  return nq == 1 ? min_block_rows : rows_per_block(dim);
}

/// Runs `scan(begin, end, acc)` over `count` rows of `dim` floats split into
/// `tasks` ranges on the search pool, each into accumulators of its own
/// (one per query of `acc`), merged into `acc` at the end. One task runs on
/// the caller, straight into `acc`. The ranges are cut where `split_grain`
/// says, so the results do not depend on the thread count, to the last bit.
template <class Scan>
void parallel_scan(std::size_t count, std::size_t dim, std::size_t tasks, std::vector<topk_accumulator>& acc,
                   const Scan& scan) {
  const std::size_t grain = split_grain(dim, acc.size());
  tasks = (std::min)(tasks, (count + grain - 1) / grain);
  if (tasks <= 1) {
    scan(std::size_t{0}, count, acc.data());
    return;
  }
  const std::size_t nq = acc.size();
  const std::size_t k = nq == 0 ? 0 : acc[0].k();
  std::vector<std::vector<topk_accumulator>> parts(tasks - 1);
  for (auto& part : parts) part = make_accumulators(nq, k, k);
  parallel_run(tasks, [&](std::size_t t) {
    topk_accumulator* into = t == 0 ? acc.data() : parts[t - 1].data();
    scan(range_cut(count, tasks, t, grain), range_cut(count, tasks, t + 1, grain), into);
  });
  for (auto& part : parts)
    for (std::size_t q = 0; q < nq; ++q) acc[q].merge(part[q]);
}

/// Exact top-k over every row: `queries` holds `nq` rows of `src.rows.dim`
/// floats, row-major. Returns `nq` lists of at most `k` rows, nearest first,
/// ties by `src.tie_keys` (or row). `k == 0` yields empty lists. Uses up to
/// `threads` threads, none reading fewer than `min_work` floats (see `tasks_for`);
/// results do not depend on the count.
inline std::vector<std::vector<scored_row>> search(const row_source& src, const float* queries, std::size_t nq,
                                                   std::size_t k, std::size_t threads = 1,
                                                   std::size_t min_work = min_parallel_work) {
  if (nq == 0 || k == 0 || src.rows.rows == 0 || src.rows.dim == 0)
    return std::vector<std::vector<scored_row>>(nq);
  const query_set qs(queries, nq, src.rows.dim, src.space);
  std::vector<topk_accumulator> acc = make_accumulators(nq, k, src.rows.rows);
  const std::size_t tasks = tasks_for(src.rows.rows * src.rows.dim * nq, threads, min_work);
  parallel_scan(src.rows.rows, src.rows.dim, tasks, acc,
                [&](std::size_t begin, std::size_t end, topk_accumulator* into) {
                  scan_rows(src, qs, begin, end, nullptr, into);
                });
  return finish(acc);
}

/// Exact top-k over the rows listed in `allowed_rows` (any order, repeats
/// allowed, rows past the view ignored). A small subset is read row by row; a
/// large one runs the dense scan under a bitmap.
inline std::vector<std::vector<scored_row>> search(const row_source& src, const float* queries, std::size_t nq,
                                                   std::size_t k, std::vector<std::size_t> allowed_rows,
                                                   std::size_t threads = 1) {
  const std::size_t n_rows = src.rows.rows;
  if (nq == 0 || k == 0 || src.rows.dim == 0) return std::vector<std::vector<scored_row>>(nq);
  // One bit per row drops repeats and rows past the view and puts the rest
  // in ascending order (a forward sweep through memory) in O(rows / 64)
  // rather than a sort of every allowed row.
  std::vector<std::uint64_t> bits(bitmap_words(n_rows), 0);
  std::size_t count = 0;
  for (const std::size_t r : allowed_rows) {
    if (r >= n_rows) continue;
    const std::uint64_t bit = std::uint64_t{1} << (r % 64);
    count += (bits[r / 64] & bit) == 0;
    bits[r / 64] |= bit;
  }
  if (count == 0) return std::vector<std::vector<scored_row>>(nq);

  const query_set qs(queries, nq, src.rows.dim, src.space);
  std::vector<topk_accumulator> acc = make_accumulators(nq, k, count);
  if (count == n_rows) {
    const std::size_t tasks = tasks_for(n_rows * src.rows.dim * nq, threads);
    parallel_scan(n_rows, src.rows.dim, tasks, acc, [&](std::size_t begin, std::size_t end, topk_accumulator* into) {
      scan_rows(src, qs, begin, end, nullptr, into);
    });
  } else if (count * gather_divisor <= n_rows) {
    allowed_rows.clear();
    for_each_set_bit(bits, [&](std::size_t row) { allowed_rows.push_back(row); });
    const std::size_t tasks = tasks_for(count * src.rows.dim * nq, threads);
    parallel_scan(count, src.rows.dim, tasks, acc, [&](std::size_t begin, std::size_t end, topk_accumulator* into) {
      scan_subset(src, qs, allowed_rows.data() + begin, end - begin, into);
    });
  } else {
    const std::size_t tasks = tasks_for(n_rows * src.rows.dim * nq, threads);
    parallel_scan(n_rows, src.rows.dim, tasks, acc, [&](std::size_t begin, std::size_t end, topk_accumulator* into) {
      scan_rows(src, qs, begin, end, bits.data(), into);
    });
  }
  return finish(acc);
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
