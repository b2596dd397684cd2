// SPDX-License-Identifier: MIT
// wal_syncer: with durability::normal, syncs the WAL at least every
// store_options::sync_interval, so that a power loss takes only the commits
// of the last interval.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <system_error>

#include <unistd.h>

#include <sqlite3.h>

#include <vecstore/detail/joining_thread.hpp>
#include <vecstore/options.hpp>
#include <vecstore/store/connection.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Why: with `PRAGMA synchronous = NORMAL` SQLite writes each commit into the
/// WAL without an fsync and syncs the WAL only at a checkpoint (every 64 MiB
/// here, storage/sqlite.hpp) or at close, so a power loss could take every
/// commit since the last checkpoint, however old.
///
/// The rule: no commit stays unsynced longer than sync_interval. Two triggers
/// keep it, both with the connection's mutex held (the connection is not
/// thread-safe):
///  - a commit made when the oldest unsynced one is sync_interval old syncs
///    inline, so a busy writer keeps the bound even while the thread below
///    waits for the mutex the writer keeps taking;
///  - a thread of this store waits until the oldest unsynced commit is
///    sync_interval old and syncs then, so a store that went idle after a
///    burst is synced too. It starts at the first unsynced commit, is
///    stopped and joined before fork() (the child would not have it) and at
///    close(), and never runs with durability::full, where SQLite syncs
///    within each commit.
///
/// The sync is the VFS's own xSync of the WAL's sqlite3_file, the call SQLite
/// makes at a checkpoint: an fsync() of the descriptor made outside SQLite
/// would bypass any VFS (and the tests' power-loss simulator).
///
/// Every member but stop() requires the connection's mutex; the thread waits
/// on that mutex too, so the state needs no lock of its own.
class wal_syncer {
 public:
  using clock = std::chrono::steady_clock;

  wal_syncer(const store_options& options, store_connection& conn)
      : options_(options),
        conn_(conn),
        interval_(std::min<std::chrono::milliseconds>(options.sync_interval, std::chrono::hours(24 * 365))) {}
  wal_syncer(const wal_syncer&) = delete;
  wal_syncer& operator=(const wal_syncer&) = delete;
  /// Its owner stops it first (close()); this only covers an owner whose
  /// constructor threw.
  ~wal_syncer() { stop(); }

  /// After each commit of this connection: keeps the bound, inline or by
  /// waking the thread. Never throws: the commit is made already.
  void committed_locked() noexcept {
    if (options_.sync != durability::normal) return;
    const auto now = clock::now();
    if (!pending_) {
      pending_ = true;
      oldest_unsynced_ = now;
      wake_.notify_one();  // the thread waits without a deadline while nothing is pending
    }
    if (now - oldest_unsynced_ >= interval_) {
      sync_locked();
      return;
    }
    if (running_ || stop_) return;
    try {
      thread_.start([this] { run(); });
      running_ = true;
    } catch (const std::system_error&) {  // no thread to be had: keep the bound inline instead
      sync_locked();
    }
  }

  /// Syncs the WAL now if a commit waits for it: also before the connection
  /// is dropped for a fork, and at close, where a checkpoint may not run
  /// (another process reading keeps it from finishing).
  void sync_locked() noexcept {
    if (!pending_) return;
    if (!conn_.is_open() || conn_.owner_pid() != ::getpid()) {
      pending_ = false;  // that connection's WAL is not ours to sync
      return;
    }
    sqlite3_file* wal = nullptr;
    const int found = sqlite3_file_control(conn_->handle(), "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
    // No WAL open (nothing written through it yet): nothing to sync.
    if (found == SQLITE_OK && wal != nullptr && wal->pMethods != nullptr &&
        wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) != SQLITE_OK) {
      // Tried again one interval later (by the thread or the next commit);
      // a checkpoint, which syncs the WAL itself, would report the failure.
      oldest_unsynced_ = clock::now();
      return;
    }
    pending_ = false;
  }

  /// At close(), after the last sync: the thread ends and never starts again.
  void close_locked() noexcept {
    sync_locked();
    closed_ = stop_ = true;
    wake_.notify_all();
  }

  /// Without the connection's mutex: ends the thread and waits for it.
  /// Before fork(), the caller holds the write mutex, so no commit starts it
  /// again before the fork; afterwards the next unsynced commit starts it.
  void stop() noexcept {
    {
      std::lock_guard<std::mutex> guard(conn_.mutex());
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    std::lock_guard<std::mutex> guard(conn_.mutex());
    running_ = false;
    stop_ = closed_;
  }

 private:
  /// The thread: sleeps until the oldest unsynced commit is sync_interval old.
  void run() {
    std::unique_lock<std::mutex> lock(conn_.mutex());
    while (!stop_) {
      if (!pending_) {
        wake_.wait(lock);
        continue;
      }
      const auto due = oldest_unsynced_ + interval_;
      if (clock::now() < due) {
        wake_.wait_until(lock, due);
        continue;
      }
      sync_locked();
    }
  }

  const store_options& options_;
  store_connection& conn_;
  // sync_interval, capped at a year so that no time point arithmetic
  // overflows when a huge value stands for "never".
  const std::chrono::milliseconds interval_;
  std::condition_variable wake_;  // waited on with conn_.mutex()
  bool pending_ = false;          // a commit not yet synced
  clock::time_point oldest_unsynced_{};
  bool running_ = false;  // the thread was started and not yet joined
  bool stop_ = false;     // the thread must end
  bool closed_ = false;   // close() ran: no thread again
  // Last, so that it is joined before the rest is destroyed.
  joining_thread thread_;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
