// SPDX-License-Identifier: MIT
// Bad input: each case gets its typed error and full message, and the store
// reads back exactly as before.
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include <catch2/catch.hpp>
#include <vecstore/vecstore.hpp>

#include "support/dump.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::temp_dir;

namespace {

struct fixture {
  temp_dir dir;
  std::shared_ptr<store> db;
  store::collection c;

  fixture() : db(open_at(dir)), c(db->create_collection("c", {3, metric::cosine})) {
    c.add({{"keep", {1, 2, 3}, "kept document", {{"n", std::int64_t{7}}}}});
  }

  static std::shared_ptr<store> open_at(const temp_dir& dir) {
    store_options o;
    o.path = dir / "store.db";
    return open(o);
  }

  /// Runs `bad`, which must throw exactly `E` with `message`, and checks that
  /// every collection and record reads back as before.
  template <class E, class Bad>
  void rejects(Bad&& bad, const std::string& message) {
    const auto before = vecstore_test::dump_store(*db);
    CHECK_THROWS_AS(bad(), E);
    CHECK_THROWS_WITH(bad(), message);
    CHECK(vecstore_test::dump_store(*db) == before);
  }
};

record with_id(std::string id) { return {std::move(id), {1, 1, 1}, std::nullopt, {}}; }

}  // namespace

TEST_CASE("an embedding of the wrong dimension is rejected naming the record", "[bad_input]") {
  fixture f;
  f.rejects<dimension_mismatch>(
      [&] { f.c.add({with_id("ok"), {"short", {1, 2}, std::nullopt, {}}}); },
      "vecstore: wrong embedding dimension: record 1 (id \"short\") has 2 values, the collection's dim is 3. "
      "Embed with the model the collection was created for");
  f.rejects<dimension_mismatch>([&] { f.c.upsert({{"keep", {1, 2, 3, 4}, std::nullopt, {}}}); },
                                "vecstore: wrong embedding dimension: record 0 (id \"keep\") has 4 values, the "
                                "collection's dim is 3. Embed with the model the collection was created for");
  f.rejects<dimension_mismatch>([&] { f.c.query({1, 2}); },
                                "vecstore: wrong embedding dimension: query 0 has 2 values, the collection's dim is "
                                "3. Embed with the model the collection was created for");
}

TEST_CASE("NaN and infinite values are rejected before anything is written", "[bad_input]") {
  fixture f;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  f.rejects<invalid_argument>([&] { f.c.add({with_id("a"), {"b", {1, nan, 0}, std::nullopt, {}}}); },
                              "vecstore: invalid embedding: record 1 (id \"b\") has a non-finite value (nan) at "
                              "position 1. Replace NaN and infinite values before storing");
  f.rejects<invalid_argument>([&] { f.c.update({{"keep", {-inf, 0, 0}, std::nullopt, {}}}); },
                              "vecstore: invalid embedding: record 0 (id \"keep\") has a non-finite value (-inf) at "
                              "position 0. Replace NaN and infinite values before storing");
  f.rejects<invalid_argument>([&] { f.c.query({0, 0, inf}); },
                              "vecstore: invalid embedding: query 0 has a non-finite value (inf) at position 2. "
                              "Replace NaN and infinite values before storing");
  f.rejects<invalid_argument>(
      [&] { f.c.add({{"m", {1, 1, 1}, std::nullopt, {{"score", std::nan("")}}}}); },
      "vecstore: invalid metadata: record 0 (id \"m\")'s metadata \"score\" is not finite (nan). Store finite "
      "numbers only");
}

TEST_CASE("an all-zero embedding is rejected in a cosine collection", "[bad_input]") {
  fixture f;
  f.rejects<invalid_argument>([&] { f.c.add({{"z", {0, 0, 0}, std::nullopt, {}}}); },
                              "vecstore: invalid embedding: record 0 (id \"z\") is all zeros, which has no cosine "
                              "direction. Store a non-zero vector, or use the l2 or inner product metric");
}

