// SPDX-License-Identifier: MIT
// Faults of the file and the file system, on real files: truncation, a
// zero-length file, a file that is not SQLite, a directory at the path,
// read-only files and folders, a hot -wal deleted after a SIGKILL, a disk that
// fills up mid-write. Each must give a typed error with the usual message
// shape ("vecstore: <what> (<file>): <why>. <todo>"), lose nothing that was
// acknowledged, and leave a store that opens once the fault is gone. Then the
// recovery policies through basic_store::open: the default store restores a
// backup by itself (and only throws with auto_recover = false); salvage and
// reset report what they did, quarantine the damaged file, delete nothing.
//
// Children are fork()ed (not exec'd) while this process has no store open,
// and _exit() without returning into Catch2.
//
// Read-only cases run in a child that drops to uid/gid 65534 (nobody) when
// the tests run as root, since root ignores permission bits: that works on
// any file system (chattr +i needs ext*/xfs, a read-only mount needs a mount
// namespace). The read-only mount is tried as well, in an unshare(CLONE_NEWNS)
// child, and skipped with a warning where that is not allowed. Disk full is
// RLIMIT_FSIZE (SIGXFSZ ignored; EFBIG) and a 1 MiB tmpfs (ENOSPC), the latter
// in an unshare(CLONE_NEWNS) child as well.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <vecstore/vecstore.hpp>

#include "support/dump.hpp"
#include "support/file_bytes.hpp"
#include "support/forked_child.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::read_bytes;
using vecstore_test::same_record;
using vecstore_test::temp_dir;
using vecstore_test::write_bytes;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

/// A recovered store is sound: verify() finds nothing but the recovery
/// itself, which health shows (degraded) until it is acknowledged.
template <class Store>
void check_sound_after_recovery(Store& db) {
  const health_report before = db.verify();
  CHECK(before.status == health_status::degraded);
  for (const auto& c : before.checks) {
    INFO(c.name << ": " << c.detail);
    CHECK((c.status == health_status::healthy || c.name == "recovery"));
  }
  CHECK(before.last_recovery.has_value());
  CHECK(db.acknowledge_recovery());
  CHECK(db.verify().status == health_status::healthy);
}


using strict_store = basic_store<file_lock, flat_index, strict_recovery>;
using salvage_store = basic_store<file_lock, flat_index, salvage_recovery>;
using reset_store = basic_store<file_lock, flat_index, reset_recovery>;

// --- files ------------------------------------------------------------------------

/// Every file name under `dir` (recursively, relative), with its size.
std::map<std::string, std::uintmax_t> listing(const fs::path& dir) {
  std::map<std::string, std::uintmax_t> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::error_code ec;
    out[fs::relative(e.path(), dir).string()] = e.is_regular_file() ? e.file_size(ec) : 0;
  }
  return out;
}

/// Quarantined copies ("<store>.corrupt-<time>") in `dir`.
std::vector<fs::path> quarantined_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".corrupt-") != std::string::npos && name.find("-wal") == std::string::npos &&
        name.find("-shm") == std::string::npos) {
      out.push_back(e.path());
    }
  }
  return out;
}

/// Nothing was deleted: every file of `before` is still there with its size,
/// under its own name or (the store and its -wal/-shm) the quarantine name.
void check_nothing_deleted(const std::map<std::string, std::uintmax_t>& before, const fs::path& dir,
                           const fs::path& quarantined) {
  const auto after = listing(dir);
  for (const auto& [name, size] : before) {
    INFO("file " << name);
    for (const char* suffix : {"", "-wal", "-shm"}) {
      if (name == std::string("store.db") + suffix) {
        const std::string moved = quarantined.filename().string() + suffix;
        CHECK(after.count(moved) == 1);
        if (after.count(moved)) CHECK(after.at(moved) == size);
      }
    }
    if (name.rfind("store.db", 0) == 0 && (name == "store.db" || name == "store.db-wal" || name == "store.db-shm")) {
      continue;
    }
    CHECK(after.count(name) == 1);
  }
}

// --- data ---------------------------------------------------------------------------

std::vector<record> make_records(const std::string& prefix, std::size_t n, std::size_t dim, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<record> out;
  for (std::size_t i = 0; i < n; ++i) {
    record r;
    r.id = prefix + "-" + std::to_string(i);
    r.embedding.resize(dim);
    for (auto& x : r.embedding) x = dist(rng);
    if (i % 4 != 0) r.document = "document " + std::to_string(i) + " of " + prefix;
    r.meta["i"] = static_cast<std::int64_t>(i);
    r.meta["even"] = i % 2 == 0;
    r.meta["x"] = 0.5 * static_cast<double>(i);
    r.meta["tag"] = std::string("t") + std::to_string(i % 7);
    out.push_back(std::move(r));
  }
  return out;
}

/// What the stores of these tests hold: "alpha" (dim 16, l2) and "beta" (dim 8, cosine).
struct dataset {
  std::vector<record> alpha = make_records("a", 600, 16, 1);
  std::vector<record> beta = make_records("b", 150, 8, 2);
};

template <class Store>
void fill(Store& db, const dataset& d) {
  auto a = db.create_collection("alpha", {16, metric::l2});
  for (std::size_t i = 0; i < d.alpha.size(); i += 200) {
    a.add(std::vector<record>(d.alpha.begin() + static_cast<std::ptrdiff_t>(i),
                              d.alpha.begin() + static_cast<std::ptrdiff_t>(std::min(i + 200, d.alpha.size()))));
  }
  db.create_collection("beta", {8, metric::cosine}).add(d.beta);
}

