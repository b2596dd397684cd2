// SPDX-License-Identifier: MIT
// Unit tests of the IndexPolicy requirements, the kernel and flat_index against a plain brute-force reference.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <vecstore/index/flat_index.hpp>
#include <vecstore/index/kernel.hpp>
#include <vecstore/index/product.hpp>
#include <vecstore/index/requirements.hpp>

#include "../support/index_archetype.hpp"

using vecstore::flat_index;
using vecstore::metric;
using vecstore::neighbor;

namespace {

// ---- data -------------------------------------------------------------------

std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = uniform(rng);
  return v;
}

/// Rows with keys that are neither dense nor in row order (and partly
/// negative), so a mix-up of rows and keys shows.
struct dataset {
  std::size_t dim = 0;
  std::vector<std::int64_t> keys;
  std::vector<float> data;  // keys.size() rows of dim floats
  const float* row(std::size_t i) const { return data.data() + i * dim; }
};

dataset make_dataset(std::size_t n, std::size_t dim, std::uint32_t seed) {
  dataset d;
  d.dim = dim;
  d.data = random_floats(n * dim, seed);
  d.keys.resize(n);
  for (std::size_t i = 0; i < n; ++i) d.keys[i] = static_cast<std::int64_t>(i) * 3 - 1000;
  std::mt19937 rng(seed + 1);
  std::shuffle(d.keys.begin(), d.keys.end(), rng);
  return d;
}

flat_index make_index(const dataset& d, metric space) {
  flat_index index(d.dim, space);
  index.reserve(d.keys.size() / 2);  // too small on purpose: upsert must grow
  for (std::size_t i = 0; i < d.keys.size(); ++i) index.upsert(d.keys[i], d.row(i));
  return index;
}

// ---- the reference: double precision, every distance, a full sort ------------

struct ref_hit {
  std::int64_t key;
  double distance;
  double tolerance;  // 1e-4 relative to the magnitude of the terms summed
};

/// Every eligible key, nearest first (ties by key), and where each key ranks.
struct reference {
  std::vector<ref_hit> hits;
  std::unordered_map<std::int64_t, std::size_t> rank;
};

reference reference_search(const dataset& d, metric space, const float* q,
                           const std::set<std::int64_t>* allowed = nullptr) {
  std::vector<ref_hit> out;
  for (std::size_t i = 0; i < d.keys.size(); ++i) {
    if (allowed != nullptr && allowed->count(d.keys[i]) == 0) continue;
    const float* x = d.row(i);
    double dot = 0, xx = 0, qq = 0, l2 = 0;
    for (std::size_t j = 0; j < d.dim; ++j) {
      dot += double(x[j]) * q[j];
      xx += double(x[j]) * x[j];
      qq += double(q[j]) * q[j];
      l2 += (double(x[j]) - q[j]) * (double(x[j]) - q[j]);
    }
    double dist = 0, scale = 0;
    switch (space) {
      case metric::cosine:
        dist = 1.0 - dot / std::sqrt(xx * qq);
        scale = 1.0;
        break;
      case metric::l2:
        dist = l2;
        scale = xx + qq;
        break;
      case metric::inner_product:
        dist = 1.0 - dot;
        scale = 1.0 + std::sqrt(xx * qq);
        break;
    }
    out.push_back(ref_hit{d.keys[i], dist, 1e-4 * std::max(scale, std::abs(dist))});
  }
  std::sort(out.begin(), out.end(), [](const ref_hit& a, const ref_hit& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.key < b.key);
  });
  reference ref;
  for (std::size_t i = 0; i < out.size(); ++i) ref.rank[out[i].key] = i;
  ref.hits = std::move(out);
  return ref;
}

/// Empty when `got` is a correct top-k list for the reference `ref`, else the
/// first problem. Near-ties are handled: every distance must match its key's
/// reference distance, positions must agree within tolerance, and the key set
/// must equal the reference's only where its k-th and (k+1)-th distances are
/// further apart than their tolerances.
std::string compare_with_reference(const std::vector<neighbor>& got, const reference& reference,
                                   std::size_t k) {
  const std::vector<ref_hit>& ref = reference.hits;
  std::ostringstream why;
  const std::size_t n = std::min(k, ref.size());
  if (got.size() != n) {
    why << "expected " << n << " results, got " << got.size();
    return why.str();
  }
  const std::unordered_map<std::int64_t, std::size_t>& position = reference.rank;
  const bool clear_cut = n == ref.size() || ref[n].distance - ref[n - 1].distance >
                                                ref[n].tolerance + ref[n - 1].tolerance;
  std::vector<char> seen(ref.size(), 0);  // by reference rank
  for (std::size_t i = 0; i < n; ++i) {
    const neighbor& g = got[i];
    const auto at = position.find(g.key);
    if (at == position.end()) {
      why << "result " << i << ": key " << g.key << " is not eligible";
      return why.str();
    }
    const ref_hit& r = ref[at->second];
    if (seen[at->second]++ != 0) {
      why << "result " << i << ": key " << g.key << " returned twice";
      return why.str();
    }
    if (std::abs(g.distance - r.distance) > r.tolerance) {
      why << "result " << i << ": key " << g.key << " distance " << g.distance << ", reference " << r.distance;
      return why.str();
    }
    if (std::abs(g.distance - ref[i].distance) > r.tolerance + ref[i].tolerance) {
      why << "result " << i << ": distance " << g.distance << ", reference's " << i << "-th is "
          << ref[i].distance;
      return why.str();
    }
    if (i > 0 && !(got[i - 1].distance < g.distance ||
                   (got[i - 1].distance == g.distance && got[i - 1].key < g.key))) {
      why << "result " << i << " is out of order";
      return why.str();
    }
    if (clear_cut && at->second >= n) {
      why << "result " << i << ": key " << g.key << " ranks " << at->second << " in the reference";
      return why.str();
    }
  }
  return {};
}

std::string metric_name(metric m) { return vecstore::to_string(m); }

// ---- types that must not count as index policies ---------------------------

#define VECSTORE_TEST_INDEX_COMMON                                                         \
  std::size_t dim() const { return 0; }                                                  \
  metric space() const { return metric::l2; }                                            \
  std::size_t size() const { return 0; }                                                 \
  void reserve(std::size_t) {}                                                           \
  void upsert(std::int64_t, const float*) {}                                             \
  bool contains(std::int64_t) const { return false; }                                    \
  void clear() {}

struct lacks_erase {
  static constexpr bool exact = true;
  lacks_erase(std::size_t, metric) {}
  VECSTORE_TEST_INDEX_COMMON
  std::vector<std::vector<neighbor>> search(const float*, std::size_t, std::size_t,
                                            const std::vector<std::int64_t>*) const {
    return {};
  }
};

struct erase_returns_void {
  static constexpr bool exact = true;
  erase_returns_void(std::size_t, metric) {}
  VECSTORE_TEST_INDEX_COMMON
  void erase(std::int64_t) {}
  std::vector<std::vector<neighbor>> search(const float*, std::size_t, std::size_t,
                                            const std::vector<std::int64_t>*) const {
    return {};
  }
};

