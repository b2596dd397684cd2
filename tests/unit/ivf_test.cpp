// SPDX-License-Identifier: MIT
// Unit tests of ivf_index: recall against exact search, the untrained fallback, the persistent-index
// extension (train, serialize, load_state, assign), incremental adds, erase, filters and corrupt blobs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <vecstore/detail/row_lists.hpp>
#include <vecstore/index/flat_index.hpp>
#include <vecstore/index/ivf_index.hpp>
#include <vecstore/index/requirements.hpp>

using vecstore::flat_index;
using vecstore::ivf_index;
using vecstore::metric;
using vecstore::neighbor;

namespace {

/// Overlapping Gaussian clusters of varied size and spread: hard enough that
/// probing one list misses many true neighbours.
struct clustered {
  std::size_t dim = 0;
  std::vector<std::int64_t> keys;
  std::vector<float> data;
  const float* row(std::size_t i) const { return data.data() + i * dim; }
};

clustered make_clustered(std::size_t n, std::size_t dim, std::size_t clusters, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_real_distribution<float> spread(0.3f, 1.2f);
  std::vector<float> centers(clusters * dim);
  for (float& c : centers) c = gauss(rng);
  std::vector<float> spreads(clusters);
  for (float& s : spreads) s = spread(rng);
  std::vector<double> weights(clusters);
  for (std::size_t c = 0; c < clusters; ++c) weights[c] = 1.0 / (1.0 + static_cast<double>(c));  // Zipf sizes
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
  clustered d;
  d.dim = dim;
  d.data.resize(n * dim);
  d.keys.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = pick(rng);
    for (std::size_t j = 0; j < dim; ++j) d.data[i * dim + j] = centers[c * dim + j] + spreads[c] * gauss(rng);
    d.keys[i] = static_cast<std::int64_t>(i) * 7 - 5000;
  }
  std::shuffle(d.keys.begin(), d.keys.end(), rng);
  return d;
}

template <class Index>
void fill(Index& index, const clustered& d) {
  for (std::size_t i = 0; i < d.keys.size(); ++i) index.upsert(d.keys[i], d.row(i));
}

std::vector<float> queries_near(const clustered& d, std::size_t nq, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 0.5f);
  std::uniform_int_distribution<std::size_t> pick(0, d.keys.size() - 1);
  std::vector<float> q(nq * d.dim);
  for (std::size_t i = 0; i < nq; ++i) {
    const float* base = d.row(pick(rng));
    for (std::size_t j = 0; j < d.dim; ++j) q[i * d.dim + j] = base[j] + gauss(rng);
  }
  return q;
}

double recall(const std::vector<std::vector<neighbor>>& got, const std::vector<std::vector<neighbor>>& truth) {
  std::size_t hits = 0, total = 0;
  for (std::size_t q = 0; q < truth.size(); ++q) {
    std::set<std::int64_t> want;
    for (const neighbor& n : truth[q]) want.insert(n.key);
    for (const neighbor& n : got[q]) hits += want.count(n.key);
    total += truth[q].size();
  }
  return total == 0 ? 1.0 : static_cast<double>(hits) / static_cast<double>(total);
}

bool same_results(const std::vector<std::vector<neighbor>>& a, const std::vector<std::vector<neighbor>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t q = 0; q < a.size(); ++q) {
    if (a[q].size() != b[q].size()) return false;
    for (std::size_t i = 0; i < a[q].size(); ++i)
      if (a[q][i].key != b[q][i].key || a[q][i].distance != b[q][i].distance) return false;
  }
  return true;
}

/// The nearest centroid by exact double arithmetic, ties to the smaller list.
std::int32_t nearest_centroid(const ivf_index& index, const float* raw) {
  std::vector<double> x(raw, raw + index.dim());
  if (index.space() == metric::cosine) {
    double sq = 0;
    for (double v : x) sq += v * v;
    for (double& v : x) v = static_cast<float>(v / std::sqrt(sq));
  }
  const vecstore::row_view c = index.centroids();
  std::int32_t best = -1;
  double best_d = std::numeric_limits<double>::infinity();
  for (std::size_t l = 0; l < c.rows; ++l) {
    double d = 0;
    for (std::size_t j = 0; j < c.dim; ++j) d += (x[j] - c.row(l)[j]) * (x[j] - c.row(l)[j]);
    if (d < best_d) {
      best_d = d;
      best = static_cast<std::int32_t>(l);
    }
  }
  return best;
}

}  // namespace

