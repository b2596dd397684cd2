// SPDX-License-Identifier: MIT
// Simulated power loss (after SQLite's crash simulation in src/test6.c).
// A forked child installs the power-loss VFS (power_loss_vfs.hpp) as its
// default VFS, opens a copy of a small store and writes transactions of 20
// records, logging each acknowledged one to a pipe. At a random I/O call the
// power fails: every write not yet covered by an xSync is kept, dropped or
// garbled, and the child is gone. The parent (no store open across fork())
// then opens the store with strict_recovery, runs verify() (integrity_check
// and every checksum) and reads everything back.
//
// durability::full: no acknowledged transaction lost, no corrupt store.
// durability::normal: no corrupt store; lost acknowledged transactions are
// counted. A control with PRAGMA synchronous=OFF (a raw connection writing
// the same rows) must come out corrupt at least once: the harness can fail.
// Checkpoints are made frequent (every 16 pages) so that crashes also land
// inside them.
//
// 150 crashes per mode; VECSTORE_FAULT_CASES / 3 per mode when larger.
//
// durability::normal's loss window: children commit with sync_interval
// 100 ms and vecstore's own checkpoint settings, acknowledging each commit
// with its time, and the power fails at a time rather than an I/O count,
// while writing or after a burst and a pause. No commit acknowledged more than
// the interval (plus a stated slack) before the power failed may be lost.
// 6 crashes busy and 3 idle; VECSTORE_FAULT_CASES / 25 and half of it when larger.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <vecstore/vecstore.hpp>

#include "fault_injection/power_loss_vfs.hpp"
#include "support/dump.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::same_record;
using vecstore_test::temp_dir;
namespace fs = std::filesystem;

