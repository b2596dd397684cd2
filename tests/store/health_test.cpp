// SPDX-License-Identifier: MIT
// Detection: damage found at open, by health(), by the deep check, and a
// store file replaced under a running process.
#include <fstream>
#include <iterator>

#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <vecstore/vecstore.hpp>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::repl_child;
using vecstore_test::temp_dir;

namespace {

std::shared_ptr<store> open_at(const std::filesystem::path& path) {
  store_options o;
  o.path = path;
  return open(o);
}

void raw_exec(const std::filesystem::path& path, const char* sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(raw, sql, nullptr, nullptr, &error);
  INFO((error ? error : ""));
  sqlite3_free(error);
  sqlite3_close(raw);
  REQUIRE(rc == SQLITE_OK);
}

const health_check* find_check(const health_report& r, const std::string& name) {
  for (const auto& c : r.checks)
    if (c.name == name) return &c;
  return nullptr;
}

/// A store as schema version 1 wrote it, holding one empty collection "legacy" (dim 2, l2).
void make_v1_store(const std::filesystem::path& path) {
  SQLite::Database old(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  old.exec("PRAGMA journal_mode = WAL");
  old.exec(detail::schema_v1);
  old.exec("PRAGMA application_id = " + std::to_string(application_id));
  old.exec("PRAGMA user_version = 1");
  old.exec("INSERT INTO collections (name, dim, space, seq) VALUES ('legacy', 2, 'l2', 1)");
}

}  // namespace

TEST_CASE("the deep check finds an embedding changed behind the store's back", "[health][verify]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  auto db = open_at(path);
  auto c = db->create_collection("c", {3, metric::l2});
  c.add({{"a", {1, 2, 3}, std::nullopt, {}}, {"b", {4, 5, 6}, std::nullopt, {}}});
  REQUIRE(db->verify().status == health_status::healthy);
  CHECK(find_check(db->verify(), "checksums")->detail ==
        "2 embeddings and 2 records (id, document, metadata) match their checksums");

  raw_exec(path, "UPDATE records SET embedding = zeroblob(12) WHERE id = 'b'");
  const auto report = db->verify();
  CHECK(report.status == health_status::unhealthy);
  const auto* checksums = find_check(report, "checksums");
  REQUIRE(checksums);
  CHECK(checksums->status == health_status::unhealthy);
  CHECK_THAT(checksums->detail, Catch::Contains("the checksum of record \"b\""));
  // A read that meets the damage raises corruption_error instead of serving it.
  CHECK_THROWS_AS(c.get({"b"}, include::embeddings), corruption_error);
  query_options with_vectors;
  with_vectors.fields = include::embeddings;
  CHECK_THROWS_AS(c.query({1, 2, 3}, with_vectors), corruption_error);
}

TEST_CASE("page damage outside the embeddings is caught at open", "[health][corruption]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  {
    auto db = open_at(path);
    auto c = db->create_collection("c", {2, metric::l2});
    std::vector<record> records;
    for (int i = 0; i < 400; ++i) {
      records.push_back({"id-" + std::to_string(i), {float(i), 1}, "document number " + std::to_string(i),
                         {{"n", std::int64_t{i}}}});
    }
    c.add(records);
    db->close();
  }
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::size_t page = 4096;
  // Zero one page in the middle of the file (a b-tree page of some table or index).
  std::fill(bytes.begin() + static_cast<std::ptrdiff_t>(page * (bytes.size() / page / 2)),
            bytes.begin() + static_cast<std::ptrdiff_t>(page * (bytes.size() / page / 2 + 1)), '\0');
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  store_options o;
  o.path = path;
  o.auto_recover = false;
  CHECK_THROWS_AS(open(o), corruption_error);
  // The default policy, with no backup, keeps what still reads.
  o.auto_recover = true;
  auto db = open(o);
  const auto report = db->last_recovery();
  REQUIRE(report.has_value());
  CHECK(report->action == "salvaged");
  CHECK(report->rows_saved + report->rows_lost == 400);
  CHECK(db->get_collection("c").count() == report->rows_saved);
}

