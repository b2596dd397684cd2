// SPDX-License-Identifier: MIT
// Benchmark data: a seeded generator of clustered, overlapping embeddings, and fvecs/ivecs readers.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vecstore_bench {

/// Row-major float vectors.
struct matrix {
  std::size_t rows = 0;
  std::size_t dim = 0;
  std::vector<float> data;
  const float* row(std::size_t i) const { return data.data() + i * dim; }
};

/// Embeddings that look like a model's: unit vectors, a shared mean direction,
/// a decaying spectrum (a few directions carry most variance), and clusters of
/// very different sizes (log-normal) and spreads that overlap, so that
/// neighbours of a point often lie across a k-means cell boundary. Queries are
/// drawn from the same mixture (not copies of base points). `seed` fixes it all.
inline void make_embeddings(std::size_t n_base, std::size_t n_query, std::size_t dim, std::uint64_t seed,
                            matrix& base, matrix& queries) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  const std::size_t clusters = std::max<std::size_t>(32, (n_base + n_query) / 1000);
  std::vector<float> spectrum(dim);
  for (std::size_t j = 0; j < dim; ++j) spectrum[j] = 1.0f / std::sqrt(1.0f + static_cast<float>(j) / (static_cast<float>(dim) / 16.0f));
  std::vector<float> mean(dim);
  for (std::size_t j = 0; j < dim; ++j) mean[j] = 0.6f * gauss(rng) * spectrum[j];
  std::vector<float> centers(clusters * dim);
  std::vector<float> spread(clusters);
  std::vector<double> weight(clusters);
  for (std::size_t c = 0; c < clusters; ++c) {
    for (std::size_t j = 0; j < dim; ++j) centers[c * dim + j] = mean[j] + gauss(rng) * spectrum[j];
    spread[c] = 0.55f * std::exp(0.35f * gauss(rng));
    weight[c] = std::exp(1.0 * gauss(rng));
  }
  std::discrete_distribution<std::size_t> pick(weight.begin(), weight.end());
  // Points of one cluster share its spread, scaled per point a little too.
  const auto fill = [&](matrix& m, std::size_t n, std::uint64_t stream) {
    m.rows = n;
    m.dim = dim;
    m.data.assign(n * dim, 0.0f);
    const std::size_t workers = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::size_t> which(n);
    std::mt19937_64 pick_rng(seed * 31 + stream);
    for (std::size_t i = 0; i < n; ++i) which[i] = pick(pick_rng);
    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        std::mt19937_64 r(seed * 1000003 + stream * 7919 + w);
        std::normal_distribution<float> g(0.0f, 1.0f);
        for (std::size_t i = w; i < n; i += workers) {
          const std::size_t c = which[i];
          const float s = spread[c] * std::exp(0.2f * g(r));
          float* x = m.data.data() + i * dim;
          double sq = 0;
          for (std::size_t j = 0; j < dim; ++j) {
            x[j] = centers[c * dim + j] + s * g(r) * spectrum[j];
            sq += double(x[j]) * x[j];
          }
          const float inv = static_cast<float>(1.0 / std::sqrt(sq));
          for (std::size_t j = 0; j < dim; ++j) x[j] *= inv;
        }
      });
    }
    for (auto& t : threads) t.join();
  };
  fill(base, n_base, 1);
  fill(queries, n_query, 2);
}

/// Reads an .fvecs file (each vector: int32 dim, then dim floats); at most `limit` vectors (0: all).
inline matrix read_fvecs(const std::string& path, std::size_t limit = 0) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  matrix m;
  std::int32_t d = 0;
  while (in.read(reinterpret_cast<char*>(&d), 4)) {
    if (d <= 0 || d > 65536) throw std::runtime_error(path + ": bad dimension " + std::to_string(d));
    if (m.dim == 0) m.dim = static_cast<std::size_t>(d);
    if (static_cast<std::size_t>(d) != m.dim) throw std::runtime_error(path + ": mixed dimensions");
    const std::size_t at = m.data.size();
    m.data.resize(at + m.dim);
    if (!in.read(reinterpret_cast<char*>(m.data.data() + at), static_cast<std::streamsize>(m.dim * 4)))
      throw std::runtime_error(path + ": truncated");
    if (++m.rows == limit) break;
  }
  return m;
}

/// Reads an .ivecs file (ground truth: int32 k, then k int32 ids per query).
inline std::vector<std::vector<std::int64_t>> read_ivecs(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<std::vector<std::int64_t>> out;
  std::int32_t k = 0;
  while (in.read(reinterpret_cast<char*>(&k), 4)) {
    if (k <= 0 || k > 100000) throw std::runtime_error(path + ": bad row length");
    std::vector<std::int32_t> row(static_cast<std::size_t>(k));
    if (!in.read(reinterpret_cast<char*>(row.data()), static_cast<std::streamsize>(row.size() * 4)))
      throw std::runtime_error(path + ": truncated");
    out.emplace_back(row.begin(), row.end());
  }
  return out;
}

}  // namespace vecstore_bench
