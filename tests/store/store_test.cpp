// SPDX-License-Identifier: MIT
// The behavioural contract of a store: collections, CRUD, filters and exact
// search, checked for every shipped lock x index composition.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include <catch2/catch.hpp>
#include <vecstore/vecstore.hpp>

#include "support/random_vector.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::random_vector;
using vecstore_test::temp_dir;

namespace {

using compositions = std::tuple<store, store_st, ivf_store, ivf_store_st>;

template <class Store>
std::shared_ptr<Store> open_in(const temp_dir& dir, const std::string& name = "store.db") {
  store_options o;
  o.path = dir / name;
  return Store::open(o);
}

/// The reference: every distance computed plainly in double, fully sorted.
std::vector<std::pair<std::string, double>> brute_force(const std::vector<record>& records,
                                                        const std::vector<float>& q, metric m,
                                                        const std::function<bool(const record&)>& keep) {
  std::vector<std::pair<std::string, double>> out;
  double qn = 0;
  for (float x : q) qn += double(x) * x;
  for (const auto& r : records) {
    if (!keep(r)) continue;
    double dot = 0, rn = 0, l2 = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
      dot += double(r.embedding[i]) * q[i];
      rn += double(r.embedding[i]) * r.embedding[i];
      l2 += (double(r.embedding[i]) - q[i]) * (double(r.embedding[i]) - q[i]);
    }
    double d = 0;
    switch (m) {
      case metric::cosine: d = 1.0 - dot / std::sqrt(rn * qn); break;
      case metric::l2: d = l2; break;
      case metric::inner_product: d = 1.0 - dot; break;
    }
    out.emplace_back(r.id, d);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return out;
}

/// Checks hits against the reference: same length, distances within a
/// tolerance rank by rank, and the same ids wherever the reference has no
/// near-tie at the cut.
void check_against_reference(const std::vector<hit>& hits, const std::vector<std::pair<std::string, double>>& ref,
                             std::size_t k) {
  const std::size_t expected = std::min(k, ref.size());
  REQUIRE(hits.size() == expected);
  for (std::size_t i = 0; i < expected; ++i) {
    CHECK(hits[i].distance == Approx(ref[i].second).margin(1e-4).epsilon(1e-4));
    if (i > 0) CHECK(hits[i - 1].distance <= hits[i].distance);
  }
  const bool tie_at_cut = expected < ref.size() && std::abs(ref[expected].second - ref[expected - 1].second) < 1e-4;
  if (!tie_at_cut) {
    std::set<std::string> got, want;
    for (std::size_t i = 0; i < expected; ++i) {
      got.insert(hits[i].id);
      want.insert(ref[i].first);
    }
    CHECK(got == want);
  }
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("a store answers queries exactly like a brute-force reference", "[store][query]", compositions) {
  temp_dir dir;
  auto db = open_in<TestType>(dir);
  const metric m = GENERATE(metric::cosine, metric::l2, metric::inner_product);
  const std::size_t dim = GENERATE(3, 17, 64);
  std::mt19937 rng(static_cast<unsigned>(dim * 31 + static_cast<unsigned>(m)));
  auto c = db->create_collection("c", {dim, m});

  std::vector<record> records;
  for (int i = 0; i < 300; ++i) {
    record r;
    r.id = "r" + std::to_string(i);
    r.embedding = random_vector(rng, dim);
    r.meta["bucket"] = std::int64_t{i % 5};
    r.meta["half"] = bool(i % 2);
    r.document = i % 3 == 0 ? std::optional<std::string>("needle " + r.id) : std::optional<std::string>("hay");
    records.push_back(r);
  }
  c.add(records);
  REQUIRE(c.count() == records.size());

  const auto all = [](const record&) { return true; };
  for (int qi = 0; qi < 5; ++qi) {
    const auto q = random_vector(rng, dim);
    for (std::size_t k : {std::size_t{1}, std::size_t{10}, std::size_t{1000}}) {
      query_options o;
      o.k = k;
      o.fields = include::none;
      check_against_reference(c.query(q, o), brute_force(records, q, m, all), k);
    }
    // Filtered on metadata and on documents.
    query_options o;
    o.k = 10;
    o.where = where("bucket") >= 3 && where("half") == true;
    o.where_document = contains("needle");
    const auto keep = [](const record& r) {
      return std::get<std::int64_t>(r.meta.at("bucket")) >= 3 && std::get<bool>(r.meta.at("half")) &&
             r.document->find("needle") != std::string::npos;
    };
    const auto hits = c.query(q, o);
    check_against_reference(hits, brute_force(records, q, m, keep), 10);
    for (const auto& h : hits) {
      REQUIRE(h.document);
      CHECK(h.document->rfind("needle", 0) == 0);
      CHECK(std::get<std::int64_t>(h.meta.at("bucket")) >= 3);
    }
  }

  // A batch of queries answers each one as a single query would.
  std::vector<std::vector<float>> batch;
  for (int i = 0; i < 7; ++i) batch.push_back(random_vector(rng, dim));
  query_options o;
  o.k = 5;
  const auto many = c.query(batch, o);
  REQUIRE(many.size() == batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) check_against_reference(many[i], brute_force(records, batch[i], m, all), 5);
}

TEMPLATE_LIST_TEST_CASE("queries on an empty collection return no hits, and k = 0 is rejected", "[store][query]",
                        compositions) {
  temp_dir dir;
  auto db = open_in<TestType>(dir);
  auto c = db->create_collection("empty", {4, metric::l2});
  CHECK(c.query({1, 2, 3, 4}).empty());
  query_options o;
  o.k = 0;
  CHECK_THROWS_AS(c.query({1, 2, 3, 4}, o), invalid_argument);
  CHECK_THROWS_WITH(c.query({1, 2, 3, 4}, o), "vecstore: invalid query: k is 0. Ask for at least one neighbour");
  o.k = 3;
  o.where = where("x") == 1;
  CHECK(c.query({1, 2, 3, 4}, o).empty());
}

TEMPLATE_LIST_TEST_CASE("distances follow ChromaDB's conventions", "[store][query]", compositions) {
  temp_dir dir;
  auto db = open_in<TestType>(dir);
  auto cos = db->create_collection("cos", {2, metric::cosine});
  auto l2 = db->create_collection("l2", {2, metric::l2});
  auto ip = db->create_collection("ip", {2, metric::inner_product});
  for (auto* c : {&cos, &l2, &ip}) c->add({{"x", {3, 4}, std::nullopt, {}}});
  // cosine: 1 - cos; vectors are normalized, so the length does not matter.
  CHECK(cos.query({6, 8}).front().distance == Approx(0.0f).margin(1e-6));
  CHECK(cos.query({-4, 3}).front().distance == Approx(1.0f).margin(1e-6));
  CHECK(cos.query({-3, -4}).front().distance == Approx(2.0f).margin(1e-6));
  // l2: the squared distance.
  CHECK(l2.query({0, 0}).front().distance == Approx(25.0f));
  CHECK(l2.query({3, 5}).front().distance == Approx(1.0f));
  // inner product: 1 - dot, on the raw vectors.
  CHECK(ip.query({1, 1}).front().distance == Approx(1.0f - 7.0f));
}

TEMPLATE_LIST_TEST_CASE("collections are created, found, listed and deleted", "[store][collections]", compositions) {
  temp_dir dir;
  auto db = open_in<TestType>(dir);
  CHECK(db->list_collections().empty());
  auto a = db->create_collection("alpha", {3, metric::cosine});
  db->create_collection("beta", {5, metric::l2});
  a.add({{"1", {1, 0, 0}, std::nullopt, {}}, {"2", {0, 1, 0}, std::nullopt, {}}});

  const auto list = db->list_collections();
  REQUIRE(list.size() == 2);
  CHECK(list[0].name == "alpha");
  CHECK(list[0].dim == 3);
  CHECK(list[0].space == metric::cosine);
  CHECK(list[0].count == 2);
  CHECK(list[1].name == "beta");
  CHECK(list[1].space == metric::l2);
  CHECK(list[1].count == 0);

  CHECK(db->get_collection("alpha").count() == 2);
  CHECK(db->get_or_create_collection("alpha", {3, metric::cosine}).count() == 2);
  CHECK(db->get_or_create_collection("gamma", {2, metric::inner_product}).count() == 0);
  CHECK(db->list_collections().size() == 3);

  CHECK_THROWS_WITH(db->create_collection("alpha", {3, metric::cosine}),
                    "vecstore: cannot create the collection (" + db->path().string() +
                        "): a collection named \"alpha\" exists already. Use get_collection or "
                        "get_or_create_collection, or choose another name");
  CHECK_THROWS_AS(db->get_or_create_collection("alpha", {4, metric::cosine}), invalid_argument);
  CHECK_THROWS_WITH(db->get_or_create_collection("alpha", {3, metric::l2}),
                    Catch::Contains("\"alpha\" exists with dim 3 and metric cosine, not dim 3 and metric l2"));

  db->delete_collection("alpha");
  CHECK_THROWS_AS(db->get_collection("alpha"), not_found);
  CHECK_THROWS_AS(a.count(), not_found);  // a handle to a deleted collection
  CHECK_THROWS_AS(a.add({{"3", {1, 1, 1}, std::nullopt, {}}}), not_found);
  CHECK_THROWS_AS(db->delete_collection("alpha"), not_found);
  CHECK(db->list_collections().size() == 2);

  // A new collection with the old name starts empty.
  auto again = db->create_collection("alpha", {3, metric::cosine});
  CHECK(again.count() == 0);
  CHECK(again.query({1, 0, 0}).empty());
}

TEMPLATE_LIST_TEST_CASE("import_collections writes several collections in one transaction, all or nothing",
                        "[store][collections]", compositions) {
  temp_dir dir;
  auto db = open_in<TestType>(dir);
  std::mt19937 rng(11);
  const auto records = [&](const std::string& prefix, std::size_t n, std::size_t dim) {
    std::vector<record> out;
    for (std::size_t i = 0; i < n; ++i) out.push_back(record{prefix + std::to_string(i), random_vector(rng, dim), std::nullopt, {}});
    return out;
  };
  db->create_collection("a", {4, metric::l2}).add(records("old-", 3, 4));
  db->create_collection("m", {4, metric::cosine}).add(records("m-", 2, 4));
  // Every collection with its options and its ids.
  const auto state = [&] {
    std::map<std::string, std::pair<std::string, std::set<std::string>>> out;
    for (const auto& info : db->list_collections()) {
      std::set<std::string> ids;
      for (const auto& r : db->get_collection(info.name).get(get_options{})) ids.insert(r.id);
      out[info.name] = {std::to_string(info.dim) + " " + to_string(info.space), ids};
    }
    return out;
  };
  const auto before = state();
  const auto nearest = [&](const std::string& c, const std::vector<float>& v) {
    query_options o;
    o.k = 1;
    const auto hits = db->get_collection(c).query(v, o);
    return hits.empty() ? std::string() : hits[0].id;
  };

  SECTION("replace, merge and create together") {
    const auto fresh = records("new-", 5, 4);
    db->import_collections({{"a", {4, metric::l2}, on_existing::replace, fresh},
                            {"m", {4, metric::cosine}, on_existing::merge, records("m-", 3, 4)},
                            {"n", {8, metric::inner_product}, on_existing::refuse, records("n-", 4, 8)}});
    const auto after = state();
    CHECK(after.at("a").second == std::set<std::string>{"new-0", "new-1", "new-2", "new-3", "new-4"});
    CHECK(after.at("m").second == std::set<std::string>{"m-0", "m-1", "m-2"});
    CHECK(after.at("n").first == "8 ip");
    CHECK(after.at("n").second.size() == 4);
    CHECK(nearest("a", fresh[3].embedding) == "new-3");  // the index has the new records, not the old
  }
  SECTION("a refusal inside the transaction undoes the replace and the create before it") {
    // "m" exists with dim 4: merging dim 8 into it is found inside the write, after "a" was deleted
    get_options with_vectors;
    with_vectors.fields = include::embeddings;
    const auto old_a = db->get_collection("a").get(with_vectors);
    CHECK_THROWS_AS(db->import_collections({{"a", {4, metric::l2}, on_existing::replace, records("new-", 5, 4)},
                                            {"n", {8, metric::inner_product}, on_existing::refuse, records("n-", 4, 8)},
                                            {"m", {8, metric::cosine}, on_existing::merge, records("x-", 1, 8)}}),
                    vecstore::invalid_argument);
    CHECK(state() == before);
    REQUIRE(old_a.size() == 3);
    CHECK(nearest("a", old_a[1].embedding) == old_a[1].id);
  }
  SECTION("a name the store has, with refuse") {
    CHECK_THROWS_AS(db->import_collections({{"n", {8, metric::l2}, on_existing::refuse, records("n-", 4, 8)},
                                            {"a", {4, metric::l2}, on_existing::refuse, records("new-", 1, 4)}}),
                    vecstore::invalid_argument);
    CHECK(state() == before);
  }
  SECTION("a record add refuses, checked before the write") {
    auto bad = records("new-", 3, 4);
    bad[2].embedding[1] = std::nanf("");
    CHECK_THROWS_AS(db->import_collections({{"n", {8, metric::l2}, on_existing::refuse, records("n-", 4, 8)},
                                            {"a", {4, metric::l2}, on_existing::replace, bad}}),
                    vecstore::invalid_argument);
    CHECK(state() == before);
  }
  SECTION("a name given twice") {
    CHECK_THROWS_AS(db->import_collections({{"n", {8, metric::l2}, on_existing::refuse, records("n-", 4, 8)},
                                            {"n", {8, metric::l2}, on_existing::refuse, records("k-", 4, 8)}}),
                    vecstore::invalid_argument);
    CHECK(state() == before);
  }
}

TEMPLATE_LIST_TEST_CASE("add, get, update, upsert, remove and missing keep their promises", "[store][crud]",
                        compositions) {
  temp_dir dir;
  auto db = open_in<TestType>(dir);
  auto c = db->create_collection("docs", {2, metric::l2});
  c.add({{"a", {1, 0}, "doc a", {{"n", std::int64_t{1}}, {"tag", std::string("x")}}},
         {"b", {0, 1}, "doc b", {{"n", std::int64_t{2}}, {"f", 0.5}}},
         {"c", {}, "no embedding yet", {{"flag", true}}}});

  SECTION("get by ids returns what was stored, in the order asked, skipping absent ids") {
    const auto got = c.get({"c", "zzz", "a"}, include::all);
    REQUIRE(got.size() == 2);
    CHECK(got[0].id == "c");
    CHECK(got[0].embedding.empty());
    CHECK(got[0].document == "no embedding yet");
    CHECK(std::get<bool>(got[0].meta.at("flag")) == true);
    CHECK(got[1].id == "a");
    CHECK(got[1].embedding == std::vector<float>{1, 0});
    CHECK(std::get<std::int64_t>(got[1].meta.at("n")) == 1);
    CHECK(std::get<std::string>(got[1].meta.at("tag")) == "x");
    // Without include flags only ids come back.
    const auto bare = c.get({"a"}, include::none);
    REQUIRE(bare.size() == 1);
    CHECK(bare[0].embedding.empty());
    CHECK_FALSE(bare[0].document);
    CHECK(bare[0].meta.empty());
  }

  SECTION("get by filter honours limit and offset in insertion order") {
    get_options o;
    o.where = where("n") >= 1;
    CHECK(c.get(o).size() == 2);
    o.where = filter();
    o.limit = 2;
    auto page = c.get(o);
    REQUIRE(page.size() == 2);
    CHECK(page[0].id == "a");
    CHECK(page[1].id == "b");
    o.offset = 2;
    page = c.get(o);
    REQUIRE(page.size() == 1);
    CHECK(page[0].id == "c");
    o.ids = {"c", "b", "a"};
    o.offset = 0;
    o.limit = 0;
    o.where = where("n") == 2;
    page = c.get(o);
    REQUIRE(page.size() == 1);
    CHECK(page[0].id == "b");
  }

  SECTION("adding an existing id is an error and writes nothing of the batch") {
    CHECK_THROWS_AS(c.add({{"new", {1, 1}, std::nullopt, {}}, {"a", {5, 5}, std::nullopt, {}}}), duplicate_id);
    CHECK_THROWS_WITH(c.add({{"a", {5, 5}, std::nullopt, {}}}),
                      "vecstore: cannot add records (" + db->path().string() +
                          "): record 0 (id \"a\") exists already in collection \"docs\". Use upsert to replace it, "
                          "or update to change it; nothing was written");
    CHECK(c.count() == 3);
    CHECK(c.get({"new"}).empty());
    CHECK(c.get({"a"}, include::embeddings)[0].embedding == std::vector<float>{1, 0});
  }

  SECTION("upsert replaces embedding, document and metadata entirely") {
    c.upsert({{"a", {0, 2}, "new a", {{"other", 3.25}}}, {"d", {3, 3}, std::nullopt, {}}});
    CHECK(c.count() == 4);
    const auto a = c.get({"a"}, include::all).at(0);
    CHECK(a.embedding == std::vector<float>{0, 2});
    CHECK(a.document == "new a");
    CHECK(a.meta.size() == 1);
    CHECK(std::get<double>(a.meta.at("other")) == 3.25);
    CHECK(c.query({0, 2}).front().id == "a");
    // Upsert without a document removes the document.
    c.upsert({{"a", {0, 2}, std::nullopt, {}}});
    CHECK_FALSE(c.get({"a"}).at(0).document);
  }

  SECTION("update changes only what it is given and refuses unknown ids") {
    c.update({{"a", {}, std::nullopt, {{"n", std::int64_t{10}}, {"added", std::string("y")}}}});
    auto a = c.get({"a"}, include::all).at(0);
    CHECK(a.embedding == std::vector<float>{1, 0});
    CHECK(a.document == "doc a");
    CHECK(std::get<std::int64_t>(a.meta.at("n")) == 10);
    CHECK(std::get<std::string>(a.meta.at("tag")) == "x");
    CHECK(std::get<std::string>(a.meta.at("added")) == "y");
    c.update({{"c", {7, 7}, "now embedded", {}}});
    CHECK(c.missing({"a", "b", "c"}).empty());
    CHECK(c.query({7, 7}).front().id == "c");

    CHECK_THROWS_AS(c.update({{"b", {}, "b2", {}}, {"ghost", {1, 1}, std::nullopt, {}}}), not_found);
    CHECK_THROWS_WITH(c.update({{"ghost", {1, 1}, std::nullopt, {}}}),
                      "vecstore: cannot update records (" + db->path().string() +
                          "): record 0 (id \"ghost\") does not exist in collection \"docs\". Use upsert to add it; "
                          "nothing was written");
    CHECK(c.get({"b"}).at(0).document == "doc b");  // the batch was all-or-nothing
  }

  SECTION("remove by ids, then re-add under the same id") {
    CHECK(c.remove({"a", "nope"}) == 1);
    CHECK(c.count() == 2);
    CHECK(c.get({"a"}).empty());
    query_options o;
    o.k = 10;
    for (const auto& h : c.query({1, 0}, o)) CHECK(h.id != "a");
    c.add({{"a", {-1, 0}, "back", {}}});
    CHECK(c.count() == 3);
    CHECK(c.query({-1, 0}).front().id == "a");
    CHECK(c.get({"a"}).at(0).document == "back");
  }

  SECTION("remove by filter removes exactly the matches; an empty filter is refused") {
    CHECK(c.remove(where("n") >= 2) == 1);
    CHECK(c.get({"b"}).empty());
    CHECK(c.remove(filter(), contains("embedding")) == 1);
    CHECK(c.get({"c"}).empty());
    CHECK_THROWS_AS(c.remove(filter()), invalid_argument);
    CHECK(c.count() == 1);
  }

  SECTION("missing reports absent ids and ids stored without an embedding") {
    CHECK(c.missing({"a", "c", "zzz", "b"}) == std::vector<std::string>{"c", "zzz"});
    // Records without an embedding are stored but never returned by a query.
    query_options o;
    o.k = 10;
    CHECK(c.query({0, 0}, o).size() == 2);
  }
}

TEMPLATE_LIST_TEST_CASE("the JSON filter form selects what the builder form does", "[store][filter]", compositions) {
  temp_dir dir;
  auto db = open_in<TestType>(dir);
  auto c = db->create_collection("papers", {2, metric::cosine});
  c.add({{"p1", {1, 0}, "graph neural networks", {{"year", std::int64_t{2019}}, {"cat", std::string("cs.LG")}}},
         {"p2", {1, 1}, "Transformers for text", {{"year", std::int64_t{2021}}, {"cat", std::string("cs.AI")}}},
         {"p3", {0, 1}, "protein folding", {{"year", std::int64_t{2022}}, {"cat", std::string("q-bio")}}},
         {"p4", {1, 2}, std::nullopt, {{"year", 2020.5}, {"cat", std::string("cs.LG")}}}});
  const auto ids = [&](const filter& f, const document_filter& d = {}) {
    get_options o;
    o.where = f;
    o.where_document = d;
    std::vector<std::string> out;
    for (const auto& r : c.get(o)) out.push_back(r.id);
    return out;
  };
  const auto builder = where("year") >= 2020 && where("cat").in({"cs.LG", "cs.AI"});
  const auto json = filter::parse(R"({"$and": [{"year": {"$gte": 2020}}, {"cat": {"$in": ["cs.LG", "cs.AI"]}}]})");
  CHECK(ids(builder) == std::vector<std::string>{"p2", "p4"});
  CHECK(ids(json) == ids(builder));
  CHECK(ids(filter::parse(R"({"$or": [{"year": 2019}, {"cat": "q-bio"}]})")) == std::vector<std::string>{"p1", "p3"});
  CHECK(ids(filter(), document_filter::parse(R"({"$contains": "graph"})")) == std::vector<std::string>{"p1"});
  CHECK(ids(filter(), not_contains("graph")) == std::vector<std::string>{"p2", "p3", "p4"});
  CHECK(ids(where("cat") != "cs.LG") == std::vector<std::string>{"p2", "p3"});
  CHECK(ids(where("cat").not_in({"cs.LG", "q-bio"})) == std::vector<std::string>{"p2"});
  CHECK(ids(where("year") < 2020) == std::vector<std::string>{"p1"});
  CHECK_THROWS_AS(filter::parse(R"({"year": {"$between": [1, 2]}})"), invalid_argument);
}

TEMPLATE_LIST_TEST_CASE("open returns one instance per file, whatever the spelling of its path", "[store][registry]",
                        compositions) {
  temp_dir dir;
  auto a = open_in<TestType>(dir);
  std::filesystem::create_directory(dir / "sub");
  store_options o;
  o.path = dir / "sub" / ".." / "store.db";
  auto b = TestType::open(o);
  CHECK(a.get() == b.get());
  std::filesystem::create_symlink(dir / "store.db", dir / "link.db");
  o.path = dir / "link.db";
  CHECK(TestType::open(o).get() == a.get());
}

TEST_CASE("a store file open as one composition cannot be opened as another in the same process",
          "[store][registry]") {
  temp_dir dir;
  auto a = open_in<store>(dir);
  store_options o;
  o.path = dir / "store.db";
  CHECK_THROWS_WITH(store_st::open(o), "vecstore: store already open (" + a->path().string() +
                                           "): this process has it open as another policy composition. Open each "
                                           "store file with one basic_store type per process");
}

TEST_CASE("a closed store refuses further use with a clear error", "[store]") {
  temp_dir dir;
  auto db = open_in<store>(dir);
  auto c = db->create_collection("c", {2, metric::l2});
  db->close();
  CHECK_THROWS_AS(c.count(), closed_error);
  CHECK_THROWS_WITH(db->list_collections(), "vecstore: the store is closed (" + db->path().string() +
                                                "): close() was called. Open the store again with vecstore::open");
  // Opening again gives a fresh, working instance.
  auto again = open_in<store>(dir);
  CHECK(again.get() != db.get());
  CHECK(again->get_collection("c").count() == 0);
}

TEST_CASE("health reports a fresh store healthy, with per-collection counts, and caches the report",
          "[store][health]") {
  temp_dir dir;
  auto db = open_in<store>(dir);
  auto c = db->create_collection("c", {2, metric::l2});
  c.add({{"a", {1, 2}, std::nullopt, {}}, {"b", {}, "doc only", {}}});
  const auto report = db->health(true);
  CHECK(report.status == health_status::healthy);
  const auto j = report.to_json();
  CHECK(j["status"] == "healthy");
  CHECK(j["collections"][0]["name"] == "c");
  CHECK(j["collections"][0]["records"] == 2);
  CHECK(j["collections"][0]["embeddings"] == 1);
  CHECK(j["collections"][0]["indexed"] == 1);
  std::set<std::string> names;
  for (const auto& check : j["checks"]) names.insert(check["name"].get<std::string>());
  CHECK(names == std::set<std::string>{"writer_lock", "open", "schema", "recovery", "quick_check", "index_counts",
                                       "wal_size", "backup", "disk_space"});
  // Cached: the same report until forced.
  c.add({{"c", {3, 4}, std::nullopt, {}}});
  CHECK(db->health().checked_at == report.checked_at);
  CHECK(db->health(true).collections[0].records == 3);
}

TEST_CASE("compact shrinks a store after deletes and keeps every record and id", "[store][compact]") {
  temp_dir dir;
  auto db = open_in<store>(dir);
  auto c = db->create_collection("c", {64, metric::l2});
  std::mt19937 rng(5);
  std::vector<record> records;
  for (int i = 0; i < 2000; ++i) records.push_back({"r" + std::to_string(i), random_vector(rng, 64), "doc", {}});
  c.add(records);
  std::vector<std::string> doomed;
  for (int i = 0; i < 1900; ++i) doomed.push_back("r" + std::to_string(i));
  c.remove(doomed);
  db->close();
  db = open_in<store>(dir);
  const auto before = std::filesystem::file_size(db->path());
  db->compact();
  const auto after = std::filesystem::file_size(db->path());
  CHECK(after < before / 4);
  c = db->get_collection("c");
  CHECK(c.count() == 100);
  query_options q;
  q.k = 1;
  q.fields = include::embeddings;
  const auto hit = c.query(records[1950].embedding, q).at(0);
  CHECK(hit.id == "r1950");
  CHECK(hit.embedding == records[1950].embedding);
  CHECK(db->verify().status == health_status::healthy);
}