store_options options_for(const fs::path& path) {
  store_options o;
  o.path = path;
  o.lock_timeout = milliseconds(3000);
  o.max_retries = 0;
  return o;
}

/// A closed store at `path` holding `d`; with a verified backup when asked.
void build_store(const fs::path& path, const dataset& d, bool with_backup) {
  auto db = strict_store::open(options_for(path));
  fill(*db, d);
  if (with_backup) db->backup();
  db->close();
}

/// How many records of `want` the collection serves equal to what was
/// written; a record served different is a failure, never a count.
template <class Store>
std::size_t equal_records(Store& db, const std::string& collection, const std::vector<record>& want) {
  get_options all;
  all.fields = include::all;
  const auto got = db.get_collection(collection).get(all);
  std::map<std::string, const record*> by_id;
  for (const auto& r : want) by_id[r.id] = &r;
  std::size_t equal = 0;
  for (const auto& r : got) {
    const auto it = by_id.find(r.id);
    INFO("record " << r.id);
    REQUIRE(it != by_id.end());
    CHECK(same_record(r, *it->second));
    equal += same_record(r, *it->second);
  }
  return equal;
}

/// The usual message: "vecstore: <what> (<file>): <why>. <todo>".
void check_message_shape(const error& e, const fs::path& file) {
  const std::string what = e.what();
  CHECK_THAT(what, Catch::StartsWith("vecstore: ") && Catch::Contains("(" + file.string() + ")"));
  CHECK(e.path() == file);
}

std::size_t page_size_of(const std::string& file) {
  return (static_cast<unsigned char>(file[16]) << 8) | static_cast<unsigned char>(file[17]);
}

// --- child processes ------------------------------------------------------------------

using child = vecstore_test::forked_child;

/// "<word> <errc> <message>" for a vecstore error, to send to the parent.
std::string describe(const std::string& word, const error& e) { return word + " " + to_string(e.code()) + " " + e.what(); }

/// The words of a child's line: the first word, the error code, the message.
struct reported {
  std::string word, code, message;
};

reported parse_line(const std::string& line) {
  reported r;
  std::istringstream in(line);
  in >> r.word >> r.code;
  std::getline(in, r.message);
  if (!r.message.empty() && r.message.front() == ' ') r.message.erase(0, 1);
  return r;
}

}  // namespace

// --- damaged files ---------------------------------------------------------------------

namespace {

/// A damaged copy of a store built with a backup: strict_recovery throws and
/// changes nothing; the default store with auto_recover = false throws and
/// changes nothing; the default store restores the backup by itself and says
/// so, with the damaged file quarantined and nothing deleted.
/// Returns false when the damage was harmless instead (allowed only with
/// `may_be_harmless`): strict_recovery opened the copy and everything read
/// back equal to what was written.
bool check_damage_handled(const fs::path& pristine_dir, const std::string& damaged, const dataset& d,
                          bool may_be_harmless = false) {
  temp_dir dir;
  const fs::path path = dir / "store.db";
  write_bytes(path, damaged);
  fs::copy(pristine_dir / "store.db.backups", dir / "store.db.backups");
  if (may_be_harmless) {
    try {
      auto db = strict_store::open(options_for(path));
      CHECK(equal_records(*db, "alpha", d.alpha) == d.alpha.size());
      CHECK(equal_records(*db, "beta", d.beta) == d.beta.size());
      CHECK(db->verify().status == health_status::healthy);
      db->close();
      return false;
    } catch (const corruption_error&) {  // detected: go through every check below
    }
    write_bytes(path, damaged);
  }
  {
    INFO("strict_recovery");
    try {
      strict_store::open(options_for(path));
      FAIL_CHECK("a damaged store opened");
    } catch (const corruption_error& e) {
      check_message_shape(e, path);
      CHECK_THAT(std::string(e.what()), Catch::Contains("[strict_recovery: nothing was changed]"));
    }
    CHECK(read_bytes(path) == damaged);
    CHECK(quarantined_files(dir.path()).empty());
  }
  {
    INFO("the default store with auto_recover = false");
    auto o = options_for(path);
    o.auto_recover = false;
    try {
      store::open(o);
      FAIL_CHECK("a damaged store opened");
    } catch (const corruption_error& e) {
      check_message_shape(e, path);
    }
    CHECK(read_bytes(path) == damaged);
    CHECK(quarantined_files(dir.path()).empty());
  }
  INFO("the default store (restore_backup_recovery)");
  const auto before = listing(dir.path());
  auto db = store::open(options_for(path));
  const auto report = db->last_recovery();
  REQUIRE(report);
  CHECK(report->policy == "restore_backup_recovery");
  CHECK(report->action == "restored");
  CHECK_FALSE(report->problem.empty());
  REQUIRE(db->backups().size() == 1);
  CHECK(report->backup_used == db->backups().front().path);
  CHECK(report->rows_saved == d.alpha.size() + d.beta.size());
  REQUIRE(fs::exists(report->quarantined));
  CHECK(report->quarantined.parent_path() == dir.path());
  CHECK(read_bytes(report->quarantined) == damaged);
  CHECK(equal_records(*db, "alpha", d.alpha) == d.alpha.size());
  CHECK(equal_records(*db, "beta", d.beta) == d.beta.size());
  db->get_collection("alpha").add({{"after-restore", std::vector<float>(16, 0.5f), std::nullopt, {}}});
  CHECK(db->get_collection("alpha").count() == d.alpha.size() + 1);
  check_sound_after_recovery(*db);
  db->close();
  check_nothing_deleted(before, dir.path(), report->quarantined);
  static int printed = 0;
  if (printed++ < 1) {
    std::cout << "restore at open: " << report->duration.count() << " ms, note: " << report->note
              << "\n  problem: " << report->problem << "\n";
  }
  return true;
}

}  // namespace

