// SPDX-License-Identifier: MIT
// The recovery policies on real files with real damage: a store built through
// the public API, closed, damaged (a flipped embedding byte, truncation, page 1
// header garbage, garbage pages, an unreadable collections table), then each
// policy's recover() called directly. Checked: the outcome, the report, the
// quarantined file (present, with the damaged bytes), nothing deleted, and
// that the default store opens the path afterwards.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <vecstore/vecstore.hpp>

#include "support/dump.hpp"
#include "support/file_bytes.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::read_bytes;
using vecstore_test::temp_dir;
namespace fs = std::filesystem;

namespace {

std::vector<record> make_records(const std::string& prefix, std::size_t n, std::size_t dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<record> out;
  for (std::size_t i = 0; i < n; ++i) {
    record r;
    r.id = prefix + "-" + std::to_string(i);
    r.embedding.resize(dim);
    for (auto& x : r.embedding) x = dist(rng);
    if (i % 3 != 0) r.document = "document " + std::to_string(i) + " of " + prefix;
    r.meta["i"] = static_cast<std::int64_t>(i);
    r.meta["half"] = i % 2 == 0;
    if (i % 5 == 0) r.meta["tag"] = std::string("t") + std::to_string(i % 7);
    r.meta["x"] = 0.5 * static_cast<double>(i);
    out.push_back(std::move(r));
  }
  return out;
}

/// The store every test damages: two collections, added in several batches.
struct fixture_data {
  std::vector<record> alpha = make_records("a", 1500, 16, 1);
  std::vector<record> beta = make_records("b", 400, 8, 2);
};

void build_store(const fs::path& path, const fixture_data& d) {
  store_options o;
  o.path = path;
  auto db = open(o);
  auto a = db->create_collection("alpha", {16, metric::l2});
  auto b = db->create_collection("beta", {8, metric::cosine});
  for (std::size_t i = 0; i < d.alpha.size(); i += 100) {
    a.add(std::vector<record>(d.alpha.begin() + static_cast<std::ptrdiff_t>(i),
                              d.alpha.begin() + static_cast<std::ptrdiff_t>(std::min(i + 100, d.alpha.size()))));
  }
  b.add(d.beta);
  db->close();
}

void add_more(const fs::path& path, const std::vector<record>& more, std::size_t batches) {
  store_options o;
  o.path = path;
  auto db = open(o);
  auto a = db->get_collection("alpha");
  const std::size_t per = (more.size() + batches - 1) / batches;
  for (std::size_t i = 0; i < more.size(); i += per) {
    a.add(std::vector<record>(more.begin() + static_cast<std::ptrdiff_t>(i),
                              more.begin() + static_cast<std::ptrdiff_t>(std::min(i + per, more.size()))));
  }
  db->close();
}

backup_info take_backup(const fs::path& store, int keep = 5) {
  store_options o;
  o.path = store;
  detail::connection c(store, o);
  return detail::make_backup(c.handle(), store, {}, keep);
}

void write_at(const fs::path& p, std::uintmax_t offset, const std::string& bytes) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string garbage(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string g(n, '\0');
  for (auto& c : g) c = static_cast<char>(rng() & 0xff);
  return g;
}

/// Flips one byte inside the stored embedding of `r` (found by its bytes).
void flip_embedding(const fs::path& p, const record& r) {
  const std::string bytes = read_bytes(p);
  const std::string needle(reinterpret_cast<const char*>(r.embedding.data()), r.embedding.size() * sizeof(float));
  const auto at = bytes.find(needle);
  REQUIRE(at != std::string::npos);
  write_at(p, at + 5, std::string(1, static_cast<char>(bytes[at + 5] ^ 0x20)));
}

/// The canonical dump of a store file, read from a copy so the file itself
/// is not touched (opening converts a backup to WAL mode, for one).
nlohmann::json dump_file(const fs::path& p) {
  temp_dir scratch;
  const fs::path copy = scratch / "copy.db";
  fs::copy_file(p, copy);
  if (fs::exists(detail::with_suffix(p, "-wal")))
    fs::copy_file(detail::with_suffix(p, "-wal"), detail::with_suffix(copy, "-wal"));
  store_options o;
  o.path = copy;
  o.create_if_missing = false;
  auto db = open(o);
  auto out = vecstore_test::dump_store(*db);
  db->close();
  return out;
}

/// Every file name in `dir` (not recursive), with its size.
std::map<std::string, std::uintmax_t> listing(const fs::path& dir) {
  std::map<std::string, std::uintmax_t> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::error_code ec;
    out[e.path().filename().string()] = e.is_regular_file() ? e.file_size(ec) : 0;
  }
  return out;
}