TEST_CASE("row_lists keeps every list contiguous and intact through relocation and compaction",
          "[index][ivf_index]") {
  const std::size_t dim = 5, lists = 40;
  vecstore::detail::row_lists rows(dim);
  rows.reset(std::vector<std::size_t>(lists, 3));
  CHECK(rows.held_rows() == 3 * lists);
  std::vector<std::vector<float>> model(lists);
  std::mt19937 rng(17);
  std::uniform_int_distribution<std::size_t> pick(0, lists - 1);
  // held_rows() grows when a list moves to the end, and shrinks only when the array is packed anew.
  std::size_t relocations = 0, compactions = 0, held = rows.held_rows();
  float next = 0.0f;
  for (std::size_t step = 0; step < 60000; ++step) {
    // Skewed: low lists grow much faster, so that lists relocate and the array compacts.
    const std::size_t l = (std::min)(pick(rng), pick(rng));
    if (step % 5 == 4 && !model[l].empty()) {
      rows.pop_back(l);
      model[l].resize(model[l].size() - dim);
    } else {
      float v[dim];
      for (float& x : v) x = next++;
      rows.push_back(l, v);
      model[l].insert(model[l].end(), v, v + dim);
    }
    relocations += rows.held_rows() > held ? 1 : 0;
    compactions += rows.held_rows() < held ? 1 : 0;
    held = rows.held_rows();
    if (step % 997 == 0) {
      std::size_t live = 0;
      for (std::size_t i = 0; i < lists; ++i) {
        REQUIRE(rows.size(i) * dim == model[i].size());
        REQUIRE(std::equal(model[i].begin(), model[i].end(), rows.rows(i)));
        if (rows.size(i) > 0) REQUIRE(rows.row(i, rows.size(i) - 1) == rows.rows(i) + (rows.size(i) - 1) * dim);
        live += rows.size(i);
      }
      // The documented bound: at most 2.5x the rows in use (plus the minimum room of each list).
      REQUIRE(rows.held_rows() * 2 <= 5 * live + 2 * 8 * lists);
    }
  }
  // Both ways of making room were exercised.
  CHECK(relocations > 0);
  CHECK(compactions > 0);
  rows.clear();
  for (std::size_t i = 0; i < lists; ++i) CHECK(rows.size(i) == 0);
}

TEST_CASE("ivf_index meets the IndexPolicy requirements and the persistent extension", "[index][ivf_index]") {
  static_assert(vecstore::detail::checked<vecstore::index_requirements<ivf_index>>, "ivf_index");
  static_assert(vecstore::is_index_policy_v<ivf_index>, "ivf_index");
  static_assert(!ivf_index::exact, "approximate");
  static_assert(vecstore::detail::is_persistent_index_v<ivf_index>, "ivf_index is persistent");
  static_assert(!vecstore::detail::is_persistent_index_v<flat_index>, "flat_index is not");
#if defined(__cpp_concepts)
  static_assert(vecstore::index_policy<ivf_index>, "concept");
#endif
  SUCCEED("checked at compile time");
}

TEST_CASE("ivf_index recall rises with nprobe and is exact when every list is probed", "[index][ivf_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const clustered d = make_clustered(6000, 24, 60, 11);
  flat_index flat(d.dim, space);
  fill(flat, d);
  ivf_index ivf(d.dim, space);
  ivf.set_nlist(48);
  fill(ivf, d);
  REQUIRE_FALSE(ivf.trained());
  const std::vector<std::uint8_t> blob = ivf.train();
  REQUIRE(ivf.trained());
  REQUIRE(ivf.nlist() == 48);
  REQUIRE(ivf.size() == d.keys.size());
  REQUIRE(ivf.list_size(-1) == 0);
  CHECK(blob.size() == 40 + 48 * d.dim * 4 + 8);

  const std::size_t nq = 100;
  const std::vector<float> queries = queries_near(d, nq, 12);
  const auto truth = flat.search(queries.data(), nq, 10, nullptr);
  double previous = 0.0;
  std::vector<double> seen;
  for (std::size_t nprobe : {1, 2, 4, 8, 16, 48}) {
    ivf.set_nprobe(nprobe);
    const double r = recall(ivf.search(queries.data(), nq, 10, nullptr), truth);
    // One query at a time takes the other path through the kernel; same lists, same answer.
    std::vector<std::vector<neighbor>> one_by_one;
    for (std::size_t q = 0; q < nq; ++q) one_by_one.push_back(ivf.search(queries.data() + q * d.dim, 1, 10, nullptr)[0]);
    CHECK(recall(one_by_one, truth) == Approx(r).margin(0.005));
    INFO("metric " << vecstore::to_string(space) << ", nprobe " << nprobe << ", recall " << r);
    CHECK(r >= previous);
    previous = r;
    seen.push_back(r);
  }
  CHECK(seen.front() < 0.9);  // the data is hard enough that one list is not enough
  CHECK(seen.back() == 1.0);
  // Exhaustive probing returns the very distances of the exact search.
  ivf.set_nprobe(48);
  const auto all = ivf.search(queries.data(), nq, 10, nullptr);
  for (std::size_t q = 0; q < nq; ++q)
    for (std::size_t i = 0; i < 10; ++i) CHECK(all[q][i].distance == Approx(truth[q][i].distance).margin(1e-4));
}