namespace {

using strict_store = basic_store<file_lock, flat_index, strict_recovery>;

constexpr int transactions = 24;  // per child run
constexpr int per_transaction = 20;
constexpr int base_records = 20;
constexpr std::size_t dim = 16;
constexpr int checkpoint_pages = 16;

std::size_t crashes_per_mode() {
  const char* s = std::getenv("VECSTORE_FAULT_CASES");
  const long n = s ? std::atol(s) / 3 : 0;
  return static_cast<std::size_t>(std::max(150L, n));
}

/// The record `i` of transaction `t` (t = -1: the base records).
record make_record(int t, int i) {
  record r;
  r.id = (t < 0 ? std::string("base") : "t" + std::to_string(t)) + "-" + std::to_string(i);
  std::mt19937 rng(static_cast<unsigned>((t + 1) * 1000 + i));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  r.embedding.resize(dim);
  for (auto& x : r.embedding) x = dist(rng);
  r.document = "record " + std::to_string(i) + " of transaction " + std::to_string(t);
  r.meta["tx"] = std::int64_t{t};
  r.meta["i"] = std::int64_t{i};
  r.meta["even"] = i % 2 == 0;
  r.meta["x"] = 0.5 * i;
  return r;
}

std::vector<record> transaction(int t) {
  std::vector<record> out;
  for (int i = 0; i < per_transaction; ++i) out.push_back(make_record(t, i));
  return out;
}

// --- child processes -----------------------------------------------------------

struct child_result {
  int exit_code = -1;  // -1: killed by a signal
  int signal = 0;
  bool timed_out = false;
  std::string output;  // what the child wrote to its pipe
};

/// Forks; the child runs `body(pipe_fd)` and _exit()s with its result (3 on
/// an exception, whose message it writes to the pipe). Never returns into
/// Catch2 in the child. The parent collects the pipe and waits at most `timeout`.
template <class Body>
child_result run_in_child(Body&& body, std::chrono::milliseconds timeout) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  std::cout.flush();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    try {
      code = body(fds[1]);
    } catch (const std::exception& e) {
      const std::string line = std::string("error ") + e.what() + "\n";
      (void)!::write(fds[1], line.data(), line.size());
      code = 3;
    } catch (...) {
      code = 4;
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  child_result result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    struct pollfd p {fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child is gone
    result.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

void say(int fd, const std::string& line) { (void)!::write(fd, (line + "\n").data(), line.size() + 1); }

/// Checkpoints every few pages, so that crashes land in checkpoints too.
/// sqlite3_open_v2 sets the default interval after running auto-extensions,
/// so the extension only arranges for the first statement to set it.
int set_checkpoint_interval(unsigned, void*, void* statement, void*) {
  sqlite3* db = sqlite3_db_handle(static_cast<sqlite3_stmt*>(statement));
  sqlite3_wal_autocheckpoint(db, checkpoint_pages);
  sqlite3_trace_v2(db, 0, nullptr, nullptr);
  return 0;
}

int small_checkpoints(sqlite3* db, const char**, const sqlite3_api_routines*) {
  sqlite3_trace_v2(db, SQLITE_TRACE_STMT, &set_checkpoint_interval, nullptr);
  return SQLITE_OK;
}

void install_simulator(std::uint64_t seed, std::uint64_t crash_at, int fd) {
  vecstore_test::power_loss::install(seed, crash_at, fd);
  sqlite3_auto_extension(reinterpret_cast<void (*)()>(&small_checkpoints));
}

/// The child: writes the transactions through vecstore, acknowledging each.
int store_writer(const fs::path& path, durability sync, std::uint64_t seed, std::uint64_t crash_at, int fd) {
  install_simulator(seed, crash_at, fd);
  store_options o;
  o.path = path;
  o.sync = sync;
  o.create_if_missing = false;
  o.lock_timeout = std::chrono::milliseconds(2000);
  o.max_retries = 0;
  auto db = strict_store::open(o);
  auto c = db->get_collection("c");
  for (int t = 0; t < transactions; ++t) {
    c.add(transaction(t));
    say(fd, "ack " + std::to_string(t));
  }
  say(fd, "done io=" + std::to_string(vecstore_test::power_loss::io_calls()));
  return 0;
}

void must(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
  }
}

/// The control child: a raw SQLite connection with PRAGMA synchronous=OFF
/// writing the same rows vecstore would (same checksums, same bookkeeping).
int raw_writer_synchronous_off(const fs::path& path, std::uint64_t seed, std::uint64_t crash_at, int fd) {
  install_simulator(seed, crash_at, fd);
  sqlite3* db = nullptr;
  must(db, sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), "open");
  must(db, sqlite3_exec(db, "PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr), "pragma");
  sqlite3_stmt* collection = nullptr;
  must(db, sqlite3_prepare_v2(db, "SELECT collection_id FROM collections WHERE name = 'c'", -1, &collection, nullptr),
       "prepare");
  must(db, sqlite3_step(collection), "collection");
  const std::int64_t cid = sqlite3_column_int64(collection, 0);
  sqlite3_finalize(collection);
  sqlite3_stmt *seq = nullptr, *insert = nullptr, *meta = nullptr;
  must(db, sqlite3_prepare_v2(db, "UPDATE store_meta SET value = value + 1 WHERE key = 'seq' RETURNING value", -1, &seq,
                              nullptr),
       "prepare");
  must(db, sqlite3_prepare_v2(db,
                              "INSERT INTO records (collection_id, id, embedding, document, checksum, seq, "
                              "row_checksum) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING rid",
                              -1, &insert, nullptr),
       "prepare");
  must(db, sqlite3_prepare_v2(db, "INSERT INTO metadata (record_id, key, type, value) VALUES (?, ?, ?, ?)", -1, &meta,
                              nullptr),
       "prepare");
  for (int t = 0; t < transactions; ++t) {
    must(db, sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), "begin");
    sqlite3_reset(seq);
    must(db, sqlite3_step(seq), "seq");
    const std::int64_t s = sqlite3_column_int64(seq, 0);
    sqlite3_reset(seq);
    for (const auto& r : transaction(t)) {
      sqlite3_reset(insert);
      sqlite3_bind_int64(insert, 1, cid);
      sqlite3_bind_text(insert, 2, r.id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_blob(insert, 3, r.embedding.data(), static_cast<int>(r.embedding.size() * sizeof(float)),
                        SQLITE_TRANSIENT);
      sqlite3_bind_text(insert, 4, r.document->c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(insert, 5,
                         static_cast<std::int64_t>(vecstore::detail::embedding_checksum(cid, r.id, r.embedding.data(),
                                                                                      r.embedding.size())));
      sqlite3_bind_int64(insert, 6, s);
      sqlite3_bind_int64(insert, 7,
                         static_cast<std::int64_t>(vecstore::detail::row_checksum(cid, r.id, *r.document, r.meta)));
      must(db, sqlite3_step(insert), "insert");
      const std::int64_t rid = sqlite3_column_int64(insert, 0);
      sqlite3_reset(insert);
      for (const auto& [key, value] : r.meta) {
        sqlite3_reset(meta);
        sqlite3_bind_int64(meta, 1, rid);
        sqlite3_bind_text(meta, 2, key.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(meta, 3, static_cast<std::int64_t>(value.index()));
        if (const auto* i = std::get_if<std::int64_t>(&value)) sqlite3_bind_int64(meta, 4, *i);
        if (const auto* d = std::get_if<double>(&value)) sqlite3_bind_double(meta, 4, *d);
        if (const auto* b = std::get_if<bool>(&value)) sqlite3_bind_int64(meta, 4, *b ? 1 : 0);
        must(db, sqlite3_step(meta), "metadata");
      }
    }
    must(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "commit");
    say(fd, "ack " + std::to_string(t));
  }
  say(fd, "done io=" + std::to_string(vecstore_test::power_loss::io_calls()));
  return 0;  // the connection is left open, as a crash would
}

// --- the parent's check ------------------------------------------------------------

enum class mode { full, normal, off_control };

const char* to_string(mode m) {
  switch (m) {
    case mode::full: return "durability::full";
    case mode::normal: return "durability::normal";
    default: return "synchronous=OFF (control)";
  }
}

struct run_log {
  std::set<int> acknowledged;
  std::uint64_t io_total = 0;  // from a run that did not crash
  std::string crash_line;
  std::string error;
};

run_log parse(const std::string& output) {
  run_log log;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("ack ", 0) == 0) log.acknowledged.insert(std::stoi(line.substr(4)));
    if (line.rfind("done io=", 0) == 0) log.io_total = std::stoull(line.substr(8));
    if (line.rfind("crash ", 0) == 0) log.crash_line = line;
    if (line.rfind("error ", 0) == 0) log.error = line;
  }
  return log;
}

struct verdict {
  bool corrupt = false;
  std::string why;
  int lost = 0;               // acknowledged transactions absent
  std::vector<int> lost_transactions;  // which ones
  int unacknowledged_kept = 0;  // committed, the power failed before the acknowledgement
};

/// Opens the store after the crash and judges it.
verdict check_store(const fs::path& path, const std::set<int>& acknowledged) {
  verdict v;
  store_options o;
  o.path = path;
  o.create_if_missing = false;
  o.lock_timeout = std::chrono::milliseconds(2000);
  o.max_retries = 0;
  std::shared_ptr<strict_store> db;
  try {
    db = strict_store::open(o);
  } catch (const error& e) {
    v.corrupt = true;
    v.why = std::string("open: ") + e.what();
    return v;
  }
  std::vector<record> stored;
  try {
    get_options all;
    all.fields = include::all;
    stored = db->get_collection("c").get(all);
  } catch (const error& e) {
    v.corrupt = true;
    v.why = std::string("read: ") + e.what();
  }
  const health_report deep = db->verify();
  db->close();
  if (deep.status == health_status::unhealthy) {
    v.corrupt = true;
    for (const auto& c : deep.checks) {
      if (c.status == health_status::unhealthy) v.why += "verify: " + c.name + ": " + c.detail + "; ";
    }
  }
  if (v.corrupt) return v;
  std::map<int, int> present;  // transaction -> records present and equal
  int base = 0;
  for (const auto& r : stored) {
    const auto dash = r.id.find('-');
    const std::string head = r.id.substr(0, dash);
    const int t = head == "base" ? -1 : std::stoi(head.substr(1));
    const int i = std::stoi(r.id.substr(dash + 1));
    if (!same_record(r, make_record(t, i))) {
      v.corrupt = true;
      v.why = "record " + r.id + " reads back different";
      return v;
    }
    if (t < 0) {
      ++base;
    } else {
      ++present[t];
    }
  }
  if (base != base_records) {
    v.corrupt = true;
    v.why = std::to_string(base) + " of the " + std::to_string(base_records) + " base records";
  }
  for (const auto& [t, n] : present) {
    if (n != per_transaction) {
      v.corrupt = true;
      v.why = "transaction " + std::to_string(t) + " is partly there (" + std::to_string(n) + " records)";
    } else if (!acknowledged.count(t)) {
      ++v.unacknowledged_kept;
      if (t > (acknowledged.empty() ? 0 : *acknowledged.rbegin() + 1)) {
        v.corrupt = true;
        v.why = "transaction " + std::to_string(t) + " is there but was never written";
      }
    }
  }
  for (const int t : acknowledged) {
    if (present.count(t)) continue;
    ++v.lost;
    v.lost_transactions.push_back(t);
  }
  return v;
}

/// Creates the base store in a child (the test process opens no store before forking).
void create_base_store(const fs::path& path) {
  const auto r = run_in_child(
      [&](int) {
        store_options o;
        o.path = path;
        auto db = strict_store::open(o);
        std::vector<record> base;
        for (int i = 0; i < base_records; ++i) base.push_back(make_record(-1, i));
        db->create_collection("c", {dim, metric::l2}).add(base);
        db->close();
        return 0;
      },
      std::chrono::seconds(30));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

struct mode_totals {
  std::size_t crashes = 0, runs_without_crash = 0, corrupt = 0;
  std::size_t acknowledged = 0, lost = 0, unacknowledged_kept = 0, crashes_losing_something = 0;
  std::size_t unsynced_ops = 0, kept = 0, dropped = 0, garbled = 0;
  std::vector<std::string> corrupt_examples;
  double seconds = 0;
};

child_result run_writer(mode m, const fs::path& path, std::uint64_t seed, std::uint64_t crash_at) {
  return run_in_child(
      [&](int fd) {
        if (m == mode::off_control) return raw_writer_synchronous_off(path, seed, crash_at, fd);
        return store_writer(path, m == mode::full ? durability::full : durability::normal, seed, crash_at, fd);
      },
      std::chrono::seconds(60));
}

mode_totals crash_many(mode m, const fs::path& base, std::size_t crashes, std::uint64_t seed) {
  mode_totals totals;
  const auto started = std::chrono::steady_clock::now();
  // A run without a crash: how many I/O calls the whole workload makes, and
  // proof that the writer and the check agree when nothing fails.
  std::uint64_t io_total = 0;
  {
    temp_dir dir;
    fs::copy_file(base, dir / "store.db");
    const auto r = run_writer(m, dir / "store.db", seed, 0);
    const run_log log = parse(r.output);
    INFO(to_string(m) << ": " << r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE(static_cast<int>(log.acknowledged.size()) == transactions);
    const verdict v = check_store(dir / "store.db", log.acknowledged);
    INFO(v.why);
    REQUIRE_FALSE(v.corrupt);
    REQUIRE(v.lost == 0);
    io_total = log.io_total;
    REQUIRE(io_total > 100);
  }
  std::mt19937_64 rng(seed);
  for (std::size_t attempt = 0; totals.crashes < crashes && attempt < 2 * crashes; ++attempt) {
    const std::uint64_t crash_at = 1 + rng() % io_total;
    temp_dir dir;
    fs::copy_file(base, dir / "store.db");
    const auto r = run_writer(m, dir / "store.db", rng(), crash_at);
    const run_log log = parse(r.output);
    INFO(to_string(m) << ", crash at I/O call " << crash_at << ": " << r.output);
    REQUIRE_FALSE(r.timed_out);
    REQUIRE(log.error.empty());
    if (r.exit_code == 0) {  // the workload ended before that call
      ++totals.runs_without_crash;
      continue;
    }
    REQUIRE(r.exit_code == vecstore_test::power_loss::crash_exit_code);
    ++totals.crashes;
    std::size_t ops = 0, kept = 0, dropped = 0, garbled = 0;
    unsigned long long io = 0;
    if (std::sscanf(log.crash_line.c_str(), "crash io=%llu ops=%zu kept=%zu dropped=%zu garbled=%zu", &io, &ops, &kept,
                    &dropped, &garbled) == 5) {
      totals.unsynced_ops += ops;
      totals.kept += kept;
      totals.dropped += dropped;
      totals.garbled += garbled;
    }
    verdict v;
    try {
      v = check_store(dir / "store.db", log.acknowledged);
    } catch (const std::exception& e) {  // anything but a vecstore::error
      FAIL_CHECK("an untyped exception while checking: " << e.what());
      v.corrupt = true;
    }
    totals.acknowledged += log.acknowledged.size();
    totals.lost += static_cast<std::size_t>(v.lost);
    totals.crashes_losing_something += v.lost > 0;
    totals.unacknowledged_kept += static_cast<std::size_t>(v.unacknowledged_kept);
    if (v.corrupt) {
      ++totals.corrupt;
      if (totals.corrupt_examples.size() < 3) totals.corrupt_examples.push_back(log.crash_line + ": " + v.why);
    }
  }
  totals.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "power loss, " << to_string(m) << ": " << totals.crashes << " crashes (" << totals.runs_without_crash
            << " runs ended first), " << totals.corrupt << " corrupt, " << totals.lost << " of "
            << totals.acknowledged << " acknowledged transactions lost (" << totals.lost * per_transaction
            << " records; in " << totals.crashes_losing_something << " crashes), " << totals.unacknowledged_kept
            << " committed but unacknowledged kept; unsynced operations at the crash: " << totals.unsynced_ops
            << " (kept " << totals.kept << ", dropped " << totals.dropped << ", garbled " << totals.garbled << "); "
            << totals.seconds << " s\n";
  for (const auto& e : totals.corrupt_examples) std::cout << "  corrupt: " << e << "\n";
  return totals;
}

// --- durability::normal's loss window (store_options::sync_interval) -----------------
//
// The children below use vecstore's own checkpoint settings (no
// small_checkpoints): a checkpoint syncs the WAL, and with checkpoints only
// every 64 MiB nothing else but the store's sync_interval syncs it.

constexpr auto loss_sync_interval = std::chrono::milliseconds(100);
/// What the bound allows beyond sync_interval: the sync waits for the write
/// in progress to commit, and a thread to be scheduled; generous for a loaded
/// 2-core machine (the simulator's xSync itself takes no time).
constexpr auto loss_slack = std::chrono::milliseconds(150);
constexpr auto loss_bound = loss_sync_interval + loss_slack;
constexpr int loss_max_transactions = 3000;  // a busy child's cap, far above what it commits in time

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<strict_store> open_for_loss_window(const fs::path& path) {
  store_options o;
  o.path = path;
  o.sync = durability::normal;
  o.sync_interval = loss_sync_interval;
  o.create_if_missing = false;
  o.lock_timeout = std::chrono::milliseconds(2000);
  o.max_retries = 0;
  return strict_store::open(o);
}

void acknowledge(int fd, int t) { say(fd, "ack " + std::to_string(t) + " " + std::to_string(steady_ns())); }

/// A busy writer: commits for `run_for`, then arms the power failure `skip`
/// I/O calls ahead and keeps committing until it comes.
int busy_writer(const fs::path& path, std::uint64_t seed, std::chrono::milliseconds run_for, std::uint64_t skip,
                int fd) {
  vecstore_test::power_loss::install(seed, 0, fd);
  auto db = open_for_loss_window(path);
  auto c = db->get_collection("c");
  const auto started = std::chrono::steady_clock::now();
  bool armed = false;
  for (int t = 0; t < loss_max_transactions; ++t) {
    c.add(transaction(t));
    acknowledge(fd, t);
    if (!armed && std::chrono::steady_clock::now() - started >= run_for) {
      vecstore_test::power_loss::crash_after(skip);
      armed = true;
    }
  }
  say(fd, "done io=" + std::to_string(vecstore_test::power_loss::io_calls()));
  return 0;
}

/// A burst, then nothing for `idle` (no write, no read), then the power
/// fails at the next I/O call: only a sync nobody asked for can save the burst.
int idle_writer(const fs::path& path, std::uint64_t seed, int burst, std::chrono::milliseconds idle, int fd) {
  vecstore_test::power_loss::install(seed, 0, fd);
  auto db = open_for_loss_window(path);
  auto c = db->get_collection("c");
  for (int t = 0; t < burst; ++t) {
    c.add(transaction(t));
    acknowledge(fd, t);
  }
  std::this_thread::sleep_for(idle);
  vecstore_test::power_loss::crash_after(1);
  c.add(transaction(burst));
  say(fd, "done io=" + std::to_string(vecstore_test::power_loss::io_calls()));
  return 0;
}

struct timed_run {
  std::map<int, std::int64_t> acknowledged_at;  // transaction -> steady_clock ns
  std::int64_t crashed_at = 0;                  // steady_clock ns; 0: no crash line
};

timed_run parse_timed(const std::string& output) {
  timed_run run;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    int t = 0;
    long long ns = 0;
    if (std::sscanf(line.c_str(), "ack %d %lld", &t, &ns) == 2) run.acknowledged_at[t] = ns;
    const auto at = line.find(" at_ns=");
    if (line.rfind("crash ", 0) == 0 && at != std::string::npos) run.crashed_at = std::stoll(line.substr(at + 7));
  }
  return run;
}

struct loss_window_totals {
  std::size_t crashes = 0, corrupt = 0, acknowledged = 0, past_bound = 0, lost = 0, lost_past_bound = 0;
  double oldest_lost_ms = 0;  // the age at the crash of the oldest lost acknowledged commit
  std::vector<std::string> failures;
};

/// Runs one crashing child on a copy of `base` and judges the store it leaves.
template <class Child>
void crash_and_measure(const fs::path& base, Child&& child, loss_window_totals& totals) {
  temp_dir dir;
  fs::copy_file(base, dir / "store.db");
  const auto r = run_in_child([&](int fd) { return child(dir / "store.db", fd); }, std::chrono::seconds(60));
  const run_log log = parse(r.output);
  const timed_run run = parse_timed(r.output);
  INFO(r.output.substr(r.output.size() > 2000 ? r.output.size() - 2000 : 0));
  REQUIRE_FALSE(r.timed_out);
  REQUIRE(log.error.empty());
  REQUIRE(r.exit_code == vecstore_test::power_loss::crash_exit_code);
  REQUIRE(run.crashed_at > 0);
  ++totals.crashes;
  const verdict v = check_store(dir / "store.db", log.acknowledged);
  if (v.corrupt) {
    ++totals.corrupt;
    totals.failures.push_back(log.crash_line + ": corrupt: " + v.why);
  }
  const auto bound_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(loss_bound).count();
  totals.acknowledged += run.acknowledged_at.size();
  for (const auto& [t, at] : run.acknowledged_at) totals.past_bound += run.crashed_at - at > bound_ns;
  for (const int t : v.lost_transactions) {
    const std::int64_t age = run.crashed_at - run.acknowledged_at.at(t);
    ++totals.lost;
    totals.oldest_lost_ms = std::max(totals.oldest_lost_ms, static_cast<double>(age) / 1e6);
    if (age > bound_ns) {
      ++totals.lost_past_bound;
      if (totals.failures.size() < 5) {
        totals.failures.push_back(log.crash_line + ": transaction " + std::to_string(t) + ", acknowledged " +
                                  std::to_string(age / 1000000) + " ms before the power failed, is lost");
      }
    }
  }
}

void report(const char* name, const loss_window_totals& totals) {
  std::cout << "loss window, durability::normal, sync_interval " << loss_sync_interval.count() << " ms, " << name
            << ": " << totals.crashes << " crashes, " << totals.corrupt << " corrupt, " << totals.lost << " of "
            << totals.acknowledged << " acknowledged transactions lost, " << totals.lost_past_bound << " of the "
            << totals.past_bound << " acknowledged over " << loss_bound.count()
            << " ms before the crash lost; oldest lost: " << totals.oldest_lost_ms << " ms\n";
  for (const auto& f : totals.failures) std::cout << "  " << f << "\n";
}

std::size_t loss_window_runs() { return std::max<std::size_t>(6, crashes_per_mode() / 25); }

}  // namespace

TEST_CASE("simulated power loss: durability::full loses nothing acknowledged and never corrupts the store",
          "[fault][power_loss]") {
  temp_dir dir;
  create_base_store(dir / "base.db");
  const auto totals = crash_many(mode::full, dir / "base.db", crashes_per_mode(), 0xf011);
  CHECK(totals.crashes >= crashes_per_mode());
  CHECK(totals.corrupt == 0);
  CHECK(totals.lost == 0);
  CHECK(totals.acknowledged > 0);
}

TEST_CASE("simulated power loss: durability::normal never corrupts the store; the loss is counted",
          "[fault][power_loss]") {
  temp_dir dir;
  create_base_store(dir / "base.db");
  const auto totals = crash_many(mode::normal, dir / "base.db", crashes_per_mode(), 0x4e0a);
  CHECK(totals.crashes >= crashes_per_mode());
  CHECK(totals.corrupt == 0);
  CHECK(totals.acknowledged > 0);
}

TEST_CASE("simulated power loss with synchronous=OFF corrupts stores: the harness can fail", "[fault][power_loss]") {
  temp_dir dir;
  create_base_store(dir / "base.db");
  const auto totals = crash_many(mode::off_control, dir / "base.db", crashes_per_mode(), 0x0ff);
  CHECK(totals.crashes >= crashes_per_mode());
  CHECK(totals.corrupt > 0);
}

TEST_CASE("simulated power loss: durability::normal loses only commits acknowledged within the last sync_interval",
          "[fault][power_loss]") {
  temp_dir dir;
  create_base_store(dir / "base.db");
  std::mt19937_64 rng(0x5e7c);
  loss_window_totals totals;
  for (std::size_t i = 0; i < loss_window_runs(); ++i) {
    // Several intervals of commits, then the power fails somewhere in one of
    // the next few transactions (or in a sync between them).
    const auto run_for = std::chrono::milliseconds(500 + static_cast<int>(rng() % 400));
    const std::uint64_t skip = 1 + rng() % 60;
    const std::uint64_t seed = rng();
    crash_and_measure(
        dir / "base.db",
        [&](const fs::path& path, int fd) { return busy_writer(path, seed, run_for, skip, fd); }, totals);
  }
  report("busy writer", totals);
  CHECK(totals.corrupt == 0);
  CHECK(totals.past_bound >= 5 * totals.crashes);  // the check below is not vacuous
  CHECK(totals.lost_past_bound == 0);
}

TEST_CASE("simulated power loss: durability::normal syncs a burst within sync_interval when no write follows",
          "[fault][power_loss]") {
  temp_dir dir;
  create_base_store(dir / "base.db");
  std::mt19937_64 rng(0x1d1e);
  loss_window_totals totals;
  constexpr int burst = 20;
  // Longer than the bound with room to spare: nothing the store does inline
  // syncs a burst shorter than the interval, only its thread can.
  constexpr auto idle = std::chrono::milliseconds(600);
  for (std::size_t i = 0; i < (loss_window_runs() + 1) / 2; ++i) {
    const std::uint64_t seed = rng();
    crash_and_measure(
        dir / "base.db", [&](const fs::path& path, int fd) { return idle_writer(path, seed, burst, idle, fd); },
        totals);
  }
  report("a burst, then idle", totals);
  CHECK(totals.corrupt == 0);
  CHECK(totals.acknowledged == static_cast<std::size_t>(burst) * totals.crashes);
  CHECK(totals.past_bound == totals.acknowledged);
  CHECK(totals.lost == 0);
}