struct search_not_const {
  static constexpr bool exact = true;
  search_not_const(std::size_t, metric) {}
  VECSTORE_TEST_INDEX_COMMON
  bool erase(std::int64_t) { return false; }
  std::vector<std::vector<neighbor>> search(const float*, std::size_t, std::size_t,
                                            const std::vector<std::int64_t>*) {
    return {};
  }
};

struct exact_not_static {
  bool exact = true;
  exact_not_static(std::size_t, metric) {}
  VECSTORE_TEST_INDEX_COMMON
  bool erase(std::int64_t) { return false; }
  std::vector<std::vector<neighbor>> search(const float*, std::size_t, std::size_t,
                                            const std::vector<std::int64_t>*) const {
    return {};
  }
};

struct no_dim_metric_constructor {
  static constexpr bool exact = true;
  no_dim_metric_constructor() = default;
  VECSTORE_TEST_INDEX_COMMON
  bool erase(std::int64_t) { return false; }
  std::vector<std::vector<neighbor>> search(const float*, std::size_t, std::size_t,
                                            const std::vector<std::int64_t>*) const {
    return {};
  }
};

// Proves that the test types above differ from a policy only in what they
// name: the same members, complete, qualify.
struct complete_policy {
  static constexpr bool exact = false;
  complete_policy(std::size_t, metric) {}
  VECSTORE_TEST_INDEX_COMMON
  bool erase(std::int64_t) { return false; }
  std::vector<std::vector<neighbor>> search(const float*, std::size_t, std::size_t,
                                            const std::vector<std::int64_t>*) const {
    return {};
  }
};

#undef VECSTORE_TEST_INDEX_COMMON

}  // namespace

// ---- requirements -------------------------------------------------------------

TEST_CASE("flat_index and the archetype meet the IndexPolicy requirements", "[index][requirements]") {
  using vecstore::index_requirements;
  using vecstore::is_index_policy;
  using vecstore::test::index_archetype;
  static_assert(vecstore::detail::checked<index_requirements<flat_index>>, "flat_index");
  static_assert(vecstore::detail::checked<index_requirements<index_archetype>>, "archetype");
  static_assert(is_index_policy<flat_index>::value, "flat_index");
  static_assert(is_index_policy<index_archetype>::value, "archetype");
  static_assert(vecstore::is_index_policy_v<complete_policy>, "complete_policy");
  static_assert(flat_index::exact, "flat_index is exact");
#if defined(__cpp_concepts)
  static_assert(vecstore::index_policy<flat_index>, "concept");
  static_assert(!vecstore::index_policy<lacks_erase>, "concept");
#endif
  SUCCEED("checked at compile time");
}

TEST_CASE("a type lacking an IndexPolicy member is detected as not an index policy", "[index][requirements]") {
  using vecstore::is_index_policy_v;
  static_assert(!is_index_policy_v<lacks_erase>, "no erase");
  static_assert(!is_index_policy_v<erase_returns_void>, "erase must return bool");
  static_assert(!is_index_policy_v<search_not_const>, "search must be const");
  static_assert(!is_index_policy_v<exact_not_static>, "exact must be static constexpr");
  static_assert(!is_index_policy_v<no_dim_metric_constructor>, "needs I(dim, metric)");
  static_assert(!is_index_policy_v<int>, "int");
  static_assert(!vecstore::detail::is_detected_v<vecstore::detail::index_erase_t, lacks_erase>, "");
  static_assert(vecstore::detail::is_detected_exact_v<bool, vecstore::detail::index_erase_t, flat_index>, "");
  static_assert(!vecstore::detail::is_detected_exact_v<bool, vecstore::detail::index_erase_t, erase_returns_void>,
                "");
  SUCCEED("checked at compile time");
}

// ---- exactness against the reference ------------------------------------------

TEST_CASE("flat_index returns the exact top-k for every metric, dimension, batch size and k",
          "[index][flat_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const std::size_t dim = GENERATE(std::size_t{1}, std::size_t{3}, std::size_t{17}, std::size_t{100},
                                   std::size_t{768});
  // Just over two blocks of rows, so block edges and a partial last block are crossed.
  const std::size_t n = 2 * vecstore::detail::rows_per_block(dim) + 37;
  const dataset d = make_dataset(n, dim, static_cast<std::uint32_t>(dim * 31 + 7));
  const flat_index index = make_index(d, space);
  REQUIRE(index.size() == n);

  for (const std::size_t nq : {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{70}}) {
    const std::vector<float> queries = random_floats(nq * dim, static_cast<std::uint32_t>(nq + dim));
    std::vector<reference> ref;
    for (std::size_t q = 0; q < nq; ++q) ref.push_back(reference_search(d, space, queries.data() + q * dim));
    for (const std::size_t k : {std::size_t{1}, std::size_t{10}, n + 5}) {
      const std::vector<std::vector<neighbor>> got = index.search(queries.data(), nq, k, nullptr);
      REQUIRE(got.size() == nq);
      for (std::size_t q = 0; q < nq; ++q) {
        INFO("metric " << metric_name(space) << ", dim " << dim << ", n " << n << ", nq " << nq << ", k " << k
                       << ", query " << q);
        REQUIRE(compare_with_reference(got[q], ref[q], k) == "");
      }
    }
  }
}

TEST_CASE("flat_index search of an empty index returns one empty list per query", "[index][flat_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const flat_index index(5, space);
  const std::vector<float> queries = random_floats(3 * 5, 1);
  const auto got = index.search(queries.data(), 3, 10, nullptr);
  REQUIRE(got.size() == 3);
  for (const auto& list : got) CHECK(list.empty());
  const std::vector<std::int64_t> allowed{1, 2, 3};
  const auto filtered = index.search(queries.data(), 3, 10, &allowed);
  REQUIRE(filtered.size() == 3);
  for (const auto& list : filtered) CHECK(list.empty());
  CHECK(index.search(queries.data(), 0, 10, nullptr).empty());
}

TEST_CASE("flat_index with k == 0 returns empty lists without crashing", "[index][flat_index]") {
  const dataset d = make_dataset(50, 8, 3);
  const flat_index index = make_index(d, metric::l2);
  const std::vector<float> queries = random_floats(4 * 8, 4);
  const auto got = index.search(queries.data(), 4, 0, nullptr);
  REQUIRE(got.size() == 4);
  for (const auto& list : got) CHECK(list.empty());
  const std::vector<std::int64_t> allowed(d.keys.begin(), d.keys.begin() + 5);
  const auto filtered = index.search(queries.data(), 4, 0, &allowed);
  REQUIRE(filtered.size() == 4);
  for (const auto& list : filtered) CHECK(list.empty());
}

TEST_CASE("flat_index with k larger than its size returns every key, sorted", "[index][flat_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const dataset d = make_dataset(9, 4, 5);
  const flat_index index = make_index(d, space);
  const std::vector<float> q = random_floats(4, 6);
  const auto got = index.search(q.data(), 1, 1000, nullptr);
  REQUIRE(got.size() == 1);
  CHECK(got[0].size() == 9);
  CHECK(compare_with_reference(got[0], reference_search(d, space, q.data()), 1000) == "");
}