/// Nothing was deleted: every file of `before` is still there, under its own
/// name or (the store and its side files) under the quarantine name.
void check_nothing_deleted(const std::map<std::string, std::uintmax_t>& before, const fs::path& dir,
                           const fs::path& store, const fs::path& quarantined) {
  const auto after = listing(dir);
  const std::string store_name = store.filename().string();
  for (const auto& [name, size] : before) {
    INFO("file " << name);
    if (after.count(name) && name.rfind(store_name, 0) != 0) {
      CHECK(after.at(name) == size);
      continue;
    }
    if (name.rfind(store_name, 0) == 0 && !quarantined.empty()) {
      const std::string suffix = name.substr(store_name.size());
      if (suffix.empty() || suffix == "-wal" || suffix == "-shm" || suffix == "-journal") {
        const std::string moved = quarantined.filename().string() + suffix;
        CHECK(after.count(moved) == 1);
        if (after.count(moved)) CHECK(after.at(moved) == size);
        continue;
      }
    }
    CHECK(after.count(name) == 1);
  }
}

recovery_context context_for(const fs::path& store, const store_options& o, const std::string& problem) {
  recovery_context ctx;
  ctx.file = store;
  ctx.options = &o;
  ctx.problem = problem;
  return ctx;
}

/// Opens the path with the default store: it must succeed after any recovery.
nlohmann::json open_and_dump(const fs::path& store) {
  store_options o;
  o.path = store;
  o.create_if_missing = false;
  auto db = open(o);
  auto out = vecstore_test::dump_store(*db);
  db->close();
  return out;
}

std::map<std::string, record> by_id(const fixture_data& d) {
  std::map<std::string, record> out;
  for (const auto& r : d.alpha) out["alpha/" + r.id] = r;
  for (const auto& r : d.beta) out["beta/" + r.id] = r;
  return out;
}

std::size_t page_size_of(const fs::path& p) {
  const std::string head = read_bytes(p).substr(0, 100);
  const std::size_t ps = (static_cast<unsigned char>(head[16]) << 8) | static_cast<unsigned char>(head[17]);
  return ps == 1 ? 65536 : ps;
}

}  // namespace

TEST_CASE("quarantine moves the store and its side files together, never overwriting", "[recovery][quarantine]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  for (const char* s : {"", "-wal", "-shm"}) {
    std::ofstream(detail::with_suffix(store, s).string()) << "content" << s;
  }
  const fs::path first = detail::quarantine(store);
  CHECK_THAT(first.filename().string(), Catch::StartsWith("store.db.corrupt-") && Catch::EndsWith("Z"));
  CHECK_FALSE(fs::exists(store));
  CHECK_FALSE(fs::exists(detail::with_suffix(store, "-wal")));
  CHECK(read_bytes(first) == "content");
  CHECK(read_bytes(detail::with_suffix(first, "-wal")) == "content-wal");
  CHECK(read_bytes(detail::with_suffix(first, "-shm")) == "content-shm");
  CHECK_FALSE(fs::exists(detail::with_suffix(first, "-journal")));

  // Same second: a counter suffix, the first quarantine untouched.
  std::ofstream(store.string()) << "second";
  fs::path second = detail::quarantine(store);
  if (second.filename().string().substr(0, first.filename().string().size()) == first.filename().string()) {
    CHECK_THAT(second.filename().string(), Catch::EndsWith("Z-2"));
  }
  CHECK(second != first);
  CHECK(read_bytes(second) == "second");
  CHECK(read_bytes(first) == "content");
  CHECK(detail::quarantine(store).empty());  // nothing left to move
}

