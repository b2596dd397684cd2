// SPDX-License-Identifier: MIT
// import_chroma against a persist directory written by the real ChromaDB 1.0
// server (tests/fixtures/chroma-1.0, made by tools/chroma_fixture), and against
// damaged copies of it.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>
#include <vecstore/import/chroma.hpp>
#include <vecstore/vecstore.hpp>

#include "support/dump.hpp"
#include "support/file_bytes.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::read_bytes;
using vecstore_test::temp_dir;
using vecstore_test::write_bytes;
namespace fs = std::filesystem;

namespace {

const fs::path fixture_root = fs::path(VECSTORE_FIXTURES) / "chroma-1.0";
const fs::path fixture = fixture_root / "persist";

const nlohmann::json& expected() {
  static const nlohmann::json e = [] {
    std::ifstream in(fixture_root / "expected.json");
    REQUIRE(in);
    return nlohmann::json::parse(in);
  }();
  return e;
}

const nlohmann::json& expected_collection(const std::string& name) {
  for (const auto& c : expected()["collections"]) {
    if (c["name"] == name) return c;
  }
  static const nlohmann::json none;
  FAIL("no collection " << name << " in expected.json");
  return none;
}

std::shared_ptr<store> open_store(const temp_dir& dir, const std::string& name = "store.db") {
  store_options o;
  o.path = dir / name;
  return open(o);
}

/// Every file under `dir`: relative path -> (size, FNV-1a 64 of the content, mtime).
std::map<std::string, std::string> fingerprint(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string rel = fs::relative(e.path(), dir).string();
    if (!e.is_regular_file()) {
      out[rel] = "dir";
      continue;
    }
    std::uint64_t h = 1469598103934665603ULL;
    for (const unsigned char c : read_bytes(e.path())) h = (h ^ c) * 1099511628211ULL;
    out[rel] = std::to_string(e.file_size()) + ":" + std::to_string(h) + ":" +
               std::to_string(e.last_write_time().time_since_epoch().count());
  }
  return out;
}

/// A private, writable copy of the fixture's persist directory.
fs::path copy_fixture(const temp_dir& dir) {
  const fs::path copy = dir / "chroma";
  fs::copy(fixture, copy, fs::copy_options::recursive);
  return copy;
}

void exec_sql(const fs::path& persist, const std::string& sql) {
  SQLite::Database db(persist / "chroma.sqlite3", SQLite::OPEN_READWRITE);
  db.exec(sql);
}

std::string vector_folder(const fs::path& persist, const std::string& collection) {
  SQLite::Database db(persist / "chroma.sqlite3", SQLite::OPEN_READONLY);
  SQLite::Statement st(db,
                       "SELECT s.id FROM segments s JOIN collections c ON c.id = s.collection "
                       "WHERE c.name = ? AND s.scope = 'VECTOR'");
  st.bind(1, collection);
  REQUIRE(st.executeStep());
  return st.getColumn(0).getString();
}

/// The imported vector is what ChromaDB's get() returns, or, where that differs
/// (cosine vectors that ChromaDB holds normalised), exactly what was sent to it:
/// vectors read from the log are the originals.
bool same_vector(const std::vector<float>& got, const nlohmann::json& want) {
  const std::string hex = vecstore_test::hex_bytes(got);
  return hex == want["embedding"].get<std::string>() ||
         (want.contains("embedding_sent") && hex == want["embedding_sent"].get<std::string>());
}

/// Compares every imported record of `name` with what ChromaDB's get() returned.
void check_records(store& db, const std::string& target_name, const std::string& source_name) {
  const auto& want = expected_collection(source_name);
  auto c = db.get_collection(target_name);
  get_options all;
  all.fields = include::all;
  const auto got = c.get(all);
  REQUIRE(got.size() == want["count"].get<std::size_t>());
  std::map<std::string, const record*> by_id;
  for (const auto& r : got) by_id[r.id] = &r;
  for (const auto& w : want["records"]) {
    const std::string id = w["id"];
    INFO("collection " << source_name << ", id " << id);
    const auto it = by_id.find(id);
    REQUIRE(it != by_id.end());
    const record& r = *it->second;
    if (w["document"].is_null()) {
      CHECK_FALSE(r.document.has_value());
    } else {
      REQUIRE(r.document.has_value());
      CHECK(*r.document == w["document"].get<std::string>());
    }
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& [k, v] : r.meta) meta[k] = vecstore_test::dump_value(v);
    CHECK(meta == w["meta"]);  // types too: {"int": 2} is not {"double": 2.0}
    CHECK(same_vector(r.embedding, w));
  }
}

}  // namespace

