// SPDX-License-Identifier: MIT
// ivf_store: the quantizer is trained once by a writer, stored in SQLite, and
// loaded (not retrained) by every other process and at every open.
#include <random>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <vecstore/vecstore.hpp>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::temp_dir;

namespace {

constexpr std::size_t dim = 16;

/// Clustered points: 64 centres, spread 0.3 around each.
std::vector<record> clustered(std::size_t n, unsigned seed, const std::string& prefix) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> unit(0.0f, 1.0f);
  std::vector<std::vector<float>> centres(64, std::vector<float>(dim));
  std::mt19937 centre_rng(7);
  for (auto& c : centres)
    for (auto& x : c) x = unit(centre_rng) * 3.0f;
  std::vector<record> out;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& c = centres[rng() % centres.size()];
    record r;
    r.id = prefix + std::to_string(i);
    r.embedding.resize(dim);
    for (std::size_t d = 0; d < dim; ++d) r.embedding[d] = c[d] + 0.3f * unit(rng);
    out.push_back(std::move(r));
  }
  return out;
}

std::int64_t state_seq(const std::filesystem::path& path) {
  SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
  SQLite::Statement st(db, "SELECT seq FROM index_state");
  return st.executeStep() ? st.getColumn(0).getInt64() : -1;
}

std::string csv(const std::vector<float>& v) {
  std::ostringstream out;
  for (std::size_t i = 0; i < v.size(); ++i) out << (i ? "," : "") << v[i];
  return out.str();
}

}  // namespace

TEST_CASE("an ivf_store trains once, shares its quantizer through the file, and stays accurate",
          "[store][ivf][multiprocess]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  store_options o;
  o.path = path;
  auto db = ivf_store::open(o);
  auto c = db->create_collection("c", {dim, metric::l2});
  const auto records = clustered(26000, 1, "r");
  for (std::size_t i = 0; i < records.size(); i += 1000) {
    c.add(std::vector<record>(records.begin() + static_cast<long>(i),
                              records.begin() + static_cast<long>(std::min(records.size(), i + 1000))));
  }
  const std::int64_t trained_at = state_seq(path);
  REQUIRE(trained_at > 0);  // the writer trained and stored the quantizer
  {
    SQLite::Database raw(path.string(), SQLite::OPEN_READONLY);
    CHECK(raw.execAndGet("SELECT count(*) FROM index_assignments WHERE list >= 0").getInt() == 26000);
  }

  // Recall against exact search on the same data.
  auto exact_db = store::open([&] {
    store_options e;
    e.path = dir / "exact.db";
    return e;
  }());
  auto exact = exact_db->create_collection("c", {dim, metric::l2});
  exact.add(records);
  query_options q;
  q.k = 10;
  q.fields = include::none;
  const auto queries = clustered(50, 99, "q");
  std::size_t found = 0;
  std::vector<std::vector<std::string>> answers;
  for (const auto& query : queries) {
    std::set<std::string> truth;
    for (const auto& h : exact.query(query.embedding, q)) truth.insert(h.id);
    std::vector<std::string> got;
    for (const auto& h : c.query(query.embedding, q)) {
      got.push_back(h.id);
      found += truth.count(h.id);
    }
    answers.push_back(got);
  }
  const double recall = double(found) / double(queries.size() * 10);
  INFO("recall@10 = " << recall);
  CHECK(recall >= 0.9);

  // Another process loads the quantizer instead of training, and answers alike.
  for (std::size_t i = 0; i < 5; ++i) {
    const auto child = vecstore_test::run_child({"ivf-query", path.string(), "c", "10", csv(queries[i].embedding)});
    INFO(child.err);
    REQUIRE(child.exit_code == 0);
    CHECK(nlohmann::json::parse(child.out) == nlohmann::json(answers[i]));
  }
  CHECK(state_seq(path) == trained_at);

  // Adds after training are assigned by the writer and seen elsewhere.
  c.add({{"new-point", queries[0].embedding, std::nullopt, {}}});
  const auto child = vecstore_test::run_child({"ivf-query", path.string(), "c", "1", csv(queries[0].embedding)});
  REQUIRE(child.exit_code == 0);
  CHECK(nlohmann::json::parse(child.out) == nlohmann::json::array({"new-point"}));

  // Reopening loads the stored quantizer: same answers, no retraining.
  db->close();
  db = ivf_store::open(o);
  c = db->get_collection("c");
  c.remove({"new-point"});
  for (std::size_t i = 0; i < 5; ++i) {
    std::vector<std::string> got;
    for (const auto& h : c.query(queries[i].embedding, q)) got.push_back(h.id);
    CHECK(got == answers[i]);
  }
  CHECK(state_seq(path) == trained_at);
  CHECK(db->verify().status == health_status::healthy);
}
