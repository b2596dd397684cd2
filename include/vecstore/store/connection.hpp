// SPDX-License-Identifier: MIT
// store_connection: the life of a store's SQLite connection in one process
// (open, schema, close, fork, a file replaced by another process) and the
// open lock that says who has the store open.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include <unistd.h>

#include <vecstore/detail/file_trust.hpp>
#include <vecstore/detail/open_lock.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/options.hpp>
#include <vecstore/storage/backup.hpp>
#include <vecstore/storage/records.hpp>
#include <vecstore/storage/schema.hpp>
#include <vecstore/storage/sqlite.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// "<store><suffix>": the files that live beside a store (".lock", ".open", "-wal", ".vectors").
inline std::filesystem::path side_file(const std::filesystem::path& store_file, const char* suffix) {
  return std::filesystem::path(store_file.string() + suffix);
}

/// The store file as this process holds it: the open lock and one SQLite
/// connection, guarded by `mutex()`. Members named `..._locked`, and every
/// member that touches the connection, require that mutex.
///
/// After fork(), the connection is closed in the parent and the child alike
/// (SQLite state must not cross a fork, howtocorrupt.html §2.6) and reopened
/// on next use; a connection found to read a file that another process
/// replaced (a recovery, a restore) is reopened on the new file.
class store_connection {
 public:
  explicit store_connection(const store_options& options)
      : options_(options), open_lock_(side_file(options.path, ".open")) {}
  store_connection(const store_connection&) = delete;
  store_connection& operator=(const store_connection&) = delete;

  std::mutex& mutex() const noexcept { return mutex_; }
  connection& get() noexcept { return *conn_; }
  connection* operator->() noexcept { return conn_.get(); }
  bool is_open() const noexcept { return conn_ != nullptr; }
  /// The process that opened the connection.
  long owner_pid() const noexcept { return owner_pid_; }

  // --- opening -------------------------------------------------------------

  /// open_mode::exclusive fails at once while any other process has the
  /// store open, and any other open fails while one holds it exclusively.
  void take_open_lock() {
    const auto holder = open_lock_.try_acquire(options_.mode);
    if (!holder) return;
    const std::string who = *holder > 0 ? "process " + std::to_string(*holder) : std::string("another process");
    if (options_.mode == open_mode::exclusive) {
      throw_error<store_locked>("cannot open the store exclusively", options_.path, who + " has it open",
                                "Close it there first, or open it in open_mode::shared");
    }
    throw_error<store_locked>("cannot open the store", options_.path, who + " holds it exclusively",
                              "Wait until that process closes it");
  }

  /// Opens the connection, creating the file if it is missing. Returns true
  /// when the last process to use the store did not close it cleanly (its
  /// WAL is not empty: closed connections truncate it to 0 bytes).
  bool connect() {
    const bool created = !std::filesystem::exists(options_.path);
    if (!created) check_not_emptied();
    std::error_code ec;
    const auto wal_bytes = std::filesystem::file_size(side_file(options_.path, "-wal"), ec);
    const bool unclean = !ec && wal_bytes > 0;
    owner_pid_ = ::getpid();
    damage_.clear();
    conn_ = std::make_unique<connection>(options_.path, options_);
    if (created) restrict_permissions();
    // Checked by name before (store_path.hpp); again now that SQLite opened
    // it, in case another user created it in between.
    check_trusted(options_.path, "store file");
    return unclean;
  }

  /// Creates the schema of a new store, or checks an existing one's;
  /// `needs_migration()` stores are migrated by `migrate()` instead.
  void prepare_schema() {
    detail::prepare_schema(*conn_);
    data_version_ = conn_->data_version();
  }
  bool needs_migration() { return detail::needs_migration(*conn_); }

  /// Migrates an older store, after a backup. Requires the writer lock: the
  /// version is read again under it, so when several processes open an old
  /// store at once exactly one backs it up and migrates it.
  void migrate() {
    if (detail::needs_migration(*conn_)) {
      make_backup(conn_->handle(), options_.path, backup_dir_of(options_.path, options_), options_.backups_to_keep);
    }
    prepare_schema();
  }