TEST_CASE("ivf_index searches exactly while untrained", "[index][ivf_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const clustered d = make_clustered(700, 10, 7, 21);
  flat_index flat(d.dim, space);
  ivf_index ivf(d.dim, space);
  fill(flat, d);
  fill(ivf, d);
  CHECK_FALSE(ivf.trained());
  CHECK(ivf.assign(d.row(0)) == -1);
  CHECK(ivf.list_of(d.keys[0]) == std::optional<std::int32_t>(-1));
  const std::vector<float> queries = queries_near(d, 9, 22);
  CHECK(same_results(ivf.search(queries.data(), 9, 15, nullptr), flat.search(queries.data(), 9, 15, nullptr)));
  const std::vector<std::int64_t> allowed(d.keys.begin(), d.keys.begin() + 50);
  CHECK(same_results(ivf.search(queries.data(), 9, 15, &allowed), flat.search(queries.data(), 9, 15, &allowed)));
  CHECK(same_results(ivf.search(queries.data(), 1, 3, nullptr), flat.search(queries.data(), 1, 3, nullptr)));
}

TEST_CASE("ivf_index state survives serialization: another index assigns and searches identically",
          "[index][ivf_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const clustered d = make_clustered(3000, 16, 30, 31);
  ivf_index first(d.dim, space);
  first.set_nlist(24);
  fill(first, d);
  const std::vector<std::uint8_t> blob = first.train();

  // Every key was re-bucketed exactly where assign() puts it.
  for (std::size_t i = 0; i < d.keys.size(); ++i) {
    const std::int32_t list = first.assign(d.row(i));
    REQUIRE(first.list_of(d.keys[i]) == std::optional<std::int32_t>(list));
    REQUIRE(list == nearest_centroid(first, d.row(i)));
  }
  // assign_many agrees with assign.
  std::vector<std::int32_t> many(d.keys.size());
  first.assign_many(d.data.data(), d.keys.size(), many.data());
  for (std::size_t i = 0; i < d.keys.size(); ++i) REQUIRE(many[i] == first.assign(d.row(i)));

  // A second process: loads the blob, then the store re-adds every row with its stored list.
  ivf_index second(d.dim, space);
  second.load_state(blob.data(), blob.size());
  CHECK(second.trained());
  CHECK(second.nlist() == 24);
  CHECK(second.trained_size() == d.keys.size());
  CHECK(second.size() == 0);
  for (std::size_t i = 0; i < d.keys.size(); ++i) second.upsert(d.keys[i], d.row(i), first.assign(d.row(i)));
  const std::vector<float> probes = queries_near(d, 200, 32);
  for (std::size_t q = 0; q < 200; ++q) REQUIRE(second.assign(&probes[q * d.dim]) == first.assign(&probes[q * d.dim]));

  // The same rows inserted in the same order: bit-identical results.
  ivf_index third(d.dim, space);
  third.load_state(blob.data(), blob.size());
  for (std::int32_t list = 0; list < 24; ++list)
    for (std::size_t i = 0; i < d.keys.size(); ++i)
      if (first.list_of(d.keys[i]) == list) third.upsert(d.keys[i], d.row(i), list);
  for (const std::size_t nprobe : {std::size_t{1}, std::size_t{5}}) {
    first.set_nprobe(nprobe);
    second.set_nprobe(nprobe);
    third.set_nprobe(nprobe);
    const auto a = first.search(probes.data(), 50, 10, nullptr);
    CHECK(recall(second.search(probes.data(), 50, 10, nullptr), a) == 1.0);
    // `first` re-bucketed list by list in key order of the fallback list; the
    // result sets agree, the distances of each key too.
    const auto c = third.search(probes.data(), 50, 10, nullptr);
    CHECK(recall(c, a) == 1.0);
    for (std::size_t q = 0; q < 50; ++q)
      for (std::size_t i = 0; i < a[q].size(); ++i) CHECK(c[q][i].distance == Approx(a[q][i].distance).margin(1e-5));
  }

  // Training is deterministic: the same contents inserted in another order give the same blob.
  ivf_index shuffled(d.dim, space);
  shuffled.set_nlist(24);
  for (std::size_t i = d.keys.size(); i-- > 0;) shuffled.upsert(d.keys[i], d.row(i));
  CHECK(shuffled.train() == blob);
}