TEST_CASE("import_chroma imports a persist directory written by ChromaDB 1.0", "[import][chroma]") {
  temp_dir dir;
  auto db = open_store(dir);
  const auto before = fingerprint(fixture);
  const auto report = import_chroma(fixture, *db);

  CHECK(report.chroma_version == "ChromaDB 1.0 (sysdb 9, metadb 5, embeddings_queue 2)");
  REQUIRE(report.collections.size() == 2);
  std::map<std::string, chroma_import_report::collection> by_name;
  for (const auto& c : report.collections) by_name[c.name] = c;
  for (const auto& want : expected()["collections"]) {
    const std::string name = want["name"];
    INFO(name);
    REQUIRE(by_name.count(name) == 1);
    const auto& got = by_name[name];
    CHECK(got.source_name == name);
    CHECK(to_string(got.space) == want["space"].get<std::string>());
    CHECK(got.dim == want["dim"].get<std::size_t>());
    CHECK(got.records == want["count"].get<std::size_t>());
    CHECK(got.normalized == 0);
    CHECK(got.vectors_from_log > 0);  // the fixture leaves a log tail past the HNSW files
    CHECK_FALSE(got.skipped);
  }

  const auto infos = db->list_collections();
  REQUIRE(infos.size() == 2);
  for (const auto& info : infos) {
    const auto& want = expected_collection(info.name);
    CHECK(info.count == want["count"].get<std::size_t>());
    CHECK(info.dim == want["dim"].get<std::size_t>());
    CHECK(to_string(info.space) == want["space"].get<std::string>());
  }

  SECTION("every record with its document, typed metadata and the vector ChromaDB returns") {
    check_records(*db, "papers", "papers");
    check_records(*db, "notes", "notes");
  }

  SECTION("deleted ids are absent; upserted ids carry their latest values") {
    for (const auto& want : expected()["collections"]) {
      auto c = db->get_collection(want["name"].get<std::string>());
      const auto deleted = want["deleted_ids"].get<std::vector<std::string>>();
      REQUIRE_FALSE(deleted.empty());
      CHECK(c.get(deleted).empty());
      const auto upserted = want["upserted_ids"].get<std::vector<std::string>>();
      REQUIRE_FALSE(upserted.empty());
      const auto got = c.get(upserted, include::all);
      CHECK(got.size() == upserted.size());
      std::map<std::string, nlohmann::json> want_by_id;
      for (const auto& w : want["records"]) want_by_id[w["id"]] = w;
      for (const auto& r : got) {
        INFO(r.id);
        CHECK(same_vector(r.embedding, want_by_id[r.id]));
        CHECK(r.meta.count("version") == 1);  // written only by the upserts
      }
    }
  }

  SECTION("the nearest neighbours ChromaDB answered, with its distances") {
    std::size_t queries = 0, same_sets = 0;
    for (const auto& want : expected()["collections"]) {
      auto c = db->get_collection(want["name"].get<std::string>());
      for (const auto& q : want["queries"]) {
        const auto embedding = q["embedding"].get<std::vector<float>>();
        const auto ids = q["ids"].get<std::vector<std::string>>();
        const auto distances = q["distances"].get<std::vector<double>>();
        query_options o;
        o.k = 10;
        o.fields = include::none;
        const auto hits = c.query(embedding, o);
        ++queries;
        REQUIRE(hits.size() == ids.size());
        std::map<std::string, double> chroma;
        for (std::size_t i = 0; i < ids.size(); ++i) chroma[ids[i]] = distances[i];
        bool same = true;
        for (std::size_t i = 0; i < hits.size(); ++i) {
          INFO(want["name"].get<std::string>() << " query " << queries << " hit " << i << " " << hits[i].id);
          const auto it = chroma.find(hits[i].id);
          same = same && it != chroma.end();
          if (it == chroma.end()) continue;
          CHECK(hits[i].distance == Approx(it->second).margin(1e-4));
          CHECK(hits[i].distance == Approx(distances[i]).margin(1e-4));  // same rank order
        }
        same_sets += same ? 1 : 0;
      }
    }
    CHECK(queries == 20);
    CHECK(same_sets == queries);
  }

  SECTION("the ChromaDB directory is unchanged, file for file") {
    chroma_reader reader(fixture);
    for (const auto& c : reader.collections()) (void)reader.read(c);
    CHECK(fingerprint(fixture) == before);
    CHECK_FALSE(fs::exists(fixture / "chroma.sqlite3-journal"));
    CHECK_FALSE(fs::exists(fixture / "chroma.sqlite3-wal"));
    CHECK_FALSE(fs::exists(fixture / "chroma.sqlite3-shm"));
  }
  CHECK(fingerprint(fixture) == before);
}