TEST_CASE("empty and over-long ids are rejected with the limit", "[bad_input]") {
  fixture f;
  f.rejects<invalid_argument>([&] { f.c.add({with_id("a"), with_id("")}); },
                              "vecstore: invalid id: record 1 has an empty id. Give every record a non-empty id");
  const std::string long_id(limits::max_id_bytes + 1, 'x');
  f.rejects<invalid_argument>([&] { f.c.add({with_id(long_id)}); },
                              "vecstore: invalid id: record 0 has an id of 1025 bytes, the limit is 1024. Use "
                              "shorter ids (a hash of a long key works)");
  f.rejects<invalid_argument>([&] { f.c.remove(std::vector<std::string>{""}); },
                              "vecstore: invalid id: id 0 has an empty id. Give every record a non-empty id");
  // The limit itself is accepted.
  f.c.add({with_id(std::string(limits::max_id_bytes, 'y'))});
  CHECK(f.c.count() == 2);
}

TEST_CASE("a batch repeating an id is rejected whole", "[bad_input]") {
  fixture f;
  f.rejects<duplicate_id>([&] { f.c.add({with_id("a"), with_id("b"), with_id("a")}); },
                          "vecstore: duplicate id in batch: record 2 (id \"a\") repeats an id given earlier in the "
                          "same batch. Give each record of a batch its own id");
  f.rejects<duplicate_id>([&] { f.c.upsert({with_id("keep"), with_id("keep")}); },
                          "vecstore: duplicate id in batch: record 1 (id \"keep\") repeats an id given earlier in "
                          "the same batch. Give each record of a batch its own id");
}

TEST_CASE("invalid UTF-8 in ids, documents and metadata is rejected", "[bad_input]") {
  fixture f;
  const std::string bad = "ab\xff";
  f.rejects<invalid_argument>([&] { f.c.add({with_id(bad)}); },
                              "vecstore: invalid id: record 0's id is not valid UTF-8 (first bad byte at offset 2). "
                              "Encode text as UTF-8");
  f.rejects<invalid_argument>([&] { f.c.add({{"d", {1, 1, 1}, "caf\xc3", {}}}); },
                              "vecstore: invalid document: record 0 (id \"d\")'s document is not valid UTF-8 (first "
                              "bad byte at offset 3). Encode text as UTF-8");
  f.rejects<invalid_argument>([&] { f.c.add({{"m", {1, 1, 1}, std::nullopt, {{"k", std::string("\xc0\xaf")}}}}); },
                              "vecstore: invalid metadata: record 0 (id \"m\")'s metadata \"k\" is not valid UTF-8 "
                              "(first bad byte at offset 0). Encode text as UTF-8");
  f.rejects<invalid_argument>([&] { f.c.add({{"m", {1, 1, 1}, std::nullopt, {{"k\xed\xa0\x80", true}}}}); },
                              "vecstore: invalid metadata: record 0 (id \"m\")'s metadata key is not valid UTF-8 "
                              "(first bad byte at offset 1). Encode text as UTF-8");
}

TEST_CASE("empty, over-long and reserved metadata keys are rejected", "[bad_input]") {
  fixture f;
  f.rejects<invalid_argument>([&] { f.c.add({{"m", {1, 1, 1}, std::nullopt, {{"", std::int64_t{1}}}}}); },
                              "vecstore: invalid metadata: record 0 (id \"m\") has an empty metadata key. Give every "
                              "metadata value a non-empty key");
  f.rejects<invalid_argument>(
      [&] { f.c.add({{"m", {1, 1, 1}, std::nullopt, {{std::string(limits::max_key_bytes + 1, 'k'), true}}}}); },
      "vecstore: invalid metadata: record 0 (id \"m\") has a metadata key of 257 bytes, the limit is 256. Use "
      "shorter keys");
  f.rejects<invalid_argument>([&] { f.c.add({{"m", {1, 1, 1}, std::nullopt, {{"$and", true}}}}); },
                              "vecstore: invalid metadata: record 0 (id \"m\") has the metadata key \"$and\", which "
                              "starts with '$'. Keys starting with '$' are reserved for filter operators; rename "
                              "the key");
}