TEST_CASE("a truncated store file gives corruption_error, is left as it is, and is restored from its backup",
          "[fault][file]") {
  temp_dir pristine;
  const dataset d;
  build_store(pristine / "store.db", d, true);
  const std::string file = read_bytes(pristine / "store.db");
  const std::size_t page = page_size_of(file);
  REQUIRE(file.size() >= 8 * page);
  for (const std::size_t length : {std::size_t{50}, std::size_t{100}, page, 2 * page, file.size() / page / 2 * page,
                                   file.size() - page}) {
    INFO("truncated to " << length << " of " << file.size() << " bytes");
    CHECK(check_damage_handled(pristine.path(), file.substr(0, length), d));
  }
  // Less than a page short: SQLite reads the missing tail as zeros, which
  // may be what was there. Then it must read back entirely equal.
  for (const std::size_t short_by : {std::size_t{1}, std::size_t{100}, page / 2}) {
    INFO("truncated to " << file.size() - short_by << " of " << file.size() << " bytes");
    const bool detected = check_damage_handled(pristine.path(), file.substr(0, file.size() - short_by), d, true);
    std::cout << "truncated by " << short_by << " bytes: " << (detected ? "detected and restored" : "harmless")
              << "\n";
  }
}

TEST_CASE("other damage is restored from the backup by the default store, and only reported without auto_recover",
          "[fault][file][recovery]") {
  temp_dir pristine;
  const dataset d;
  build_store(pristine / "store.db", d, true);
  const std::string file = read_bytes(pristine / "store.db");
  const std::size_t page = page_size_of(file);
  std::mt19937 rng(3);
  SECTION("a zeroed page in the middle") {
    std::string damaged = file;
    std::fill_n(damaged.begin() + static_cast<std::ptrdiff_t>(file.size() / page / 2 * page), page, '\0');
    check_damage_handled(pristine.path(), damaged, d);
  }
  SECTION("garbage over the 100-byte header") {
    std::string damaged = file;
    for (std::size_t i = 0; i < 100; ++i) damaged[i] = static_cast<char>(rng() & 0xff);
    check_damage_handled(pristine.path(), damaged, d);
  }
  SECTION("one flipped byte in an embedding") {
    std::string damaged = file;
    const auto& e = d.alpha[77].embedding;
    const auto at = damaged.find(std::string(reinterpret_cast<const char*>(e.data()), e.size() * sizeof(float)));
    REQUIRE(at != std::string::npos);
    damaged[at + 9] = static_cast<char>(damaged[at + 9] ^ 0x04);
    check_damage_handled(pristine.path(), damaged, d);
  }
}

// SQLite takes a zero-length file for a new, empty database; vecstore must not
// then create an empty store in it while a backup or the WAL shows a store was there.
TEST_CASE("a store file truncated to zero bytes gives a typed error instead of opening as a new empty store",
          "[fault][file]") {
  temp_dir dir;
  const dataset d;
  const fs::path path = dir / "store.db";
  build_store(path, d, true);
  fs::resize_file(path, 0);
  bool opened_empty = false;
  try {
    auto o = options_for(path);
    o.create_if_missing = false;
    auto db = strict_store::open(o);
    opened_empty = db->list_collections().empty();
    db->close();
    FAIL_CHECK("a zero-length store file opened; empty: " << opened_empty);
  } catch (const error& e) {
    check_message_shape(e, path);
    CHECK((e.code() == errc::corruption || e.code() == errc::schema_error));
  }
}

TEST_CASE("a file that is not a vecstore store gives a typed error and is never changed", "[fault][file]") {
  temp_dir dir;
  const fs::path path = dir / "store.db";
  std::mt19937 rng(11);
  std::string random_bytes(8192, '\0');
  for (auto& c : random_bytes) c = static_cast<char>(rng() & 0xff);
  std::string text;
  for (int i = 0; i < 200; ++i) text += "line " + std::to_string(i) + " of a text file that is not a database\n";
  for (const auto& [what, content] : {std::make_pair("random bytes", random_bytes), std::make_pair("text", text)}) {
    INFO(what);
    write_bytes(path, content);
    try {
      strict_store::open(options_for(path));
      FAIL_CHECK("opened");
    } catch (const corruption_error& e) {
      check_message_shape(e, path);
      CHECK_THAT(std::string(e.what()), Catch::Contains("not a database"));
    }
    // The default store has no backup to restore: it reports and touches nothing.
    try {
      store::open(options_for(path));
      FAIL_CHECK("opened");
    } catch (const corruption_error& e) {
      check_message_shape(e, path);
    }
    CHECK(read_bytes(path) == content);
    CHECK(quarantined_files(dir.path()).empty());
  }
  SECTION("another application's SQLite database, even with a backup beside it") {
    fs::remove(path);
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &raw) == SQLITE_OK);
    REQUIRE(sqlite3_exec(raw, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')", nullptr, nullptr,
                         nullptr) == SQLITE_OK);
    sqlite3_close(raw);
    {
      temp_dir other;
      const dataset d;
      build_store(other / "store.db", d, true);
      fs::copy(other / "store.db.backups", dir / "store.db.backups");
    }
    const std::string content = read_bytes(path);
    for (const bool strict : {true, false}) {
      try {
        if (strict) {
          strict_store::open(options_for(path));
        } else {
          store::open(options_for(path));
        }
        FAIL_CHECK("opened");
      } catch (const schema_error& e) {
        check_message_shape(e, path);
        CHECK_THAT(std::string(e.what()), Catch::Contains("not a vecstore store"));
      }
    }
    CHECK(read_bytes(path) == content);  // not even switched to WAL
    CHECK(quarantined_files(dir.path()).empty());
  }
}

