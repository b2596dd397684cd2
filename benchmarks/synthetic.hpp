// SPDX-License-Identifier: MIT
// Benchmark data: a seeded generator of embeddings as hard to index as real ones, and fvecs/ivecs readers.
#pragma once

#include <algorithm>
#include <atomic>
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

/// Embeddings as hard for an index as a model's. A well-separated mixture makes every IVF look perfect (each
/// k-means cell holds a whole cluster and with it every neighbour), so this one is built the way text embeddings
/// are shaped instead:
///  - low intrinsic dimension: points live in a latent space of min(dim, 64) dimensions with a decaying
///    spectrum, mapped to `dim` by a fixed random linear map, plus a little isotropic noise in every dimension
///    and a shared mean direction (the anisotropy that makes random pairs' cosine positive);
///  - hierarchical and overlapping: sub-topics scattered around topics, points scattered around sub-topics with
///    a spread as large as the distance between sub-topic centres, each sub-topic stretched along its own axes;
///  - heavy-tailed: sub-topic sizes are log-normal (sigma 1.8: a few huge, many tiny), spreads vary too;
///  - about 0.8 sqrt(N) sub-topics, so each spans a few lists at the usual nlist = 4 sqrt(N) whatever N is, and
///    a query's ten nearest neighbours usually straddle cell boundaries.
/// With nlist = 4 sqrt(N), IVF at nprobe 1 finds about a third of the true top 10 on 200,000 x 768 and
/// 1,000,000 x 100 and needs nprobe 32-64 for recall 0.95 (docs/benchmarks.md), as on real text embeddings;
/// the old mixture of Gaussians gave 0.5 at nprobe 1 and 0.99 at 8. The constants were tuned for that, at
/// these sizes; the spread and the size tail move it most.
/// Queries come from the same distribution (not copies of base points). Rows are generated in blocks with
/// their own seeded generators, so the data depends on `seed` only, not on the thread count.
inline void make_embeddings(std::size_t n_base, std::size_t n_query, std::size_t dim, std::uint64_t seed,
                            matrix& base, matrix& queries) {
  const std::size_t latent = std::min<std::size_t>(dim, 64);
  const std::size_t subtopics =
      std::max<std::size_t>(64, static_cast<std::size_t>(0.8 * std::sqrt(static_cast<double>(n_base + n_query))));
  const std::size_t topics = std::max<std::size_t>(8, subtopics / 16);
  constexpr float topic_spread = 0.6f;   // sub-topic centres around their topic (topics are ~1 apart per axis)
  constexpr float point_spread = 1.1f;   // points around their sub-topic: overlapping neighbours
  constexpr float spread_sigma = 0.35f;  // log-normal variation of a sub-topic's spread
  constexpr float axis_sigma = 0.5f;     // ... and of its stretch along each latent axis
  constexpr double size_sigma = 1.8;     // log-normal sub-topic weights: heavy-tailed sizes
  constexpr float mean_norm = 0.5f, noise_norm = 0.3f;  // per latent dimension, like the signal

  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> decay(latent);  // spectrum: a few latent directions carry most variance
  for (std::size_t l = 0; l < latent; ++l) decay[l] = 1.0f / std::sqrt(1.0f + static_cast<float>(l) / 8.0f);
  std::vector<float> topic(topics * latent);
  for (float& v : topic) v = gauss(rng);
  std::vector<float> center(subtopics * latent), stretch(subtopics * latent);
  std::vector<double> cumulative(subtopics);
  double total_weight = 0;
  for (std::size_t s = 0; s < subtopics; ++s) {
    const std::size_t t = std::uniform_int_distribution<std::size_t>(0, topics - 1)(rng);
    const float spread = point_spread * std::exp(spread_sigma * gauss(rng));
    for (std::size_t l = 0; l < latent; ++l) {
      center[s * latent + l] = (topic[t * latent + l] + topic_spread * gauss(rng)) * decay[l];
      stretch[s * latent + l] = spread * std::exp(axis_sigma * gauss(rng)) * decay[l];
    }
    cumulative[s] = total_weight += std::exp(size_sigma * gauss(rng));
  }
  // The map: latent row l is a random direction of norm ~1 in R^dim, so it roughly preserves latent geometry.
  const float unit = 1.0f / std::sqrt(static_cast<float>(dim));
  std::vector<float> map(latent * dim), mean(dim);
  for (float& v : map) v = gauss(rng) * unit;
  const float per_dim = std::sqrt(static_cast<float>(latent)) * unit;  // a latent-sized norm over dim coordinates
  for (float& v : mean) v = mean_norm * per_dim * gauss(rng);

  const auto fill = [&](matrix& m, std::size_t n, std::uint64_t stream) {
    m.rows = n;
    m.dim = dim;
    m.data.assign(n * dim, 0.0f);
    constexpr std::size_t block = 1024;
    const std::size_t blocks = (n + block - 1) / block;
    std::atomic<std::size_t> next{0};
    const auto work = [&] {
      std::vector<float> z(latent);
      std::normal_distribution<float> g(0.0f, 1.0f);
      std::uniform_real_distribution<double> u(0.0, total_weight);
      for (std::size_t b = next++; b < blocks; b = next++) {
        std::mt19937_64 r(seed ^ (stream << 48) ^ (b * 0x9e3779b97f4a7c15ULL));
        for (std::size_t i = b * block; i < std::min(n, (b + 1) * block); ++i) {
          const auto s = static_cast<std::size_t>(
              std::upper_bound(cumulative.begin(), cumulative.end() - 1, u(r)) - cumulative.begin());
          for (std::size_t l = 0; l < latent; ++l) z[l] = center[s * latent + l] + stretch[s * latent + l] * g(r);
          float* x = m.data.data() + i * dim;
          for (std::size_t j = 0; j < dim; ++j) x[j] = mean[j] + noise_norm * per_dim * g(r);
          for (std::size_t l = 0; l < latent; ++l) {
            const float* a = map.data() + l * dim;
            for (std::size_t j = 0; j < dim; ++j) x[j] += z[l] * a[j];
          }
          double sq = 0;
          for (std::size_t j = 0; j < dim; ++j) sq += double(x[j]) * x[j];
          const auto inv = static_cast<float>(1.0 / std::sqrt(sq));
          for (std::size_t j = 0; j < dim; ++j) x[j] *= inv;
        }
      }
    };
    std::vector<std::thread> threads(std::max(1u, std::thread::hardware_concurrency()) - 1);
    for (auto& t : threads) t = std::thread(work);
    work();
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