TEST_CASE("chroma_reader replays the log tail over the HNSW files", "[import][chroma]") {
  chroma_reader reader(fixture);
  const auto collections = reader.collections();
  REQUIRE(collections.size() == 2);
  CHECK(collections[0].name == "notes");  // by name
  CHECK(collections[0].space == metric::l2);  // from config_json_str
  CHECK(collections[1].name == "papers");
  CHECK(collections[1].space == metric::cosine);  // from hnsw:space metadata, copied into the config

  const auto papers = reader.read(collections[1]);
  std::map<std::string, const record*> by_id;
  for (const auto& r : papers.records) by_id[r.id] = &r;
  const auto& want = expected_collection("papers");
  std::map<std::string, nlohmann::json> want_by_id;
  for (const auto& w : want["records"]) want_by_id[w["id"]] = w;
  // paper-0004 got a new vector by an update in the tail, paper-0001 new metadata;
  // paper-0256 exists only in the tail; paper-0104 was upserted, then deleted there.
  for (const char* id : {"paper-0004", "paper-0001", "paper-0256", "paper-0109"}) {
    INFO(id);
    REQUIRE(by_id.count(id) == 1);
    CHECK(same_vector(by_id[id]->embedding, want_by_id[id]));
  }
  // A vector from the HNSW files is ChromaDB's unit vector times its length.bin
  // norm: bit for bit what its get() returns (an ulp or two from what was sent).
  // One only in the log is exactly what was sent.
  REQUIRE(want_by_id["paper-0000"].contains("embedding_sent"));
  CHECK(vecstore_test::hex_bytes(by_id["paper-0000"]->embedding) == want_by_id["paper-0000"]["embedding"].get<std::string>());
  REQUIRE(want_by_id["paper-0256"].contains("embedding_sent"));
  CHECK(vecstore_test::hex_bytes(by_id["paper-0256"]->embedding) ==
        want_by_id["paper-0256"]["embedding_sent"].get<std::string>());
  std::size_t as_returned = 0;
  for (const auto& r : papers.records) {
    as_returned += vecstore_test::hex_bytes(r.embedding) == want_by_id[r.id]["embedding"].get<std::string>() ? 1 : 0;
  }
  CHECK(as_returned + papers.vectors_from_log >= papers.records.size());
  CHECK(std::get<double>(by_id["paper-0001"]->meta.at("score")) == -2.0);
  CHECK(std::get<std::string>(by_id["paper-0001"]->meta.at("note")) == "updated");
  CHECK(by_id.count("paper-0104") == 0);
  CHECK(by_id.count("paper-0252") == 0);
  // insertion order: ChromaDB's embeddings rows first
  CHECK(papers.records.front().id == "paper-0000");
}

TEST_CASE("records whose metadata exist only in the log are rebuilt from it", "[import][chroma]") {
  // Simulates a METADATA segment that lags the log as the VECTOR one does:
  // rewind its max_seq_id to the VECTOR segment's and drop the records the
  // tail created. Replaying the tail must bring back exactly ChromaDB's state
  // (its upserts and updates of older records merge the same values again).
  temp_dir dir;
  const auto copy = copy_fixture(dir);
  const std::string created_by_tail =
      "('paper-0250', 'paper-0251', 'paper-253-\xc3\xbc\xe4\xb8\xad', 'paper-0254', 'paper-0255', 'paper-0256', "
      "'paper-0257', 'paper-0258', 'note-0170', 'note-171-\xc3\xbc\xe4\xb8\xad', 'note-0172', 'note-0173')";
  exec_sql(copy,
           "DELETE FROM embedding_metadata WHERE id IN (SELECT id FROM embeddings WHERE embedding_id IN " +
               created_by_tail + ");"
           "DELETE FROM embeddings WHERE embedding_id IN " + created_by_tail + ";"
           "UPDATE max_seq_id SET seq_id = (SELECT v.seq_id FROM max_seq_id v JOIN segments vs ON vs.id = v.segment_id "
           "  JOIN segments ms ON ms.collection = vs.collection WHERE vs.scope = 'VECTOR' AND ms.id = max_seq_id.segment_id) "
           "WHERE segment_id IN (SELECT id FROM segments WHERE scope = 'METADATA')");
  {
    SQLite::Database db(copy / "chroma.sqlite3");
    CHECK(db.execAndGet("SELECT count(*) FROM embeddings").getInt() == 243 + 166 - 12);
  }
  auto db = open_store(dir);
  const auto report = import_chroma(copy, *db);
  REQUIRE(report.collections.size() == 2);
  check_records(*db, "papers", "papers");
  check_records(*db, "notes", "notes");
}

TEST_CASE("import_chroma refuses persist directories of other ChromaDB versions", "[import][chroma]") {
  temp_dir dir;
  const auto copy = copy_fixture(dir);
  auto db = open_store(dir);

  SECTION("a newer sysdb migration") {
    exec_sql(copy,
             "INSERT INTO migrations (dir, version, filename, sql, hash) "
             "VALUES ('sysdb', 10, '00010-something-new.sqlite.sql', '', '')");
    try {
      import_chroma(copy, *db);
      FAIL("no exception");
    } catch (const schema_error& e) {
      CHECK(e.code() == errc::schema_error);
      const std::string what = e.what();
      CHECK_THAT(what, Catch::Contains("ChromaDB persist directory with sysdb migration 10 (00010-something-new.sqlite.sql)"));
      CHECK_THAT(what, Catch::Contains("supported: sysdb 1-9, metadb 1-5, embeddings_queue 1-2 (ChromaDB 1.0)"));
      CHECK_THAT(what, Catch::Contains("import JSON Lines instead"));
    }
  }
  SECTION("an older one (fewer metadb migrations)") {
    exec_sql(copy, "DELETE FROM migrations WHERE dir = 'metadb' AND version = 5");
    CHECK_THROWS_MATCHES(import_chroma(copy, *db), schema_error,
                         Catch::Matchers::Predicate<schema_error>([](const schema_error& e) {
                           return std::string(e.what()).find("metadb migrations up to 4") != std::string::npos;
                         }));
  }
  SECTION("an unknown kind of migration") {
    exec_sql(copy, "INSERT INTO migrations (dir, version, filename, sql, hash) VALUES ('spann', 1, 'x.sql', '', '')");
    CHECK_THROWS_AS(import_chroma(copy, *db), schema_error);
  }
  SECTION("no migrations table") {
    exec_sql(copy, "DROP TABLE migrations");
    CHECK_THROWS_AS(import_chroma(copy, *db), schema_error);
  }
  SECTION("not a ChromaDB directory at all") {
    fs::remove(copy / "chroma.sqlite3");
    CHECK_THROWS_AS(import_chroma(copy, *db), schema_error);
    CHECK_THROWS_AS(import_chroma(dir / "missing", *db), io_error);
  }
  SECTION("chroma.sqlite3 that is not a database") {
    write_bytes(copy / "chroma.sqlite3", std::string(8192, 'x'));
    CHECK_THROWS_AS(import_chroma(copy, *db), corruption_error);
  }
  SECTION("an unfinished write (a hot journal)") {
    write_bytes(copy / "chroma.sqlite3-journal", std::string(512, '\1'));
    CHECK_THROWS_AS(import_chroma(copy, *db), io_error);
  }
  SECTION("an unknown distance space") {
    exec_sql(copy,
             "UPDATE collections SET config_json_str = replace(config_json_str, '\"l2\"', '\"manhattan\"') "
             "WHERE name = 'notes'");
    CHECK_THROWS_AS(import_chroma(copy, *db), schema_error);
  }
  SECTION("an unknown vector encoding in the log") {
    exec_sql(copy, "UPDATE embeddings_queue SET encoding = 'INT8' WHERE vector IS NOT NULL");
    CHECK_THROWS_AS(import_chroma(copy, *db), schema_error);
  }
  CHECK(db->list_collections().empty());  // refused before anything was written
}

