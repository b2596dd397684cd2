// SPDX-License-Identifier: MIT
// Persistence across processes, and damage planted in the file being caught at open.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>

#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <unistd.h>
#include <vecstore/vecstore.hpp>

#include "support/dump.hpp"
#include "support/file_bytes.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::read_bytes;
using vecstore_test::temp_dir;

namespace {

/// Records whose values are easy to get subtly wrong: denormals, -0.0,
/// extreme doubles, multi-byte UTF-8, bools next to ints.
std::vector<record> tricky_records(std::size_t dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<record> out;
  for (int i = 0; i < 50; ++i) {
    record r;
    r.id = "rec-" + std::to_string(i) + (i % 7 == 0 ? "-é中" : "");
    r.embedding.resize(dim);
    for (auto& x : r.embedding) x = dist(rng);
    if (i == 3) r.embedding[0] = std::numeric_limits<float>::denorm_min();
    if (i == 4) r.embedding[1] = -0.0f;
    if (i % 4 != 0) r.document = "document " + std::to_string(i) + " \xe2\x9c\x93";
    r.meta["int"] = std::int64_t{i} * 1000000007LL;
    r.meta["double"] = i == 5 ? 1e300 : 0.1 * i;
    r.meta["string"] = std::string("naïve ") + std::to_string(i);
    r.meta["bool"] = i % 2 == 0;
    r.meta["one"] = std::int64_t{1};  // must stay an int, not become true
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

TEST_CASE("what one process writes, a new process reads back bit-exact", "[store][persistence][multiprocess]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  const auto papers = tricky_records(8, 1);
  const auto notes = tricky_records(3, 2);
  {
    store_options o;
    o.path = path;
    auto db = open(o);
    db->create_collection("papers", {8, metric::cosine}).add(papers);
    auto n = db->create_collection("notes", {3, metric::l2});
    n.add(notes);
    n.remove({notes[0].id});
    db->close();
  }
  auto expected_notes = notes;
  expected_notes.erase(expected_notes.begin());
  const nlohmann::json expected = nlohmann::json::array(
      {{{"name", "notes"}, {"dim", 3}, {"space", "l2"}, {"records", vecstore_test::dump_records(expected_notes)}},
       {{"name", "papers"}, {"dim", 8}, {"space", "cosine"}, {"records", vecstore_test::dump_records(papers)}}});

  const auto child = vecstore_test::run_child({"dump", path.string()});
  INFO(child.err);
  REQUIRE(child.exit_code == 0);
  CHECK(nlohmann::json::parse(child.out) == expected);

  // The reopened store also searches what it loaded.
  store_options o;
  o.path = path;
  auto db = open(o);
  auto c = db->get_collection("papers");
  query_options q;
  q.fields = include::embeddings;
  const auto hit = c.query(papers[17].embedding, q).front();
  CHECK(hit.id == papers[17].id);
  CHECK(hit.embedding == papers[17].embedding);
}

TEST_CASE("a store opened by several processes in turn keeps every write", "[store][persistence][multiprocess]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  store_options o;
  o.path = path;
  auto db = open(o);
  auto c = db->create_collection("c", {2, metric::l2});
  c.add({{"a", {1, 2}, "first", {}}});
  // A second process reads while this one still has the store open.
  auto child = vecstore_test::run_child({"dump", path.string()});
  REQUIRE(child.exit_code == 0);
  auto dumped = nlohmann::json::parse(child.out);
  REQUIRE(dumped.size() == 1);
  CHECK(dumped[0]["records"].size() == 1);
  CHECK(dumped[0]["records"][0]["document"] == "first");
  c.add({{"b", {3, 4}, "second", {}}});
  child = vecstore_test::run_child({"dump", path.string()});
  REQUIRE(child.exit_code == 0);
  CHECK(nlohmann::json::parse(child.out)[0]["records"].size() == 2);
}

TEST_CASE("a checksum mismatch planted in the file is detected at open by strict_recovery",
          "[store][corruption][multiprocess]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  // A vector whose bytes are easy to find in the file.
  std::vector<float> marker(16);
  for (std::size_t i = 0; i < marker.size(); ++i) marker[i] = 1000.0f + static_cast<float>(i) * 0.125f;
  {
    store_options o;
    o.path = path;
    auto db = open(o);
    auto c = db->create_collection("c", {16, metric::l2});
    c.add({{"victim", marker, std::nullopt, {}}, {"bystander", std::vector<float>(16, 1.0f), std::nullopt, {}}});
    db->close();  // checkpoints: the bytes are now in the main file
  }

  SECTION("a flipped byte inside the stored embedding") {
    std::string bytes = read_bytes(path);
    const std::string needle(reinterpret_cast<const char*>(marker.data()), marker.size() * sizeof(float));
    const auto at = bytes.find(needle);
    REQUIRE(at != std::string::npos);
    {
      std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(at + 21));
      const char flipped = static_cast<char>(bytes[at + 21] ^ 0x10);
      f.write(&flipped, 1);
    }
  }
  SECTION("an embedding rewritten behind vecstore's back") {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
    REQUIRE(sqlite3_exec(raw, "UPDATE records SET embedding = zeroblob(64) WHERE id = 'victim'", nullptr, nullptr,
                         nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }

  const std::string damaged = read_bytes(path);
  using strict_store = basic_store<file_lock, flat_index, strict_recovery>;
  store_options o;
  o.path = path;
  CHECK_THROWS_AS(strict_store::open(o), corruption_error);
  CHECK_THROWS_WITH(strict_store::open(o),
                    Catch::Contains("the checksum of record \"victim\" (collection 1) does not match its bytes") &&
                        Catch::Contains("strict_recovery: nothing was changed"));
  o.auto_recover = false;
  CHECK_THROWS_AS(strict_store::open(o), corruption_error);
  // strict_recovery touched nothing: same bytes, no quarantine file.
  CHECK(read_bytes(path) == damaged);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    CHECK(entry.path().filename().string().find("corrupt") == std::string::npos);
  }
  // And another process meets the same error.
  const auto child = vecstore_test::run_child({"dump", path.string(), "report-only"});
  CHECK(child.exit_code == 3);
  CHECK_THAT(child.err, Catch::StartsWith("corruption: ") && Catch::Contains("record \"victim\""));
}

// Damage is found in two places while loading: a checksum as a row is read, a wrong length as it is
// indexed. Either way the first damaged record in row order is the one reported, in a store large
// enough that a load split into stages (or across threads) would see later rows first.
TEST_CASE("damage deep in a large store is reported for the first damaged record",
          "[store][persistence]") {
  temp_dir dir;
  const auto path = dir.path() / "large.db";
  constexpr std::size_t n = 20000, dim = 16;
  {
    store_options o;
    o.path = path;
    auto db = open(o);
    auto c = db->create_collection("c", {dim, metric::l2});
    std::vector<record> batch;
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back({"r-" + std::to_string(i), std::vector<float>(dim, static_cast<float>(i)), std::nullopt, {}});
      if (batch.size() == 1000) {
        c.add(batch);
        batch.clear();
      }
    }
    db->close();
  }
  const auto run_sql = [&](const std::string& sql) {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
    REQUIRE(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  };
  using strict_store = basic_store<file_lock, flat_index, strict_recovery>;
  store_options o;
  o.path = path;
  o.auto_recover = false;

  // Two bad checksums: the earlier record is named.
  run_sql("UPDATE records SET embedding = zeroblob(64) WHERE id IN ('r-9000', 'r-15000')");
  CHECK_THROWS_WITH(strict_store::open(o), Catch::Contains("the checksum of record \"r-9000\""));

  // An intact checksum over the wrong number of values (found while indexing) before a bad checksum
  // (found while reading): still the earlier record.
  const std::vector<float> short_vector(dim / 2, 1.0f);
  const auto checksum = static_cast<std::int64_t>(detail::embedding_checksum(1, "r-5000", short_vector.data(), dim / 2));
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, "UPDATE records SET embedding = ?, checksum = ? WHERE id = 'r-5000'", -1, &st,
                             nullptr) == SQLITE_OK);
  sqlite3_bind_blob(st, 1, short_vector.data(), static_cast<int>(dim / 2 * sizeof(float)), SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, checksum);
  REQUIRE(sqlite3_step(st) == SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(raw);
  CHECK_THROWS_WITH(strict_store::open(o), Catch::Contains("record \"r-5000\" has 8 values in a collection of dim 16"));
}

TEST_CASE("a store held until static destruction closes safely in any order of exit", "[store][lifecycle]") {
  // Under ASan (tools/test.sh's asan-ubsan run) a destructor that reaches the
  // already destroyed registry is a heap-use-after-free report and a non-zero exit.
  temp_dir dir;
  const auto file = dir / "s.db";
  for (const std::string how : {"global", "static", "thread"}) {
    INFO(how);
    const auto r = vecstore_test::run_child({"exit-holding", how, file.string()});
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("ERROR: AddressSanitizer") == std::string::npos);
    CHECK(r.err.find("runtime error") == std::string::npos);
  }
  store_options o;
  o.path = file;
  auto db = open(o);
  CHECK(db->get_collection("exit").count() == 3);
  CHECK(db->verify().status == health_status::healthy);
}

TEST_CASE("a store file with a second hard link is refused under either name, and nothing is changed",
          "[store][lifecycle]") {
  // SQLite keeps one WAL per name: two processes writing through two names
  // lost acknowledged records while integrity_check said ok.
  temp_dir dir;
  const auto file = dir / "s.db";
  const auto other_name = dir / "t.db";
  store_options o;
  o.path = file;
  {
    auto db = open(o);
    db->create_collection("c", {2, metric::l2}).add({{"a", {1, 2}, std::nullopt, {}}});
  }
  const std::string before = read_bytes(file);
  REQUIRE(::link(file.c_str(), other_name.c_str()) == 0);
  for (const auto& name : {file, other_name}) {
    store_options by_name = o;
    by_name.path = name;
    CHECK_THROWS_AS(open(by_name), invalid_argument);
    CHECK_THROWS_WITH(open(by_name), Catch::Contains("has 2 hard links") && Catch::Contains("remove the other links"));
  }
  CHECK(read_bytes(file) == before);
  // A process that has the store open when the link appears: the second name is refused there too.
  auto db = [&] {
    std::filesystem::remove(other_name);
    return open(o);
  }();
  REQUIRE(::link(file.c_str(), other_name.c_str()) == 0);
  const auto r = vecstore_test::run_child({"dump", other_name.string()});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("hard links") != std::string::npos);
  std::filesystem::remove(other_name);
  CHECK(db->get_collection("c").count() == 1);
}