TEST_CASE("ivf_index adds after training land in the nearest list; erase and re-add work", "[index][ivf_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const clustered d = make_clustered(2000, 12, 20, 41);
  ivf_index ivf(d.dim, space);
  ivf.set_nlist(16);
  fill(ivf, d);
  ivf.train();

  const clustered more = make_clustered(300, 12, 20, 42);
  for (std::size_t i = 0; i < more.keys.size(); ++i) {
    const std::int64_t key = 1'000'000 + static_cast<std::int64_t>(i);
    ivf.upsert(key, more.row(i));
    REQUIRE(ivf.list_of(key) == std::optional<std::int32_t>(nearest_centroid(ivf, more.row(i))));
  }
  CHECK(ivf.size() == 2300);

  // Replacing a vector may move its key to another list.
  ivf.upsert(d.keys[0], more.row(5));
  CHECK(ivf.list_of(d.keys[0]) == ivf.list_of(1'000'005));
  CHECK(ivf.size() == 2300);

  ivf.set_nprobe(16);
  if (space != metric::inner_product) {  // under inner product a vector need not be its own nearest
    const auto self = ivf.search(more.row(7), 1, 1, nullptr);
    REQUIRE(self[0].size() == 1);
    CHECK(self[0][0].key == 1'000'007);
    CHECK(self[0][0].distance == Approx(0.0).margin(1e-4));
  }

  // Erase half, including keys that are the last row of their list.
  std::set<std::int64_t> erased;
  for (std::size_t i = 0; i < d.keys.size(); i += 2) {
    REQUIRE(ivf.erase(d.keys[i]));
    erased.insert(d.keys[i]);
  }
  CHECK_FALSE(ivf.erase(d.keys[0]));
  CHECK(ivf.size() == 2300 - erased.size());
  for (std::int64_t key : erased) CHECK_FALSE(ivf.contains(key));
  const std::vector<float> queries = queries_near(d, 30, 43);
  for (const auto& list : ivf.search(queries.data(), 30, 20, nullptr))
    for (const neighbor& n : list) CHECK(erased.count(n.key) == 0);

  // The rest is intact: exhaustive probing equals an exact search over what remains.
  flat_index flat(d.dim, space);
  for (std::size_t i = 0; i < d.keys.size(); ++i)
    if (erased.count(d.keys[i]) == 0 && i != 0) flat.upsert(d.keys[i], d.row(i));
  for (std::size_t i = 0; i < more.keys.size(); ++i) flat.upsert(1'000'000 + static_cast<std::int64_t>(i), more.row(i));
  CHECK(recall(ivf.search(queries.data(), 30, 10, nullptr), flat.search(queries.data(), 30, 10, nullptr)) == 1.0);

  ivf.upsert(d.keys[0], d.row(0));
  CHECK(ivf.contains(d.keys[0]));
  ivf.clear();
  CHECK(ivf.size() == 0);
  CHECK(ivf.trained());  // the quantizer stays
  CHECK(ivf.search(queries.data(), 1, 5, nullptr)[0].empty());
}