TEST_CASE("damaged HNSW files raise corruption_error naming the file", "[import][chroma][bad_input]") {
  temp_dir dir;
  const auto copy = copy_fixture(dir);
  auto db = open_store(dir);
  const fs::path folder = copy / vector_folder(copy, "papers");
  const auto expect_corruption = [&](const std::string& file, const std::string& why) {
    try {
      import_chroma(copy, *db);
      FAIL("no exception");
    } catch (const corruption_error& e) {
      CHECK(e.code() == errc::corruption);
      CHECK(e.path() == folder / file);
      CHECK_THAT(std::string(e.what()), Catch::Contains(why));
    }
    CHECK_FALSE(db->list_collections().size() == 2);
    for (const auto& c : db->list_collections()) CHECK(c.name != "papers");  // the failing one is not left half-written
  };

  SECTION("data_level0.bin truncated below the records header.bin announces") {
    fs::resize_file(folder / "data_level0.bin", 204 * 100 + 17);
    expect_corruption("data_level0.bin", "fewer than the 250 records");
  }
  SECTION("data_level0.bin cut to exactly the used records is fine (the server writes it so too)") {
    fs::resize_file(folder / "data_level0.bin", 204 * 250);
    fs::resize_file(folder / "length.bin", 4 * 250);
    import_chroma(copy, *db);
    check_records(*db, "papers", "papers");
  }
  SECTION("length.bin shorter than the records") {
    fs::resize_file(folder / "length.bin", 40);
    expect_corruption("length.bin", "fewer than the 250 records");
  }
  SECTION("header.bin of the wrong size") {
    fs::resize_file(folder / "header.bin", 64);
    expect_corruption("header.bin", "not 100");
  }
  SECTION("header.bin with fields that do not fit together") {
    auto h = read_bytes(folder / "header.bin");
    h[36] = static_cast<char>(h[36] + 4);  // label_offset
    write_bytes(folder / "header.bin", h);
    expect_corruption("header.bin", "inconsistent HNSW header");
  }
  SECTION("header.bin announcing more records than max_elements") {
    auto h = read_bytes(folder / "header.bin");
    for (int i = 20; i < 28; ++i) h[static_cast<std::size_t>(i)] = '\x7f';  // cur_element_count
    write_bytes(folder / "header.bin", h);
    expect_corruption("header.bin", "exceeds max_elements");
  }
  SECTION("a vector value that is not finite") {
    auto d = read_bytes(folder / "data_level0.bin");
    const std::uint32_t nan = 0x7fc00000;
    std::memcpy(&d[132], &nan, 4);
    write_bytes(folder / "data_level0.bin", d);
    expect_corruption("data_level0.bin", "non-finite");
  }
  SECTION("two live records with the same label") {
    auto d = read_bytes(folder / "data_level0.bin");
    std::copy_n(d.begin() + 196, 8, d.begin() + 204 + 196);
    write_bytes(folder / "data_level0.bin", d);
    expect_corruption("data_level0.bin", "appears in two live records");
  }
}