TEST_CASE("a dangling symbolic link is named as such, not as an SQLite error code", "[store][lifecycle]") {
  temp_dir dir;
  const auto link = dir / "s.db";
  std::filesystem::create_symlink(dir / "missing" / "real.db", link);
  store_options o;
  o.path = link;
  CHECK_THROWS_AS(open(o), io_error);
  CHECK_THROWS_WITH(open(o), Catch::Contains("symbolic link to") && Catch::Contains("does not exist"));
  CHECK_FALSE(std::filesystem::exists(dir / "missing"));
}

TEST_CASE("opening another program's SQLite file fails and leaves no lock files beside it", "[store][lifecycle]") {
  temp_dir dir;
  const auto foreign = dir / "chroma.sqlite3";
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(foreign.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE embeddings (id TEXT)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  const std::string before = read_bytes(foreign);
  store_options o;
  o.path = foreign;
  CHECK_THROWS_AS(open(o), schema_error);
  CHECK(read_bytes(foreign) == before);
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) names.push_back(entry.path().filename());
  CHECK(names == std::vector<std::string>{"chroma.sqlite3"});
}

// --- shared folders: files another user placed under a store's names ---------------------------
// A user other than this process's is simulated with chown, which needs root
// (CI runs as root); the "writable by others" cases need no privilege.