TEST_CASE("ivf_index filtered search returns only allowed keys, exactly when the filter is small",
          "[index][ivf_index]") {
  const metric space = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const clustered d = make_clustered(4000, 16, 40, 51);
  flat_index flat(d.dim, space);
  fill(flat, d);
  ivf_index ivf(d.dim, space);
  ivf.set_nlist(32);
  fill(ivf, d);
  ivf.train();
  ivf.set_nprobe(4);
  const std::vector<float> queries = queries_near(d, 20, 52);
  std::vector<std::int64_t> shuffled = d.keys;
  std::mt19937 rng(53);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);

  SECTION("a small filter is searched exactly") {
    std::vector<std::int64_t> allowed(shuffled.begin(), shuffled.begin() + 150);
    allowed.push_back(123456789);  // absent keys are ignored
    allowed.push_back(allowed.front());  // repeats too
    for (std::size_t nq : {std::size_t{1}, std::size_t{20}}) {
      const auto got = ivf.search(queries.data(), nq, 10, &allowed);
      const auto want = flat.search(queries.data(), nq, 10, &allowed);
      CHECK(recall(got, want) == 1.0);
    }
  }
  SECTION("a large filter probes lists and keeps only allowed keys") {
    const std::vector<std::int64_t> allowed(shuffled.begin(), shuffled.begin() + 3000);
    const std::set<std::int64_t> allowed_set(allowed.begin(), allowed.end());
    const auto got = ivf.search(queries.data(), 20, 10, &allowed);
    for (const auto& list : got) {
      CHECK(list.size() == 10);
      for (const neighbor& n : list) CHECK(allowed_set.count(n.key) == 1);
    }
    ivf.set_nprobe(32);
    CHECK(recall(ivf.search(queries.data(), 20, 10, &allowed), flat.search(queries.data(), 20, 10, &allowed)) == 1.0);
  }
  SECTION("an empty filter, or one naming no held key, finds nothing") {
    const std::vector<std::int64_t> none;
    const std::vector<std::int64_t> absent{1, 2, 3};
    for (const auto& list : ivf.search(queries.data(), 3, 10, &none)) CHECK(list.empty());
    for (const auto& list : ivf.search(queries.data(), 3, 10, &absent)) CHECK(list.empty());
  }
}

TEST_CASE("ivf_index trusts the list it is given, and keeps unknown lists in the scanned fallback",
          "[index][ivf_index]") {
  const clustered d = make_clustered(1000, 8, 10, 61);
  ivf_index ivf(d.dim, metric::l2);
  ivf.set_nlist(8);
  fill(ivf, d);
  const std::vector<std::uint8_t> blob = ivf.train();
  ivf_index other(d.dim, metric::l2);
  other.load_state(blob.data(), blob.size());
  other.upsert(1, d.row(0), 3);
  CHECK(other.list_of(1) == std::optional<std::int32_t>(3));
  other.upsert(2, d.row(1), -1);
  other.upsert(3, d.row(2), 99);  // not a list of this quantizer: kept, in the fallback
  CHECK(other.list_of(2) == std::optional<std::int32_t>(-1));
  CHECK(other.list_of(3) == std::optional<std::int32_t>(-1));
  other.set_nprobe(1);
  // The fallback is scanned by every query, whatever it probes.
  const auto got = other.search(d.row(2), 1, 1, nullptr);
  REQUIRE(got[0].size() == 1);
  CHECK(got[0][0].key == 3);
}

TEST_CASE("ivf_index rejects a damaged or foreign quantizer blob with corruption_error", "[index][ivf_index]") {
  const clustered d = make_clustered(800, 6, 8, 71);
  ivf_index ivf(d.dim, metric::cosine);
  ivf.set_nlist(8);
  fill(ivf, d);
  const std::vector<std::uint8_t> blob = ivf.train();

  ivf_index target(d.dim, metric::cosine);
  target.load_state(blob.data(), blob.size());
  const std::int32_t before = target.assign(d.row(3));

  const auto rejects = [&](const std::vector<std::uint8_t>& bad) {
    CHECK_THROWS_AS(target.load_state(bad.data(), bad.size()), vecstore::corruption_error);
  };
  rejects({});
  CHECK_THROWS_AS(target.load_state(nullptr, 0), vecstore::corruption_error);
  rejects(std::vector<std::uint8_t>(blob.begin(), blob.begin() + 30));     // shorter than a header
  rejects(std::vector<std::uint8_t>(blob.begin(), blob.end() - 4));        // truncated
  std::vector<std::uint8_t> longer = blob;
  longer.push_back(0);
  rejects(longer);
  for (const std::size_t at : {std::size_t{0}, std::size_t{9}, std::size_t{20}, std::size_t{44}, blob.size() - 1}) {
    std::vector<std::uint8_t> flipped = blob;
    flipped[at] ^= 0x10;
    rejects(flipped);
  }
  std::vector<std::uint8_t> garbage(blob.size(), 0xAB);
  rejects(garbage);
  // Another dimension or metric: well-formed, but not this collection's.
  ivf_index other_dim(d.dim + 1, metric::cosine);
  CHECK_THROWS_WITH(other_dim.load_state(blob.data(), blob.size()),
                    "vecstore: cannot load the ivf_index quantizer: it was trained for dimension 6, not 7. "
                    "Retrain the collection's index or restore a backup");
  ivf_index other_metric(d.dim, metric::l2);
  CHECK_THROWS_AS(other_metric.load_state(blob.data(), blob.size()), vecstore::corruption_error);
  CHECK_FALSE(other_metric.trained());
  // The failed loads left the target's quantizer as it was.
  CHECK(target.trained());
  CHECK(target.assign(d.row(3)) == before);
}