TEST_CASE("a garbage index_metadata.pickle raises an error, never a crash", "[import][chroma][bad_input]") {
  temp_dir dir;
  const auto copy = copy_fixture(dir);
  auto db = open_store(dir);
  const fs::path pickle = copy / vector_folder(copy, "papers") / "index_metadata.pickle";
  const std::string good = read_bytes(pickle);

  std::string bad;
  SECTION("random bytes") {
    std::mt19937 rng(GENERATE(1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u));
    bad.resize(good.size());
    for (auto& c : bad) c = static_cast<char>(rng());
    bad[0] = '\x80';
    bad[1] = '\x03';
  }
  SECTION("truncated") { bad = good.substr(0, GENERATE(0u, 1u, 2u, 3u, 10u, 100u, 1000u, 6000u)); }
  SECTION("a string length past the end") {
    bad = good;
    bad.replace(4, 4, std::string("\xff\xff\xff\x7f", 4));  // the first BINUNICODE's length
  }
  SECTION("a flipped byte") {
    bad = good;
    const std::size_t at = GENERATE(0u, 2u, 3u, 200u, 1000u, 4000u, 9000u);  // opcodes, ids, labels
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
  }
  SECTION("maps that disagree") {
    bad = good;
    const auto at = bad.find("paper-0000");
    REQUIRE(at != std::string::npos);
    bad[at + 9] = '9';  // id_to_label now names paper-0009 twice
  }
  SECTION("dicts nested without end") {
    bad = "\x80\x03";
    for (int i = 0; i < 100000; ++i) bad += "}(K\x01";
    for (int i = 0; i < 100000; ++i) bad += "u";
    bad += ".";
  }
  SECTION("a dict stored in itself") { bad = std::string("\x80\x03}q\x00(K\x01h\x00u.", 11); }
  write_bytes(pickle, bad);
  try {
    import_chroma(copy, *db);
    FAIL("no exception");
  } catch (const corruption_error& e) {
    CHECK(e.path() == pickle);
  } catch (const schema_error& e) {
    CHECK(e.path() == pickle);  // a byte turned into an opcode that builds a Python object
  }
}

TEST_CASE("the pickle reader reads what Python's pickle writes", "[import][chroma][unit]") {
  // pickle.dumps({'dimensionality': None, 'total_elements_added': 3, 'max_seq_id': None,
  //   'id_to_label': {'a': 1, 'bé': 2, 'c': 300}, 'label_to_id': {1: 'a', 2: 'bé', 300: 'c'},
  //   'id_to_seq_id': {}}, protocol=P), with memo codes (BINPUT/BINGET, MEMOIZE) and FRAME
  const std::string proto3(
      "\x80\x03\x7d\x71\x00\x28\x58\x0e\x00\x00\x00\x64\x69\x6d\x65\x6e\x73\x69\x6f\x6e\x61\x6c\x69\x74\x79\x71\x01"
      "\x4e\x58\x14\x00\x00\x00\x74\x6f\x74\x61\x6c\x5f\x65\x6c\x65\x6d\x65\x6e\x74\x73\x5f\x61\x64\x64\x65\x64\x71"
      "\x02\x4b\x03\x58\x0a\x00\x00\x00\x6d\x61\x78\x5f\x73\x65\x71\x5f\x69\x64\x71\x03\x4e\x58\x0b\x00\x00\x00\x69"
      "\x64\x5f\x74\x6f\x5f\x6c\x61\x62\x65\x6c\x71\x04\x7d\x71\x05\x28\x58\x01\x00\x00\x00\x61\x71\x06\x4b\x01\x58"
      "\x03\x00\x00\x00\x62\xc3\xa9\x71\x07\x4b\x02\x58\x01\x00\x00\x00\x63\x71\x08\x4d\x2c\x01\x75\x58\x0b\x00\x00"
      "\x00\x6c\x61\x62\x65\x6c\x5f\x74\x6f\x5f\x69\x64\x71\x09\x7d\x71\x0a\x28\x4b\x01\x68\x06\x4b\x02\x68\x07\x4d"
      "\x2c\x01\x68\x08\x75\x58\x0c\x00\x00\x00\x69\x64\x5f\x74\x6f\x5f\x73\x65\x71\x5f\x69\x64\x71\x0b\x7d\x71\x0c"
      "\x75\x2e",
      191);
  const std::string proto4(
      "\x80\x04\x95\x95\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x0e\x64\x69\x6d\x65\x6e\x73\x69\x6f\x6e\x61\x6c"
      "\x69\x74\x79\x94\x4e\x8c\x14\x74\x6f\x74\x61\x6c\x5f\x65\x6c\x65\x6d\x65\x6e\x74\x73\x5f\x61\x64\x64\x65\x64"
      "\x94\x4b\x03\x8c\x0a\x6d\x61\x78\x5f\x73\x65\x71\x5f\x69\x64\x94\x4e\x8c\x0b\x69\x64\x5f\x74\x6f\x5f\x6c\x61"
      "\x62\x65\x6c\x94\x7d\x94\x28\x8c\x01\x61\x94\x4b\x01\x8c\x03\x62\xc3\xa9\x94\x4b\x02\x8c\x01\x63\x94\x4d\x2c"
      "\x01\x75\x8c\x0b\x6c\x61\x62\x65\x6c\x5f\x74\x6f\x5f\x69\x64\x94\x7d\x94\x28\x4b\x01\x68\x06\x4b\x02\x68\x07"
      "\x4d\x2c\x01\x68\x08\x75\x8c\x0c\x69\x64\x5f\x74\x6f\x5f\x73\x65\x71\x5f\x69\x64\x94\x7d\x94\x75\x2e",
      160);
  temp_dir dir;
  const auto file = dir / "index_metadata.pickle";
  write_bytes(file, GENERATE_COPY(proto3, proto4));
  const auto labels = detail::chroma::read_label_map(file);
  CHECK(labels == std::unordered_map<std::uint64_t, std::string>{{1, "a"}, {2, "b\xc3\xa9"}, {300, "c"}});

  // ChromaDB 0.4-0.6 pickled a PersistentData object: a schema error, not corruption
  write_bytes(file, std::string("\x80\x03\x63\x63hromadb.segment\nPersistentData\nq\x00)\x81q\x01}b.", 44));
  CHECK_THROWS_AS(detail::chroma::read_label_map(file), schema_error);
}

