// SPDX-License-Identifier: MIT
// Online backups on real files: made while another process keeps writing,
// verified, rotated, never confused with temporaries, and never left half
// made by a process killed in the middle of one.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <vecstore/vecstore.hpp>

#include "support/file_bytes.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::dead_pid;
using vecstore_test::read_bytes;
using vecstore_test::temp_dir;
namespace fs = std::filesystem;

namespace {

/// The vector the writer process stores for its n-th record.
std::vector<float> writer_vector(std::size_t n, std::size_t dim) {
  std::vector<float> v(dim);
  for (std::size_t k = 0; k < dim; ++k) v[k] = static_cast<float>((n * 31 + k) % 1000) * 0.001f + 0.5f;
  return v;
}

std::vector<record> seed_records(std::size_t n, std::size_t dim) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<record> out;
  for (std::size_t i = 0; i < n; ++i) {
    record r;
    r.id = "s-" + std::to_string(i);
    r.embedding.resize(dim);
    for (auto& x : r.embedding) x = dist(rng);
    r.document = "seed " + std::to_string(i);
    out.push_back(std::move(r));
  }
  return out;
}

/// A store with one collection "c" of `n` seed records.
void build_store(const fs::path& path, std::size_t n, std::size_t dim) {
  store_options o;
  o.path = path;
  auto db = open(o);
  auto c = db->create_collection("c", {dim, metric::l2});
  const auto records = seed_records(n, dim);
  for (std::size_t i = 0; i < n; i += 2000) {
    c.add(std::vector<record>(records.begin() + static_cast<std::ptrdiff_t>(i),
                              records.begin() + static_cast<std::ptrdiff_t>(std::min(i + 2000, n))));
  }
  db->close();
}

backup_info take_backup(const fs::path& store, int keep, const fs::path& dir = {}) {
  store_options o;
  o.path = store;
  detail::connection c(store, o);
  return detail::make_backup(c.handle(), store, dir, keep);
}

void touch(const fs::path& p, const std::string& content = "x") {
  std::ofstream(p.string()) << content;
}

std::vector<std::string> temporaries_in(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp-") != std::string::npos) out.push_back(name);
  }
  return out;
}

/// A forked process that waits for "go", then adds batches of `batch` records
/// ("w-<n>", writer_vector(n)) through its own vecstore::open until `stop`
/// exists or `seconds` pass. Forked before the parent opens the store.
class writer_process {
 public:
  writer_process(fs::path store, fs::path stop, std::size_t dim, std::size_t batch, double seconds) {
    if (::pipe(go_) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::close(go_[1]);
      char c = 0;
      if (::read(go_[0], &c, 1) != 1) ::_exit(2);
      int code = 0;
      try {
        store_options o;
        o.path = store;
        auto db = open(o);
        auto col = db->get_collection("c");
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        for (std::size_t n = 0; !fs::exists(stop) && std::chrono::steady_clock::now() < deadline;) {
          std::vector<record> records;
          for (std::size_t i = 0; i < batch; ++i, ++n)
            records.push_back({"w-" + std::to_string(n), writer_vector(n, dim), std::nullopt, {}});
          col.add(records);
        }
        db->close();
      } catch (const std::exception& e) {
        std::cerr << "writer: " << e.what() << "\n";
        code = 1;
      }
      ::_exit(code);
    }
    ::close(go_[0]);
  }
  writer_process(const writer_process&) = delete;
  writer_process& operator=(const writer_process&) = delete;
  ~writer_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  void go() {
    const char c = 'g';
    REQUIRE(::write(go_[1], &c, 1) == 1);
    ::close(go_[1]);
  }
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int go_[2] = {-1, -1};
};

}  // namespace