TEST_CASE("ivf_index wants training when large enough, and again when grown fourfold", "[index][ivf_index]") {
  ivf_index ivf(4, metric::l2);
  CHECK_FALSE(ivf.wants_training(0));
  CHECK_FALSE(ivf.wants_training(1000));
  // Default nlist is about 4 sqrt(N); 39 points per list needs N >= 24,336.
  CHECK(ivf_index::default_nlist(24336) == 624);
  CHECK_FALSE(ivf.wants_training(24000));
  CHECK(ivf.wants_training(24336));
  CHECK(ivf.wants_training(1'000'000));
  ivf.set_nlist(16);
  CHECK_FALSE(ivf.wants_training(623));
  CHECK(ivf.wants_training(624));

  std::mt19937 rng(81);
  std::normal_distribution<float> gauss;
  for (std::int64_t key = 0; key < 700; ++key) {
    const float v[4] = {gauss(rng), gauss(rng), gauss(rng), gauss(rng)};
    ivf.upsert(key, v);
  }
  ivf.train();
  CHECK(ivf.trained_size() == 700);
  CHECK_FALSE(ivf.wants_training(700));
  CHECK_FALSE(ivf.wants_training(2799));
  CHECK(ivf.wants_training(2800));
}

TEST_CASE("ivf_index trains on few or duplicate vectors without empty lists breaking it", "[index][ivf_index]") {
  ivf_index ivf(3, metric::l2);
  const float same[3] = {1, 2, 3};
  for (std::int64_t key = 0; key < 50; ++key) ivf.upsert(key, same);
  const float other[3] = {-1, 0, 5};
  ivf.upsert(50, other);
  ivf.set_nlist(8);
  ivf.train();
  CHECK(ivf.nlist() == 8);
  CHECK(ivf.size() == 51);
  ivf.set_nprobe(8);
  const auto got = ivf.search(other, 1, 2, nullptr);
  REQUIRE(got[0].size() == 2);
  CHECK(got[0][0].key == 50);
  CHECK(got[0][1].key == 0);  // ties among the equal vectors go to the smaller key

  ivf_index empty(3, metric::l2);
  CHECK_THROWS_AS(empty.train(), vecstore::invalid_argument);
  ivf_index tiny(3, metric::l2);
  tiny.upsert(1, same);
  tiny.train();  // nlist shrinks to the number of vectors
  CHECK(tiny.nlist() == 1);
  CHECK(tiny.search(same, 1, 1, nullptr)[0].at(0).key == 1);
}

TEST_CASE("ivf_index gives the same results on one thread and on several", "[index][ivf_index]") {
  const clustered d = make_clustered(20000, 48, 100, 91);
  ivf_index ivf(d.dim, metric::inner_product);
  ivf.set_nlist(64);
  fill(ivf, d);
  ivf.set_threads(1);
  ivf.train();
  ivf_index multi(d.dim, metric::inner_product);
  multi.set_nlist(64);
  fill(multi, d);
  multi.set_threads(4);
  CHECK(multi.train() == ivf.train());  // training does not depend on threads either
  const std::vector<float> queries = queries_near(d, 200, 92);
  for (const std::size_t nprobe : {std::size_t{8}, std::size_t{64}}) {
    ivf.set_nprobe(nprobe);
    multi.set_nprobe(nprobe);
    CHECK(same_results(ivf.search(queries.data(), 200, 10, nullptr), multi.search(queries.data(), 200, 10, nullptr)));
    CHECK(same_results(ivf.search(queries.data(), 1, 10, nullptr), multi.search(queries.data(), 1, 10, nullptr)));
  }
}