TEST_CASE("segment folder names are UUIDs before they become paths", "[import][chroma][bad_input]") {
  temp_dir dir;
  const auto copy = copy_fixture(dir);
  auto db = open_store(dir);
  exec_sql(copy,
           "UPDATE segments SET id = '../../../../etc' WHERE scope = 'VECTOR' AND collection = "
           "(SELECT id FROM collections WHERE name = 'notes')");
  try {
    import_chroma(copy, *db);
    FAIL("no exception");
  } catch (const corruption_error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("segment id that is not a UUID"));
    CHECK(e.path() == copy / "chroma.sqlite3");
  }
  CHECK(detail::chroma::is_uuid("5742fbc7-e2cd-4c61-8ba5-3a3dc9b92be8"));
  CHECK_FALSE(detail::chroma::is_uuid("5742fbc7-e2cd-4c61-8ba5-3a3dc9b92be/"));
  CHECK_FALSE(detail::chroma::is_uuid("5742fbc7-e2cd-4c61-8ba5/3a3dc9b92be8a"));
  CHECK_FALSE(detail::chroma::is_uuid(""));
}

TEST_CASE("damaged rows of chroma.sqlite3 raise corruption_error", "[import][chroma][bad_input]") {
  temp_dir dir;
  const auto copy = copy_fixture(dir);
  auto db = open_store(dir);
  SECTION("a log vector of the wrong length") {
    exec_sql(copy, "UPDATE embeddings_queue SET vector = x'0000803f' WHERE vector IS NOT NULL");
  }
  SECTION("a log operation that does not exist") { exec_sql(copy, "UPDATE embeddings_queue SET operation = 9"); }
  SECTION("log metadata that is not JSON") {
    exec_sql(copy,
             "UPDATE embeddings_queue SET metadata = '{not json' WHERE operation <> 3;"
             "UPDATE max_seq_id SET seq_id = 0 WHERE segment_id IN (SELECT id FROM segments WHERE scope = 'METADATA')");
  }
  SECTION("log metadata nested 100,000 deep") {
    exec_sql(copy,
             "UPDATE embeddings_queue SET metadata = '{\"k\":" + std::string(100000, '[') + std::string(100000, ']') +
                 "}' WHERE operation <> 3;"
                 "UPDATE max_seq_id SET seq_id = 0 WHERE segment_id IN (SELECT id FROM segments WHERE scope = 'METADATA')");
  }
  SECTION("a collection configuration nested 100,000 deep") {
    exec_sql(copy, "UPDATE collections SET config_json_str = '" + std::string(100000, '[') + std::string(100000, ']') +
                       "' WHERE name = 'notes'");
  }
  SECTION("a metadata row with two values") { exec_sql(copy, "UPDATE embedding_metadata SET int_value = 1 WHERE key = 'title'"); }
  SECTION("a dimension out of range") { exec_sql(copy, "UPDATE collections SET dimension = -3"); }
  CHECK_THROWS_AS(import_chroma(copy, *db), corruption_error);
}

TEST_CASE("import_chroma and collections that exist in the store", "[import][chroma]") {
  temp_dir dir;
  auto db = open_store(dir);
  db->create_collection("notes", {8, metric::l2}).add({record{"mine", std::vector<float>(8, 1.0f), std::nullopt, {}}});

  SECTION("refused by default, before anything is written") {
    CHECK_THROWS_AS(import_chroma(fixture, *db), vecstore::invalid_argument);
    REQUIRE(db->list_collections().size() == 1);
    CHECK(db->get_collection("notes").count() == 1);
  }
  SECTION("replaced on request") {
    chroma_import_options o;
    o.on_conflict = chroma_conflict::replace;
    import_chroma(fixture, *db, o);
    CHECK(db->get_collection("notes").count() == expected_collection("notes")["count"].get<std::size_t>());
    check_records(*db, "notes", "notes");
  }
  SECTION("merged on request") {
    chroma_import_options o;
    o.on_conflict = chroma_conflict::merge;
    import_chroma(fixture, *db, o);
    import_chroma(fixture, *db, o);  // twice: upserts, no duplicates
    CHECK(db->get_collection("notes").count() == expected_collection("notes")["count"].get<std::size_t>() + 1);
    CHECK(db->get_collection("papers").count() == expected_collection("papers")["count"].get<std::size_t>());
  }
  SECTION("beside it, under a prefix, in small batches") {
    chroma_import_options o;
    o.name_prefix = "chroma.";
    o.batch_size = 7;
    const auto report = import_chroma(fixture, *db, o);
    CHECK(report.collections.at(0).name == "chroma.notes");
    CHECK(report.collections.at(0).source_name == "notes");
    check_records(*db, "chroma.notes", "notes");
    check_records(*db, "chroma.papers", "papers");
    CHECK(db->get_collection("notes").count() == 1);
  }
  SECTION("batch_size 0 is refused") {
    chroma_import_options o;
    o.batch_size = 0;
    CHECK_THROWS_AS(import_chroma(fixture, *db, o), vecstore::invalid_argument);
  }
}