TEST_CASE("backups of a store another process keeps writing are consistent", "[backup][multiprocess]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const fs::path stop = dir / "stop";
  const std::size_t dim = 256, seeds = 30000, batch = 20;
  writer_process writer(store, stop, dim, batch, 60.0);  // forked before this process opens anything
  build_store(store, seeds, dim);
  writer.go();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the writer is under way

  std::vector<backup_info> made;
  for (int i = 0; i < 6; ++i) made.push_back(take_backup(store, 3));
  touch(stop);
  REQUIRE(writer.wait() == 0);

  double bytes = 0, seconds = 0;
  std::size_t previous_written = 0;
  for (const auto& b : made) {
    bytes += static_cast<double>(b.bytes);
    seconds += static_cast<double>(b.duration.count()) / 1000.0;
  }
  // Rotation kept the newest three, newest first.
  const auto listed = detail::list_backups(store, {});
  REQUIRE(listed.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(listed[i].path == made[made.size() - 1 - i].path);

  for (const auto& b : {made[3], made[4], made[5]}) {
    INFO("backup " << b.path);
    CHECK((fs::status(b.path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    const auto v = detail::verify_store_file(b.path, true);
    INFO(v.problem);
    REQUIRE(v.ok);
    CHECK(v.records == b.records);
    CHECK(v.seq == b.seq);
    // It opens as a store, with counts and contents that one moment of the
    // writer explains: every seed record, and whole batches w-0 .. w-(k-1).
    temp_dir scratch;
    fs::copy_file(b.path, scratch / "copy.db");
    store_options o;
    o.path = scratch / "copy.db";
    o.create_if_missing = false;
    auto db = open(o);
    auto c = db->get_collection("c");
    CHECK(c.count() == b.records);
    const std::size_t written = b.records - seeds;
    CHECK(written % batch == 0);
    CHECK(written >= previous_written);
    previous_written = written;
    std::vector<std::string> ids;
    for (std::size_t n = 0; n < written; ++n) ids.push_back("w-" + std::to_string(n));
    const auto got = c.get(ids, include::embeddings);
    REQUIRE(got.size() == written);
    for (std::size_t n = 0; n < written; ++n) CHECK(got[n].embedding == writer_vector(n, dim));
    CHECK(c.get({"w-" + std::to_string(written)}, include::none).empty());
    CHECK(c.get({"s-0", "s-" + std::to_string(seeds - 1)}, include::none).size() == 2);
    db->close();
  }
  CHECK(made.back().records > made.front().records);  // the writer did write meanwhile
  std::cout << "backup throughput while another process writes: " << bytes / (1 << 20) / seconds << " MB/s ("
            << made.size() << " backups of about " << made.back().bytes / (1 << 20) << " MiB, "
            << made.back().records - made.front().records << " records written meanwhile; verification included)\n";
  CHECK(temporaries_in(detail::default_backup_dir(store)).empty());
}

TEST_CASE("rotation keeps the newest backups of this store and touches nothing else", "[backup]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  build_store(store, 50, 8);
  const fs::path backups = dir / "nested" / "backups";
  ::umask(022);
  std::vector<backup_info> made;
  for (int i = 0; i < 2; ++i) made.push_back(take_backup(store, 3, backups));
  // The folder was created owner-only, parents included.
  CHECK((fs::status(backups).permissions() & fs::perms::all) == fs::perms::owner_all);
  CHECK((fs::status(dir / "nested").permissions() & fs::perms::all) == fs::perms::owner_all);

  // Files rotation must never delete.
  const std::vector<fs::path> foreign = {
      backups / "other.db.20200101T000000.000Z.backup",  // another store's backup
      backups / "store.db.2020.backup",                  // not our stamp
      backups / "store.db.20200101T000000.000.backup",   // no Z
      backups / "notes.txt",
      backups / ".store.db.tmp-1-20200101T000000.000Z",  // a temporary of a live pid (init)
  };
  for (const auto& f : foreign) touch(f);
  fs::create_symlink(made[0].path, backups / "store.db.20200101T000000.000Z.backup");  // old-looking symlink

  for (int i = 0; i < 4; ++i) made.push_back(take_backup(store, 3, backups));
  const auto listed = detail::list_backups(store, backups);
  REQUIRE(listed.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(listed[i].path == made[made.size() - 1 - i].path);
  for (std::size_t i = 0; i + 1 < listed.size(); ++i) CHECK(listed[i].created > listed[i + 1].created);
  for (const auto& b : listed) {
    CHECK(b.bytes == fs::file_size(b.path));
    CHECK(b.seq == -1);  // listing reads names, not files
  }
  for (std::size_t i = 0; i + 3 < made.size(); ++i) CHECK_FALSE(fs::exists(made[i].path));
  for (const auto& f : foreign) CHECK(fs::exists(f));
  CHECK(fs::is_symlink(backups / "store.db.20200101T000000.000Z.backup"));

  // keep = 1: only the one just made remains.
  const auto last = take_backup(store, 1, backups);
  const auto one = detail::list_backups(store, backups);
  REQUIRE(one.size() == 1);
  CHECK(one[0].path == last.path);
  CHECK(last.records == 50);
  CHECK(last.created <= std::chrono::system_clock::now());
  CHECK(std::chrono::system_clock::now() - last.created < std::chrono::minutes(1));
}

TEST_CASE("temporary files are never listed; stale ones of dead processes are removed", "[backup]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  const fs::path backups = detail::default_backup_dir(store);
  fs::create_directory(backups);
  const std::string stamp = detail::utc_stamp(std::chrono::system_clock::now(), true);
  const std::string dead = std::to_string(dead_pid());
  const std::string live = std::to_string(::getpid());
  const fs::path stale = backups / (".store.db.tmp-" + dead + "-" + stamp);
  const fs::path stale_journal = backups / (".store.db.tmp-" + dead + "-" + stamp + "-journal");
  const fs::path other_store_stale = backups / (".other.db.tmp-" + dead + "-" + stamp);
  const fs::path ours_live = backups / (".store.db.tmp-" + live + "-" + stamp);
  const std::vector<fs::path> not_ours = {
      backups / ("store.db.tmp-" + dead + "-" + stamp),            // no leading dot
      backups / (".store.db.tmp-x" + dead + "-" + stamp),          // not a pid
      backups / (".store.db.tmp-" + dead + "-" + stamp + ".bak"),  // something appended
      backups / (".store.db.tmp-" + dead + "-2020"),               // not a stamp
  };
  for (const auto& f : {stale, stale_journal, other_store_stale, ours_live}) touch(f);
  for (const auto& f : not_ours) touch(f);
  CHECK(detail::list_backups(store, {}).empty());

  detail::remove_stale_temporaries(backups);
  CHECK_FALSE(fs::exists(stale));
  CHECK_FALSE(fs::exists(stale_journal));
  CHECK_FALSE(fs::exists(other_store_stale));  // any store's: the pid is what matters
  CHECK(fs::exists(ours_live));
  for (const auto& f : not_ours) CHECK(fs::exists(f));

  // A backup made now lists alone, next to the live temporary.
  build_store(store, 10, 4);
  const auto b = take_backup(store, 5);
  const auto listed = detail::list_backups(store, {});
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].path == b.path);
  CHECK(fs::exists(ours_live));
}

TEST_CASE("a backup of a damaged store fails and keeps nothing", "[backup]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  build_store(store, 200, 8);
  // Flip a byte of one stored embedding: quick_check passes, the checksum does not.
  const auto victim = seed_records(200, 8)[77];
  std::string bytes = read_bytes(store);
  const std::string needle(reinterpret_cast<const char*>(victim.embedding.data()),
                           victim.embedding.size() * sizeof(float));
  const auto at = bytes.find(needle);
  REQUIRE(at != std::string::npos);
  {
    std::fstream f(store, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at + 3));
    const char flipped = static_cast<char>(bytes[at + 3] ^ 0x01);
    f.write(&flipped, 1);
  }
  CHECK_THROWS_AS(take_backup(store, 5), corruption_error);
  CHECK_THROWS_WITH(take_backup(store, 5),
                    Catch::Contains("the backup does not verify") && Catch::Contains("record \"s-77\""));
  CHECK(detail::list_backups(store, {}).empty());
  CHECK(temporaries_in(detail::default_backup_dir(store)).empty());
}

TEST_CASE("a process killed in the middle of a backup never leaves a backup that is not one",
          "[backup][multiprocess]") {
  temp_dir dir;
  const fs::path store = dir / "store.db";
  build_store(store, 40000, 384);  // ~65 MB: a backup takes long enough to be cut
  const fs::path backups = detail::default_backup_dir(store);
  fs::create_directory(backups);
  int cut_before_rename = 0, completed = 0;
  for (const int delay_ms : {0, 5, 20, 50, 100, 200, 400}) {
    const pid_t pid = ::fork();  // this process has no connection open
    if (pid == 0) {
      try {
        take_backup(store, 100);
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    // Wait for its temporary, then kill it `delay_ms` later.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (temporaries_in(backups).empty() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const bool finished = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const auto listed = detail::list_backups(store, {});
    const auto temporaries = temporaries_in(backups);
    INFO("killed " << delay_ms << " ms after the temporary appeared");
    if (finished) {
      ++completed;
    } else if (!temporaries.empty()) {
      ++cut_before_rename;
    }
    // Whatever the moment: every listed backup verifies, no temporary is listed.
    for (const auto& b : listed) {
      CHECK(b.path.filename().string().find(".tmp-") == std::string::npos);
      const auto v = detail::verify_store_file(b.path, false);
      INFO(v.problem);
      CHECK(v.ok);
      CHECK(v.records == 40000);
    }
    // The killed process's temporary is stale now, and goes.
    detail::remove_stale_temporaries(backups);
    CHECK(temporaries_in(backups).empty());
  }
  std::cout << "backup killed mid-way: " << cut_before_rename << " cut before the rename, " << completed
            << " completed before the kill\n";
  CHECK(cut_before_rename >= 3);

  // A recovery never takes a partial file for a backup: with no completed one it uses none.
  if (detail::list_backups(store, {}).empty()) {
    store_options o;
    o.path = store;
    recovery_context ctx;
    ctx.file = store;
    ctx.options = &o;
    const auto report = restore_backup_recovery::recover(ctx);
    CHECK(report.backup_used.empty());
    CHECK(report.action == "salvaged");
    CHECK(fs::exists(store));
  }
}
