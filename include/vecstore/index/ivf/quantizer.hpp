// SPDX-License-Identifier: MIT
// The ivf_index quantizer: the centroids, the canonical nearest list of a
// vector (float matrix products, then the near ties re-scored exactly in
// double, so that every process, batch shape and SIMD width picks the same
// list), and the Lloyd's k-means that trains them. It holds the centroids and
// no vector of the collection: the inverted lists (ivf/lists.hpp) are filled
// by the lists it picks, and the search (ivf/scan.hpp) probes its centroids.
// One of the few headers of vecstore that include Eigen (kernel.hpp lists
// them): assignment and training are matrix products.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include <vecstore/detail/norm.hpp>
#include <vecstore/index/eigen_maps.hpp>
#include <vecstore/index/row_source.hpp>
#include <vecstore/index/search_pool.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {
namespace ivf {

/// Sample rows per matrix product in k-means and re-bucketing.
inline constexpr std::size_t assign_block = 256;

/// The centroids of an ivf_index and the canonical assignment of a vector to
/// the list of its nearest centroid (l2). Vectors given to it are prepared
/// (normalized for cosine) by the caller.
class quantizer {
 public:
  explicit quantizer(std::size_t dim) noexcept : dim_(dim) {}

  /// Lists of the installed centroids; 0 while none are.
  std::size_t nlist() const noexcept { return nlist_; }
  /// The centroids, one row per list (empty while none are installed).
  row_view centroids() const noexcept { return row_view{centroids_.data(), nlist_, dim_, dim_}; }
  /// The centroids' squared norms, rounded to float, for the float scans.
  const float* sq_norms() const noexcept { return centroid_sqf_.data(); }
  /// The centroids as stored, nlist x dim, row-major.
  const std::vector<float>& data() const noexcept { return centroids_; }

  /// Installs `nlist` centroids (nlist x dim, row-major). Strong guarantee.
  void install(std::vector<float> centroids, std::size_t nlist) {
    std::vector<double> sq(nlist);
    std::vector<float> sqf(nlist);
    double max_sq = 0.0;
    for (std::size_t l = 0; l < nlist; ++l) {
      double s = 0.0;
      const float* c = centroids.data() + l * dim_;
      for (std::size_t i = 0; i < dim_; ++i) s += static_cast<double>(c[i]) * c[i];
      sq[l] = s;
      sqf[l] = static_cast<float>(s);
      max_sq = (std::max)(max_sq, s);
    }
    centroids_ = std::move(centroids);
    centroid_sq_ = std::move(sq);
    centroid_sqf_ = std::move(sqf);
    max_centroid_norm_ = std::sqrt(max_sq);
    nlist_ = nlist;
  }

  /// The canonical list of prepared vector `x`. Requires centroids.
  std::size_t nearest_list(const float* x) const {
    const detail::const_rows_map c(centroids_.data(), static_cast<Eigen::Index>(nlist_),
                                   static_cast<Eigen::Index>(dim_), Eigen::OuterStride<>(static_cast<Eigen::Index>(dim_)));
    Eigen::VectorXf dots(static_cast<Eigen::Index>(nlist_));
    dots.noalias() = c * detail::const_vector_map(x, static_cast<Eigen::Index>(dim_));
    return pick_nearest(x, dots.data());
  }

  /// Canonical lists of `n` prepared rows, by blocked matrix products on the
  /// search pool (up to `threads` threads). Requires centroids.
  void nearest_lists(const float* xs, std::size_t n, std::int32_t* out, std::size_t threads) const {
    const std::size_t blocks = (n + assign_block - 1) / assign_block;
    const std::size_t tasks = detail::tasks_for(n * nlist_ * dim_ / 8, threads);
    const std::size_t used = (std::min)(tasks, blocks);
    detail::parallel_run(used, [&](std::size_t t) {
      const detail::const_rows_map c(centroids_.data(), static_cast<Eigen::Index>(nlist_),
                                     static_cast<Eigen::Index>(dim_), Eigen::OuterStride<>(static_cast<Eigen::Index>(dim_)));
      Eigen::MatrixXf dots;
      for (std::size_t b = detail::range_cut(blocks, used, t, 1); b < detail::range_cut(blocks, used, t + 1, 1); ++b) {
        const std::size_t first = b * assign_block;
        const std::size_t m = (std::min)(assign_block, n - first);
        const detail::const_rows_map x(xs + first * dim_, static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(dim_),
                                       Eigen::OuterStride<>(static_cast<Eigen::Index>(dim_)));
        dots.noalias() = c * x.transpose();  // nlist x m, column-major: one vector's dots are contiguous
        for (std::size_t i = 0; i < m; ++i)
          out[first + i] = static_cast<std::int32_t>(pick_nearest(xs + (first + i) * dim_, dots.data() + i * nlist_));
      }
    });
  }

 private:
  float sq_norm(const float* v) const noexcept {
    return static_cast<float>(detail::squared_norm(v, dim_));
  }

  // Exact l2 distance minus ||x||^2, in double: each float product is exact in
  // double (24 + 24 bits < 53), and the sum runs in one fixed order, so the
  // result does not depend on compiler flags (FMA contraction included).
  double exact_distance(const float* x, std::size_t list) const noexcept {
    const float* c = centroids_.data() + list * dim_;
    double dot = 0.0;
    for (std::size_t i = 0; i < dim_; ++i) dot += static_cast<double>(x[i]) * static_cast<double>(c[i]);
    return centroid_sq_[list] - 2.0 * dot;
  }