namespace {

/// Adds what ChromaDB writes for create_collection("empty") with no add: no
/// dimension, two segments, no segment folder.
void add_collection_without_dimension(const fs::path& persist) {
  exec_sql(persist,
           "INSERT INTO collections (id, name, dimension, database_id, config_json_str) VALUES "
           "('11111111-2222-3333-4444-555555555555', 'empty', NULL, '00000000-0000-0000-0000-000000000000', NULL);"
           "INSERT INTO segments (id, type, scope, collection) VALUES "
           "('11111111-2222-3333-4444-000000000001', 'urn:chroma:segment/metadata/sqlite', 'METADATA', "
           "'11111111-2222-3333-4444-555555555555'),"
           "('11111111-2222-3333-4444-000000000002', 'urn:chroma:segment/vector/hnsw-local-persisted', 'VECTOR', "
           "'11111111-2222-3333-4444-555555555555')");
}

/// The whole store, every record with its types: what "unchanged" is compared on.
nlohmann::json snapshot(store& db) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& info : db.list_collections()) {
    auto c = db.get_collection(info.name);
    get_options all;
    all.fields = include::all;
    out[info.name] = {{"dim", info.dim}, {"space", to_string(info.space)}, {"records", vecstore_test::dump_records(c.get(all))}};
  }
  return out;
}

/// A store holding the user's own "notes" (the fixture's name too) and "mine".
void add_user_collections(store& db) {
  db.create_collection("notes", {8, metric::l2}).add({record{"users-note", std::vector<float>(8, 1.0f), "keep me", {}}});
  db.create_collection("mine", {3, metric::inner_product}).add({record{"m1", {1.0f, 2.0f, 3.0f}, std::nullopt, {{"k", std::int64_t{1}}}}});
}

}  // namespace

TEST_CASE("collections that never got an embedding are refused, or skipped on request", "[import][chroma]") {
  temp_dir dir;
  const auto copy = copy_fixture(dir);
  add_collection_without_dimension(copy);
  auto db = open_store(dir);

  SECTION("refused by default: nothing is written, the error names the collection and the way out") {
    try {
      import_chroma(copy, *db);
      FAIL("no exception");
    } catch (const vecstore::invalid_argument& e) {
      CHECK(e.code() == errc::invalid_argument);
      const std::string what = e.what();
      CHECK_THAT(what, Catch::Contains("collection \"empty\" has no dimension"));
      CHECK_THAT(what, Catch::Contains("skip_empty"));
    }
    CHECK(db->list_collections().empty());
    // the dry run's plan refuses it alike
    CHECK_THROWS_AS(plan_chroma_import(copy, {}), vecstore::invalid_argument);
  }
  SECTION("skipped when skip_empty says so, and reported as skipped") {
    chroma_import_options o;
    o.skip_empty = true;
    const auto report = import_chroma(copy, *db, o);
    REQUIRE(report.collections.size() == 3);
    CHECK(report.collections[0].name == "empty");
    CHECK(report.collections[0].skipped);
    CHECK(report.collections[0].action == "skip");
    CHECK(report.collections[0].records == 0);
    CHECK(report.collections[0].space == metric::l2);
    CHECK_FALSE(report.collections[1].skipped);
    CHECK(report.collections[1].action == "create");
    CHECK(db->list_collections().size() == 2);
  }
}

TEST_CASE("import_chroma writes all collections or none", "[import][chroma][bad_input]") {
  // The collections are read by name: notes, then papers. Damage in papers
  // must not leave notes imported, nor touch what the store held.
  temp_dir dir;
  const auto copy = copy_fixture(dir);
  auto db = open_store(dir);
  add_user_collections(*db);
  const fs::path folder = copy / vector_folder(copy, "papers");
  const auto before = snapshot(*db);
  chroma_import_options o;
  o.name_prefix = GENERATE(as<std::string>{}, "", "chroma.");
  o.on_conflict = o.name_prefix.empty() ? chroma_conflict::replace : chroma_conflict::refuse;
  INFO("prefix \"" << o.name_prefix << "\"");

  SECTION("a non-finite value in the second collection's data_level0.bin") {
    auto d = read_bytes(folder / "data_level0.bin");
    const std::uint32_t nan = 0x7fc00000;
    std::memcpy(&d[132], &nan, 4);
    write_bytes(folder / "data_level0.bin", d);
    CHECK_THROWS_AS(import_chroma(copy, *db, o), corruption_error);
  }
  SECTION("a record add would refuse: a metadata key starting with '$'") {
    exec_sql(copy,
             "INSERT INTO embedding_metadata (id, key, string_value) SELECT e.id, '$where', 'x' FROM embeddings e "
             "JOIN segments s ON s.id = e.segment_id JOIN collections c ON c.id = s.collection "
             "WHERE c.name = 'papers' AND e.embedding_id = 'paper-0008'");
    try {
      import_chroma(copy, *db, o);
      FAIL("no exception");
    } catch (const vecstore::invalid_argument& e) {
      const std::string what = e.what();
      CHECK_THAT(what, Catch::Contains("collection \"papers\""));
      CHECK_THAT(what, Catch::Contains("paper-0008"));
      CHECK_THAT(what, Catch::Contains("$where"));
    }
  }
  SECTION("a record add would refuse: an all-zero cosine vector in the log") {
    exec_sql(copy,
             "UPDATE embeddings_queue SET vector = zeroblob(64) WHERE id = 'paper-0256' AND vector IS NOT NULL");
    try {
      import_chroma(copy, *db, o);
      FAIL("no exception");
    } catch (const vecstore::invalid_argument& e) {
      const std::string what = e.what();
      CHECK_THAT(what, Catch::Contains("paper-0256"));
      CHECK_THAT(what, Catch::Contains("all zeros"));
    }
  }
  CHECK(snapshot(*db) == before);
}