TEST_CASE("a process follows the store file when another process replaces it", "[health][multiprocess][identity]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  const auto other = dir / "other.db";
  {
    auto db = open_at(other);
    db->create_collection("c", {2, metric::l2}).add({{"from-other", {5, 5}, std::nullopt, {}}});
    db->close();
  }
  auto db = open_at(path);
  auto c = db->create_collection("c", {2, metric::l2});
  c.add({{"original", {1, 1}, std::nullopt, {}}});

  // Another process (a restore, say) moves the store aside and puts another in its place.
  repl_child restorer;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::rename(path.string() + suffix, dir.path() / (std::string("store.db.corrupt-test") + suffix));
    std::error_code ec;
    std::filesystem::rename(other.string() + suffix, path.string() + suffix, ec);
  }
  // This process's next read serves the new file, and its next write lands there.
  query_options q;
  q.k = 10;
  q.fields = include::none;
  auto c2 = db->get_collection("c");
  const auto hits = c2.query({0, 0}, q);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].id == "from-other");
  c2.add({{"after", {2, 2}, std::nullopt, {}}});
  REQUIRE(nlohmann::json::parse(restorer.ask("open " + path.string()))["ok"] == true);
  CHECK(nlohmann::json::parse(restorer.ask("count c"))["count"] == 2);
  // The quarantined file was not written to.
  SQLite::Database moved((dir / "store.db.corrupt-test").string(), SQLite::OPEN_READONLY);
  CHECK(moved.execAndGet("SELECT count(*) FROM records").getInt() == 1);
}

TEST_CASE("a store of schema version 1 is migrated forward, and a newer one refused", "[health][schema]") {
  temp_dir dir;
  const auto path = dir / "old.db";
  make_v1_store(path);
  // A record written before row checksums existed (schema version 4).
  raw_exec(path,
           "INSERT INTO records (collection_id, id, embedding, document, checksum, seq) "
           "VALUES (1, 'old', NULL, 'written by version 1', NULL, 1);"
           "INSERT INTO metadata (record_id, key, type, value) VALUES (1, 'k', 2, 'v'), (1, 'n', 0, 7)");
  {
    auto db = open_at(path);
    auto legacy = db->get_collection("legacy");
    CHECK(legacy.dim() == 2);
    legacy.add({{"x", {1, 2}, std::nullopt, {}}});
    // The migration gave the old record its row checksum: it reads and verifies.
    const auto old = legacy.get({"old"});
    REQUIRE(old.size() == 1);
    CHECK(old.front().document == "written by version 1");
    CHECK(old.front().meta == metadata{{"k", std::string("v")}, {"n", std::int64_t{7}}});
    CHECK(db->health(true).status == health_status::healthy);
    CHECK(db->verify().status == health_status::healthy);
    db->close();
  }
  SQLite::Database after(path.string(), SQLite::OPEN_READONLY);
  CHECK(after.execAndGet("PRAGMA user_version").getInt() == schema_version);
  CHECK(after.execAndGet("SELECT count(*) FROM records WHERE row_checksum IS NULL").getInt() == 0);

  raw_exec(path, "PRAGMA user_version = 99");
  store_options o;
  o.path = path;
  CHECK_THROWS_AS(open(o), schema_error);
  CHECK_THROWS_WITH(open(o), "vecstore: store written by a newer vecstore (" + path.string() +
                                 "): its schema version is 99, this build reads up to " +
                                 std::to_string(schema_version) + ". Upgrade vecstore to open it; nothing was changed");
}

TEST_CASE("catch-up reads the delta through the seq indexes, never a full scan", "[store][catch_up]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  auto db = open_at(path);
  db->create_collection("c", {2, metric::l2}).add({{"a", {1, 2}, std::nullopt, {}}});
  SQLite::Database raw(path.string(), SQLite::OPEN_READONLY);
  const auto plan = [&](const char* sql) {
    SQLite::Statement st(raw, std::string("EXPLAIN QUERY PLAN ") + sql);
    st.bind(1, std::int64_t{0});
    std::string out;
    while (st.executeStep()) out += st.getColumn(3).getString() + "\n";
    return out;
  };
  const auto changes = plan(detail::changes_since_sql);
  INFO(changes);
  CHECK_THAT(changes, Catch::Contains("USING INDEX records_by_seq"));
  CHECK_THAT(changes, !Catch::Contains("SCAN r"));
  const auto tombstones = plan(detail::tombstones_since_sql);
  INFO(tombstones);
  CHECK_THAT(tombstones, Catch::Contains("USING INDEX tombstones_by_seq"));
}

TEST_CASE("health reports the newest backup's age and degrades past backup_max_age", "[health][backup]") {
  temp_dir dir;
  store_options o;
  o.path = dir / "store.db";
  o.backup_max_age = std::chrono::hours(24);
  auto db = open(o);
  db->create_collection("c", {2, metric::l2}).add({{"a", {1, 2}, std::nullopt, {}}});
  auto report = db->health(true);
  CHECK(report.status == health_status::degraded);
  CHECK(find_check(report, "backup")->detail == "no backup yet, older than backup_max_age (24 h)");
  const auto made = db->backup();
  CHECK(made.records == 1);
  report = db->health(true);
  CHECK(report.status == health_status::healthy);
  CHECK_THAT(find_check(report, "backup")->detail, Catch::StartsWith("newest backup ") &&
                                                      Catch::EndsWith(made.path.string()));
}