TEST_CASE("a directory at the store path, a missing folder or a missing file give typed errors", "[fault][file]") {
  temp_dir dir;
  fs::create_directory(dir / "store.db");
  try {
    store::open(options_for(dir / "store.db"));
    FAIL_CHECK("opened");
  } catch (const invalid_argument& e) {
    CHECK_THAT(std::string(e.what()), Catch::StartsWith("vecstore: cannot open the store") &&
                                          Catch::Contains("the path is a directory"));
  }
  CHECK(fs::is_directory(dir / "store.db"));
  CHECK(fs::is_empty(dir / "store.db"));
  try {
    store::open(options_for(dir / "missing" / "store.db"));
    FAIL_CHECK("opened");
  } catch (const io_error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("does not exist"));
  }
  auto o = options_for(dir / "absent.db");
  o.create_if_missing = false;
  CHECK_THROWS_AS(store::open(o), not_found);
  CHECK_FALSE(fs::exists(dir / "absent.db"));
}

// --- read-only files and folders ----------------------------------------------------------

namespace {

/// In the child: open, read, write; one line per step, "ok ..." or "<step> <errc> <message>".
int try_open_read_write(const fs::path& path, int up) {
  try {
    auto db = strict_store::open(options_for(path));
    child::send_line(up, "open ok");
    try {
      child::send_line(up, "read ok " + std::to_string(db->get_collection("alpha").count()));
    } catch (const error& e) {
      child::send_line(up, describe("read", e));
    }
    try {
      db->get_collection("alpha").add({{"written-read-only", std::vector<float>(16, 0.5f), std::nullopt, {}}});
      child::send_line(up, "write ok");
    } catch (const error& e) {
      child::send_line(up, describe("write", e));
    }
    db->close();
  } catch (const error& e) {
    child::send_line(up, describe("open", e));
  }
  return 0;
}

/// Drops to nobody when running as root, where permission bits do not apply.
bool drop_privileges() {
  if (::geteuid() != 0) return true;
  return ::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0;
}

void hand_over(const fs::path& dir, uid_t to = 65534) {
  if (::geteuid() != 0) return;
  REQUIRE(::chown(dir.c_str(), to, to) == 0);
  for (const auto& e : fs::recursive_directory_iterator(dir)) REQUIRE(::chown(e.path().c_str(), to, to) == 0);
}

struct read_only_outcome {
  std::map<std::string, reported> steps;  // "open", "read", "write"
};

read_only_outcome run_read_only_child(const fs::path& path, bool read_only_mount) {
  child c([&](int, int up) {
    if (read_only_mount) {
      const fs::path dir = path.parent_path();
      if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
          ::mount(nullptr, dir.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
        child::send_line(up, std::string("skip ") + std::strerror(errno));
        return 0;
      }
    } else if (!drop_privileges()) {
      child::send_line(up, std::string("skip cannot become nobody: ") + std::strerror(errno));
      return 0;
    }
    return try_open_read_write(path, up);
  });
  read_only_outcome out;
  for (const auto& line : c.lines(milliseconds(30000))) {
    const auto r = parse_line(line);
    out.steps[r.word] = r;
  }
  CHECK(c.wait(milliseconds(10000)) == 0);
  return out;
}

}  // namespace