TEST_CASE("import_chroma --on-conflict replace with a hostile record in every collection loses nothing",
          "[import][chroma][bad_input]") {
  // Issue 19, item 4: the store holds collections of the fixture's names, the
  // import replaces them, and every collection of the directory has one record
  // add refuses. Neither the import nor its dry run may change the store.
  temp_dir dir;
  const auto copy = copy_fixture(dir);
  auto db = open_store(dir);
  add_user_collections(*db);  // "notes" and "mine"
  db->create_collection("papers", {4, metric::cosine}).add({record{"users-paper", {1.0f, 0.0f, 0.0f, 0.0f}, "mine too", {}}});
  for (const auto& [name, id] : {std::pair<std::string, std::string>{"notes", "note-0001"}, {"papers", "paper-0008"}}) {
    exec_sql(copy,
             "INSERT INTO embedding_metadata (id, key, string_value) SELECT e.id, '$where', 'x' FROM embeddings e "
             "JOIN segments s ON s.id = e.segment_id JOIN collections c ON c.id = s.collection "
             "WHERE c.name = '" + name + "' AND e.embedding_id = '" + id + "'");
  }
  const nlohmann::json before = vecstore_test::dump_store(*db);
  REQUIRE(before.size() == 3);
  chroma_import_options o;
  o.on_conflict = chroma_conflict::replace;

  // The collections are read by name: notes first, so notes is the one named.
  const auto check_refusal = [](const vecstore::invalid_argument& e) {
    CHECK(e.code() == errc::invalid_argument);
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("collection \"notes\""));
    CHECK_THAT(what, Catch::Contains("note-0001"));
    CHECK_THAT(what, Catch::Contains("$where"));
    CHECK_THAT(what, Catch::Contains("Nothing was imported"));
  };
  SECTION("the import") {
    try {
      import_chroma(copy, *db, o);
      FAIL("no exception");
    } catch (const vecstore::invalid_argument& e) {
      check_refusal(e);
    }
  }
  SECTION("the dry run (plan_chroma_import)") {
    try {
      (void)plan_chroma_import(copy, db->list_collections(), o);
      FAIL("no exception");
    } catch (const vecstore::invalid_argument& e) {
      check_refusal(e);
    }
  }
  CHECK(vecstore_test::dump_store(*db) == before);
  // a fresh process sees the same store
  db->close();
  db.reset();
  auto again = open_store(dir);
  CHECK(vecstore_test::dump_store(*again) == before);
}

TEST_CASE("the HNSW files must agree with the records", "[import][chroma][bad_input]") {
  temp_dir dir;
  const auto copy = copy_fixture(dir);
  auto db = open_store(dir);
  const fs::path folder = copy / vector_folder(copy, "papers");
  const auto expect_corruption = [&](const fs::path& file, const std::string& why) {
    try {
      import_chroma(copy, *db);
      FAIL("no exception");
    } catch (const corruption_error& e) {
      CHECK(e.path() == file);
      CHECK_THAT(std::string(e.what()), Catch::Contains(why));
    }
    CHECK(db->list_collections().empty());
  };

  SECTION("random bytes in data_level0.bin (the file's size kept)") {
    auto d = read_bytes(folder / "data_level0.bin");
    std::mt19937 rng(GENERATE(1u, 2u, 3u));
    for (auto& c : d) c = static_cast<char>(rng());
    write_bytes(folder / "data_level0.bin", d);
    expect_corruption(folder / "data_level0.bin", "in no live record");
  }
  SECTION("a record of the label map marked deleted in data_level0.bin") {
    auto d = read_bytes(folder / "data_level0.bin");
    d[2] = static_cast<char>(d[2] | 0x01);  // slot 0's DELETE_MARK
    write_bytes(folder / "data_level0.bin", d);
    expect_corruption(folder / "data_level0.bin", "in no live record");
  }
  SECTION("a record whose vector is nowhere: its log rows are gone") {
    // paper-0256 was added after the HNSW files were written: its vector is only in the log
    exec_sql(copy, "DELETE FROM embeddings_queue WHERE id = 'paper-0256'");
    expect_corruption(folder, "id \"paper-0256\" of collection \"papers\" has no vector");
  }
  SECTION("a vector whose record is gone from chroma.sqlite3") {
    exec_sql(copy,
             "DELETE FROM embedding_metadata WHERE id IN (SELECT id FROM embeddings WHERE embedding_id = 'paper-0008');"
             "DELETE FROM embeddings WHERE embedding_id = 'paper-0008'");
    expect_corruption(folder, "id \"paper-0008\" of collection \"papers\" has a vector but no record");
  }
}
