// SPDX-License-Identifier: MIT
// The SQLite connection: opening with the right pragmas, cached statements,
// write transactions, retries, and translation of SQLite errors into vecstore's.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include <sys/stat.h>

#include <sqlite3.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <vecstore/errors.hpp>
#include <vecstore/options.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// True for the errors a retry may cure: another connection held the database.
inline bool is_busy(int extended_code) noexcept {
  const int primary = extended_code & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

/// Rethrows a SQLite failure as the vecstore error a caller can act on,
/// keeping the original as a nested exception. Called only from storage/.
[[noreturn]] inline void rethrow_sqlite(const SQLite::Exception& e, const std::filesystem::path& file,
                                        const std::string& what) {
  const int code = e.getExtendedErrorCode();
  const std::string why = std::string(e.what()) + " [SQLite error " + std::to_string(code) + "]";
  switch (code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      std::throw_with_nested(corruption_error(
          message(what, file, why, "The file is damaged or is not a vecstore store; restore a backup or open it with a recovery policy"),
          file));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      std::throw_with_nested(lock_timeout(
          message(what, file, why, "Another connection kept the database busy; retry later or raise lock_timeout"),
          file));
    case SQLITE_FULL:
      std::throw_with_nested(io_error(
          message(what, file, why, "The disk is full; free space and retry (nothing of this operation was stored)"),
          file));
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
    case SQLITE_AUTH:
      std::throw_with_nested(io_error(
          message(what, file, why, "Check that the file and its folder exist and are readable and writable by this user"),
          file));
    default:
      std::throw_with_nested(io_error(message(what, file, why, "Nothing of this operation was stored"), file));
  }
}

/// A prepared statement borrowed from the connection's cache: reset and
/// unbound when borrowed, reset again when returned, so that no statement
/// keeps a read snapshot open (which would also starve WAL checkpoints).
class borrowed_statement {
 public:
  explicit borrowed_statement(SQLite::Statement& st) : st_(&st) {
    st_->reset();
    st_->clearBindings();
  }
  borrowed_statement(const borrowed_statement&) = delete;
  borrowed_statement& operator=(const borrowed_statement&) = delete;
  ~borrowed_statement() {
    try {
      st_->reset();
    } catch (...) {  // reset reports the last step's error again; it was handled there
    }
  }
  SQLite::Statement* operator->() const noexcept { return st_; }
  SQLite::Statement& operator*() const noexcept { return *st_; }

 private:
  SQLite::Statement* st_;
};

/// Which file a path names right now (device and inode). A store replaced by
/// a recovery or restore in another process has a new identity at the same path.
struct file_identity {
  dev_t device = 0;
  ino_t inode = 0;
  bool operator==(const file_identity& o) const noexcept { return device == o.device && inode == o.inode; }
  bool operator!=(const file_identity& o) const noexcept { return !(*this == o); }
};

/// stat(2) of the path, not of a descriptor: never opens the file.
inline std::optional<file_identity> identity_of(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return std::nullopt;
  return file_identity{st.st_dev, st.st_ino};
}

/// One SQLite connection to a store file. Not thread-safe: the store
/// serializes access to it.
class connection {
 public:
  connection(const std::filesystem::path& file, const store_options& options) : file_(file) {
    int flags = SQLite::OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW;
    if (options.create_if_missing) flags |= SQLite::OPEN_CREATE;
    try {
      db_ = std::make_unique<SQLite::Database>(file.string(), flags,
                                               static_cast<int>(options.lock_timeout.count()));
      db_->exec("PRAGMA foreign_keys = ON");
      db_->exec("PRAGMA trusted_schema = OFF");
      db_->exec(options.sync == durability::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
      // Keep -wal and -shm on close. SQLite otherwise unlinks them BY NAME when
      // the last connection closes; after a recovery in another process moved
      // the store aside, that name belongs to the new store's live WAL.
      int persist = 1;
      sqlite3_file_control(db_->getHandle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
      // ...and truncate the WAL back to at most 64 MiB after checkpoints.
      db_->exec("PRAGMA journal_size_limit = 67108864");
      // Checkpoint when the WAL reaches that size rather than SQLite's 4 MiB:
      // one batch of 1,000 x 768 floats is 3 MiB, so the default copied
      // nearly every batch into the database file, with its own fsync, and
      // rewrote the same b-tree pages again and again.
      db_->exec("PRAGMA wal_autocheckpoint = 16384");
      identity_ = identity_of(file).value_or(file_identity{});
    } catch (const SQLite::Exception& e) {
      rethrow_sqlite(e, file, "cannot open the store");
    }
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  const std::filesystem::path& file() const noexcept { return file_; }
  /// The file this connection opened (its identity when it was opened).
  const file_identity& identity() const noexcept { return identity_; }
  SQLite::Database& db() noexcept { return *db_; }
  sqlite3* handle() const noexcept { return db_->getHandle(); }

  /// A cached prepared statement for `sql`, which must be a string literal
  /// of the storage layer: the cache is keyed by its address, since a
  /// literal's text never changes. Writes borrow a statement per row, so a
  /// lookup must neither allocate nor hash the SQL text.
  borrowed_statement statement(const char* sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) it = cache_.emplace(sql, std::make_unique<SQLite::Statement>(*db_, sql)).first;
    return borrowed_statement(*it->second);
  }

  void exec(const char* sql) { db_->exec(sql); }

  /// Changes when another connection commits; unchanged by this connection's
  /// own commits (SQLite's pragma.html), which the store applies itself.
  std::int64_t data_version() {
    auto st = statement("PRAGMA data_version");
    st->executeStep();
    return st->getColumn(0).getInt64();
  }

  /// Drops every cached statement (before closing, or after a schema change).
  void clear_cache() noexcept { cache_.clear(); }

 private:
  std::filesystem::path file_;
  file_identity identity_;
  std::unique_ptr<SQLite::Database> db_;
  std::unordered_map<const char*, std::unique_ptr<SQLite::Statement>> cache_;  // by the literal's address
};

/// One write transaction, `BEGIN IMMEDIATE` (a deferred one that later writes
/// can fail with SQLITE_BUSY_SNAPSHOT in WAL mode instead of waiting for the lock).
/// Rolled back unless committed, so a failed statement never leaves half a batch.
class write_transaction {
 public:
  explicit write_transaction(connection& c) : c_(c) { c_.exec("BEGIN IMMEDIATE"); }
  write_transaction(const write_transaction&) = delete;
  write_transaction& operator=(const write_transaction&) = delete;
  ~write_transaction() {
    if (open_) {
      try {
        c_.exec("ROLLBACK");
      } catch (...) {  // the connection is closing or the transaction already ended
      }
    }
  }
  void commit() {
    c_.exec("COMMIT");
    open_ = false;
  }

 private:
  connection& c_;
  bool open_ = true;
};

/// Runs `body` (one whole transaction) and retries it while the database is
/// busy: `max_retries` more times, waiting `retry_delay`, doubled each time.
/// SQLite errors become vecstore errors; `what` names the operation.
template <class Body>
auto with_retries(const store_options& options, const std::filesystem::path& file, const std::string& what,
                  Body&& body) -> decltype(body()) {
  auto delay = options.retry_delay;
  for (int attempt = 0;; ++attempt) {
    try {
      return body();
    } catch (const SQLite::Exception& e) {
      if (!is_busy(e.getExtendedErrorCode()) || attempt >= options.max_retries) rethrow_sqlite(e, file, what);
    }
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