TEST_CASE("unknown collections are reported as not_found", "[bad_input]") {
  fixture f;
  f.rejects<not_found>([&] { f.db->get_collection("nope"); },
                       "vecstore: unknown collection (" + f.db->path().string() +
                           "): there is no collection named \"nope\". Create it first, or check the name with "
                           "list_collections()");
  f.rejects<not_found>([&] { f.db->delete_collection("nope"); },
                       "vecstore: unknown collection (" + f.db->path().string() +
                           "): there is no collection named \"nope\". Create it first, or check the name with "
                           "list_collections()");
}

TEST_CASE("invalid collection names are rejected with the rule", "[bad_input]") {
  fixture f;
  const std::string rule = ". Use 1 to 128 characters from [A-Za-z0-9._-], starting with a letter or digit";
  f.rejects<invalid_argument>([&] { f.db->create_collection("", {3, metric::l2}); },
                              "vecstore: invalid collection name: the name is empty" + rule);
  f.rejects<invalid_argument>([&] { f.db->create_collection("has space", {3, metric::l2}); },
                              "vecstore: invalid collection name: \"has space\" has the character at offset 3 that "
                              "is not allowed" + rule);
  f.rejects<invalid_argument>([&] { f.db->create_collection("-x", {3, metric::l2}); },
                              "vecstore: invalid collection name: \"-x\" does not start with a letter or digit" + rule);
  f.rejects<invalid_argument>([&] { f.db->get_or_create_collection(std::string(129, 'a'), {3, metric::l2}); },
                              "vecstore: invalid collection name: the name is 129 bytes long, the limit is 128" + rule);
  f.rejects<invalid_argument>([&] { f.db->get_collection("a'; DROP TABLE records; --"); },
                              "vecstore: invalid collection name: \"a'; DROP TABLE records; --\" has the character "
                              "at offset 1 that is not allowed" + rule);
}

TEST_CASE("a dimension of 0 or beyond the limit is rejected", "[bad_input]") {
  fixture f;
  f.rejects<invalid_argument>([&] { f.db->create_collection("zero", {0, metric::l2}); },
                              "vecstore: invalid collection options: dim is 0. Give the length of the embeddings "
                              "the collection will hold");
  f.rejects<invalid_argument>([&] { f.db->create_collection("huge", {limits::max_dim + 1, metric::l2}); },
                              "vecstore: invalid collection options: dim is 65537, the limit is 65536. Check the "
                              "dimension; embeddings that long are not supported");
  CHECK(f.db->list_collections().size() == 1);
}