TEST_CASE("read-only store files and folders give io_error or work, change nothing, and the store opens afterwards",
          "[fault][file][read_only]") {
  temp_dir top;
  const dataset d;
  fs::permissions(top.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const fs::path dir = top / "store";
  fs::create_directory(dir);
  const fs::path path = dir / "store.db";
  build_store(path, d, false);
  hand_over(dir);
  const auto all_rw = fs::perms::owner_read | fs::perms::owner_write;
  const auto dir_rw = fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec;
  const auto dir_ro = fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;
  std::size_t written = 0;  // records the children managed to add

  const auto check_outcome = [&](const read_only_outcome& out, bool writes_must_fail) {
    for (const auto& [step, r] : out.steps) {
      INFO(step << ": " << r.code << " " << r.message);
      if (r.code == "ok") continue;
      CHECK(r.code == "io_error");
      CHECK_THAT(r.message, Catch::StartsWith("vecstore: ") && Catch::Contains(path.string()));
    }
    if (out.steps.count("write") && out.steps.at("write").code == "ok") {
      CHECK_FALSE(writes_must_fail);
      ++written;
    }
    if (writes_must_fail) CHECK((out.steps.count("open") == 0 || out.steps.at("open").code != "ok" ||
                                 out.steps.at("write").code != "ok"));
  };
  const auto describe_outcome = [](const char* what, const read_only_outcome& out) {
    std::cout << "read-only, " << what << ":";
    for (const auto& [step, r] : out.steps) std::cout << " " << step << "=" << r.code;
    for (const auto& [step, r] : out.steps) {
      if (r.code != "ok") {
        std::cout << "\n  " << r.message;
        break;
      }
    }
    std::cout << "\n";
  };

  SECTION("a read-only store file") {
    const std::string before = read_bytes(path);
    fs::permissions(path, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read,
                    fs::perm_options::replace);
    const auto out = run_read_only_child(path, false);
    describe_outcome("file 0444", out);
    REQUIRE(out.steps.count("skip") == 0);
    check_outcome(out, true);
    CHECK(read_bytes(path) == before);
    fs::permissions(path, all_rw, fs::perm_options::replace);
  }
  SECTION("a read-only folder with the store's side files present") {
    fs::permissions(dir, dir_ro, fs::perm_options::replace);
    const auto out = run_read_only_child(path, false);
    describe_outcome("folder 0555, side files present", out);
    REQUIRE(out.steps.count("skip") == 0);
    check_outcome(out, false);
    fs::permissions(dir, dir_rw, fs::perm_options::replace);
  }
  SECTION("a read-only folder holding only the store file") {
    for (const char* side : {"-wal", "-shm", ".lock", ".open"}) fs::remove(path.string() + side);
    const std::string before = read_bytes(path);
    fs::permissions(dir, dir_ro, fs::perm_options::replace);
    const auto out = run_read_only_child(path, false);
    describe_outcome("folder 0555, only the store file", out);
    REQUIRE(out.steps.count("skip") == 0);
    check_outcome(out, true);
    CHECK(read_bytes(path) == before);
    fs::permissions(dir, dir_rw, fs::perm_options::replace);
  }
  SECTION("a read-only mount") {
    const std::string before = read_bytes(path);
    const auto out = run_read_only_child(path, true);
    if (out.steps.count("skip")) {
      WARN("read-only mount not tested: " << out.steps.at("skip").code << " " << out.steps.at("skip").message);
    } else {
      describe_outcome("read-only bind mount", out);
      check_outcome(out, true);
      CHECK(read_bytes(path) == before);
    }
  }
  // Writable again, and ours (a store refuses files another user owns):
  // everything is there and writes work.
  hand_over(dir, ::geteuid());
  auto db = strict_store::open(options_for(path));
  auto alpha = db->get_collection("alpha");
  CHECK(alpha.count() == d.alpha.size() + written);
  auto want = d.alpha;
  if (written) want.push_back({"written-read-only", std::vector<float>(16, 0.5f), std::nullopt, {}});
  CHECK(equal_records(*db, "alpha", want) == want.size());
  CHECK(equal_records(*db, "beta", d.beta) == d.beta.size());
  alpha.add({{"after-read-only", std::vector<float>(16, 0.25f), std::nullopt, {}}});
  CHECK(alpha.count() == want.size() + 1);
  CHECK(db->verify().status == health_status::healthy);
  db->close();
}

// --- a hot -wal deleted after a crash -----------------------------------------------------

namespace {

constexpr int wal_rounds = 8;

struct deleted_wal_totals {
  int rounds = 0, detected = 0, opened = 0, partial = 0, wrong = 0, rounds_losing_acknowledged = 0;
  std::size_t acknowledged = 0, lost = 0;
};

record stream_record(int t, int i) {
  record r;
  r.id = "t" + std::to_string(t) + "-" + std::to_string(i);
  r.embedding = {float(t), float(i), 1.0f, 0.5f};
  r.document = "transaction " + std::to_string(t);
  r.meta["t"] = std::int64_t{t};
  return r;
}

deleted_wal_totals kill_writer_and_delete_wal() {
  deleted_wal_totals totals;
  std::mt19937 rng(99);
  for (int round = 0; round < wal_rounds; ++round) {
    temp_dir dir;
    const fs::path path = dir / "store.db";
    {
      child setup([&](int, int) {
        auto db = strict_store::open(options_for(path));
        db->create_collection("c", {4, metric::l2});
        db->close();
        return 0;
      });
      REQUIRE(setup.wait(milliseconds(30000)) == 0);
    }
    std::set<int> acknowledged;
    {
      child writer([&](int, int up) {
        auto db = strict_store::open(options_for(path));
        auto c = db->get_collection("c");
        for (int t = 0; t < 100000; ++t) {
          std::vector<record> batch;
          for (int i = 0; i < 5; ++i) batch.push_back(stream_record(t, i));
          c.add(batch);
          child::send_line(up, "ack " + std::to_string(t));
        }
        return 0;
      });
      REQUIRE(writer.read_line(milliseconds(30000)) == "ack 0");
      acknowledged.insert(0);
      std::this_thread::sleep_for(milliseconds(20 + static_cast<int>(rng() % 150)));
      writer.kill();
      CHECK(writer.wait(milliseconds(10000)) == -SIGKILL);
      for (const auto& line : writer.lines(milliseconds(2000))) {
        if (line.rfind("ack ", 0) == 0) acknowledged.insert(std::stoi(line.substr(4)));
      }
    }
    REQUIRE(fs::exists(path.string() + "-wal"));
    fs::remove(path.string() + "-wal");  // the hot WAL, deleted
    ++totals.rounds;
    totals.acknowledged += acknowledged.size();
    try {
      auto db = strict_store::open(options_for(path));
      if (db->verify().status == health_status::unhealthy) {
        ++totals.detected;
      } else {
        ++totals.opened;
        get_options all;
        all.fields = include::all;
        std::map<int, int> present;
        for (const auto& r : db->get_collection("c").get(all)) {
          const int t = std::stoi(r.id.substr(1, r.id.find('-') - 1));
          const int i = std::stoi(r.id.substr(r.id.find('-') + 1));
          if (!same_record(r, stream_record(t, i))) ++totals.wrong;
          ++present[t];
        }
        for (const auto& [t, n] : present) totals.partial += n != 5;
        std::size_t lost = 0;
        for (const int t : acknowledged) lost += present.count(t) ? 0 : 1;
        totals.lost += lost;
        totals.rounds_losing_acknowledged += lost > 0;
      }
      // Either way the store takes writes again.
      db->get_collection("c").add({{"after", {1, 2, 3, 4}, std::nullopt, {}}});
      db->close();
    } catch (const error& e) {
      ++totals.detected;
      check_message_shape(e, path);
    }
  }
  std::cout << "hot -wal deleted after SIGKILL of a writer: " << totals.rounds << " rounds, " << totals.detected
            << " detected, " << totals.opened << " opened without error; " << totals.lost << " of "
            << totals.acknowledged << " acknowledged transactions lost silently (in "
            << totals.rounds_losing_acknowledged << " rounds), " << totals.partial << " partial, " << totals.wrong
            << " wrong\n";
  return totals;
}

}  // namespace

TEST_CASE("after a hot -wal is deleted the store opens consistent or fails typed: never partial, never wrong",
          "[fault][file][wal]") {
  const auto totals = kill_writer_and_delete_wal();
  CHECK(totals.rounds == wal_rounds);
  CHECK(totals.partial == 0);
  CHECK(totals.wrong == 0);
}

// KNOWN LIBRARY BUG / GAP (reported, not fixed here) if this fails: a hot WAL
// deleted while the store was closed is not detected. SQLite rebuilds the WAL
// index from the now empty -wal and serves the file as of the last
// checkpoint, so every transaction acknowledged since then is gone without an
// error or an unhealthy report (damage should be detected, not served; see
// the known gaps in docs/operations.md, "Detection").
TEST_CASE("a hot -wal deleted after a crash is detected instead of silently losing acknowledged writes",
          "[fault][file][wal][.known_bug]") {
  const auto totals = kill_writer_and_delete_wal();
  CHECK(totals.rounds_losing_acknowledged == 0);
}

// --- a disk that fills up -------------------------------------------------------------------

namespace {

constexpr int full_batch = 50;

std::vector<record> full_disk_batch(int t) {
  std::vector<record> out;
  for (int i = 0; i < full_batch; ++i) {
    record r;
    r.id = "f" + std::to_string(t) + "-" + std::to_string(i);
    r.embedding.assign(16, float(t) + 0.01f * float(i));
    r.document = std::string(200, static_cast<char>('a' + t % 26));
    r.meta["t"] = std::int64_t{t};
    out.push_back(std::move(r));
  }
  return out;
}

/// In the child: adds batches until the first error; "ack <t>" for each,
/// then the error, then whether a retry fails too.
int fill_until_error(const std::shared_ptr<strict_store>& db, int up, int& failed_at) {
  auto c = db->get_or_create_collection("full", {16, metric::l2});
  for (int t = 0; t < 100000; ++t) {
    try {
      c.add(full_disk_batch(t));
      child::send_line(up, "ack " + std::to_string(t));
    } catch (const error& e) {
      child::send_line(up, describe("error", e));
      failed_at = t;
      try {
        c.add(full_disk_batch(t));
        child::send_line(up, "retry ok");
      } catch (const error& again) {
        child::send_line(up, describe("retry", again));
      }
      return 0;
    }
  }
  return 0;
}

/// The names of the unhealthy checks of a report, "none" when there are none.
std::string unhealthy_checks(const health_report& report) {
  std::string out;
  for (const auto& c : report.checks) {
    if (c.status == health_status::unhealthy) out += (out.empty() ? "" : ",") + c.name;
  }
  return out.empty() ? "none" : out;
}

struct fill_log {
  int acked = 0;  // batches 0..acked-1 acknowledged
  std::map<std::string, reported> steps;
};

fill_log parse_fill(const std::vector<std::string>& lines) {
  fill_log log;
  for (const auto& line : lines) {
    const auto r = parse_line(line);
    if (r.word == "ack") {
      log.acked = std::stoi(r.code) + 1;
    } else {
      log.steps[r.word] = r;
    }
  }
  return log;
}

}  // namespace

TEST_CASE("a file size limit hit mid-write (RLIMIT_FSIZE) gives io_error, loses nothing acknowledged, and writes "
          "resume without it",
          "[fault][file][disk_full]") {
  temp_dir dir;
  const fs::path path = dir / "store.db";
  const dataset d;
  {
    child setup([&](int, int) {
      build_store(path, d, false);
      return 0;
    });
    REQUIRE(setup.wait(milliseconds(30000)) == 0);
  }
  const auto limit = static_cast<rlim_t>(fs::file_size(path) + (256 << 10));
  child writer([&](int, int up) {
    std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of death
    const struct rlimit rl {limit, limit};
    if (::setrlimit(RLIMIT_FSIZE, &rl) != 0) return 2;
    auto db = strict_store::open(options_for(path));
    int failed_at = -1;
    fill_until_error(db, up, failed_at);
    return 0;
  });
  const auto log = parse_fill(writer.lines(milliseconds(60000)));
  CHECK(writer.wait(milliseconds(10000)) == 0);
  REQUIRE(log.steps.count("error"));
  const auto& e = log.steps.at("error");
  std::cout << "RLIMIT_FSIZE of " << limit << " bytes: " << log.acked << " batches of " << full_batch
            << " acknowledged, then " << e.code << ": " << e.message << "\n  a retry: "
            << (log.steps.count("retry") ? log.steps.at("retry").code : "ok") << "\n";
  CHECK(log.acked > 0);
  CHECK(e.code == "io_error");
  CHECK_THAT(e.message, Catch::StartsWith("vecstore: cannot write records (" + path.string() + ")") &&
                            Catch::Contains("Nothing of this operation was stored"));
  // Without the limit: every acknowledged batch is there, the failed one is not, writes resume.
  auto db = strict_store::open(options_for(path));
  auto c = db->get_collection("full");
  CHECK(c.count() == static_cast<std::size_t>(log.acked * full_batch));
  CHECK(c.get({"f" + std::to_string(log.acked) + "-0"}).empty());
  CHECK(equal_records(*db, "alpha", d.alpha) == d.alpha.size());
  std::vector<record> acked;
  for (int t = 0; t < log.acked; ++t)
    for (auto& r : full_disk_batch(t)) acked.push_back(std::move(r));
  CHECK(equal_records(*db, "full", acked) == acked.size());
  CHECK(db->verify().status == health_status::healthy);
  c.add(full_disk_batch(log.acked));
  CHECK(c.count() == static_cast<std::size_t>((log.acked + 1) * full_batch));
  db->close();
}

TEST_CASE("a file system that fills up mid-write (a 1 MiB tmpfs) gives io_error \"disk is full\", loses nothing "
          "acknowledged, and writes resume once space is freed",
          "[fault][file][disk_full]") {
  temp_dir dir;
  const fs::path mount_point = dir / "small";
  fs::create_directory(mount_point);
  const fs::path path = mount_point / "store.db";
  child c([&](int, int up) {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=1m") != 0) {
      child::send_line(up, std::string("skip ") + std::strerror(errno));
      return 0;
    }
    write_bytes(mount_point / "ballast", std::string(256 << 10, 'x'));
    int failed_at = -1;
    {
      auto db = strict_store::open(options_for(path));
      fill_until_error(db, up, failed_at);
      if (failed_at < 0) return 5;
      // The fault goes away; the same instance writes again.
      fs::remove(mount_point / "ballast");
      try {
        db->get_collection("full").add(full_disk_batch(failed_at));
        child::send_line(up, "resumed ok");
      } catch (const error& e) {
        child::send_line(up, describe("resumed", e));
      }
      child::send_line(up, "verify " + unhealthy_checks(db->verify()));
      db->close();
    }
    // A fresh open sees every acknowledged batch and the one written after.
    auto db = strict_store::open(options_for(path));
    child::send_line(up, "reopened " + std::to_string(db->get_collection("full").count()));
    child::send_line(up, "reverify " + unhealthy_checks(db->verify()));
    db->close();
    return 0;
  });
  const auto log = parse_fill(c.lines(milliseconds(60000)));
  CHECK(c.wait(milliseconds(10000)) == 0);
  if (log.steps.count("skip")) {
    WARN("tmpfs disk-full not tested: " << log.steps.at("skip").code << " " << log.steps.at("skip").message);
    return;
  }
  INFO([&] {
    std::string all;
    for (const auto& [w, r] : log.steps) all += w + " " + r.code + " " + r.message + "\n";
    return all;
  }());
  REQUIRE(log.steps.count("error"));
  const auto& e = log.steps.at("error");
  std::cout << "1 MiB tmpfs: " << log.acked << " batches of " << full_batch << " acknowledged, then " << e.code << ": "
            << e.message << "\n  a retry while full: " << (log.steps.count("retry") ? log.steps.at("retry").code : "ok")
            << "; after freeing space: " << (log.steps.count("resumed") ? log.steps.at("resumed").code : "?") << "\n";
  CHECK(log.acked > 0);
  CHECK(e.code == "io_error");
  CHECK_THAT(e.message, Catch::StartsWith("vecstore: cannot write records (" + path.string() + ")") &&
                            Catch::Contains("full"));
  REQUIRE(log.steps.count("resumed"));
  CHECK(log.steps.at("resumed").code == "ok");
  // integrity_check and the checksums pass; only the free space of a 1 MiB
  // file system is, rightly, reported as critical.
  REQUIRE(log.steps.count("verify"));
  CHECK(log.steps.at("verify").code == "disk_space");
  REQUIRE(log.steps.count("reopened"));
  CHECK(log.steps.at("reopened").code == std::to_string((log.acked + 1) * full_batch));
  CHECK(log.steps.at("reverify").code == "disk_space");
}

