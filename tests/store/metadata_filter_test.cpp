// SPDX-License-Identifier: MIT
// Filters evaluated in memory (filter/metadata_columns.hpp) against their SQL
// (filter/sql.hpp): random metadata, random filters, the same records; and
// the in-memory metadata following this process's own writes.
#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <vecstore/vecstore.hpp>

#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::temp_dir;

namespace {

using id_set = std::set<std::string>;

/// Values that tell the semantics apart: ints and doubles equal in value,
/// integers past 2^53 next to the double they round to, bools next to 0 and
/// 1, strings that look like numbers.
metadata_value random_value(std::mt19937_64& rng) {
  static const std::vector<metadata_value> pool = {
      std::int64_t{0},  std::int64_t{1},    std::int64_t{2},   std::int64_t{-3},  std::int64_t{9007199254740993},
      0.0,              -0.0,               1.0,               2.5,               -3.0,
      9007199254740992.0, 1e300,            true,              false,             std::string("a"),
      std::string("b"), std::string(""),    std::string("1"),  std::string("caf\xC3\xA9"),
      std::int64_t{9007199254740992}, std::int64_t{(std::numeric_limits<std::int64_t>::max)()}, 9223372036854775807.0};
  return pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng)];
}

const std::vector<std::string> meta_keys = {"i", "f", "s", "b", "m"};

metadata random_metadata(std::mt19937_64& rng) {
  metadata meta;
  for (const auto& key : meta_keys) {
    if (std::uniform_int_distribution<int>(0, 3)(rng) != 0) meta[key] = random_value(rng);
  }
  return meta;
}

/// A value of class `like`'s for a list or an ordering operand.
metadata_value value_of_class(std::mt19937_64& rng, std::size_t variant_index) {
  for (;;) {
    metadata_value v = random_value(rng);
    const bool number = v.index() <= 1;
    if ((variant_index <= 1 && number) || v.index() == variant_index) return v;
  }
}

filter random_leaf(std::mt19937_64& rng) {
  const std::string key = std::uniform_int_distribution<int>(0, 9)(rng) == 0 ? std::string("absent")
                                                                             : meta_keys[std::uniform_int_distribution<std::size_t>(0, meta_keys.size() - 1)(rng)];
  const int op = std::uniform_int_distribution<int>(0, 7)(rng);
  if (op >= 2 && op <= 5) {  // ordering: numbers only
    const metadata_value v = value_of_class(rng, 0);
    switch (op) {
      case 2: return where(key) > v;
      case 3: return where(key) >= v;
      case 4: return where(key) < v;
      default: return where(key) <= v;
    }
  }
  const metadata_value first = random_value(rng);
  if (op == 0) return where(key) == first;
  if (op == 1) return where(key) != first;
  std::vector<metadata_value> list = {first};
  const int more = std::uniform_int_distribution<int>(0, 3)(rng);
  for (int i = 0; i < more; ++i) list.push_back(value_of_class(rng, first.index()));
  return op == 6 ? where(key).in(list) : where(key).not_in(list);
}

filter random_filter(std::mt19937_64& rng, int depth) {
  if (depth == 0 || std::uniform_int_distribution<int>(0, 2)(rng) == 0) return random_leaf(rng);
  const int n = std::uniform_int_distribution<int>(1, 3)(rng);
  const bool all = std::uniform_int_distribution<int>(0, 1)(rng) == 0;
  filter f = random_filter(rng, depth - 1);
  for (int i = 1; i < n; ++i) f = all ? (f && random_filter(rng, depth - 1)) : (f || random_filter(rng, depth - 1));
  return f;
}

/// What SQL selects (records with an embedding, as a query allows), by id.
id_set by_sql(const std::filesystem::path& path, const std::string& name, const filter& where,
              const document_filter& documents = {}) {
  store_options o;
  o.path = path;
  detail::connection conn(path, o);
  detail::record_tables t(conn);
  const auto row = t.find_collection(name);
  REQUIRE(row);
  id_set out;
  for (const auto rid : t.select(row->collection_id, where, documents, true)) out.insert(t.read(rid, include::none)->value.id);
  return out;
}