  /// Page-level damage that checksums cannot see (documents, metadata, index
  /// b-trees). integrity_check also compares indexes with their tables, which
  /// quick_check does not; it costs O(N log N), so it runs at open only while
  /// the file is small (integrity_check_limit). quick_check runs up to
  /// quick_check_limit, and on any size after an unclean shutdown; a large
  /// store closed cleanly skips it at open, where it would cost as much as
  /// loading every vector (health() still runs it).
  void check_pages_at_open(bool unclean) {
    const std::int64_t bytes = pragma_int(*conn_, "PRAGMA page_count") * pragma_int(*conn_, "PRAGMA page_size");
    if (bytes > quick_check_limit && !unclean) return;
    const bool full = bytes <= integrity_check_limit;
    const std::string result = page_check(*conn_, full);
    if (result != "ok") {
      throw_error<corruption_error>("the store file is damaged", options_.path,
                                    std::string(full ? "integrity_check" : "quick_check") + " reports: " + result,
                                    repair_advice);
    }
  }

  // --- closing ---------------------------------------------------------------

  /// Closes the SQLite connection, checkpointing the WAL when it can.
  void disconnect() noexcept {
    if (!conn_) return;
    if (owner_pid_ != ::getpid()) {
      // Forked without our fork handlers (a raw clone): closing an inherited
      // SQLite connection is unsafe (howtocorrupt.html §2.6); leave it to the parent.
      (void)conn_.release();
      return;
    }
    try {
      conn_->clear_cache();
      conn_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (...) {  // another connection is reading; the last one out checkpoints
    }
    conn_.reset();
  }

  /// Closes the connection without a checkpoint, to open another file in its
  /// place (a restore) or the same file again (after a fork).
  void drop() noexcept {
    if (!conn_) return;
    conn_->clear_cache();
    conn_.reset();
  }

  /// Disconnects for good and releases the open lock.
  void close() noexcept {
    reconnect_after_fork_ = false;
    disconnect();
    open_lock_.release();
  }

  // --- staying usable ----------------------------------------------------------

  /// True when a fork closed the connection and it must be opened again
  /// (`reconnect()`) before use.
  bool must_reconnect() const noexcept { return !conn_ && reconnect_after_fork_; }

  /// Throws unless the connection is open and used in the process that opened it.
  void check_usable() const {
    if (!conn_) {
      throw_error<closed_error>("the store is closed", options_.path, "close() was called",
                                "Open the store again with vecstore::open");
    }
    if (owner_pid_ != ::getpid()) {
      throw_error<closed_error>(
          "the store was opened in another process", options_.path,
          "it was opened in process " + std::to_string(owner_pid_) + " and is used in " + std::to_string(::getpid()) +
              " after a fork that bypassed pthread_atfork handlers",
          "Open the store in the child process instead of using the parent's instance");
    }
  }

  /// Damage a check found in the file while this process had it open: from
  /// then on nothing is written into it (`check_writable`) until the store is
  /// opened again, which hands the damage to the RecoveryPolicy.
  void mark_damaged(std::string what) { damage_ = std::move(what); }

  void check_writable() const {
    if (damage_.empty()) return;
    throw_error<corruption_error>("the store file is damaged; nothing more is written into it", options_.path,
                                  damage_,
                                  "Close the store in every process and open it again: its recovery policy "
                                  "runs at open");
  }

  /// A new connection, after a fork or to follow a replaced file. Never
  /// creates the file: an empty store must not appear in a moved one's place.
  void reconnect() {
    if (owner_pid_ != ::getpid()) {  // the child: the parent's open lock is not ours
      owner_pid_ = ::getpid();
      take_open_lock();
    }
    store_options reopen = options_;
    reopen.create_if_missing = false;
    conn_ = std::make_unique<connection>(options_.path, reopen);
    reconnect_after_fork_ = false;
    data_version_ = -1;
  }

  /// When another process recovered or restored the store, the path names a
  /// new file and this connection still reads the quarantined one: reconnect,
  /// so nothing is served from, or written into, the old file. Returns true
  /// when it reconnected. The new file appears by an atomic rename; while the
  /// path is briefly missing (between quarantine and rename) waits up to
  /// lock_timeout.
  bool follow_replaced_file() {
    const auto deadline = std::chrono::steady_clock::now() + options_.lock_timeout;
    auto now = identity_of(options_.path);
    while (!now && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      now = identity_of(options_.path);
    }
    if (!now) {
      throw_error<io_error>("the store file is gone", options_.path,
                            "it was moved or deleted while open and did not reappear",
                            "Check the folder; a quarantined copy is named <file>.corrupt-<time>");
    }
    if (*now == conn_->identity()) return false;
    drop();
    reconnect();
    damage_.clear();  // found in the file replaced
    return true;
  }

  /// True when another connection committed since the last call (or since
  /// a reconnect). `PRAGMA data_version` does not move for this connection's
  /// own commits; the store applies those itself.
  bool others_committed() {
    const std::int64_t version =
        with_retries(options_, options_.path, "cannot read the store", [&] { return conn_->data_version(); });
    if (version == data_version_) return false;
    data_version_ = version;
    return true;
  }

  /// Runs `body(tables)` in one read snapshot (a deferred read transaction),
  /// so that the values read together belong to one commit.
  template <class Body>
  auto read_snapshot(const std::string& what, Body&& body) {
    return with_retries(options_, options_.path, what, [&] {
      record_tables tables(*conn_);
      conn_->exec("BEGIN");
      try {
        auto result = body(tables);
        conn_->exec("COMMIT");
        return result;
      } catch (...) {
        conn_->exec("ROLLBACK");
        throw;
      }
    });
  }

  // --- fork() ------------------------------------------------------------------

  /// Before fork(), with the mutex held: close the connection, to be opened
  /// again on next use on both sides.
  void before_fork() noexcept {
    if (conn_ && owner_pid_ == ::getpid()) {
      drop();
      reconnect_after_fork_ = true;
    }
  }

  /// After fork(), in the child: the open lock descriptor is the parent's;
  /// the child takes its own when it reconnects.
  void after_fork_in_child() noexcept { open_lock_.release(); }

 private:
  /// SQLite takes a zero-length file for a new database, and a store
  /// truncated to nothing would silently reopen empty. An empty file is a new
  /// store only when nothing says a store was there: no backups, an empty or
  /// missing WAL, and create_if_missing set; otherwise it is damage.
  void check_not_emptied() const {
    std::error_code ec;
    if (std::filesystem::file_size(options_.path, ec) != 0 || ec) return;
    const auto wal = std::filesystem::file_size(side_file(options_.path, "-wal"), ec);
    const bool wal_holds_data = !ec && wal > 0;
    const bool has_backups = !list_backups(options_.path, backup_dir_of(options_.path, options_)).empty();
    if (!wal_holds_data && !has_backups && options_.create_if_missing) return;
    throw_error<corruption_error>(
        "the store file is empty", options_.path,
        std::string("it has 0 bytes, but ") +
            (has_backups ? "backups of it exist" : wal_holds_data ? "its WAL holds data" : "create_if_missing is off"),
        "Restore a backup or open the store with a recovery policy; nothing was created in its place");
  }

  /// New store files are owner-only, so that other users of the machine
  /// cannot read the records (docs/operations.md). chmod does not open the
  /// file, so SQLite's locks are not disturbed; -wal and -shm take the
  /// database file's mode when SQLite creates them.
  void restrict_permissions() const {
    std::error_code ec;
    std::filesystem::permissions(options_.path,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::replace, ec);
  }

  const store_options& options_;
  open_lock open_lock_;
  mutable std::mutex mutex_;
  std::unique_ptr<connection> conn_;
  bool reconnect_after_fork_ = false;
  long owner_pid_ = 0;
  std::int64_t data_version_ = -1;
  std::string damage_;  // what a check found wrong with the file; empty while none
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