TEST_CASE("restore_backup_recovery keeps what reads and takes the rest from the newest backup that verifies",
          "[recovery][restore]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const fixture_data d;
  build_store(store, d);
  const backup_info first = take_backup(store);
  const auto later = make_records("late", 50, 16, 3);
  add_more(store, later, 5);  // five more changes after the first backup
  const backup_info second = take_backup(store);
  const auto last = make_records("last", 30, 16, 4);
  add_more(store, last, 3);  // three more changes after the second backup
  REQUIRE(first.records == d.alpha.size() + d.beta.size());
  REQUIRE(second.records == first.records + later.size());
  const std::size_t total = second.records + last.size();
  const nlohmann::json undamaged = open_and_dump(store);

  store_options o;
  o.path = store;
  const auto ctx = context_for(store, o, "vecstore: test damage");

  SECTION("a damaged record comes from the newest backup; the records newer than it stay") {
    flip_embedding(store, d.alpha[700]);
    const std::string damaged = read_bytes(store);
    const auto before = listing(dir.path());
    const auto report = restore_backup_recovery::recover(ctx);
    CHECK(report.policy == "restore_backup_recovery");
    CHECK(report.action == "restored");
    CHECK(report.problem == "vecstore: test damage");
    CHECK(report.backup_used == second.path);
    CHECK(report.rows_saved == total);
    CHECK(report.rows_from_backup == 1);
    CHECK(report.rows_lost == 0);
    CHECK(report.lost_records.empty());
    CHECK(report.backups_skipped.empty());
    CHECK_THAT(report.note, Catch::Contains(std::to_string(total) + " records kept") &&
                                Catch::Contains("1 from the backup") && Catch::Contains("0 lost"));
    REQUIRE(fs::exists(report.quarantined));
    CHECK(read_bytes(report.quarantined) == damaged);
    check_nothing_deleted(before, dir.path(), store, report.quarantined);
    CHECK(fs::exists(second.path));  // the backup itself stays
    CHECK((fs::status(store).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    CHECK(open_and_dump(store) == undamaged);
  }
  SECTION("a corrupted newest backup is skipped for the next one") {
    flip_embedding(store, d.alpha[700]);
    flip_embedding(second.path, later[10]);
    const auto report = restore_backup_recovery::recover(ctx);
    CHECK(report.backup_used == first.path);
    REQUIRE(report.backups_skipped.size() == 1);
    CHECK_THAT(report.backups_skipped[0],
               Catch::StartsWith(second.path.string()) && Catch::Contains("does not match its bytes"));
    CHECK(report.rows_saved == total);
    CHECK(report.rows_from_backup == 1);
    CHECK(fs::exists(second.path));  // skipped, not deleted
    CHECK(open_and_dump(store) == undamaged);
  }
  SECTION("a record changed after the backup whose new version is damaged: the old one returns, named lost") {
    {
      auto db = open(o);
      record changed = d.alpha[700];
      changed.embedding = make_records("changed", 1, 16, 99)[0].embedding;
      db->get_collection("alpha").update({changed});
      db->close();
      flip_embedding(store, changed);
    }
    const auto report = restore_backup_recovery::recover(ctx);
    CHECK(report.rows_saved == total);
    CHECK(report.rows_from_backup == 1);
    CHECK(report.rows_lost == 1);
    CHECK(report.lost_records ==
          std::vector<std::string>{"alpha/" + d.alpha[700].id + " (an older version came from the backup)"});
    CHECK(open_and_dump(store) == undamaged);  // the record as the backup has it
  }
  SECTION("the damaged file's header is gone: it is read with the header rebuilt") {
    write_at(store, 0, garbage(100, 7));
    const std::string header_damaged = read_bytes(store);
    const auto report = restore_backup_recovery::recover(ctx);
    CHECK(report.rows_saved == total);
    CHECK(report.rows_from_backup == 0);
    CHECK(read_bytes(report.quarantined) == header_damaged);
    CHECK(open_and_dump(store) == undamaged);
  }
  SECTION("nothing of the damaged file reads: the backup as it is") {
    write_at(store, 0, garbage(page_size_of(store), 7));
    const auto report = restore_backup_recovery::recover(ctx);
    CHECK(report.backup_used == second.path);
    CHECK(report.rows_saved == second.records);
    CHECK(report.rows_from_backup == second.records);
    CHECK(open_and_dump(store) == dump_file(second.path));
  }
}

TEST_CASE("the default recovery keeps records added after the newest backup", "[recovery][restore]") {
  // 5,000 records and a backup, 100 more, then a page of garbage over old
  // records: restoring the backup alone kept 5,000 and lost the 100.
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const auto old_records = make_records("old", 5000, 16, 11);
  const auto new_records = make_records("new", 100, 16, 12);
  {
    store_options o;
    o.path = store;
    auto db = open(o);
    auto c = db->create_collection("alpha", {16, metric::l2});
    for (std::size_t i = 0; i < old_records.size(); i += 500) {
      c.add(std::vector<record>(old_records.begin() + static_cast<std::ptrdiff_t>(i),
                                old_records.begin() + static_cast<std::ptrdiff_t>(i + 500)));
    }
    db->backup();
    c.add(new_records);
    db->close();
  }
  const nlohmann::json undamaged = open_and_dump(store);
  // The page that holds old record 2,500's embedding becomes garbage.
  const std::string bytes = read_bytes(store);
  const auto& victim = old_records[2500].embedding;
  const auto at = bytes.find(std::string(reinterpret_cast<const char*>(victim.data()), victim.size() * sizeof(float)));
  REQUIRE(at != std::string::npos);
  const std::size_t page = page_size_of(store);
  write_at(store, at / page * page, garbage(page, 5));

  store_options o;
  o.path = store;
  o.create_if_missing = false;
  auto db = open(o);  // the default policy runs at open
  const auto report = db->last_recovery();
  REQUIRE(report.has_value());
  CHECK(report->policy == "restore_backup_recovery");
  CHECK(report->rows_saved == 5100);
  CHECK(report->rows_from_backup > 0);
  CHECK(report->rows_lost == 0);
  CHECK(db->get_collection("alpha").count() == 5100);
  CHECK(vecstore_test::dump_store(*db) == undamaged);
  // health() says so until an operator acknowledges it.
  const auto shown = db->health(true).to_json();
  CHECK(shown["status"] == "degraded");
  CHECK(shown["last_recovery"]["rows_saved"] == 5100);
  CHECK(shown["last_recovery"]["rows_lost"] == 0);
}

TEST_CASE("a recovery notice that does not read still reports a recovery, whatever the file says",
          "[recovery][bad_input]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  {
    store_options o;
    o.path = store;
    open(o)->create_collection("c", {4, metric::l2});
  }
  std::string text;
  SECTION("not JSON") { text = "{\"policy\": \"salvage\n"; }
  SECTION("nested 100,000 deep") { text = "{\"policy\":" + std::string(100000, '[') + std::string(100000, ']') + "}"; }
  SECTION("a number too large for a double") { text = "{\"policy\": \"x\", \"rows_lost\": 1e99999}"; }
  {
    SQLite::Database raw(store.string(), SQLite::OPEN_READWRITE);
    SQLite::Statement st(raw, "INSERT OR REPLACE INTO store_meta (key, value) VALUES ('last_recovery', ?)");
    st.bind(1, text);
    st.exec();
  }
  store_options o;
  o.path = store;
  auto db = open(o);
  const auto recovery_check = [](const health_report& h) {
    for (const auto& c : h.checks) {
      if (c.name == "recovery") return c.status;
    }
    FAIL("no recovery check");
    return health_status::unhealthy;
  };
  const health_report h = db->health(false);
  CHECK(recovery_check(h) == health_status::degraded);
  REQUIRE(h.last_recovery.has_value());
  CHECK(h.last_recovery->note.rfind("the recorded report does not read: ", 0) == 0);
  CHECK(h.last_recovery->note.size() < 300);
  CHECK(h.last_recovery->note.find('\n') == std::string::npos);  // escaped, like every message
  CHECK(db->acknowledge_recovery());
  CHECK(recovery_check(db->health(false)) == health_status::healthy);
}

TEST_CASE("restore() puts a backup in place of a store that does not open", "[recovery][restore]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const fixture_data d;
  build_store(store, d);
  const backup_info b = take_backup(store);
  const nlohmann::json at_backup = dump_file(b.path);
  add_more(store, make_records("late", 20, 16, 3), 2);

  SECTION("page 1 is garbage: no policy reads it") {
    write_at(store, 0, garbage(page_size_of(store), 31));
    const std::string damaged = read_bytes(store);
    store_options strict;
    strict.path = store;
    strict.auto_recover = false;
    CHECK_THROWS_AS(open(strict), corruption_error);
    const recovery_report report = vecstore::restore(store, b.path);
    CHECK(report.action == "restored");
    CHECK(report.backup_used == b.path);
    CHECK(report.rows_saved == b.records);
    REQUIRE(fs::exists(report.quarantined));
    CHECK(read_bytes(report.quarantined) == damaged);
    CHECK(open_and_dump(store) == at_backup);
  }
  SECTION("the store file is gone") {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(detail::with_suffix(store, suffix));
    const recovery_report report = vecstore::restore(store, b.path);
    CHECK(report.quarantined.empty());
    CHECK(open_and_dump(store) == at_backup);
  }
  SECTION("a backup that does not verify changes nothing") {
    const nlohmann::json current = open_and_dump(store);
    const std::string bytes = read_bytes(store);
    flip_embedding(b.path, d.beta[3]);
    CHECK_THROWS_WITH(vecstore::restore(store, b.path),
                      Catch::Contains("cannot restore from this backup") && Catch::Contains("Nothing was changed"));
    CHECK(read_bytes(store) == bytes);
    CHECK_THROWS_AS(vecstore::restore(store, dir / "no-such.backup"), not_found);
    CHECK(open_and_dump(store) == current);
  }
  SECTION("a process that holds the store exclusively keeps it") {
    vecstore_test::repl_child holder;
    REQUIRE(nlohmann::json::parse(holder.ask("open " + store.string() + " exclusive"))["ok"] == true);
    const std::string bytes = read_bytes(store);
    CHECK_THROWS_WITH(vecstore::restore(store, b.path), Catch::Contains("holds it exclusively"));
    CHECK_THROWS_AS(vecstore::restore(store, b.path), store_locked);
    CHECK(read_bytes(store) == bytes);
  }
}

TEST_CASE("recover() runs a recovery policy on purpose and records it in the store", "[recovery]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const fixture_data d;
  build_store(store, d);
  flip_embedding(store, d.alpha[321]);
  store_options o;
  o.path = store;
  const recovery_report report = vecstore::recover<salvage_recovery>(o, "found by verify()");
  CHECK(report.policy == "salvage_recovery");
  CHECK(report.problem == "found by verify()");
  CHECK(report.lost_records == std::vector<std::string>{"alpha/a-321"});
  auto db = open(o);
  CHECK_FALSE(db->last_recovery().has_value());  // not this instance's: it opened a sound store
  const auto health = db->health(true);
  REQUIRE(health.last_recovery.has_value());
  CHECK(health.last_recovery->policy == "salvage_recovery");
  CHECK(health.last_recovery->rows_lost == 1);
  CHECK(health.last_recovery->lost_records == report.lost_records);
  CHECK(db->acknowledge_recovery());
  CHECK_FALSE(db->health(true).last_recovery.has_value());
  db->close();
  o.create_if_missing = false;
  o.path = dir / "missing.db";
  CHECK_THROWS_AS(vecstore::recover(o), not_found);
}

TEST_CASE("restore_backup_recovery without a usable backup keeps what reads, or throws and changes nothing",
          "[recovery][restore]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const fixture_data d;
  build_store(store, d);
  const std::size_t total = d.alpha.size() + d.beta.size();
  store_options o;
  o.path = store;

  SECTION("no backup at all") {}
  SECTION("every backup damaged") {
    const auto b1 = take_backup(store);
    const auto b2 = take_backup(store);
    flip_embedding(b1.path, d.beta[3]);
    write_at(b2.path, 0, garbage(100, 9));
  }

  flip_embedding(store, d.alpha[10]);
  const std::string damaged = read_bytes(store);
  const auto backups_before = detail::list_backups(store, {});
  const auto report = restore_backup_recovery::recover(context_for(store, o, "damage"));
  CHECK(report.action == "salvaged");
  CHECK(report.backup_used.empty());
  CHECK(report.backups_skipped.size() == backups_before.size());
  CHECK(report.rows_saved == total - 1);
  CHECK(report.rows_lost == 1);
  CHECK(report.lost_records == std::vector<std::string>{"alpha/a-10"});
  CHECK(read_bytes(report.quarantined) == damaged);
}

TEST_CASE("restore_backup_recovery with no backup and nothing readable throws and changes nothing",
          "[recovery][restore]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const fixture_data d;
  build_store(store, d);
  store_options o;
  o.path = store;
  write_at(store, 0, garbage(page_size_of(store), 29));  // sqlite_master is gone: nothing reads
  const std::string damaged = read_bytes(store);
  const auto before = listing(dir.path());

  CHECK_THROWS_AS(restore_backup_recovery::recover(context_for(store, o, "damage")), corruption_error);
  CHECK_THROWS_WITH(restore_backup_recovery::recover(context_for(store, o, "damage")),
                    Catch::Contains("cannot be restored") && Catch::Contains("Nothing was changed") &&
                        Catch::Contains("no backup"));
  CHECK(read_bytes(store) == damaged);
  CHECK(listing(dir.path()) == before);
}

TEST_CASE("reset_recovery quarantines and leaves an empty store", "[recovery][reset]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const fixture_data d;
  build_store(store, d);
  store_options o;
  o.path = store;
  o.create_if_missing = false;  // the policy makes the empty store itself

  SECTION("the damaged file still counts its records") {
    flip_embedding(store, d.alpha[5]);
    const std::string damaged = read_bytes(store);
    const auto before = listing(dir.path());
    const auto report = reset_recovery::recover(context_for(store, o, "damage"));
    CHECK(report.policy == "reset_recovery");
    CHECK(report.action == "reset");
    CHECK(report.rows_saved == 0);
    CHECK(report.rows_lost == d.alpha.size() + d.beta.size());
    CHECK_THAT(report.note, Catch::Contains(report.quarantined.string()));
    CHECK(read_bytes(report.quarantined) == damaged);
    check_nothing_deleted(before, dir.path(), store, report.quarantined);
  }
  SECTION("page 1 is garbage") {
    write_at(store, 0, garbage(4096, 11));
    const std::string damaged = read_bytes(store);
    const auto report = reset_recovery::recover(context_for(store, o, "damage"));
    CHECK(report.rows_lost == 0);
    CHECK_THAT(report.note, Catch::Contains("no longer says"));
    CHECK(read_bytes(report.quarantined) == damaged);
  }
  CHECK((fs::status(store).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(detail::verify_store_file(store, true).ok);
  CHECK(open_and_dump(store) == nlohmann::json::array());
  // No temporary left behind.
  for (const auto& e : fs::directory_iterator(dir.path())) {
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  }
}

namespace {

/// Runs salvage on the damaged store and checks what every salvage must
/// give: a verifying store, every record equal to the original it came from,
/// the counts adding up, the quarantined file with the damaged bytes.
recovery_report salvage_and_check(const fs::path& store, const fixture_data& d, const std::string& kind,
                                  bool count_known = true) {
  store_options o;
  o.path = store;
  const std::string damaged = read_bytes(store);
  const auto before = listing(store.parent_path());
  const auto report = salvage_recovery::recover(context_for(store, o, "damage: " + kind));
  CHECK(report.policy == "salvage_recovery");
  CHECK(report.action == "salvaged");
  REQUIRE(fs::exists(report.quarantined));
  CHECK(read_bytes(report.quarantined) == damaged);
  check_nothing_deleted(before, store.parent_path(), store, report.quarantined);
  const auto v = detail::verify_store_file(store, true);
  INFO(v.problem);
  CHECK(v.ok);
  CHECK(v.records == report.rows_saved);
  CHECK(v.embeddings == report.rows_saved);

  const auto originals = by_id(d);
  const nlohmann::json dumped = open_and_dump(store);
  std::size_t seen = 0;
  for (const auto& c : dumped) {
    for (const auto& r : c["records"]) {
      const std::string key = c["name"].get<std::string>() + "/" + r["id"].get<std::string>();
      INFO("record " << key);
      REQUIRE(originals.count(key) == 1);
      CHECK(r == vecstore_test::dump_records({originals.at(key)})[0]);
      ++seen;
    }
  }
  CHECK(seen == report.rows_saved);
  const std::size_t total = d.alpha.size() + d.beta.size();
  if (count_known) {
    CHECK(report.rows_saved + report.rows_lost >= total);
  } else {
    CHECK_THAT(report.note, Catch::Contains("lower bound"));
  }
  std::cout << "salvage [" << kind << "]: rows saved " << report.rows_saved << ", lost " << report.rows_lost << " of "
            << total << ", " << report.duration.count() << " ms (" << report.note << ")\n";
  return report;
}

}  // namespace

TEST_CASE("salvage_recovery keeps every record that reads and verifies", "[recovery][salvage]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const fixture_data d;
  build_store(store, d);
  const std::size_t total = d.alpha.size() + d.beta.size();
  const std::uintmax_t size = fs::file_size(store);
  const std::size_t page = page_size_of(store);

  SECTION("a flipped byte in one embedding") {
    flip_embedding(store, d.alpha[321]);
    const auto report = salvage_and_check(store, d, "embedding byte flipped");
    CHECK(report.rows_saved == total - 1);
    CHECK(report.rows_lost == 1);
    CHECK(report.lost_records == std::vector<std::string>{"alpha/a-321"});
  }
  SECTION("garbage pages in the middle") {
    const std::uintmax_t first = (size / page / 2) * page;
    write_at(store, first, garbage(4 * page, 13));
    const auto report = salvage_and_check(store, d, "4 garbage pages in the middle");
    CHECK(report.rows_saved >= total * 8 / 10);
    CHECK(report.rows_lost > 0);
    CHECK(report.rows_lost == total - report.rows_saved);  // the indexes still count them
  }
  SECTION("truncated to 60%") {
    fs::resize_file(store, (size * 6 / 10) / page * page);
    // The indexes that count records lie partly past the cut: the count is a lower bound.
    const auto report = salvage_and_check(store, d, "truncated to 60%", false);
    CHECK(report.rows_saved >= total / 3);
  }
  SECTION("page 1 header overwritten") {
    write_at(store, 0, garbage(100, 17));
    // Only the 100-byte header is gone: salvage reads a copy with it rebuilt.
    const auto report = salvage_and_check(store, d, "page 1 header garbage");
    CHECK(report.rows_saved == total);
    CHECK_THAT(report.note, Catch::Contains("header was rebuilt"));
  }
  SECTION("page 1 entirely garbage") {
    // sqlite_master itself is gone: nothing says where the tables are.
    write_at(store, 0, garbage(page, 29));
    const auto report = salvage_and_check(store, d, "page 1 entirely garbage", false);
    CHECK(report.rows_saved == 0);
    CHECK_THAT(report.note, Catch::Contains("empty"));
  }
  SECTION("the collections table unreadable") {
    // Page 2 is the collections table's root (the first table created).
    write_at(store, page, garbage(page, 19));
    const auto report = salvage_and_check(store, d, "collections table garbage");
    CHECK(report.rows_saved == 0);
    CHECK(report.rows_lost == total);
    CHECK_THAT(report.note, Catch::Contains("collections table") && Catch::Contains("empty"));
    CHECK(report.lost_records.size() == 1000);  // capped; named from the intact index
    CHECK_THAT(report.lost_records.front(), Catch::StartsWith("collection 1/a-"));
  }
}

TEST_CASE("recovery time of each policy on 100,000 vectors of 768 dims", "[.perf][recovery]") {
  temp_dir dir;
  const fs::path original = dir / "big.db";
  const std::size_t n = 100000, dim = 768, newer = 5000;
  auto t0 = std::chrono::steady_clock::now();
  {
    store_options o;
    o.path = original;
    auto db = open(o);
    auto c = db->create_collection("big", {dim, metric::l2});
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t i = 0; i < n; i += 1000) {
      if (i == n - newer) {
        const auto b = db->backup();
        std::cout << "perf: backup " << b.bytes / (1 << 20) << " MiB in " << b.duration.count() << " ms, "
                  << newer << " records added after it\n";
      }
      std::vector<record> batch;
      for (std::size_t j = i; j < i + 1000; ++j) {
        record r;
        r.id = "r" + std::to_string(j);
        r.embedding.resize(dim);
        for (auto& x : r.embedding) x = dist(rng);
        r.meta["j"] = static_cast<std::int64_t>(j);
        batch.push_back(std::move(r));
      }
      c.add(batch);
    }
    db->close();
  }
  const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::cout << "perf: built " << n << "x" << dim << " (" << fs::file_size(original) / (1 << 20) << " MiB) in "
            << ms(std::chrono::steady_clock::now() - t0) << " ms\n";
  const std::size_t page = page_size_of(original);
  const std::uintmax_t size = fs::file_size(original);

  for (const std::string policy : {"restore_backup", "salvage", "reset"}) {
    temp_dir work;
    const fs::path store = work / "big.db";
    fs::copy_file(original, store);
    fs::copy(dir / "big.db.backups", work / "big.db.backups");
    write_at(store, (size / page / 2) * page, garbage(16 * page, 23));
    store_options o;
    o.path = store;
    const auto ctx = context_for(store, o, "perf damage");
    recovery_report report;
    const auto started = std::chrono::steady_clock::now();
    if (policy == "restore_backup") report = restore_backup_recovery::recover(ctx);
    if (policy == "salvage") report = salvage_recovery::recover(ctx);
    if (policy == "reset") report = reset_recovery::recover(ctx);
    const auto took = ms(std::chrono::steady_clock::now() - started);
    t0 = std::chrono::steady_clock::now();
    store_options reopen;
    reopen.path = store;
    auto db = open(reopen);
    std::size_t count = 0;
    for (const auto& c : db->list_collections()) count += c.count;
    db->close();
    std::cout << "perf: " << policy << "_recovery " << took << " ms (kept " << report.rows_saved << ", "
              << report.rows_from_backup << " of them from the backup, lost " << report.rows_lost << "); reopen " << ms(std::chrono::steady_clock::now() - t0) << " ms, " << count
              << " records\n";
  }
}

TEST_CASE("salvage keeps a record without an embedding when its row checksum matches", "[recovery][salvage]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const std::string victim_text = "the text of an unembedded record that gets damaged";
  {
    store_options o;
    o.path = store;
    auto db = open(o);
    auto c = db->create_collection("docs", {4, metric::l2});
    std::vector<record> batch;
    for (int i = 0; i < 10; ++i) batch.push_back({"e" + std::to_string(i), {1, 2, 3, float(i)}, std::nullopt, {}});
    for (int i = 0; i < 5; ++i) {
      batch.push_back({"n" + std::to_string(i), {}, i == 3 ? victim_text : "text " + std::to_string(i),
                       {{"i", std::int64_t{i}}}});
    }
    c.add(batch);
    db->close();
  }
  std::string bytes = read_bytes(store);
  const auto at = bytes.find(victim_text);
  REQUIRE(at != std::string::npos);
  write_at(store, at + 4, "X");
  store_options o;
  o.path = store;
  const auto report = salvage_recovery::recover(context_for(store, o, "a flipped document byte"));
  CHECK(report.rows_saved == 14);
  CHECK(report.rows_lost == 1);
  CHECK(report.lost_records == std::vector<std::string>{"docs/n3"});
  auto db = open(o);
  auto c = db->get_collection("docs");
  CHECK(c.count() == 14);
  CHECK(c.get({"n1"}).front().document == "text 1");
  CHECK(c.missing({"n0", "n1", "e0"}) == std::vector<std::string>{"n0", "n1"});
  CHECK(db->verify().status == health_status::healthy);
}
