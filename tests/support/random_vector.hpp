// SPDX-License-Identifier: MIT
// Gaussian test vectors.
#pragma once

#include <cstddef>
#include <random>
#include <vector>

namespace vecstore_test {

inline std::vector<float> random_vector(std::mt19937& rng, std::size_t dim) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(dim);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace vecstore_test