TEST_CASE("bad store options are rejected before any file is touched", "[bad_input]") {
  temp_dir dir;
  store_options o;
  CHECK_THROWS_WITH(open(o), "vecstore: invalid store options: path is empty. Set store_options::path to the store "
                             "file");
  o.path = dir / "missing-folder" / "store.db";
  CHECK_THROWS_AS(open(o), io_error);
  CHECK_THROWS_WITH(open(o), "vecstore: cannot open the store (" + o.path.string() + "): the folder " +
                                 (dir / "missing-folder").string() + " does not exist. Create the folder first");
  o.path = dir.path();
  CHECK_THROWS_WITH(open(o), Catch::StartsWith("vecstore: cannot open the store (" + dir.path().string() +
                                               "): the path is a directory"));
  o.path = dir / "absent.db";
  o.create_if_missing = false;
  CHECK_THROWS_AS(open(o), not_found);
  CHECK_FALSE(std::filesystem::exists(dir / "absent.db"));
  o.create_if_missing = true;
  o.max_retries = -1;
  CHECK_THROWS_WITH(open(o), "vecstore: invalid store options: max_retries is negative. Use 0 for no retries");
  o.max_retries = 0;
  o.sync_interval = std::chrono::milliseconds(-1);
  CHECK_THROWS_AS(open(o), invalid_argument);
  CHECK_THROWS_WITH(open(o), "vecstore: invalid store options: sync_interval is negative. Use 0 to sync the WAL "
                             "after every commit, or a positive interval (the default is 1 s)");
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("a file that is not a vecstore store is refused and left untouched", "[bad_input]") {
  temp_dir dir;
  const auto path = dir / "other.db";
  {
    SQLite::Database other(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    other.exec("CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('ada')");
  }
  store_options o;
  o.path = path;
  CHECK_THROWS_AS(open(o), schema_error);
  CHECK_THROWS_WITH(open(o), "vecstore: not a vecstore store (" + path.string() +
                                 "): its application_id is 0, vecstore's is 1447379795. Open a file created by "
                                 "vecstore, or move this file away");
  SQLite::Database other(path.string(), SQLite::OPEN_READONLY);
  CHECK(other.execAndGet("SELECT name FROM people").getString() == "ada");
  CHECK(other.execAndGet("PRAGMA journal_mode").getString() == "delete");  // not switched to WAL
  CHECK_FALSE(std::filesystem::exists(dir / "other.db-wal"));
}

TEST_CASE("a handle to a deleted collection says so, also when a namesake was created since", "[bad_input]") {
  temp_dir dir;
  store_options o;
  o.path = dir / "s.db";
  auto db = open(o);
  auto old_handle = db->create_collection("c", {2, metric::l2});
  db->delete_collection("c");
  CHECK_THROWS_WITH(old_handle.count(), Catch::Contains("there is no collection named \"c\""));
  db->create_collection("c", {2, metric::l2}).add({{"kept", {1, 2}, std::nullopt, {}}});
  const std::string says = "was deleted, and another collection of that name was created since";
  CHECK_THROWS_WITH(old_handle.count(), Catch::Contains(says) && Catch::Contains("get_collection(\"c\")"));
  CHECK_THROWS_WITH(old_handle.query({1, 2}), Catch::Contains(says));
  CHECK_THROWS_WITH(old_handle.add({{"x", {1, 2}, std::nullopt, {}}}), Catch::Contains(says));
  CHECK_THROWS_AS(old_handle.count(), not_found);
  CHECK(db->get_collection("c").count() == 1);
}

namespace {

/// Ids and distances of `hits`, for comparing two rankings.
void check_same_ranking(const std::vector<hit>& got, const std::vector<hit>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].id == want[i].id);
    CHECK(std::fabs(got[i].distance - want[i].distance) <= 1e-6f);
  }
}

}  // namespace

TEST_CASE("a cosine query of extreme magnitude ranks like the same direction at norm 1", "[bad_input]") {
  temp_dir dir;
  auto db = fixture::open_at(dir);
  auto c = db->create_collection("c", {3, metric::cosine});
  c.add({{"x", {1, 0, 0}, std::nullopt, {}},
         {"near-x", {1, 0.2f, 0}, std::nullopt, {}},
         {"xy", {1, 1, 0}, std::nullopt, {}},
         {"y", {0, 1, 0}, std::nullopt, {}},
         {"minus-x", {-1, 0.1f, 0}, std::nullopt, {}}});
  query_options o;
  o.k = 5;
  const auto want = c.query({1, 0, 0}, o);
  REQUIRE(want.front().id == "x");
  CHECK(want.front().distance == Approx(0.0).margin(1e-6));
  for (const float scale : {1e-30f, 1e-20f, 1e20f, 1e30f, 3e38f}) {
    INFO("query scale " << scale);
    check_same_ranking(c.query({scale, 0, 0}, o), want);
  }
  // The smallest float there is, alone, also has a direction.
  check_same_ranking(c.query({std::numeric_limits<float>::denorm_min(), 0, 0}, o), want);
}