// ---- filtered search ------------------------------------------------------------

TEST_CASE("flat_index filtered search returns the exact top-k among the allowed keys", "[index][flat_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const std::size_t dim = GENERATE(std::size_t{3}, std::size_t{17}, std::size_t{100});
  const std::size_t n = 2 * vecstore::detail::rows_per_block(dim) + 11;
  const dataset d = make_dataset(n, dim, static_cast<std::uint32_t>(dim + 100));
  const flat_index index = make_index(d, space);

  std::vector<std::int64_t> shuffled = d.keys;
  std::mt19937 rng(static_cast<std::uint32_t>(dim));
  std::shuffle(shuffled.begin(), shuffled.end(), rng);

  std::vector<std::int64_t> allowed;
  SECTION("a small allowed set is read row by row") {
    allowed.assign(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(n / 20));
  }
  SECTION("a large allowed set runs the dense scan under a bitmap") {
    allowed.assign(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(n * 4 / 5));
  }
  SECTION("every key allowed") { allowed = shuffled; }
  SECTION("keys the index lacks and repeated keys are ignored") {
    allowed.assign(shuffled.begin(), shuffled.begin() + 40);
    allowed.push_back(1);  // keys are 3i - 1000: 1 is not one of them
    allowed.push_back(-1'000'000'007);
    allowed.push_back(std::numeric_limits<std::int64_t>::max());
    allowed.insert(allowed.end(), shuffled.begin(), shuffled.begin() + 10);  // repeats
  }
  SECTION("allowed keys that are all absent") { allowed = {1, 2, 4, 5}; }
  SECTION("a single allowed key") { allowed = {shuffled.front()}; }

  const std::set<std::int64_t> allowed_set(allowed.begin(), allowed.end());
  for (const std::size_t nq : {std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
    const std::vector<float> queries = random_floats(nq * dim, static_cast<std::uint32_t>(nq * 7 + dim));
    std::vector<reference> ref;
    for (std::size_t q = 0; q < nq; ++q)
      ref.push_back(reference_search(d, space, queries.data() + q * dim, &allowed_set));
    for (const std::size_t k : {std::size_t{1}, std::size_t{10}, std::size_t{60}}) {
      const auto got = index.search(queries.data(), nq, k, &allowed);
      REQUIRE(got.size() == nq);
      for (std::size_t q = 0; q < nq; ++q) {
        INFO("metric " << metric_name(space) << ", dim " << dim << ", allowed " << allowed.size() << ", nq "
                       << nq << ", k " << k << ", query " << q);
        REQUIRE(compare_with_reference(got[q], ref[q], k) == "");
      }
    }
  }
}

TEST_CASE("flat_index filtered search with an empty allowed set returns empty lists", "[index][flat_index]") {
  const dataset d = make_dataset(100, 6, 8);
  const flat_index index = make_index(d, metric::cosine);
  const std::vector<float> queries = random_floats(3 * 6, 9);
  const std::vector<std::int64_t> none;
  const auto got = index.search(queries.data(), 3, 5, &none);
  REQUIRE(got.size() == 3);
  for (const auto& list : got) CHECK(list.empty());
}

// ---- mutation ---------------------------------------------------------------------

TEST_CASE("flat_index upsert replaces the vector of an existing key", "[index][flat_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  flat_index index(3, space);
  const float a[3] = {1, 0, 0};
  const float b[3] = {0, 1, 0};
  const float c[3] = {0, 0, 1};
  index.upsert(10, a);
  index.upsert(20, b);
  index.upsert(10, c);  // replaces a
  CHECK(index.size() == 2);
  CHECK(index.contains(10));

  const auto near_a = index.search(a, 1, 1, nullptr);
  REQUIRE(near_a[0].size() == 1);
  // Nothing is near a any more: b and c are both orthogonal to it, and the tie goes to key 10.
  CHECK(near_a[0][0].key == 10);
  const auto near_c = index.search(c, 1, 2, nullptr);
  REQUIRE(near_c[0].size() == 2);
  CHECK(near_c[0][0].key == 10);
  CHECK(near_c[0][0].distance == 0.0f);
  CHECK(near_c[0][1].key == 20);
}

TEST_CASE("flat_index erase removes a key, reports an absent one, and the key can be added again",
          "[index][flat_index]") {
  flat_index index(2, metric::l2);
  const float v[2] = {1, 2};
  const float w[2] = {3, 4};
  index.upsert(5, v);
  CHECK_FALSE(index.erase(6));
  CHECK(index.erase(5));
  CHECK_FALSE(index.erase(5));
  CHECK_FALSE(index.contains(5));
  CHECK(index.size() == 0);
  CHECK(index.search(v, 1, 3, nullptr)[0].empty());

  index.upsert(5, w);
  CHECK(index.contains(5));
  CHECK(index.size() == 1);
  const auto got = index.search(w, 1, 3, nullptr);
  REQUIRE(got[0].size() == 1);
  CHECK(got[0][0].key == 5);
  CHECK(got[0][0].distance == 0.0f);
}

TEST_CASE("flat_index swap-delete keeps every other key's vector and the results exact", "[index][flat_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const std::size_t dim = 17;
  dataset d = make_dataset(600, dim, 42);
  flat_index index = make_index(d, space);

  // Erase a random half, including the last and the first rows.
  std::mt19937 rng(43);
  std::vector<std::size_t> order(d.keys.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::shuffle(order.begin(), order.end(), rng);
  order.insert(order.begin(), {d.keys.size() - 1, 0});
  std::set<std::int64_t> erased;
  for (std::size_t i : order) {
    if (erased.size() == 300) break;
    if (erased.insert(d.keys[i]).second) {
      REQUIRE(index.erase(d.keys[i]));
    }
  }
  dataset kept;
  kept.dim = dim;
  for (std::size_t i = 0; i < d.keys.size(); ++i) {
    if (erased.count(d.keys[i]) != 0) continue;
    kept.keys.push_back(d.keys[i]);
    kept.data.insert(kept.data.end(), d.row(i), d.row(i) + dim);
  }
  REQUIRE(index.size() == kept.keys.size());
  for (std::int64_t key : erased) CHECK_FALSE(index.contains(key));

  // Every remaining row still holds its own key's vector.
  const vecstore::row_view rows = index.rows();
  REQUIRE(rows.rows == kept.keys.size());
  std::unordered_map<std::int64_t, std::size_t> where;
  for (std::size_t i = 0; i < kept.keys.size(); ++i) where[kept.keys[i]] = i;
  for (std::size_t r = 0; r < rows.rows; ++r) {
    const std::int64_t key = index.keys()[r];
    REQUIRE(where.count(key) == 1);
    const float* original = kept.row(where[key]);
    double norm = 1.0;
    if (space == metric::cosine) {
      double sq = 0;
      for (std::size_t j = 0; j < dim; ++j) sq += double(original[j]) * original[j];
      norm = std::sqrt(sq);
    }
    for (std::size_t j = 0; j < dim; ++j) REQUIRE(rows.row(r)[j] == Approx(original[j] / norm).margin(1e-6));
  }

  const std::vector<float> queries = random_floats(7 * dim, 44);
  const auto got = index.search(queries.data(), 7, 10, nullptr);
  for (std::size_t q = 0; q < 7; ++q)
    REQUIRE(compare_with_reference(got[q], reference_search(kept, space, queries.data() + q * dim), 10) == "");
}

TEST_CASE("flat_index upsert accepts a vector that points into its own rows", "[index][flat_index]") {
  flat_index index(4, metric::l2);
  const float v[4] = {1, 2, 3, 4};
  index.upsert(1, v);
  // Each insert copies a row of the index itself while the storage grows.
  for (std::int64_t key = 2; key <= 100; ++key) index.upsert(key, index.rows().row(0));
  index.upsert(1, index.rows().row(0));  // replacing with itself
  for (std::size_t r = 0; r < index.rows().rows; ++r)
    for (std::size_t j = 0; j < 4; ++j) REQUIRE(index.rows().row(r)[j] == v[j]);
}

TEST_CASE("flat_index clear empties the index and keeps its dimension and metric", "[index][flat_index]") {
  const dataset d = make_dataset(40, 5, 11);
  flat_index index = make_index(d, metric::inner_product);
  index.clear();
  CHECK(index.size() == 0);
  CHECK(index.dim() == 5);
  CHECK(index.space() == metric::inner_product);
  CHECK_FALSE(index.contains(d.keys[0]));
  CHECK(index.search(d.row(0), 1, 5, nullptr)[0].empty());
  index.upsert(d.keys[0], d.row(0));
  CHECK(index.search(d.row(0), 1, 5, nullptr)[0].size() == 1);
}

TEST_CASE("flat_index rejects a dimension outside 1..max_dim", "[index][flat_index]") {
  CHECK_THROWS_WITH(flat_index(0, metric::l2),
                    "vecstore: cannot create flat_index: dimension 0 is outside 1..65536. Pass the "
                    "collection's dimension");
  CHECK_THROWS_AS(flat_index(vecstore::limits::max_dim + 1, metric::l2), vecstore::invalid_argument);
  CHECK_NOTHROW(flat_index(vecstore::limits::max_dim, metric::l2));
}

// ---- ties and distances --------------------------------------------------------------

TEST_CASE("flat_index breaks distance ties by the smaller key", "[index][flat_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  // Small integers: every product and sum is exact, so equal vectors give
  // bit-equal distances whichever order the kernel adds in.
  const float same[3] = {1, 2, 2};
  const float other[3] = {-2, 1, 0};

  SECTION("a handful of equal vectors") {
    flat_index index(3, space);
    for (std::int64_t key : {50, 7, 23, -4, 99}) index.upsert(key, same);
    index.upsert(3, other);
    // Batches of 3 and 9 take the per-query and the matrix-matrix paths.
    std::vector<float> queries;
    for (int i = 0; i < 9; ++i) queries.insert(queries.end(), same, same + 3);
    for (std::size_t nq : {std::size_t{1}, std::size_t{3}, std::size_t{9}}) {
      const auto k2 = index.search(queries.data(), nq, 2, nullptr);
      for (const auto& list : k2) {
        REQUIRE(list.size() == 2);
        CHECK(list[0].key == -4);
        CHECK(list[1].key == 7);
      }
      const auto k5 = index.search(queries.data(), nq, 5, nullptr);
      for (const auto& list : k5) {
        REQUIRE(list.size() == 5);
        const std::vector<std::int64_t> expected{-4, 7, 23, 50, 99};
        for (std::size_t i = 0; i < 5; ++i) CHECK(list[i].key == expected[i]);
      }
      const std::vector<std::int64_t> allowed{99, 23, 3};
      const auto filtered = index.search(queries.data(), nq, 2, &allowed);
      for (const auto& list : filtered) {
        REQUIRE(list.size() == 2);
        CHECK(list[0].key == 23);
        CHECK(list[1].key == 99);
      }
    }
  }

  SECTION("thousands of equal vectors across blocks, filtered and not") {
    const std::size_t n = 3 * vecstore::detail::rows_per_block(3) + 5;
    std::vector<std::int64_t> keys(n);
    std::iota(keys.begin(), keys.end(), std::int64_t{-500});
    std::mt19937 rng(7);
    std::shuffle(keys.begin(), keys.end(), rng);
    flat_index index(3, space);
    for (std::int64_t key : keys) index.upsert(key, same);

    std::vector<float> queries;
    for (int i = 0; i < 9; ++i) queries.insert(queries.end(), same, same + 3);
    std::vector<std::int64_t> sorted_keys = keys;
    std::sort(sorted_keys.begin(), sorted_keys.end());
    std::vector<std::int64_t> large(keys.begin() + 100, keys.end());  // bitmap path
    std::vector<std::int64_t> small(keys.begin(), keys.begin() + 100);  // gather path
    std::sort(large.begin(), large.end());
    std::sort(small.begin(), small.end());
    for (std::size_t nq : {std::size_t{1}, std::size_t{2}, std::size_t{9}}) {
      const auto all = index.search(queries.data(), nq, 10, nullptr);
      const auto got_large = index.search(queries.data(), nq, 10, &large);
      const auto got_small = index.search(queries.data(), nq, 10, &small);
      for (std::size_t q = 0; q < nq; ++q) {
        REQUIRE(all[q].size() == 10);
        REQUIRE(got_large[q].size() == 10);
        REQUIRE(got_small[q].size() == 10);
        for (std::size_t i = 0; i < 10; ++i) {
          CHECK(all[q][i].key == sorted_keys[i]);
          CHECK(got_large[q][i].key == large[i]);
          CHECK(got_small[q][i].key == small[i]);
        }
      }
    }
  }
}

TEST_CASE("flat_index cosine distances ignore the length of stored and query vectors", "[index][flat_index]") {
  const dataset d = make_dataset(300, 24, 21);
  flat_index index(24, metric::cosine);
  flat_index scaled(24, metric::cosine);
  for (std::size_t i = 0; i < d.keys.size(); ++i) {
    index.upsert(d.keys[i], d.row(i));
    std::vector<float> longer(d.row(i), d.row(i) + 24);
    for (float& x : longer) x *= 37.5f;
    scaled.upsert(d.keys[i], longer.data());
  }
  std::vector<float> q = random_floats(24, 22);
  std::vector<float> q_long = q;
  for (float& x : q_long) x *= 1e3f;
  const auto a = index.search(q.data(), 1, 20, nullptr);
  const auto b = scaled.search(q_long.data(), 1, 20, nullptr);
  const auto ref = reference_search(d, metric::cosine, q.data());
  CHECK(compare_with_reference(a[0], ref, 20) == "");
  CHECK(compare_with_reference(b[0], ref, 20) == "");

  // A stored vector finds itself at distance ~0 (never below 0).
  const auto self = index.search(d.row(3), 1, 1, nullptr);
  REQUIRE(self[0].size() == 1);
  CHECK(self[0][0].key == d.keys[3]);
  CHECK(self[0][0].distance >= 0.0f);
  CHECK(self[0][0].distance < 1e-6f);
}

TEST_CASE("flat_index l2 distance of a stored vector to itself is zero, never negative", "[index][flat_index]") {
  const dataset d = make_dataset(200, 33, 31);
  const flat_index index = make_index(d, metric::l2);
  const auto got = index.search(d.data.data(), 50, 1, nullptr);
  for (std::size_t q = 0; q < 50; ++q) {
    REQUIRE(got[q].size() == 1);
    CHECK(got[q][0].key == d.keys[q]);
    CHECK(got[q][0].distance >= 0.0f);
    CHECK(got[q][0].distance < 1e-5f);
  }
}

TEST_CASE("flat_index inner_product distances are 1 - dot and may be negative", "[index][flat_index]") {
  flat_index index(2, metric::inner_product);
  const float x[2] = {3, 4};
  index.upsert(1, x);
  const float q[2] = {1, 1};
  const auto got = index.search(q, 1, 1, nullptr);
  REQUIRE(got[0].size() == 1);
  CHECK(got[0][0].distance == -6.0f);
}

// ---- threads, kernel structure, archetype ------------------------------------------------

TEST_CASE("flat_index search is safe to call from many threads at once", "[index][flat_index]") {
  const dataset d = make_dataset(3000, 40, 51);
  const flat_index index = make_index(d, metric::l2);
  const std::vector<float> queries = random_floats(16 * 40, 52);
  const std::vector<std::int64_t> allowed(d.keys.begin(), d.keys.begin() + 200);
  const auto expected = index.search(queries.data(), 16, 10, nullptr);
  const auto expected_filtered = index.search(queries.data(), 16, 10, &allowed);

  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < ok.size(); ++t) {
    threads.emplace_back([&, t] {
      bool same = true;
      for (int round = 0; round < 20; ++round) {
        const std::size_t nq = (round % 2 == 0) ? 16 : 1;
        const auto got = index.search(queries.data(), nq, 10, round % 3 == 0 ? &allowed : nullptr);
        const auto& want = round % 3 == 0 ? expected_filtered : expected;
        for (std::size_t q = 0; q < nq; ++q) {
          if (got[q].size() != want[q].size()) same = false;
          for (std::size_t i = 0; same && i < got[q].size(); ++i)
            same = got[q][i].key == want[q][i].key &&
                   std::abs(got[q][i].distance - want[q][i].distance) <= 1e-4f * (1 + want[q][i].distance);
        }
      }
      ok[t] = same ? 1 : 0;
    });
  }
  for (std::thread& t : threads) t.join();
  for (int v : ok) CHECK(v == 1);
}

// ---- the single-query scan -----------------------------------------------------

TEST_CASE("dot_rows scores every row like a dot product and gives it the same bits wherever it sits",
          "[index][kernel]") {
  namespace detail = vecstore::detail;
  const std::size_t width = detail::native_product::width;
  // Below, at and around the packet width (the overlapping last packet), and rows of 400 and 604 bytes
  // (scored four side by side, and one by one).
  const std::size_t dim = GENERATE_COPY(std::size_t{1}, std::size_t{3}, width - 1, width, width + 1,
                                        2 * width + 5, std::size_t{100}, std::size_t{151});
  const std::size_t stride = dim + 3;  // padding that must not be summed
  const std::size_t n = 23;
  std::vector<float> rows = random_floats(n * stride, static_cast<std::uint32_t>(dim));
  for (std::size_t r = 0; r < n; ++r)  // NaN padding: any padding float summed would show
    for (std::size_t j = dim; j < stride; ++j) rows[r * stride + j] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> query = random_floats(dim, static_cast<std::uint32_t>(dim + 1));
  const float canary = -12345.0f;
  std::vector<float> whole(n + 1, canary);
  detail::dot_rows(rows.data(), n, stride, query.data(), dim, whole.data());
  CHECK(whole[n] == canary);
  for (std::size_t r = 0; r < n; ++r) {
    double want = 0.0;
    double magnitude = 0.0;
    for (std::size_t j = 0; j < dim; ++j) {
      want += static_cast<double>(rows[r * stride + j]) * query[j];
      magnitude += std::abs(static_cast<double>(rows[r * stride + j]) * query[j]);
    }
    CAPTURE(dim, r);
    CHECK(std::abs(whole[r] - want) <= 1e-6 * static_cast<double>(dim) * (1.0 + magnitude));
  }
  // Every count of rows (each remainder of four), from every first row: the same bits.
  for (std::size_t first = 0; first < 5; ++first) {
    for (std::size_t count = 1; first + count <= n; ++count) {
      std::vector<float> part(count + 1, canary);
      detail::dot_rows(rows.data() + first * stride, count, stride, query.data(), dim, part.data());
      CAPTURE(dim, first, count);
      for (std::size_t i = 0; i < count; ++i) REQUIRE(part[i] == whole[first + i]);
      REQUIRE(part[count] == canary);
    }
  }
  // Rows gathered out of order, as a filtered scan reads them: the same bits.
  const std::vector<std::size_t> order = {7, 0, 22, 3, 3, 15, 9};
  std::vector<float> gathered(order.size());
  detail::dot_rows_by([&](std::size_t i) { return rows.data() + order[i] * stride; }, order.size(), query.data(),
                      dim, gathered.data());
  for (std::size_t i = 0; i < order.size(); ++i) REQUIRE(gathered[i] == whole[order[i]]);
}

// ---- the packed product -------------------------------------------------------

// A packet of one float: the shape of packed_product without SIMD.
struct scalar_packet_traits {
  using type = float;
};

// Checks `Product` against dot products in double over a strided block of
// rows, for row and query counts around its panel and tile sizes.
template <class Product>
void check_packed_product(std::size_t dim) {
  constexpr std::size_t panel = Product::panel_rows;
  constexpr std::size_t tile = Product::tile_queries;
  const std::size_t stride = dim + 3;  // padding the product must not read into scores
  for (const std::size_t n : {std::size_t{1}, panel / 2 + 1, panel - 1, panel, panel + 1, 3 * panel + 5}) {
    for (const std::size_t m : {std::size_t{1}, (std::max)(tile - 1, std::size_t{1}), tile, tile + 1, 2 * tile + 3}) {
      CAPTURE(dim, n, m, panel, tile);
      const std::vector<float> rows = random_floats(n * stride, static_cast<std::uint32_t>(7 * n + m));
      const std::vector<float> queries = random_floats(m * dim, static_cast<std::uint32_t>(11 * m + dim));
      std::vector<float> packed_rows(Product::packed_rows_size(n, dim), std::numeric_limits<float>::quiet_NaN());
      std::vector<float> packed_queries(m * dim, std::numeric_limits<float>::quiet_NaN());
      Product::pack_rows(rows.data(), n, stride, dim, packed_rows.data());
      Product::pack_queries(queries.data(), m, dim, packed_queries.data());
      // Scores n rows into columns of n + 2: the two extra floats per query must stay untouched.
      const std::size_t ld = n + 2;
      const float canary = -12345.0f;
      std::vector<float> scores(ld * m, canary);
      Product::multiply(packed_rows.data(), n, dim, packed_queries.data(), m, scores.data(), ld);
      for (std::size_t q = 0; q < m; ++q) {
        for (std::size_t r = 0; r < n; ++r) {
          double want = 0.0;
          double magnitude = 0.0;
          for (std::size_t j = 0; j < dim; ++j) {
            want += static_cast<double>(rows[r * stride + j]) * queries[q * dim + j];
            magnitude += std::abs(static_cast<double>(rows[r * stride + j]) * queries[q * dim + j]);
          }
          CHECK(std::abs(scores[q * ld + r] - want) <= 1e-6 * static_cast<double>(dim) * (1.0 + magnitude));
        }
        CHECK(scores[q * ld + n] == canary);
        CHECK(scores[q * ld + n + 1] == canary);
      }
    }
  }
}

TEST_CASE("packed_product scores every row and query like a dot product, for every tile shape",
          "[index][kernel][product]") {
  namespace detail = vecstore::detail;
  using native_traits = Eigen::internal::packet_traits<float>;
  const std::size_t width = detail::native_product::width;
  const std::size_t dim = GENERATE_COPY(std::size_t{1}, std::size_t{3}, width, width + 1, 2 * width + 5);
  // The shape this build uses, the other register budget's, a one-query
  // tile, and no SIMD at all.
  check_packed_product<detail::native_product>(dim);
  check_packed_product<detail::packed_product<native_traits, 12>>(dim);
  check_packed_product<detail::packed_product<native_traits, 6>>(dim);
  check_packed_product<detail::packed_product<native_traits, 1>>(dim);
  check_packed_product<detail::packed_product<scalar_packet_traits, 3>>(dim);
}

TEST_CASE("packed_product gives a score the same bits wherever its row and query sit", "[index][kernel][product]") {
  // Threaded scans cut the rows at other places than one scan does, and a
  // batch's last queries fall into a narrower tile: neither may change a bit.
  using product = vecstore::detail::native_product;
  const std::size_t dim = 37;
  const std::size_t n = 5 * product::panel_rows + 3;
  const std::size_t m = 3 * product::tile_queries + 2;
  const std::vector<float> rows = random_floats(n * dim, 71);
  const std::vector<float> queries = random_floats(m * dim, 72);
  auto scores_of = [&](std::size_t first_row, std::size_t row_count, std::size_t first_query, std::size_t query_count) {
    std::vector<float> packed_rows(product::packed_rows_size(row_count, dim));
    std::vector<float> packed_queries(query_count * dim);
    product::pack_rows(rows.data() + first_row * dim, row_count, dim, dim, packed_rows.data());
    product::pack_queries(queries.data() + first_query * dim, query_count, dim, packed_queries.data());
    std::vector<float> scores(row_count * query_count);
    product::multiply(packed_rows.data(), row_count, dim, packed_queries.data(), query_count, scores.data(),
                      row_count);
    return scores;
  };
  const std::vector<float> whole = scores_of(0, n, 0, m);
  // Rows from 3 on (every row in another lane) against the last 5 queries
  // (a narrower tile, in other places of it).
  const std::size_t first_row = 3;
  const std::size_t first_query = m - 5;
  const std::vector<float> part = scores_of(first_row, n - first_row, first_query, 5);
  for (std::size_t q = 0; q < 5; ++q)
    for (std::size_t r = first_row; r < n; ++r)
      REQUIRE(part[q * (n - first_row) + (r - first_row)] == whole[(first_query + q) * n + r]);
}

// The scalar answer chunk_may_enter must give: does any score's distance pass the threshold?
template <metric Space>
bool some_score_may_enter(const std::vector<float>& scores, float threshold) {
  for (float s : scores)
    if (vecstore::detail::score_distance<Space>(s) <= threshold) return true;
  return false;
}

template <metric Space>
void check_chunk_may_enter() {
  std::mt19937 rng(Space == metric::l2 ? 81 : Space == metric::cosine ? 82 : 83);
  std::uniform_real_distribution<float> score(-1.5f, 1.5f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::size_t entered = 0;
  std::size_t skipped = 0;
  for (std::size_t n = 1; n <= 80; ++n) {
    for (int trial = 0; trial < 60; ++trial) {
      std::vector<float> scores(n);
      for (float& s : scores) s = score(rng);
      // NaN scores in some trials: a few, or all of them.
      if (trial % 3 == 1) scores[rng() % n] = nan;
      if (trial % 10 == 2) std::fill(scores.begin(), scores.end(), nan);
      // Thresholds around the chunk's best score, so both answers occur.
      const float threshold = trial % 5 == 0 ? std::numeric_limits<float>::infinity() : score(rng) + 0.5f;
      const bool want = some_score_may_enter<Space>(scores, threshold);
      CAPTURE(n, trial, threshold);
      REQUIRE(vecstore::detail::chunk_may_enter<Space>(scores.data(), n, threshold) == want);
      (want ? entered : skipped) += 1;
    }
  }
  CHECK(entered > 500);
  CHECK(skipped > 500);
}

TEST_CASE("the fold's chunk test skips a chunk only when none of its scores can enter", "[index][kernel]") {
  check_chunk_may_enter<metric::l2>();
  check_chunk_may_enter<metric::cosine>();
  check_chunk_may_enter<metric::inner_product>();
}

template <metric Space>
void check_kth_distance_bound() {
  namespace detail = vecstore::detail;
  std::mt19937 rng(Space == metric::l2 ? 84 : Space == metric::cosine ? 85 : 86);
  std::uniform_real_distribution<float> score(-1.0f, 1.0f);  // within cosine's range: distinct distances
  const float inf = std::numeric_limits<float>::infinity();
  std::size_t passed = 0;  // random scores within the bound, over the trials with many scores
  std::size_t scored = 0;
  for (const std::size_t k : {1, 3, 10, 32, 100, 128, 129}) {
    for (const std::size_t count : {4 * k - 1, 4 * k, 4 * k + 5, std::size_t{2621}}) {
      for (int trial = 0; trial < 12; ++trial) {
        std::vector<float> scores(count);
        for (float& s : scores) s = score(rng);
        if (trial % 4 == 1)  // many ties: five distinct scores
          for (float& s : scores) s = static_cast<float>(rng() % 5) * 0.25f;
        if (trial % 4 == 2)  // NaN in a third of the places
          for (std::size_t i = 0; i < count; i += 3) scores[i] = std::numeric_limits<float>::quiet_NaN();
        if (trial == 3) std::fill(scores.begin(), scores.end(), std::numeric_limits<float>::quiet_NaN());
        const float bound = detail::kth_distance_bound<Space>(scores.data(), count, k);
        CAPTURE(k, count, trial, bound);
        if (count < 4 * k || k > 128) {
          REQUIRE(bound == inf);  // too few scores to group, or k too large: no bound
          continue;
        }
        std::vector<float> distances;
        for (float s : scores)
          if (!std::isnan(s)) distances.push_back(detail::score_distance<Space>(s));
        std::sort(distances.begin(), distances.end());
        if (distances.size() < k) {
          REQUIRE(bound == inf);
          continue;
        }
        // Never below the k-th best, and the distance of a score, so k scores lie within it.
        REQUIRE(bound >= distances[k - 1]);
        REQUIRE(std::find(distances.begin(), distances.end(), bound) != distances.end());
        if (trial % 4 == 0 && count >= 32 * k) {
          passed += static_cast<std::size_t>(std::upper_bound(distances.begin(), distances.end(), bound) -
                                             distances.begin());
          scored += count;
        }
      }
    }
  }
  // It is worth having: of distinct random scores, few lie within it.
  REQUIRE(scored > 0);
  CHECK(passed * 10 < scored);
}

TEST_CASE("the bound a fresh top-k starts from is never below the k-th best distance", "[index][kernel]") {
  check_kth_distance_bound<metric::l2>();
  check_kth_distance_bound<metric::cosine>();
  check_kth_distance_bound<metric::inner_product>();
}

TEST_CASE("a fold into a fresh top-k keeps the exact best k, ties by key, NaN never", "[index][kernel]") {
  namespace detail = vecstore::detail;
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const std::size_t count = 2000;
  std::vector<std::int64_t> keys(count);
  for (std::size_t r = 0; r < count; ++r) keys[r] = static_cast<std::int64_t>(count - r);  // ties favour later rows
  const std::vector<float> norms(count, 1.0f);
  const detail::row_source src{vecstore::row_view{nullptr, count, 1, 1}, space, norms.data(), keys.data()};
  std::mt19937 rng(87);
  for (const std::size_t k : {1, 10, 32, 128}) {
    for (int trial = 0; trial < 6; ++trial) {
      std::vector<float> dots(count);
      for (float& d : dots) d = static_cast<float>(rng() % (trial % 2 == 0 ? 7 : 100000)) * 1e-5f;  // ties in half
      if (trial >= 4)
        for (std::size_t i = 0; i < count; i += 5) dots[i] = std::numeric_limits<float>::quiet_NaN();
      detail::topk_accumulator acc(k, k);
      detail::fold_block(space, dots.data(), count, detail::block_rows{}, norms.data(), 0.5f, src, nullptr, acc);
      // The reference, from the distances the fold saw (l2 turned the dots into them in place).
      std::vector<neighbor> want;
      for (std::size_t r = 0; r < count; ++r) {
        const float d = space == metric::l2        ? dots[r]
                        : space == metric::cosine ? detail::score_distance<metric::cosine>(dots[r])
                                                  : detail::score_distance<metric::inner_product>(dots[r]);
        if (!std::isnan(d)) want.push_back(neighbor{keys[r], d});
      }
      std::sort(want.begin(), want.end(), [](const neighbor& a, const neighbor& b) {
        return a.distance < b.distance || (a.distance == b.distance && a.key < b.key);
      });
      want.resize(k);
      const std::vector<neighbor> got = acc.take_sorted_keys();
      CAPTURE(k, trial);
      REQUIRE(got.size() == k);
      for (std::size_t i = 0; i < k; ++i) {
        CHECK(got[i].key == want[i].key);
        CHECK(got[i].distance == want[i].distance);
      }
    }
  }
}

TEST_CASE("kernel scans of row ranges merged together equal one scan over all rows", "[index][kernel]") {
  namespace detail = vecstore::detail;
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const std::size_t dim = 19;
  const dataset d = make_dataset(5000, dim, 61);
  const flat_index index = make_index(d, space);
  const std::size_t nq = 9;
  const std::vector<float> queries = random_floats(nq * dim, 62);
  const detail::row_source src{index.rows(), space, nullptr, index.keys().data()};
  const detail::query_set qs(queries.data(), nq, dim, space);

  // As a threaded scan would: three row ranges, one accumulator set each.
  std::vector<std::vector<detail::topk_accumulator>> parts(3);
  const std::size_t cuts[4] = {0, 1234, 3001, 5000};
  for (std::size_t p = 0; p < 3; ++p) {
    for (std::size_t q = 0; q < nq; ++q) parts[p].emplace_back(10, 10);
    detail::scan_rows(src, qs, cuts[p], cuts[p + 1], nullptr, parts[p].data());
  }
  for (std::size_t p = 1; p < 3; ++p)
    for (std::size_t q = 0; q < nq; ++q) parts[0][q].merge(parts[p][q]);
  const auto whole = detail::search(src, queries.data(), nq, 10);
  for (std::size_t q = 0; q < nq; ++q) {
    const std::vector<detail::scored_row> merged = parts[0][q].take_sorted();
    REQUIRE(merged.size() == whole[q].size());
    for (std::size_t i = 0; i < merged.size(); ++i) {
      CHECK(merged[i].row == whole[q][i].row);
      CHECK(merged[i].distance == Approx(whole[q][i].distance).margin(1e-5));
    }
  }
}

TEST_CASE("kernel results hold for a strided row_view without precomputed norms", "[index][kernel]") {
  namespace detail = vecstore::detail;
  const metric space = GENERATE(metric::l2, metric::inner_product);
  const std::size_t dim = 10;
  const std::size_t stride = 13;  // rows padded with garbage the kernel must not read into scores
  const dataset d = make_dataset(700, dim, 71);
  std::vector<float> padded(d.keys.size() * stride, 1e6f);
  for (std::size_t i = 0; i < d.keys.size(); ++i) std::copy(d.row(i), d.row(i) + dim, padded.data() + i * stride);
  const detail::row_source src{vecstore::row_view{padded.data(), d.keys.size(), dim, stride}, space, nullptr,
                               d.keys.data()};
  const std::vector<float> queries = random_floats(9 * dim, 72);
  for (const bool filtered : {false, true}) {
    std::vector<std::size_t> rows;
    std::set<std::int64_t> allowed;
    for (std::size_t r = 0; r < d.keys.size(); r += 9) {
      rows.push_back(r);
      allowed.insert(d.keys[r]);
    }
    for (const std::size_t nq : {std::size_t{1}, std::size_t{3}, std::size_t{9}}) {
      const auto got = filtered ? detail::search(src, queries.data(), nq, 8, rows)
                                : detail::search(src, queries.data(), nq, 8);
      for (std::size_t q = 0; q < nq; ++q) {
        std::vector<neighbor> as_neighbors;
        for (const auto& s : got[q]) as_neighbors.push_back(neighbor{d.keys[s.row], s.distance});
        INFO("filtered " << filtered << ", nq " << nq << ", query " << q);
        CHECK(compare_with_reference(as_neighbors,
                                     reference_search(d, space, queries.data() + q * dim,
                                                      filtered ? &allowed : nullptr),
                                     8) == "");
      }
    }
  }
}

TEST_CASE("the index archetype and flat_index return the same neighbors", "[index][requirements]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const dataset d = make_dataset(120, 6, 81);
  const flat_index index = make_index(d, space);
  vecstore::test::index_archetype archetype(6, space);
  for (std::size_t i = 0; i < d.keys.size(); ++i) archetype.upsert(d.keys[i], d.row(i));
  const std::vector<float> queries = random_floats(4 * 6, 82);
  const std::vector<std::int64_t> allowed(d.keys.begin(), d.keys.begin() + 30);
  for (const std::vector<std::int64_t>* filter : {static_cast<const std::vector<std::int64_t>*>(nullptr), &allowed}) {
    const auto a = index.search(queries.data(), 4, 7, filter);
    const auto b = archetype.search(queries.data(), 4, 7, filter);
    const std::set<std::int64_t> allowed_set(allowed.begin(), allowed.end());
    for (std::size_t q = 0; q < 4; ++q) {
      const auto ref = reference_search(d, space, queries.data() + q * 6, filter ? &allowed_set : nullptr);
      CHECK(compare_with_reference(a[q], ref, 7) == "");
      CHECK(compare_with_reference(b[q], ref, 7) == "");
    }
  }
}

// ---- multi-threaded scans ------------------------------------------------------------------

namespace {

bool identical(const std::vector<std::vector<neighbor>>& a, const std::vector<std::vector<neighbor>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t q = 0; q < a.size(); ++q) {
    if (a[q].size() != b[q].size()) return false;
    for (std::size_t i = 0; i < a[q].size(); ++i)
      if (a[q][i].key != b[q][i].key || a[q][i].distance != b[q][i].distance) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("flat_index threaded scans return exactly the single-threaded results", "[index][flat_index][threads]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  // 40000 x 64 floats: enough work that even one query splits the rows, at a
  // row that is not a block boundary (one query's ranges are cut anywhere).
  const dataset d = make_dataset(40000, 64, 101);
  flat_index single = make_index(d, space);
  single.set_threads(1);
  flat_index multi = make_index(d, space);
  const std::vector<float> queries = random_floats(70 * 64, 102);
  std::vector<std::int64_t> large(d.keys.begin(), d.keys.begin() + 32000);  // bitmap path
  std::vector<std::int64_t> small(d.keys.begin(), d.keys.begin() + 6000);   // gather path
  for (const std::size_t threads : {std::size_t{2}, std::size_t{5}}) {
    multi.set_threads(threads);
    CHECK(multi.threads() == threads);
    for (const std::size_t nq : {std::size_t{1}, std::size_t{3}, std::size_t{70}}) {
      INFO("metric " << metric_name(space) << ", threads " << threads << ", nq " << nq);
      CHECK(identical(multi.search(queries.data(), nq, 10, nullptr), single.search(queries.data(), nq, 10, nullptr)));
      CHECK(identical(multi.search(queries.data(), nq, 100, &large), single.search(queries.data(), nq, 100, &large)));
      CHECK(identical(multi.search(queries.data(), nq, 7, &small), single.search(queries.data(), nq, 7, &small)));
    }
  }
  // And the threaded results are the exact ones.
  multi.set_threads(3);
  const auto got = multi.search(queries.data(), 2, 10, nullptr);
  for (std::size_t q = 0; q < 2; ++q)
    CHECK(compare_with_reference(got[q], reference_search(d, space, queries.data() + q * 64), 10) == "");
}

TEST_CASE("the search thread count is a process-wide setting an index may override", "[index][threads]") {
  const std::size_t before = vecstore::search_threads();
  CHECK(before >= 1);
  vecstore::set_search_threads(3);
  CHECK(vecstore::search_threads() == 3);
  flat_index index(4, metric::l2);
  CHECK(index.threads() == 3);
  index.set_threads(1);
  CHECK(index.threads() == 1);
  index.set_threads(0);
  CHECK(index.threads() == 3);
  vecstore::set_search_threads(0);
  CHECK(vecstore::search_threads() == before);
  CHECK(vecstore::detail::tasks_for(vecstore::detail::min_parallel_work - 1, 8) == 1);
  CHECK(vecstore::detail::tasks_for(vecstore::detail::min_parallel_work * 3, 8) == 3);
  CHECK(vecstore::detail::tasks_for(vecstore::detail::min_parallel_work * 30, 8) == 8);
}

TEST_CASE("threaded flat_index searches run concurrently from many threads",
          "[index][flat_index][threads][concurrency]") {
  const dataset d = make_dataset(30000, 48, 111);
  flat_index index = make_index(d, metric::inner_product);
  index.set_threads(1);
  const std::vector<float> queries = random_floats(16 * 48, 112);
  const std::vector<std::int64_t> allowed(d.keys.begin(), d.keys.begin() + 25000);
  const auto expected = index.search(queries.data(), 16, 10, nullptr);
  const auto expected_filtered = index.search(queries.data(), 16, 10, &allowed);
  // One query takes the matrix-vector path, whose roundings differ from the product's.
  const auto expected_one = index.search(queries.data(), 1, 10, nullptr);
  const auto expected_one_filtered = index.search(queries.data(), 1, 10, &allowed);
  index.set_threads(4);  // more threads than cores: callers and pool workers interleave

  std::vector<int> ok(6, 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < ok.size(); ++t) {
    threads.emplace_back([&, t] {
      bool same = true;
      for (int round = 0; round < 12; ++round) {
        const bool filtered = (round + static_cast<int>(t)) % 3 == 0;
        const std::size_t nq = round % 2 == 0 ? 16 : 1;
        auto got = index.search(queries.data(), nq, 10, filtered ? &allowed : nullptr);
        const auto& want = nq == 1 ? (filtered ? expected_one_filtered : expected_one)
                                   : (filtered ? expected_filtered : expected);
        for (std::size_t q = 0; q < nq; ++q) {
          same = same && got[q].size() == want[q].size();
          for (std::size_t i = 0; same && i < got[q].size(); ++i)
            same = got[q][i].key == want[q][i].key && got[q][i].distance == want[q][i].distance;
        }
      }
      ok[t] = same ? 1 : 0;
    });
  }
  for (std::thread& t : threads) t.join();
  for (int v : ok) CHECK(v == 1);
}

TEST_CASE("the search pool runs every task once, rethrows a task's exception, and is usable after fork",
          "[index][threads][concurrency]") {
  namespace detail = vecstore::detail;
  std::vector<std::atomic<int>> runs(37);
  detail::parallel_run(runs.size(), [&](std::size_t i) { runs[i].fetch_add(1); });
  for (const auto& r : runs) CHECK(r.load() == 1);

  CHECK_THROWS_AS(detail::parallel_run(5,
                                       [](std::size_t i) {
                                         if (i == 3) throw std::runtime_error("task 3");
                                       }),
                  std::runtime_error);
  // Still working after a failed job.
  std::atomic<int> total{0};
  detail::parallel_run(4, [&](std::size_t i) { total += static_cast<int>(i); });
  CHECK(total.load() == 6);

  // A child of fork() has no pool threads; its first parallel search builds its own pool.
  const dataset d = make_dataset(20000, 64, 121);
  flat_index index = make_index(d, metric::l2);
  index.set_threads(1);
  const std::vector<float> q = random_floats(64, 122);
  const auto want = index.search(q.data(), 1, 5, nullptr);
  index.set_threads(2);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const auto got = index.search(q.data(), 1, 5, nullptr);
    bool same = got[0].size() == want[0].size();
    for (std::size_t i = 0; same && i < got[0].size(); ++i) same = got[0][i].key == want[0][i].key;
    ::_exit(same ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