// --- recovery policies through basic_store::open ------------------------------------------------

TEST_CASE("salvage_recovery at open keeps every record that verifies, reports the rest, quarantines, deletes nothing",
          "[fault][file][recovery][salvage]") {
  temp_dir dir;
  const fs::path path = dir / "store.db";
  const dataset d;
  build_store(path, d, false);
  std::string damaged = read_bytes(path);
  const record& victim = d.alpha[321];
  const auto at = damaged.find(
      std::string(reinterpret_cast<const char*>(victim.embedding.data()), victim.embedding.size() * sizeof(float)));
  REQUIRE(at != std::string::npos);
  damaged[at + 17] = static_cast<char>(damaged[at + 17] ^ 0x40);
  write_bytes(path, damaged);
  const auto before = listing(dir.path());

  auto db = salvage_store::open(options_for(path));
  const auto report = db->last_recovery();
  REQUIRE(report);
  CHECK(report->policy == "salvage_recovery");
  CHECK(report->action == "salvaged");
  CHECK_THAT(report->problem, Catch::Contains("the checksum of record \"" + victim.id + "\""));
  CHECK(report->rows_saved == d.alpha.size() + d.beta.size() - 1);
  CHECK(report->rows_lost == 1);
  CHECK(report->lost_records == std::vector<std::string>{"alpha/" + victim.id});
  REQUIRE(fs::exists(report->quarantined));
  CHECK(read_bytes(report->quarantined) == damaged);
  auto want = d.alpha;
  want.erase(want.begin() + 321);
  CHECK(db->get_collection("alpha").count() == want.size());
  CHECK(equal_records(*db, "alpha", want) == want.size());
  CHECK(equal_records(*db, "beta", d.beta) == d.beta.size());
  CHECK(db->get_collection("alpha").get({victim.id}).empty());
  check_sound_after_recovery(*db);
  db->close();
  check_nothing_deleted(before, dir.path(), report->quarantined);
  std::cout << "salvage_recovery at open: " << report->rows_saved << " saved, " << report->rows_lost << " lost, "
            << report->duration.count() << " ms\n";
}

