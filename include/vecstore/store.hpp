// SPDX-License-Identifier: MIT
// basic_store, the policy-composed store: it opens and closes the store and
// composes the parts in store/ that do the work (docs/architecture.md):
//   store/connection.hpp     the SQLite connection's life: open, close, fork, a replaced file
//   store/index_keeper.hpp   the in-memory indexes, kept in step through the change sequence
//   store/vectors_cache.hpp  the indexes' vectors file, mapped at open
//   store/write_path.hpp     writes: one transaction each under the writer lock
//   store/wal_syncer.hpp     durability::normal: the WAL synced at least every sync_interval
//   store/read_path.hpp      reads and searches
//   store/health_checks.hpp  what health() and verify() check
//   store/collection.hpp     basic_collection, the handle to one collection
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>


#include <vecstore/detail/detect.hpp>
#include <vecstore/detail/validate.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/health.hpp>
#include <vecstore/index/requirements.hpp>
#include <vecstore/lock/requirements.hpp>
#include <vecstore/options.hpp>
#include <vecstore/recovery/requirements.hpp>
#include <vecstore/recovery/restore_backup.hpp>
#include <vecstore/registry.hpp>
#include <vecstore/storage/backup.hpp>
#include <vecstore/storage/recovery_notice.hpp>
#include <vecstore/storage/sqlite.hpp>
#include <vecstore/store/collection.hpp>
#include <vecstore/store/connection.hpp>
#include <vecstore/store/health_checks.hpp>
#include <vecstore/store/index_keeper.hpp>
#include <vecstore/store/read_path.hpp>
#include <vecstore/store/store_path.hpp>
#include <vecstore/store/wal_syncer.hpp>
#include <vecstore/store/write_path.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {

/// The store: one SQLite file shared safely by threads and processes, with
/// an in-memory index per collection derived from it.
///
/// - LockPolicy (`file_lock`, `named_mutex_lock`, `null_lock`; lock/requirements.hpp): writer exclusion.
/// - IndexPolicy (`flat_index`, `ivf_index`; index/requirements.hpp): the search structure.
/// - RecoveryPolicy (`strict_recovery` and others; recovery/requirements.hpp): what damage triggers.
///
/// Threads: any number may call any member at once; searches run
/// concurrently, writes are serialized. Processes: every write is one
/// `BEGIN IMMEDIATE` transaction under the writer lock; before answering a
/// read, a process applies the commits other processes made since its last
/// read (only the changed rows).
template <class LockPolicy, class IndexPolicy, class RecoveryPolicy>
class basic_store final : public std::enable_shared_from_this<basic_store<LockPolicy, IndexPolicy, RecoveryPolicy>>,
                          private detail::fork_aware {
  static_assert(detail::checked<lock_requirements<LockPolicy>>);
  static_assert(detail::checked<index_requirements<IndexPolicy>>);
  static_assert(detail::checked<recovery_requirements<RecoveryPolicy>>);
  static_assert(!RecoveryPolicy::replaces_file || LockPolicy::cross_process,
                "vecstore: a RecoveryPolicy that replaces the store file needs a cross-process LockPolicy "
                "(not null_lock): another process could otherwise keep writing into the moved file");

  struct private_tag {};

 public:
  using lock_policy = LockPolicy;
  using index_policy = IndexPolicy;
  using recovery_policy = RecoveryPolicy;
  using collection = basic_collection<basic_store>;

  /// Opens (or creates) the store at `options.path`. Returns the instance
  /// already open in this process for the same file (paths are compared
  /// after resolving symlinks and relative parts).
  static std::shared_ptr<basic_store> open(store_options options) {
    check_options(options);
    const std::filesystem::path file = detail::canonical_store_path(options);
    options.path = file;
    const side_files_before before(file);
    try {
      return detail::registry::instance().find_or_open<basic_store>(
          file, [&] { return std::make_shared<basic_store>(private_tag{}, std::move(options)); },
          [&] {
            detail::throw_error<invalid_argument>(
                "store already open", file, "this process has it open as another policy composition",
                "Open each store file with one basic_store type per process");
          });
    } catch (const schema_error&) {
      // Another program's file (or another version's): the lock files this
      // open created go with it, so nothing is left in that program's folder.
      before.remove_created();
      throw;
    }
  }

  basic_store(private_tag, store_options options)
      : options_(std::move(options)),
        conn_(options_),
        keeper_(options_, conn_),
        syncer_(options_, conn_),
        writes_(options_, conn_, keeper_, syncer_),
        reads_(options_, conn_, keeper_) {
    conn_.take_open_lock();
    // Temporary files of backups and recoveries whose process died: ours, never a user's.
    detail::remove_stale_temporaries(options_.path.parent_path());
    detail::remove_stale_temporaries(detail::backup_dir_of(options_.path, options_));
    open_connection();
  }

  basic_store(const basic_store&) = delete;
  basic_store& operator=(const basic_store&) = delete;
  ~basic_store() { close(); }

  const std::filesystem::path& path() const noexcept { return options_.path; }
  const store_options& options() const noexcept { return options_; }

  /// The last recovery the RecoveryPolicy performed for this instance, if any.
  std::optional<recovery_report> last_recovery() const {
    std::lock_guard<std::mutex> guard(conn_.mutex());
    return last_recovery_;
  }

  // --- collections ---------------------------------------------------------------

  /// Creates a collection; `invalid_argument` if the name is taken.
  collection create_collection(std::string name, collection_options options) {
    return handle(writes_.create_collection(name, options, false));
  }

  /// The existing collection `name`; `not_found` otherwise.
  collection get_collection(std::string_view name) {
    detail::check_collection_name(name);
    if (auto row = reads_.find_collection(name)) return handle(*row);
    detail::throw_unknown_collection(options_.path, name);
  }

  /// The collection `name`, created with `options` if it does not exist. An
  /// existing one with another dim or metric is an error, not silently reused.
  /// Finding it is a read: workers that call this at start do not queue
  /// behind a long write for the writer lock.
  collection get_or_create_collection(std::string name, collection_options options) {
    detail::check_collection_name(name);
    detail::check_collection_options(options);
    if (auto row = reads_.find_collection(name)) {
      detail::check_collection_matches(options_.path, *row, options);
      return handle(*row);
    }
    return handle(writes_.create_collection(name, options, true));
  }

  /// Deletes a collection and all its records; `not_found` if absent.
  void delete_collection(std::string_view name) { writes_.delete_collection(name); }

  /// Creates, replaces or merges into several collections with their records
  /// in one write transaction: all of it or, on any error, nothing (the store
  /// stays as it was). Names, options and every batch are checked as
  /// create_collection and add check them before the write starts; a name the
  /// store has is handled as each import's `if_exists` says. Throws what
  /// create_collection, delete_collection and add throw.
  void import_collections(const std::vector<collection_import>& imports) { writes_.import_collections(imports); }

  /// Every collection with its record count, by name.
  std::vector<collection_info> list_collections() { return reads_.list_collections(); }

  // --- health and backups ----------------------------------------------------------

  /// Clears the record of the last recovery that health() shows, in every
  /// process, once an operator has looked at it. Returns false when there
  /// was none.
  bool acknowledge_recovery() {
    const bool had = writes_.exclusively("cannot clear the recovery notice", [&] {
      keeper_.ensure_usable_locked();
      return detail::clear_recovery_notice(conn_.get());
    });
    // The next health() must not return a cached report that still shows it.
    std::lock_guard<std::mutex> db_guard(conn_.mutex());
    last_health_.reset();
    return had;
  }

  /// Runs the health checks, or returns the last report if it is younger than
  /// `health_check_interval` (unless `force`).
  health_report health(bool force = false) {
    {
      std::lock_guard<std::mutex> db_guard(conn_.mutex());
      const auto now = std::chrono::system_clock::now();
      if (!force && last_health_ && now - last_health_->checked_at < options_.health_check_interval) {
        return *last_health_;
      }
    }
    health_report report = detail::run_health_checks(false, options_, writes_.lock(), conn_, keeper_);
    std::lock_guard<std::mutex> db_guard(conn_.mutex());
    last_health_ = report;
    return report;
  }

  /// The deep check: everything health() checks, with a full integrity_check
  /// instead of quick_check and every stored embedding verified against its
  /// checksum. O(file size); never cached.
  health_report verify() { return detail::run_health_checks(true, options_, writes_.lock(), conn_, keeper_); }

  /// An online, consistent backup: SQLite's backup API in one step (other
  /// processes keep writing), into backup_dir under a timestamped name via a
  /// temporary file and a rename, verified (quick_check, every checksum,
  /// counts) before it counts; only the newest backups_to_keep are kept.
  backup_info backup() {
    std::lock_guard<std::mutex> db_guard(conn_.mutex());
    keeper_.refresh_locked();
    return detail::with_retries(options_, options_.path, "cannot back up the store", [&] {
      return detail::make_backup(conn_->handle(), options_.path, detail::backup_dir_of(options_.path, options_),
                                 options_.backups_to_keep);
    });
  }

  /// The completed backups of this store, newest first.
  std::vector<backup_info> backups() const {
    return detail::list_backups(options_.path, detail::backup_dir_of(options_.path, options_));
  }

  /// Replaces the store with `backup` (a file made by backup()). The backup
  /// is verified first (integrity_check and every checksum) and nothing
  /// changes if it fails; then the current file is quarantined
  /// ("<file>.corrupt-<time>", never deleted) and a copy of the backup put in
  /// its place under the writer lock. Other processes notice the new file on
  /// their next read or write and reload.
  recovery_report restore(const std::filesystem::path& backup) {
    return writes_.exclusively("cannot restore the store", [&] {
      keeper_.ensure_usable_locked();
      const detail::verify_result verified = detail::verify_store_file(backup, true);
      if (!verified.ok) {
        detail::throw_error<corruption_error>("cannot restore from this backup", backup, verified.problem,
                                              "Nothing was changed; pick another backup (backups() lists them)");
      }
      recovery_report report;
      report.policy = "restore";
      report.action = "restored";
      const auto started = std::chrono::steady_clock::now();
      conn_.drop();
      detail::install_verified_backup(backup, verified, options_.path, report);
      open_and_load(true);
      report.duration =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      last_recovery_ = report;
      return report;
    });
  }

  /// Rewrites the file without free pages (VACUUM; record and collection ids
  /// are INTEGER PRIMARY KEYs, so they survive it) and truncates the WAL.
  /// Holds the writer lock meanwhile; readers elsewhere keep reading.
  void compact() {
    writes_.exclusively("cannot compact the store", [&] {
      keeper_.refresh_locked();
      detail::with_retries(options_, options_.path, "cannot compact the store", [&] {
        conn_->clear_cache();  // VACUUM needs every statement finalized
        conn_->exec("VACUUM");
        conn_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
        return true;
      });
    });
  }

  /// Closes the connection (syncing and checkpointing the WAL) and releases
  /// the lock file. Later calls on this instance throw. Also run by the destructor.
  void close() noexcept {
    detail::registry::instance().close(options_.path, this, [&] {
      {
        std::lock_guard<std::mutex> db_guard(conn_.mutex());
        syncer_.close_locked();  // the checkpoint below does not run while another process reads
        keeper_.clear();
        conn_.close();
      }
      syncer_.stop();  // its thread waits for the mutex released above
    });
  }

 private:
  friend collection;
  friend class detail::registry;  // reaches the private fork_aware base

  // basic_collection's way in.
  detail::write_path<LockPolicy, IndexPolicy>& writes() noexcept { return writes_; }
  detail::read_path<IndexPolicy>& reads() noexcept { return reads_; }

  collection handle(const detail::collection_row& row) {
    return collection(this->shared_from_this(),
                      detail::collection_ref{row.collection_id, row.name, collection_options{row.dim, row.space}});
  }

  // --- opening -----------------------------------------------------------------

  /// Which of the lock files beside a store existed before an open.
  struct side_files_before {
    explicit side_files_before(const std::filesystem::path& file)
        : lock(detail::side_file(file, ".lock")),
          open(detail::side_file(file, ".open")),
          had_lock(std::filesystem::exists(lock)),
          had_open(std::filesystem::exists(open)) {}

    void remove_created() const noexcept {
      std::error_code ec;
      if (!had_lock) std::filesystem::remove(lock, ec);
      if (!had_open) std::filesystem::remove(open, ec);
    }

    std::filesystem::path lock, open;
    bool had_lock, had_open;
  };

  static void check_options(const store_options& o) {
    const auto bad = [](const std::string& why, const std::string& todo) {
      detail::throw_error<invalid_argument>("invalid store options", {}, why, todo);
    };
    if (o.path.empty()) bad("path is empty", "Set store_options::path to the store file");
    if (o.max_retries < 0) bad("max_retries is negative", "Use 0 for no retries");
    if (o.retry_delay.count() < 0 || o.lock_timeout.count() < 0) bad("a negative duration", "Use durations >= 0");
    if (o.sync_interval.count() < 0) {
      bad("sync_interval is negative",
          "Use 0 to sync the WAL after every commit, or a positive interval (the default is 1 s)");
    }
    if (o.backups_to_keep < 1) bad("backups_to_keep is below 1", "Keep at least one backup");
  }

  /// Opens the connection, creates or checks the schema and loads every
  /// collection's index. Damage found on the way goes to the RecoveryPolicy
  /// (or straight to the caller with auto_recover off), and opening is tried
  /// once more after a recovery.
  void open_connection() {
    try {
      open_and_load();
    } catch (const corruption_error& e) {
      conn_.disconnect();
      if (!options_.auto_recover) throw;
      recovery_context ctx{options_.path, &options_, e.what()};
      std::unique_lock<LockPolicy> writer = writes_.acquire_writer("cannot recover the store");
      last_recovery_ = RecoveryPolicy::recover(ctx);
      last_recovery_->at = std::chrono::system_clock::now();
      open_and_load(true);
      detail::write_recovery_notice(conn_.get(), *last_recovery_);
    }
  }

  void open_and_load(bool writer_held = false) {
    try {
      const bool unclean = conn_.connect();
      if (conn_.needs_migration()) {
        std::unique_lock<LockPolicy> writer;
        if (!writer_held) writer = writes_.acquire_writer("cannot migrate the store");
        conn_.migrate();
      } else {
        conn_.prepare_schema();
      }
      // Reading the whole file through mmap instead of one pread per page
      // halves the time to load a large store. Only while loading: a mapping
      // turns an I/O error into SIGBUS, where pread gives an error we report.
      conn_->exec("PRAGMA mmap_size = 2147418112");
      conn_.check_pages_at_open(unclean);
      keeper_.rebuild_locked();
      conn_->exec("PRAGMA mmap_size = 0");
    } catch (const SQLite::Exception& e) {
      detail::rethrow_sqlite(e, options_.path, "cannot open the store");
    }
  }

  // --- fork() (detail::fork_aware: called by the registry's pthread_atfork handlers) ----

  void before_fork() noexcept override {
    writes_.mutex().lock();
    syncer_.stop();  // no thread in the child; none restarts: commits need the write mutex
    conn_.mutex().lock();
    syncer_.sync_locked();  // dropping the connection below does not sync the WAL
    keeper_.before_fork();
    conn_.before_fork();
  }

  void after_fork(bool in_child) noexcept override {
    if (in_child) conn_.after_fork_in_child();
    keeper_.after_fork(in_child);
    conn_.mutex().unlock();
    writes_.mutex().unlock();
  }

  store_options options_;
  detail::store_connection conn_;
  detail::index_keeper<IndexPolicy> keeper_;
  detail::wal_syncer syncer_;
  detail::write_path<LockPolicy, IndexPolicy> writes_;
  detail::read_path<IndexPolicy> reads_;
  std::optional<health_report> last_health_;      // guarded by conn_.mutex()
  std::optional<recovery_report> last_recovery_;  // guarded by conn_.mutex()
};

}  // namespace v0
}  // namespace vecstore