TEST_CASE("a stored cosine vector of extreme magnitude is found in its direction", "[bad_input]") {
  temp_dir dir;
  query_options o;
  o.k = 1;
  const auto check_found = [&](store::collection& c) {
    CHECK(c.query({1, 1, 0}, o).front().id == "tiny");
    CHECK(c.query({1, 1, 0}, o).front().distance == Approx(0.0).margin(1e-6));
    CHECK(c.query({0, 1, 1}, o).front().id == "huge");
    CHECK(c.query({0, 1, 1}, o).front().distance == Approx(0.0).margin(1e-6));
    CHECK(c.query({0, 0, 1}, o).front().id == "tiny2");
    CHECK(c.query({0, 0, 1}, o).front().distance == Approx(0.0).margin(1e-6));
  };
  {
    auto db = fixture::open_at(dir);
    auto c = db->create_collection("c", {3, metric::cosine});
    c.add({{"tiny", {1e-30f, 1e-30f, 0}, std::nullopt, {}},
           {"huge", {0, 1e30f, 1e30f}, std::nullopt, {}},
           {"plain", {1, 0, 0}, std::nullopt, {}}});
    c.upsert({{"tiny2", {0, 0, 1e-38f}, std::nullopt, {}}});
    check_found(c);
  }
  // Reopened: the rows are loaded or rebuilt, and still point the same way.
  auto db = fixture::open_at(dir);
  auto c = db->get_collection("c");
  check_found(c);
}

// l2 and inner product compare raw float32 values: past a norm of 1e18 a
// distance between two vectors may overflow to infinity, and every answer
// would tie. Such vectors are refused, stored or asked for, with the reason.
TEST_CASE("l2 and inner product refuse a vector whose distances would overflow float32", "[bad_input]") {
  for (const metric m : {metric::l2, metric::inner_product}) {
    INFO("metric " << to_string(m));
    temp_dir dir;
    auto db = fixture::open_at(dir);
    auto c = db->create_collection("c", {3, m});
    c.add({{"x", {1, 0, 0}, std::nullopt, {}}, {"big", {0, 1e17f, 0}, std::nullopt, {}}});
    for (const float scale : {2e18f, 1e20f, 3e38f}) {
      INFO("scale " << scale);
      try {
        c.add({{"huge", {scale, 0, 0}, std::nullopt, {}}});
        FAIL("a vector of norm " << scale << " was stored");
      } catch (const vecstore::invalid_argument& e) {
        CHECK_THAT(e.what(), Catch::Matchers::Contains("norm") && Catch::Matchers::Contains("1e+18"));
      }
      CHECK_THROWS_AS(c.upsert({{"x", {0, 0, scale}, std::nullopt, {}}}), vecstore::invalid_argument);
      CHECK_THROWS_AS(c.query({scale, 0, 0}), vecstore::invalid_argument);
    }
    CHECK(c.count() == 2);  // nothing was changed
    CHECK(c.get({"x"}, include::embeddings).front().embedding == std::vector<float>{1, 0, 0});
    // Below the bound, the distances stay finite and rank.
    query_options o;
    o.k = 2;
    const auto got = c.query({0, 1e17f, 0}, o);
    REQUIRE(got.size() == 2);
    CHECK(std::isfinite(got[0].distance));
    CHECK(std::isfinite(got[1].distance));
    CHECK(got.front().id == "big");
  }
}