namespace {

constexpr uid_t other_user = 65534;  // "nobody"

void make_file(const std::filesystem::path& p, std::filesystem::perms mode, bool foreign) {
  { std::ofstream(p.string(), std::ios::binary); }
  std::filesystem::permissions(p, mode);
  if (foreign) REQUIRE(::chown(p.c_str(), other_user, other_user) == 0);
}

}  // namespace

TEST_CASE("files another user could have placed under a store's names are refused, and nothing is written into them",
          "[store][shared_folder]") {
  using std::filesystem::perms;
  temp_dir dir;
  const auto path = dir / "store.db";
  store_options o;
  o.path = path;
  const bool root = ::geteuid() == 0;

  SECTION("an empty store file other users can write") {
    make_file(path, perms::all & ~(perms::owner_exec | perms::group_exec | perms::others_exec), false);  // 0666
    CHECK_THROWS_WITH(open(o), Catch::Contains("refusing the store file") &&
                                   Catch::Contains("other users can write to it (mode 0666)"));
    CHECK(std::filesystem::file_size(path) == 0);
    CHECK_FALSE(std::filesystem::exists(dir / "store.db-wal"));
  }
  if (root) {
    SECTION("an empty store file owned by another user") {
      make_file(path, perms::owner_read | perms::owner_write, true);
      CHECK_THROWS_AS(open(o), io_error);
      CHECK_THROWS_WITH(open(o), Catch::Contains("owned by user 65534"));
      CHECK(std::filesystem::file_size(path) == 0);
      CHECK_FALSE(std::filesystem::exists(dir / "store.db-wal"));
    }
    SECTION("a lock file, open-lock file or WAL owned by another user") {
      open(o)->close();  // a sound store of ours
      for (const char* suffix : {".lock", ".open", "-wal"}) {
        const std::filesystem::path side = path.string() + suffix;
        std::filesystem::remove(side);
        make_file(side, perms::owner_read | perms::owner_write, true);
        INFO(side);
        CHECK_THROWS_WITH(open(o), Catch::Contains("refusing the store's") && Catch::Contains("owned by user 65534"));
        std::filesystem::remove(side);
      }
      CHECK(open(o)->list_collections().empty());  // and with them gone, it opens
    }
  }
  SECTION("a folder every user can write to without the sticky bit") {
    const auto shared = dir / "shared";
    std::filesystem::create_directory(shared);
    std::filesystem::permissions(shared, perms::all);  // 0777
    o.path = shared / "store.db";
    CHECK_THROWS_WITH(open(o), Catch::Contains("no sticky bit"));
    CHECK_FALSE(std::filesystem::exists(o.path));
    std::filesystem::permissions(shared, perms::all | perms::sticky_bit);  // 1777, as /tmp
    CHECK(open(o)->list_collections().empty());
  }
}