TEST_CASE("two processes opening an old store at once migrate it exactly once, after one backup",
          "[health][schema][multiprocess]") {
  temp_dir dir;
  const auto path = dir / "old.db";
  make_v1_store(path);
  repl_child a, b;
  a.send("open " + path.string());
  b.send("open " + path.string());
  CHECK(nlohmann::json::parse(a.receive(std::chrono::seconds(30)))["ok"] == true);
  CHECK(nlohmann::json::parse(b.receive(std::chrono::seconds(30)))["ok"] == true);
  CHECK(nlohmann::json::parse(a.ask("count legacy"))["count"] == 0);
  CHECK(nlohmann::json::parse(b.ask("add legacy x 1,2"))["ok"] == true);
  std::size_t backups = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "old.db.backups")) {
    backups += entry.path().extension() == ".backup";
  }
  CHECK(backups == 1);
  SQLite::Database after(path.string(), SQLite::OPEN_READONLY);
  CHECK(after.execAndGet("PRAGMA user_version").getInt() == schema_version);
}

TEST_CASE("a writer kept out past every retry gets lock_timeout naming the holder", "[health][lock]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  {
    store_options o;
    o.path = path;
    open(o)->create_collection("c", {2, metric::l2});
  }
  // Another process takes the writer lock and keeps it.
  repl_child holder;
  REQUIRE(nlohmann::json::parse(holder.ask("open " + path.string()))["ok"] == true);
  REQUIRE(nlohmann::json::parse(holder.ask("hold-writer-lock"))["ok"] == true);
  store_options o;
  o.path = path;
  o.lock_timeout = std::chrono::milliseconds(100);
  o.max_retries = 2;
  o.retry_delay = std::chrono::milliseconds(10);
  auto db = open(o);
  auto c = db->get_collection("c");
  CHECK_THROWS_AS(c.add({{"a", {1, 2}, std::nullopt, {}}}), lock_timeout);
  CHECK_THROWS_WITH(c.add({{"a", {1, 2}, std::nullopt, {}}}),
                    "vecstore: cannot write records (" + path.string() +
                        "): the writer lock stayed busy through 3 waits of 100 ms, held by process " +
                        std::to_string(holder.pid()) + ". Check what that process is doing, or raise lock_timeout / "
                        "max_retries");
  CHECK(c.count() == 0);
  holder.kill();
  c.add({{"a", {1, 2}, std::nullopt, {}}});  // the kernel released the dead holder's lock
  CHECK(c.count() == 1);
}

TEST_CASE("get_or_create_collection finds an existing collection without the writer lock", "[health][lock]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  {
    store_options o;
    o.path = path;
    open(o)->create_collection("c", {2, metric::l2});
  }
  // An ingest elsewhere holds the writer lock for a long write.
  repl_child holder;
  REQUIRE(nlohmann::json::parse(holder.ask("open " + path.string()))["ok"] == true);
  REQUIRE(nlohmann::json::parse(holder.ask("hold-writer-lock"))["ok"] == true);
  store_options o;
  o.path = path;
  o.lock_timeout = std::chrono::milliseconds(50);
  o.max_retries = 0;
  auto db = open(o);
  CHECK(db->get_or_create_collection("c", {2, metric::l2}).dim() == 2);
  // The rules of an existing collection still hold, and creating one is still a write.
  CHECK_THROWS_AS(db->get_or_create_collection("c", {3, metric::l2}), invalid_argument);
  CHECK_THROWS_AS(db->get_or_create_collection("d", {2, metric::l2}), lock_timeout);
}