TEST_CASE("an offset of 2^63 or more returns nothing, a limit that large returns everything", "[bad_input]") {
  fixture f;
  f.c.add({with_id("a"), with_id("b")});
  get_options o;
  o.offset = std::size_t{1} << 63;
  CHECK(f.c.get(o).empty());
  o.offset = std::numeric_limits<std::size_t>::max();
  CHECK(f.c.get(o).empty());
  o.offset = 0;
  o.limit = std::numeric_limits<std::size_t>::max();
  CHECK(f.c.get(o).size() == 3);
  o.limit = std::size_t{1} << 63;
  CHECK(f.c.get(o).size() == 3);
  o.offset = 1;
  CHECK(f.c.get(o).size() == 2);
  // The same through a filter, and through ids.
  o.offset = 0;
  o.where = filter::parse(R"({"n": 7})");
  CHECK(f.c.get(o).size() == 1);
  o.offset = std::numeric_limits<std::size_t>::max();
  CHECK(f.c.get(o).empty());
  o.where = {};
  o.ids = {"a", "b", "keep"};
  CHECK(f.c.get(o).empty());
  o.offset = 0;
  CHECK(f.c.get(o).size() == 3);
}

TEST_CASE("messages quote caller input escaped: no raw control characters, valid UTF-8", "[bad_input]") {
  fixture f;
  const auto clean = [](const std::string& what) {
    INFO(what);
    CHECK(detail::is_valid_utf8(what));
    for (const char ch : what) CHECK(static_cast<unsigned char>(ch) >= 0x20);
  };
  const std::string nasty = "a\nb\xff";
  const auto message_of = [&](auto&& bad) -> std::string {
    try {
      bad();
    } catch (const invalid_argument& e) {
      return e.what();
    } catch (const not_found& e) {
      return e.what();
    }
    FAIL("no error");
    return {};
  };
  const std::string rule = ". Use 1 to 128 characters from [A-Za-z0-9._-], starting with a letter or digit";
  f.rejects<invalid_argument>([&] { f.db->create_collection(nasty, {3, metric::l2}); },
                              "vecstore: invalid collection name: \"a\\x0Ab\\xFF\" has the character at offset 1 "
                              "that is not allowed" + rule);
  f.rejects<invalid_argument>([&] { f.db->create_collection("\n\"x", {3, metric::l2}); },
                              "vecstore: invalid collection name: \"\\x0A\\\"x\" does not start with a letter or "
                              "digit" + rule);
  clean(message_of([&] { f.db->create_collection(nasty, {3, metric::l2}); }));
  clean(message_of([&] { f.db->get_collection(nasty); }));
  clean(message_of([&] { f.db->create_collection(std::string(200, 'a') + "\n", {3, metric::l2}); }));
  // Ids may hold any valid UTF-8, newlines too: quoted escaped.
  f.rejects<invalid_argument>([&] { f.c.add({{"x\ny\"", {1, 2}, std::nullopt, {}}}); },
                              "vecstore: wrong embedding dimension: record 0 (id \"x\\x0Ay\\\"\") has 2 values, the "
                              "collection's dim is 3. Embed with the model the collection was created for");
  CHECK_THROWS_WITH(f.c.add({{"x\ny", {1, 2, 3}, std::nullopt, {}}, {"keep", {1, 2, 3}, std::nullopt, {}}}),
                    Catch::Contains("record 1 (id \"keep\") exists already in collection \"c\""));
  clean(message_of([&] { f.c.add({{"a\rb", {1, 2}, std::nullopt, {}}}); }));
  clean(message_of([&] { f.c.update({{"a\nb", {1, 2, 3}, std::nullopt, {}}}); }));
  // Metadata keys: newlines inside, and after a '$'.
  f.rejects<invalid_argument>([&] { f.c.add({{"m", {1, 1, 1}, std::nullopt, {{"$a\nb", true}}}}); },
                              "vecstore: invalid metadata: record 0 (id \"m\") has the metadata key \"$a\\x0Ab\", "
                              "which starts with '$'. Keys starting with '$' are reserved for filter operators; "
                              "rename the key");
  clean(message_of([&] {
    f.c.add({{"m", {1, 1, 1}, std::nullopt, {{"k\n", std::numeric_limits<double>::infinity()}}}});
  }));
  clean(message_of([&] { f.c.add({{"m", {1, 1, 1}, std::nullopt, {{"k\n", std::string("\xff")}}}}); }));
}