TEST_CASE("salvage_recovery at open after page damage serves only records equal to what was written",
          "[fault][file][recovery][salvage]") {
  temp_dir dir;
  const fs::path path = dir / "store.db";
  const dataset d;
  build_store(path, d, false);
  std::string damaged = read_bytes(path);
  const std::size_t page = page_size_of(damaged);
  std::mt19937 rng(5);
  for (std::size_t i = 0; i < page; ++i) damaged[damaged.size() / page / 2 * page + i] = static_cast<char>(rng() & 0xff);
  write_bytes(path, damaged);
  const auto before = listing(dir.path());

  auto db = salvage_store::open(options_for(path));
  const auto report = db->last_recovery();
  REQUIRE(report);
  CHECK(report->action == "salvaged");
  REQUIRE(fs::exists(report->quarantined));
  CHECK(read_bytes(report->quarantined) == damaged);
  std::size_t served = 0;
  for (const auto& info : db->list_collections()) {
    served += equal_records(*db, info.name, info.name == "alpha" ? d.alpha : d.beta);  // checks each one served
  }
  CHECK(served == report->rows_saved);
  CHECK(served + report->rows_lost >= d.alpha.size() + d.beta.size() - report->lost_records.size());
  check_sound_after_recovery(*db);
  db->close();
  check_nothing_deleted(before, dir.path(), report->quarantined);
  std::cout << "salvage_recovery after a garbage page: " << report->rows_saved << " saved, " << report->rows_lost
            << " lost of " << d.alpha.size() + d.beta.size() << "\n";
}