TEST_CASE("a page damaged from outside while the store is open is found by health(true) and verify(), "
          "and stops writes there",
          "[health]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  store_options o;
  o.path = path;
  auto db = open(o);
  auto c = db->create_collection("c", {16, metric::l2});
  std::vector<record> batch;
  for (int i = 0; i < 2000; ++i) {
    batch.push_back({"r" + std::to_string(i), std::vector<float>(16, float(i)), "document " + std::to_string(i), {}});
  }
  c.add(batch);
  db->compact();  // every page in the main file, none left in the WAL
  REQUIRE(db->health(true).status == health_status::healthy);

  // Another program writes a page of garbage into the middle of the file.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    char header[18];
    f.read(header, sizeof header);
    const std::size_t page_size = (static_cast<unsigned char>(header[16]) << 8) | static_cast<unsigned char>(header[17]);
    const std::size_t pages = std::filesystem::file_size(path) / page_size;
    REQUIRE(pages > 8);
    f.seekp(static_cast<std::streamoff>(page_size * (pages / 2)));
    f.write(std::string(page_size, '\x5a').data(), static_cast<std::streamsize>(page_size));
  }
  // A fresh process sees it (and, told to leave it, changes nothing).
  const auto fresh = vecstore_test::run_child({"dump", path.string(), "report-only"});
  CHECK(fresh.exit_code == 3);

  // So does this one, which had the file open all along.
  CHECK(db->health(true).status == health_status::unhealthy);
  const health_report deep = db->verify();
  CHECK(deep.status == health_status::unhealthy);
  // And it writes nothing more into the damaged file.
  CHECK_THROWS_AS(c.add({{"late", std::vector<float>(16, 1.0f), std::nullopt, {}}}), corruption_error);
  CHECK_THROWS_WITH(c.add({{"late", std::vector<float>(16, 1.0f), std::nullopt, {}}}),
                    Catch::Contains("nothing more is written into it") && Catch::Contains("open it again"));
}

TEST_CASE("damage met by a running process points to what works there: opening the store again", "[health]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  auto db = open_at(path);
  auto c = db->create_collection("c", {3, metric::l2});
  c.add({{"a", {1, 2, 3}, std::nullopt, {}}, {"b", {4, 5, 6}, std::nullopt, {}}});
  raw_exec(path, "UPDATE records SET embedding = zeroblob(12) WHERE id = 'b'");
  // The store has a recovery policy, but it runs at open: the message says so
  // instead of asking for one.
  CHECK_THROWS_WITH(c.get({"b"}, include::embeddings),
                    Catch::Contains("Close the store and open it again") &&
                        !Catch::Contains("open the store with a recovery policy"));
}

TEST_CASE("a recovery shows in every process's health until an operator acknowledges it", "[health][recovery]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  {
    auto db = open_at(path);
    auto c = db->create_collection("c", {2, metric::l2});
    c.add({{"a", {1, 0}, std::nullopt, {}}, {"b", {0, 1}, std::nullopt, {}}});
    db->backup();
    c.add({{"newer", {1, 1}, std::nullopt, {}}});
    db->close();
  }
  repl_child worker;
  REQUIRE(nlohmann::json::parse(worker.ask("open " + path.string() + " shared"))["ok"] == true);
  const auto worker_recovery = [&] {
    const auto answer = nlohmann::json::parse(worker.ask("health"));
    REQUIRE(answer["ok"] == true);
    return answer["health"];
  };
  CHECK(worker_recovery()["last_recovery"].is_null());

  // An operator runs the default recovery on purpose while the worker has the store open.
  store_options o;
  o.path = path;
  const recovery_report report = vecstore::recover(o);
  CHECK(report.policy == "restore_backup_recovery");
  CHECK(report.rows_saved == 3);  // the record newer than the backup stays
  CHECK(report.rows_lost == 0);

  const auto seen = worker_recovery();
  CHECK(seen["status"] == "degraded");
  CHECK(seen["last_recovery"]["policy"] == "restore_backup_recovery");
  CHECK(seen["last_recovery"]["rows_saved"] == 3);
  CHECK(seen["last_recovery"]["quarantined"] == report.quarantined.string());

  auto db = open_at(path);
  auto mine = db->health(true);
  CHECK(mine.status == health_status::degraded);
  const health_check* check = find_check(mine, "recovery");
  REQUIRE(check != nullptr);
  CHECK(check->status == health_status::degraded);
  CHECK_THAT(check->detail, Catch::Contains("restore_backup_recovery restored the store at") &&
                                Catch::Contains("3 records kept") && Catch::Contains("acknowledge_recovery()"));
  REQUIRE(mine.last_recovery.has_value());
  CHECK(mine.last_recovery->at.time_since_epoch().count() > 0);

  // Acknowledged in the worker: gone for everyone.
  CHECK(nlohmann::json::parse(worker.ask("acknowledge-recovery"))["had"] == true);
  mine = db->health(true);
  CHECK(mine.status == health_status::healthy);
  CHECK(find_check(mine, "recovery")->detail == "none recorded");
  CHECK_FALSE(mine.last_recovery.has_value());
  CHECK(worker_recovery()["status"] == "healthy");
  CHECK_FALSE(db->acknowledge_recovery());
}