TEST_CASE("a backup that is not this user's alone is never listed, so never restored", "[store][shared_folder]") {
  using std::filesystem::perms;
  temp_dir dir;
  const auto path = dir / "store.db";
  store_options o;
  o.path = path;
  auto db = open(o);
  db->create_collection("c", {2, metric::l2}).add({{"ours", {1, 0}, std::nullopt, {}}});
  const backup_info made = db->backup();
  REQUIRE(db->backups().size() == 1);
  // A "backup" with a newer name, but writable by others.
  const auto planted = made.path.parent_path() / (path.filename().string() + ".20991231T000000.000Z.backup");
  std::filesystem::copy_file(made.path, planted);
  std::filesystem::permissions(planted, perms::owner_read | perms::owner_write | perms::others_write);
  CHECK(db->backups().size() == 1);
  CHECK(db->backups().front().path == made.path);
  // A name dated past what the clock can count is no backup name either (nor an overflow).
  std::filesystem::copy_file(made.path,
                             made.path.parent_path() / (path.filename().string() + ".29991231T000000.000Z.backup"));
  CHECK(db->backups().size() == 1);
  // A backup folder others can write: nothing in it is listed, and backup() refuses it.
  std::filesystem::permissions(made.path.parent_path(), perms::all);
  CHECK(db->backups().empty());
  CHECK_THROWS_WITH(db->backup(), Catch::Contains("refusing the backup folder"));
}