TEST_CASE("reset_recovery at open leaves an empty store, reports what was left behind, quarantines, deletes nothing",
          "[fault][file][recovery][reset]") {
  temp_dir dir;
  const fs::path path = dir / "store.db";
  const dataset d;
  build_store(path, d, false);
  std::string damaged = read_bytes(path);
  const std::size_t page = page_size_of(damaged);
  std::fill_n(damaged.begin() + static_cast<std::ptrdiff_t>(damaged.size() / page / 2 * page), page, '\0');
  write_bytes(path, damaged);
  const auto before = listing(dir.path());

  auto db = reset_store::open(options_for(path));
  const auto report = db->last_recovery();
  REQUIRE(report);
  CHECK(report->policy == "reset_recovery");
  CHECK(report->action == "reset");
  CHECK_FALSE(report->problem.empty());
  CHECK(report->rows_saved == 0);
  REQUIRE(fs::exists(report->quarantined));
  CHECK(read_bytes(report->quarantined) == damaged);
  CHECK_THAT(report->note, Catch::Contains(report->quarantined.string()));
  CHECK(db->list_collections().empty());
  db->create_collection("fresh", {2, metric::l2}).add({{"x", {1, 2}, std::nullopt, {}}});
  check_sound_after_recovery(*db);
  db->close();
  check_nothing_deleted(before, dir.path(), report->quarantined);
  std::cout << "reset_recovery at open: " << report->rows_lost << " records left behind in the quarantined file; "
            << report->note << "\n";
}