  // The canonical nearest list of prepared vector `x`, given its float dot
  // products with every centroid: the best float distance, then every list
  // within the rounding bound of it re-scored exactly. A float dot product of
  // n terms errs by at most about n * 2^-24 * ||x|| ||c|| whatever the order
  // of its sums; twice that bound (and the float rounding of the norms)
  // keeps the exact winner among the candidates in every process.
  std::size_t pick_nearest(const float* x, const float* dots) const noexcept {
    float best = std::numeric_limits<float>::infinity();
    for (std::size_t l = 0; l < nlist_; ++l) best = (std::min)(best, centroid_sqf_[l] - 2.0f * dots[l]);
    const double x_norm = std::sqrt(static_cast<double>(sq_norm(x)));
    const double unit = std::ldexp(1.0, -23);
    const double tol = 2.0 * (2.0 * static_cast<double>(dim_ + 2) * unit * x_norm * max_centroid_norm_ +
                              4.0 * unit * (max_centroid_norm_ * max_centroid_norm_ + std::abs(static_cast<double>(best))));
    const double limit = static_cast<double>(best) + tol;
    std::size_t winner = 0;
    double winner_d = std::numeric_limits<double>::infinity();
    for (std::size_t l = 0; l < nlist_; ++l) {
      if (static_cast<double>(centroid_sqf_[l] - 2.0f * dots[l]) > limit) continue;
      const double d = exact_distance(x, l);
      if (d < winner_d) {
        winner_d = d;
        winner = l;
      }
    }
    return winner;
  }

  std::size_t dim_;
  std::vector<float> centroids_;     // nlist_ x dim_, row-major
  std::vector<double> centroid_sq_;  // ||c||^2, exact
  std::vector<float> centroid_sqf_;  // ||c||^2 for the float scans
  double max_centroid_norm_ = 0.0;
  std::size_t nlist_ = 0;  // 0: none installed
};

/// Lloyd's k-means on `m` sample rows (`dim` floats each, prepared) into `k`
/// centroids, `iterations` times, the assignment step on up to `threads`
/// threads; returns the centroids (k x dim, row-major).
inline std::vector<float> kmeans(const std::vector<float>& sample, std::size_t m, std::size_t k, std::size_t dim,
                                 std::size_t iterations, std::size_t threads) {
  // The sample is already a seeded random permutation: its first k rows are
  // k distinct random points.
  std::vector<float> centroids(sample.begin(), sample.begin() + static_cast<std::ptrdiff_t>(k * dim));
  std::vector<std::uint32_t> assigned(m, 0);
  std::vector<double> sums(k * dim);
  std::vector<std::size_t> counts(k);
  std::vector<float> c_sq(k);
  const std::size_t blocks = (m + assign_block - 1) / assign_block;
  const std::size_t tasks = (std::min)(blocks, detail::tasks_for(m * k * dim / 8, threads));

  for (std::size_t iter = 0; iter < iterations; ++iter) {
    for (std::size_t l = 0; l < k; ++l) c_sq[l] = static_cast<float>(detail::squared_norm(centroids.data() + l * dim, dim));
    detail::parallel_run(tasks, [&](std::size_t t) {
      const detail::const_rows_map c(centroids.data(), static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(dim),
                                     Eigen::OuterStride<>(static_cast<Eigen::Index>(dim)));
      Eigen::MatrixXf dots;
      for (std::size_t b = detail::range_cut(blocks, tasks, t, 1); b < detail::range_cut(blocks, tasks, t + 1, 1);
           ++b) {
        const std::size_t first = b * assign_block;
        const std::size_t rows = (std::min)(assign_block, m - first);
        const detail::const_rows_map x(sample.data() + first * dim, static_cast<Eigen::Index>(rows),
                                       static_cast<Eigen::Index>(dim),
                                       Eigen::OuterStride<>(static_cast<Eigen::Index>(dim)));
        dots.noalias() = c * x.transpose();
        for (std::size_t i = 0; i < rows; ++i) {
          const float* d = dots.data() + i * k;
          std::size_t best = 0;
          float best_d = std::numeric_limits<float>::infinity();
          for (std::size_t l = 0; l < k; ++l) {
            const float dist = c_sq[l] - 2.0f * d[l];
            if (dist < best_d) {
              best_d = dist;
              best = l;
            }
          }
          assigned[first + i] = static_cast<std::uint32_t>(best);
        }
      }
    });

    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), std::size_t{0});
    for (std::size_t i = 0; i < m; ++i) {
      const std::size_t l = assigned[i];
      ++counts[l];
      const float* x = sample.data() + i * dim;
      double* s = sums.data() + l * dim;
      for (std::size_t j = 0; j < dim; ++j) s[j] += x[j];
    }
    for (std::size_t l = 0; l < k; ++l) {
      if (counts[l] == 0) continue;
      const double inv = 1.0 / static_cast<double>(counts[l]);
      for (std::size_t j = 0; j < dim; ++j) centroids[l * dim + j] = static_cast<float>(sums[l * dim + j] * inv);
    }
    // An empty list takes half of the largest one: both centroids move a
    // little apart along alternate coordinates (as FAISS does).
    for (std::size_t l = 0; l < k; ++l) {
      if (counts[l] != 0) continue;
      const std::size_t big = static_cast<std::size_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
      if (counts[big] < 2) break;
      const float eps = 1.0f / 1024.0f;
      for (std::size_t j = 0; j < dim; ++j) {
        const float v = centroids[big * dim + j];
        const float sign = (j % 2 == 0) ? 1.0f : -1.0f;
        centroids[l * dim + j] = v * (1.0f + sign * eps);
        centroids[big * dim + j] = v * (1.0f - sign * eps);
      }
      counts[l] = counts[big] / 2;
      counts[big] -= counts[l];
    }
  }
  return centroids;
}

}  // namespace ivf
}  // namespace detail
}  // namespace v0
}  // namespace vecstore