/// What a query returns: every eligible record (k is the collection's size), by id.
id_set by_query(store::collection& c, const filter& where, const document_filter& documents = {}) {
  query_options q;
  q.k = std::max<std::size_t>(c.count(), 1);
  q.where = where;
  q.where_document = documents;
  q.fields = include::none;
  id_set out;
  for (const auto& h : c.query({0.5f, 0.5f}, q)) out.insert(h.id);
  return out;
}

std::vector<float> random_point(std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  return {u(rng), u(rng)};
}

}  // namespace

TEST_CASE("filters evaluated in memory select what their SQL selects", "[filter][memory][differential]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  store_options o;
  o.path = path;
  auto db = open(o);
  auto c = db->create_collection("c", {2, metric::l2});
  std::mt19937_64 rng(20);
  const char* documents[] = {"the fox", "a dog", "fox and dog", ""};
  std::vector<record> batch;
  for (int i = 0; i < 300; ++i) {
    record r{"r" + std::to_string(i), random_point(rng), std::nullopt, random_metadata(rng)};
    if (i % 5 != 0) r.document = documents[i % 4];
    if (i % 37 == 0) r.embedding.clear();  // stored, never returned by a query
    batch.push_back(std::move(r));
  }
  c.add(batch);

  const auto compare_all = [&](int filters) {
    int some = 0;  // filters that match some records but not all: the test tells something apart
    for (int i = 0; i < filters; ++i) {
      const filter f = random_filter(rng, 3);
      INFO(f.to_json().dump());
      const id_set expected = by_sql(path, "c", f);
      REQUIRE(by_query(c, f) == expected);
      some += !expected.empty() && expected.size() < c.count() / 2;
      if (i % 10 == 0) {
        const document_filter d = i % 20 == 0 ? contains("fox") : not_contains("dog");
        INFO(d.to_json().dump());
        REQUIRE(by_query(c, f, d) == by_sql(path, "c", f, d));
      }
    }
    CHECK(some > filters / 4);
  };
  compare_all(200);  // builds the metadata in memory on the first query

  // Own writes change it in place: upserts replace, updates merge, removes drop.
  std::vector<record> upserts, updates;
  std::vector<std::string> removed;
  for (int i = 0; i < 300; i += 7) upserts.push_back({"r" + std::to_string(i), random_point(rng), std::nullopt, random_metadata(rng)});
  for (int i = 3; i < 300; i += 11) updates.push_back({"r" + std::to_string(i), {}, std::nullopt, random_metadata(rng)});
  for (int i = 5; i < 300; i += 13) removed.push_back("r" + std::to_string(i));
  c.upsert(upserts);
  c.update(updates);
  c.remove(removed);
  compare_all(200);
}

TEST_CASE("a filtered query follows this process's own writes at once", "[filter][memory][own]") {
  temp_dir dir;
  store_options o;
  o.path = dir / "store.db";
  auto db = open(o);
  auto c = db->create_collection("c", {2, metric::l2});
  c.add({{"a", {0, 0}, std::nullopt, {{"n", std::int64_t{1}}, {"tag", std::string("x")}}},
         {"b", {1, 1}, std::nullopt, {{"n", 2.0}}}});
  CHECK(by_query(c, where("n") >= 1) == id_set{"a", "b"});

  c.upsert({{"a", {0, 0}, std::nullopt, {{"n", std::int64_t{5}}}}});  // replaces: "tag" is gone
  CHECK(by_query(c, where("n") == 5) == id_set{"a"});
  CHECK(by_query(c, where("tag") == "x").empty());

  c.update({{"b", {}, std::nullopt, {{"tag", std::string("y")}}}});  // merges: "n" stays
  CHECK(by_query(c, where("n") == 2 && where("tag") == "y") == id_set{"b"});

  c.add({{"c", {2, 2}, std::nullopt, {{"n", std::int64_t{5}}}}});
  CHECK(by_query(c, where("n") == 5) == id_set{"a", "c"});
  c.remove({"a"});
  CHECK(by_query(c, where("n") == 5) == id_set{"c"});
  CHECK(c.remove(where("n") == 5) == 1);
  CHECK(by_query(c, where("n") >= 0) == id_set{"b"});

  // A record upserted without an embedding is stored but not searched.
  c.upsert({{"b", {}, std::nullopt, {{"n", std::int64_t{2}}}}});
  CHECK(by_query(c, where("n") == 2).empty());
  c.update({{"b", {3, 3}, std::nullopt, {}}});
  CHECK(by_query(c, where("n") == 2) == id_set{"b"});
}
