// SPDX-License-Identifier: MIT
// index_archetype: the smallest IndexPolicy that meets index/requirements.hpp, written for clarity, not speed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include <vecstore/index/requirements.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace test {

/// Proves the IndexPolicy contract can be met with nothing but the standard
/// library (USearch's dummy_*_t archetypes play the same role), and shows a
/// policy author every member in one screen. Search is a brute-force scan in
/// double precision; erase is O(log n) rather than O(1), which the contract
/// states as a performance goal the compiler cannot check.
class index_archetype {
 public:
  static constexpr bool exact = true;

  index_archetype(std::size_t dim, metric space) : dim_(dim), space_(space) {}

  std::size_t dim() const { return dim_; }
  metric space() const { return space_; }
  std::size_t size() const { return vectors_.size(); }
  void reserve(std::size_t /*n*/) {}  // a std::map has nothing to reserve

  void upsert(std::int64_t key, const float* vector) { vectors_[key].assign(vector, vector + dim_); }
  bool erase(std::int64_t key) { return vectors_.erase(key) == 1; }
  bool contains(std::int64_t key) const { return vectors_.count(key) == 1; }
  void clear() { vectors_.clear(); }

  std::vector<std::vector<neighbor>> search(const float* queries, std::size_t nq, std::size_t k,
                                            const std::vector<std::int64_t>* allowed) const {
    std::vector<std::vector<neighbor>> out(nq);
    if (k == 0) return out;
    for (std::size_t q = 0; q < nq; ++q) {
      const float* query = queries + q * dim_;
      std::vector<neighbor> all;
      for (const auto& [key, vector] : vectors_) {
        if (allowed != nullptr && std::find(allowed->begin(), allowed->end(), key) == allowed->end()) continue;
        all.push_back(neighbor{key, static_cast<float>(distance(vector.data(), query))});
      }
      // The map iterates keys in ascending order and stable_sort keeps it,
      // which breaks ties by the smaller key as the contract asks.
      std::stable_sort(all.begin(), all.end(),
                       [](const neighbor& a, const neighbor& b) { return a.distance < b.distance; });
      all.resize((std::min)(k, all.size()));
      out[q] = std::move(all);
    }
    return out;
  }

 private:
  double distance(const float* x, const float* q) const {
    double dot = 0, xx = 0, qq = 0, l2 = 0;
    for (std::size_t i = 0; i < dim_; ++i) {
      dot += static_cast<double>(x[i]) * q[i];
      xx += static_cast<double>(x[i]) * x[i];
      qq += static_cast<double>(q[i]) * q[i];
      l2 += (static_cast<double>(x[i]) - q[i]) * (static_cast<double>(x[i]) - q[i]);
    }
    switch (space_) {
      case metric::cosine: return 1.0 - dot / std::sqrt(xx * qq);
      case metric::l2: return l2;
      case metric::inner_product: return 1.0 - dot;
    }
    return 0.0;
  }

  std::size_t dim_;
  metric space_;
  std::map<std::int64_t, std::vector<float>> vectors_;
};

}  // namespace test
}  // namespace v0
}  // namespace vecstore
