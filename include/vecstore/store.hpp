// SPDX-License-Identifier: MIT
// basic_store, the policy-composed store, and basic_collection, the handle
// through which records are written, read and searched.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <vecstore/detail/detect.hpp>
#include <vecstore/detail/id_table.hpp>
#include <vecstore/detail/joining_thread.hpp>
#include <vecstore/detail/load_pipeline.hpp>
#include <vecstore/detail/open_lock.hpp>
#include <vecstore/detail/tsan.hpp>
#include <vecstore/detail/validate.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/health.hpp>
#include <vecstore/index/requirements.hpp>
#include <vecstore/lock/requirements.hpp>
#include <vecstore/options.hpp>
#include <vecstore/recovery/requirements.hpp>
#include <vecstore/registry.hpp>
#include <vecstore/recovery/restore_backup.hpp>
#include <vecstore/storage/backup.hpp>
#include <vecstore/storage/records.hpp>
#include <vecstore/storage/schema.hpp>
#include <vecstore/storage/sqlite.hpp>
#include <vecstore/storage/vectors_file.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {

/// A handle to one collection of a store. Cheap to copy; it keeps the store
/// open. Every call checks that the collection still exists (another process
/// may have deleted it) and throws `not_found` otherwise.
template <class Store>
class basic_collection {
 public:
  const std::string& name() const noexcept { return name_; }
  std::size_t dim() const noexcept { return options_.dim; }
  metric space() const noexcept { return options_.space; }

  /// Adds new records, all or none. A record whose id exists is an error
  /// (`duplicate_id`), as is an id repeated within the batch.
  void add(const std::vector<record>& records) { store_->add_records(*this, records, write_kind::add); }
  /// Adds records, or replaces existing ones entirely (embedding, document
  /// and metadata; what the new record lacks is removed).
  void upsert(const std::vector<record>& records) { store_->add_records(*this, records, write_kind::upsert); }
  /// Changes existing records: the embedding if given (non-empty), the
  /// document if set, and the metadata keys given (other keys are kept).
  /// An id that does not exist is an error (`not_found`); nothing is written.
  void update(const std::vector<record>& records) { store_->add_records(*this, records, write_kind::update); }

  /// Removes the records with these ids; absent ids are ignored. Returns how many were removed.
  std::size_t remove(const std::vector<std::string>& ids) { return store_->remove_ids(*this, ids); }
  /// Removes every record matching the filters; at least one must be non-empty.
  std::size_t remove(const filter& where, const document_filter& where_document = {}) {
    return store_->remove_matching(*this, where, where_document);
  }

  /// Reads records by id (in the order given; absent ids are skipped).
  std::vector<record> get(const std::vector<std::string>& ids,
                          include fields = include::documents | include::metadatas) {
    get_options o;
    o.ids = ids;
    o.fields = fields;
    return store_->get_records(*this, o);
  }
  /// Reads records by ids and/or filters, with limit and offset.
  std::vector<record> get(const get_options& options) { return store_->get_records(*this, options); }

  /// Number of records (with or without an embedding).
  std::size_t count() { return store_->count_records(*this); }

  /// The given ids that have no stored embedding: absent, or stored without
  /// one. What an ingestion job embeds next ("fill missing embeddings").
  std::vector<std::string> missing(const std::vector<std::string>& ids) { return store_->missing_ids(*this, ids); }

  /// The k nearest records to one embedding, nearest first.
  std::vector<hit> query(const std::vector<float>& embedding, const query_options& options = {}) {
    return std::move(store_->query_many(*this, {&embedding}, options).front());
  }
  /// The k nearest records to each embedding: one list of hits per query.
  std::vector<std::vector<hit>> query(const std::vector<std::vector<float>>& embeddings,
                                      const query_options& options = {}) {
    std::vector<const std::vector<float>*> queries;
    queries.reserve(embeddings.size());
    for (const auto& e : embeddings) queries.push_back(&e);
    return store_->query_many(*this, queries, options);
  }

 private:
  friend Store;
  enum class write_kind { add, upsert, update };

  basic_collection(std::shared_ptr<Store> store, std::int64_t id, std::string name, collection_options options)
      : store_(std::move(store)), id_(id), name_(std::move(name)), options_(options) {}

  std::shared_ptr<Store> store_;
  std::int64_t id_;
  std::string name_;
  collection_options options_;
};

/// The store: one SQLite file shared safely by threads and processes, with
/// an in-memory index per collection derived from it.
///
/// - LockPolicy (`file_lock`, `null_lock`; lock/requirements.hpp): writer exclusion.
/// - IndexPolicy (`flat_index`; index/requirements.hpp): the search structure.
/// - RecoveryPolicy (`strict_recovery`; recovery/requirements.hpp): what damage triggers.
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
  /// An index that shares derived state (a quantizer) through SQLite; see
  /// the persistent-index extension in index/requirements.hpp.
  static constexpr bool persistent_index = detail::is_persistent_index_v<IndexPolicy>;
  static constexpr bool mappable_index = detail::is_mappable_index_v<IndexPolicy>;

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
    const std::filesystem::path file = canonical_store_path(options);
    options.path = file;
    return detail::registry::instance().find_or_open<basic_store>(
        file, [&] { return std::make_shared<basic_store>(private_tag{}, std::move(options)); },
        [&] {
          detail::throw_error<invalid_argument>(
              "store already open", file, "this process has it open as another policy composition",
              "Open each store file with one basic_store type per process");
        });
  }

  basic_store(private_tag, store_options options)
      : options_(std::move(options)),
        lock_(side_file(options_.path, ".lock")),
        open_lock_(side_file(options_.path, ".open")) {
    take_open_lock();
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
    std::lock_guard<std::mutex> guard(db_mutex_);
    return last_recovery_;
  }

  /// Creates a collection; `invalid_argument` if the name is taken.
  collection create_collection(std::string name, collection_options options) {
    return make_collection(std::move(name), options, false);
  }

  /// The existing collection `name`; `not_found` otherwise.
  collection get_collection(std::string_view name) {
    detail::check_collection_name(name);
    std::lock_guard<std::mutex> db_guard(db_mutex_);
    refresh_locked();
    std::shared_lock<std::shared_mutex> state_guard(state_mutex_);
    for (const auto& [id, state] : collections_) {
      if (state.row.name == name) return handle(state.row);
    }
    throw_unknown_collection(name);
  }

  /// The collection `name`, created with `options` if it does not exist. An
  /// existing one with another dim or metric is an error, not silently reused.
  collection get_or_create_collection(std::string name, collection_options options) {
    return make_collection(std::move(name), options, true);
  }

  /// Deletes a collection and all its records; `not_found` if absent.
  void delete_collection(std::string_view name) {
    detail::check_collection_name(name);
    write("cannot delete the collection", [&](detail::record_tables& t, std::int64_t) {
      const auto row = t.find_collection(name);
      if (!row) throw_unknown_collection(name);
      t.delete_collection(row->collection_id);
    });
  }

  /// Every collection with its record count, by name.
  std::vector<collection_info> list_collections() {
    std::lock_guard<std::mutex> db_guard(db_mutex_);
    refresh_locked();
    return read_snapshot("cannot list collections", [&](detail::record_tables& t) {
      std::vector<collection_info> out;
      for (const auto& row : t.collections()) {
        out.push_back(collection_info{row.name, row.dim, row.space, t.count_records(row.collection_id)});
      }
      return out;
    });
  }

  /// Runs the health checks, or returns the last report if it is younger than
  /// `health_check_interval` (unless `force`).
  health_report health(bool force = false) {
    {
      std::lock_guard<std::mutex> db_guard(db_mutex_);
      const auto now = std::chrono::system_clock::now();
      if (!force && last_health_ && now - last_health_->checked_at < options_.health_check_interval) {
        return *last_health_;
      }
    }
    health_report report = run_health_checks(false);
    std::lock_guard<std::mutex> db_guard(db_mutex_);
    last_health_ = report;
    return report;
  }

  /// An online, consistent backup: SQLite's backup API in one step (other
  /// processes keep writing), into backup_dir under a timestamped name via a
  /// temporary file and a rename, verified (quick_check, every checksum,
  /// counts) before it counts; only the newest backups_to_keep are kept.
  backup_info backup() {
    std::lock_guard<std::mutex> db_guard(db_mutex_);
    refresh_locked();
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
    std::lock_guard<std::mutex> writers(write_mutex_);
    std::unique_lock<LockPolicy> writer = acquire_writer("cannot restore the store");
    std::lock_guard<std::mutex> db_guard(db_mutex_);
    check_usable_locked();
    const detail::verify_result verified = detail::verify_store_file(backup, true);
    if (!verified.ok) {
      detail::throw_error<corruption_error>("cannot restore from this backup", backup, verified.problem,
                                            "Nothing was changed; pick another backup (backups() lists them)");
    }
    recovery_report report;
    report.policy = "restore";
    report.action = "restored";
    const auto started = std::chrono::steady_clock::now();
    conn_->clear_cache();
    conn_.reset();
    detail::install_verified_backup(backup, verified, options_.path, report);
    open_and_load(true);
    report.duration =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    last_recovery_ = report;
    return report;
  }

  /// The deep check: everything health() checks, with a full integrity_check
  /// instead of quick_check and every stored embedding verified against its
  /// checksum. O(file size); never cached.
  health_report verify() { return run_health_checks(true); }

  /// Rewrites the file without free pages (VACUUM; record and collection ids
  /// are INTEGER PRIMARY KEYs, so they survive it) and truncates the WAL.
  /// Holds the writer lock meanwhile; readers elsewhere keep reading.
  void compact() {
    std::lock_guard<std::mutex> writers(write_mutex_);
    std::unique_lock<LockPolicy> writer = acquire_writer("cannot compact the store");
    std::lock_guard<std::mutex> db_guard(db_mutex_);
    refresh_locked();
    detail::with_retries(options_, options_.path, "cannot compact the store", [&] {
      conn_->clear_cache();  // VACUUM needs every statement finalized
      conn_->exec("VACUUM");
      conn_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
      return true;
    });
  }

  /// Closes the connection (checkpointing the WAL) and releases the lock
  /// file. Later calls on this instance throw. Also run by the destructor.
  void close() noexcept {
    detail::registry::instance().close(options_.path, this, [&] {
      std::lock_guard<std::mutex> db_guard(db_mutex_);
      close_connection_locked();
    });
  }

 private:
  friend collection;
  friend class detail::registry;  // reaches the private fork_aware base
  using write_kind = typename collection::write_kind;

  struct collection_state {
    detail::collection_row row;
    IndexPolicy index;
    detail::id_table ids;  // row id -> record id, for hits

    explicit collection_state(detail::collection_row r) : row(std::move(r)), index(row.dim, row.space) {}
  };

  // --- opening and closing -------------------------------------------------

  static void check_options(const store_options& o) {
    const auto bad = [](const std::string& why, const std::string& todo) {
      detail::throw_error<invalid_argument>("invalid store options", {}, why, todo);
    };
    if (o.path.empty()) bad("path is empty", "Set store_options::path to the store file");
    if (o.max_retries < 0) bad("max_retries is negative", "Use 0 for no retries");
    if (o.retry_delay.count() < 0 || o.lock_timeout.count() < 0) bad("a negative duration", "Use durations >= 0");
    if (o.backups_to_keep < 1) bad("backups_to_keep is below 1", "Keep at least one backup");
  }

  /// The canonical store path: symlinks and relative parts resolved, so every
  /// spelling of one file maps to one registry entry and one lock file.
  static std::filesystem::path canonical_store_path(const store_options& o) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path absolute = fs::absolute(o.path, ec);
    const fs::path parent = absolute.parent_path();
    if (!fs::is_directory(parent, ec)) {
      detail::throw_error<io_error>("cannot open the store", o.path, "the folder " + parent.string() + " does not exist",
                                    "Create the folder first");
    }
    if (fs::is_directory(absolute, ec)) {
      detail::throw_error<invalid_argument>("cannot open the store", o.path, "the path is a directory",
                                            "Give the path of the store file, e.g. " + (absolute / "store.db").string());
    }
    if (fs::exists(absolute, ec)) return fs::canonical(absolute);
    if (!o.create_if_missing) {
      detail::throw_error<not_found>("cannot open the store", o.path, "the file does not exist",
                                     "Set create_if_missing, or check the path");
    }
    return fs::canonical(parent) / absolute.filename();
  }

  static std::filesystem::path side_file(const std::filesystem::path& store_file, const char* suffix) {
    return std::filesystem::path(store_file.string() + suffix);
  }

  /// open_mode::exclusive fails at once while any other process has the
  /// store open, and any other open fails while one holds it exclusively.
  void take_open_lock() {
    const auto holder = open_lock_.try_acquire(options_.mode);
    if (!holder) return;
    const std::string who = *holder > 0 ? "process " + std::to_string(*holder) : std::string("another process");
    if (options_.mode == open_mode::exclusive) {
      detail::throw_error<store_locked>("cannot open the store exclusively", options_.path,
                                        who + " has it open",
                                        "Close it there first, or open it in open_mode::shared");
    }
    detail::throw_error<store_locked>("cannot open the store", options_.path, who + " holds it exclusively",
                                      "Wait until that process closes it");
  }

  /// Opens the connection, creates or checks the schema and loads every
  /// collection's index. Damage found on the way goes to the RecoveryPolicy
  /// (or straight to the caller with auto_recover off), and opening is tried
  /// once more after a recovery.
  void open_connection() {
    try {
      open_and_load();
    } catch (const corruption_error& e) {
      disconnect_locked();
      if (!options_.auto_recover) throw;
      recovery_context ctx{options_.path, &options_, e.what()};
      std::unique_lock<LockPolicy> writer = acquire_writer("cannot recover the store");
      last_recovery_ = RecoveryPolicy::recover(ctx);
      open_and_load(true);
    }
  }

  void open_and_load(bool writer_held = false) {
    try {
      connect_and_load(writer_held);
    } catch (const SQLite::Exception& e) {
      detail::rethrow_sqlite(e, options_.path, "cannot open the store");
    }
  }

  void connect_and_load(bool writer_held) {
    const bool created = !std::filesystem::exists(options_.path);
    if (!created) check_not_emptied();
    std::error_code ec;
    const auto wal_bytes = std::filesystem::file_size(side_file(options_.path, "-wal"), ec);
    const bool unclean = !ec && wal_bytes > 0;  // closed connections truncate the WAL to 0
    owner_pid_ = ::getpid();
    conn_ = std::make_unique<detail::connection>(options_.path, options_);
    if (created) restrict_permissions();
    if (detail::needs_migration(*conn_)) {
      migrate_locked(writer_held);
    } else {
      detail::prepare_schema(*conn_);
    }
    // Reading the whole file through mmap instead of one pread per page
    // halves the time to load a large store. Only while loading: a mapping
    // turns an I/O error into SIGBUS, where pread gives an error we report.
    conn_->exec("PRAGMA mmap_size = 2147418112");
    check_pages_at_open_locked(unclean);
    data_version_ = conn_->data_version();
    rebuild_locked();
    conn_->exec("PRAGMA mmap_size = 0");
  }

  /// Page-level damage that checksums cannot see (documents, metadata, index
  /// b-trees). integrity_check also compares indexes with their tables, which
  /// quick_check does not; it costs O(N log N), so it runs at open only while
  /// the file is small (detail::integrity_check_limit). quick_check runs up to
  /// detail::quick_check_limit, and on any size after an unclean shutdown (a
  /// WAL left non-empty); a large store closed cleanly skips it at open, where
  /// it would cost as much as loading every vector (health() still runs it).
  void check_pages_at_open_locked(bool unclean) {
    const std::int64_t bytes = detail::pragma_int(*conn_, "PRAGMA page_count") *
                               detail::pragma_int(*conn_, "PRAGMA page_size");
    if (bytes > detail::quick_check_limit && !unclean) return;
    const bool full = bytes <= detail::integrity_check_limit;
    const std::string result = detail::page_check(*conn_, full);
    if (result != "ok") {
      detail::throw_error<corruption_error>("the store file is damaged", options_.path,
                                            std::string(full ? "integrity_check" : "quick_check") + " reports: " +
                                                result,
                                            "Restore a backup or open the store with a recovery policy");
    }
  }

  /// SQLite takes a zero-length file for a new database, and a store
  /// truncated to nothing would silently reopen empty. An empty file is a new
  /// store only when nothing says a store was there: no backups, an empty or
  /// missing WAL, and create_if_missing set; otherwise it is damage.
  void check_not_emptied() {
    std::error_code ec;
    if (std::filesystem::file_size(options_.path, ec) != 0 || ec) return;
    const auto wal = std::filesystem::file_size(side_file(options_.path, "-wal"), ec);
    const bool wal_holds_data = !ec && wal > 0;
    const bool has_backups = !backups().empty();
    if (!wal_holds_data && !has_backups && options_.create_if_missing) return;
    detail::throw_error<corruption_error>(
        "the store file is empty", options_.path,
        std::string("it has 0 bytes, but ") +
            (has_backups ? "backups of it exist" : wal_holds_data ? "its WAL holds data" : "create_if_missing is off"),
        "Restore a backup or open the store with a recovery policy; nothing was created in its place");
  }

  /// An older store is migrated under the writer lock, after a backup: the
  /// version is read again once the lock is held, so when several processes
  /// open an old store at once exactly one backs it up and migrates it.
  void migrate_locked(bool writer_held) {
    std::unique_lock<LockPolicy> writer;
    if (!writer_held) writer = acquire_writer("cannot migrate the store");
    if (detail::needs_migration(*conn_)) {
      detail::make_backup(conn_->handle(), options_.path, detail::backup_dir_of(options_.path, options_),
                          options_.backups_to_keep);
    }
    detail::prepare_schema(*conn_);
  }

  /// New store files are owner-only (DESIGN.md, Security). chmod does not
  /// open the file, so SQLite's locks are not disturbed; -wal and -shm take
  /// the database file's mode when SQLite creates them.
  void restrict_permissions() {
    std::error_code ec;
    std::filesystem::permissions(options_.path,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::replace, ec);
  }

  void close_connection_locked() noexcept {
    finish_vectors_writer();
    reconnect_after_fork_ = false;
    disconnect_locked();
    open_lock_.release();
    std::unique_lock<std::shared_mutex> state_guard(state_mutex_);
    collections_.clear();
  }

  /// Closes the SQLite connection, checkpointing the WAL when it can.
  void disconnect_locked() noexcept {
    if (conn_) {
      if (owner_pid_ != ::getpid()) {
        // Forked without our fork handlers (a raw clone): closing an inherited
        // SQLite connection is unsafe (howtocorrupt §2.6); leave it to the parent.
        (void)conn_.release();
      } else {
        try {
          conn_->clear_cache();
          conn_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
        } catch (...) {  // another connection is reading; the last one out checkpoints
        }
        conn_.reset();
      }
    }
  }

  /// Throws unless this instance is open and used in the process that opened
  /// it; after a fork, reconnects first (in the parent and in the child).
  void check_usable_locked() {
    if (!conn_ && reconnect_after_fork_) reconnect_locked();
    if (!conn_) {
      detail::throw_error<closed_error>("the store is closed", options_.path, "close() was called",
                                        "Open the store again with vecstore::open");
    }
    if (owner_pid_ != ::getpid()) {
      detail::throw_error<closed_error>(
          "the store was opened in another process", options_.path,
          "it was opened in process " + std::to_string(owner_pid_) + " and is used in " + std::to_string(::getpid()) +
              " after a fork that bypassed pthread_atfork handlers",
          "Open the store in the child process instead of using the parent's instance");
    }
  }

  /// A new connection after fork(). The indexes were kept (in a child, as
  /// copy-on-write pages of the parent's), so only the changes committed
  /// since the last look are applied, through the change sequence.
  void reconnect_locked() {
    if (owner_pid_ != ::getpid()) {  // the child: the parent's open lock is not ours
      owner_pid_ = ::getpid();
      take_open_lock();
    }
    const detail::file_identity before = loaded_from_;
    store_options reopen = options_;
    reopen.create_if_missing = false;  // never create an empty store in a moved one's place
    conn_ = std::make_unique<detail::connection>(options_.path, reopen);
    reconnect_after_fork_ = false;
    data_version_ = -1;
    // Replaced while this process was not connected: the indexes describe the old file.
    if (conn_->identity() != before) rebuild_locked();
  }

  // detail::fork_aware: called by the registry's pthread_atfork handlers.
  void before_fork() noexcept override {
    write_mutex_.lock();
    db_mutex_.lock();
    finish_vectors_writer();  // a thread the child would not have
    state_mutex_.lock();
    if (conn_ && owner_pid_ == ::getpid()) {
      conn_->clear_cache();
      conn_.reset();
      reconnect_after_fork_ = true;
    }
  }

  void after_fork(bool in_child) noexcept override {
    if (in_child) {
      open_lock_.release();  // the parent's lock; the child takes its own on reconnect
      // glibc's rwlock remembers its writer by thread id, and the child's only
      // thread has a new one, so unlock() would be taken for a reader's and
      // leave the lock held. Nobody else can hold it in the child (the parent
      // held it exclusively across fork()), so give the child a fresh one;
      // TSan is told the old one was released, since it cannot see that.
      detail::tsan_released(&state_mutex_);
      state_mutex_.~shared_mutex();
      ::new (static_cast<void*>(&state_mutex_)) std::shared_mutex();
    } else {
      state_mutex_.unlock();
    }
    db_mutex_.unlock();
    write_mutex_.unlock();
  }

  // --- keeping the index in step with SQLite ------------------------------

  /// Reads in one snapshot (a deferred read transaction), so that the values
  /// read together belong to one commit.
  template <class Body>
  auto read_snapshot(const std::string& what, Body&& body) {
    check_usable_locked();
    return detail::with_retries(options_, options_.path, what, [&] {
      detail::record_tables tables(*conn_);
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

  /// Before a read: applies what other processes committed since the last
  /// look. The cheap check is `PRAGMA data_version`, which moves only for
  /// other connections' commits; this connection's own commits are applied
  /// right after they are made.
  void refresh_locked() {
    check_usable_locked();
    follow_replaced_file_locked();
    const std::int64_t version = detail::with_retries(options_, options_.path, "cannot read the store",
                                                      [&] { return conn_->data_version(); });
    if (version == data_version_) return;
    data_version_ = version;
    apply_changes_locked();
  }

  /// When another process recovered or restored the store, the path names a
  /// new file and this connection still reads the quarantined one: reconnect
  /// and reload, so nothing is served from, or written into, the old file.
  /// The new file appears by an atomic rename; while the path is briefly
  /// missing (between quarantine and rename) wait up to lock_timeout.
  void follow_replaced_file_locked() {
    const auto deadline = std::chrono::steady_clock::now() + options_.lock_timeout;
    auto now = detail::identity_of(options_.path);
    while (!now && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      now = detail::identity_of(options_.path);
    }
    if (!now) {
      detail::throw_error<io_error>("the store file is gone", options_.path,
                                    "it was moved or deleted while open and did not reappear",
                                    "Check the folder; a quarantined copy is named <file>.corrupt-<time>");
    }
    if (*now == conn_->identity()) return;
    conn_->clear_cache();
    conn_.reset();
    reconnect_locked();
  }

  /// Applies every change with a sequence number above the last one seen:
  /// tombstones first (row ids are never reused), then changed rows. A
  /// process that fell behind a tombstone compaction rebuilds instead.
  void apply_changes_locked() {
    read_snapshot("cannot read the store's changes", [&](detail::record_tables& t) {
      catch_up(t);
      return true;
    });
  }

  /// Brings the indexes to the snapshot `t` reads from; call inside
  /// read_snapshot. Returns how many changes it applied (0 after a reload).
  std::size_t catch_up(detail::record_tables& t) {
    const std::int64_t seq = t.current_seq();
    if (seq == seen_seq_) return 0;
    if (t.compacted_seq() > seen_seq_) {
      load_all(t);
      return 0;
    }
    std::size_t applied = 0;
    auto state_guard = lock_state_for_change();
    sync_collections(t.collections());
    // A collection whose index state another writer replaced (retrained) is
    // reloaded whole after the state; its rows need no delta.
    std::unordered_set<std::int64_t> reload;
    if constexpr (persistent_index) {
      for (const auto id : t.index_states_since(seen_seq_)) reload.insert(id);
    }
    t.for_each_tombstone_since(seen_seq_, [&](std::int64_t collection_id, std::int64_t rid) {
      ++applied;
      auto it = collections_.find(collection_id);
      if (it == collections_.end()) return;
      it->second.index.erase(rid);
      it->second.ids.erase(rid);
    });
    t.for_each_change_since(seen_seq_, [&](const detail::embedding_row& row) {
      ++applied;
      if (!reload.count(row.collection_id)) apply_row(row);
    });
    for (const auto id : reload) {
      auto it = collections_.find(id);
      if (it == collections_.end()) continue;
      it->second = collection_state(it->second.row);
      load_index_state(t, it->second);
      t.for_each_embedding_of(id, [&](const detail::embedding_row& row) { apply_row(row); });
    }
    seen_seq_ = seq;
    return applied;
  }

  /// Installs a collection's stored index state, for index policies that share one.
  void load_index_state(detail::record_tables& t, collection_state& state) {
    if constexpr (persistent_index) {
      if (const auto blob = t.load_index_state(state.row.collection_id)) {
        state.index.load_state(blob->data(), blob->size());
      }
    } else {
      (void)t;
      (void)state;
    }
  }

  /// Loads the indexes: from the vectors file when it is usable, else from
  /// every embedding in SQLite; then rewrites the vectors file if it is
  /// missing or well behind (see store_options::vectors_file_min_bytes).
  void rebuild_locked() {
    std::optional<std::int64_t> token;
    bool rewrite = false;
    read_snapshot("cannot load the store", [&](detail::record_tables& t) {
      const std::optional<mapped_load> mapped = load_from_vectors_file(t);
      if (!mapped) load_all(t);
      // Catching up reads each change from SQLite again at every open, and a
      // vectors file older than the kept tokens is no longer usable at all.
      rewrite = !mapped || mapped->seq + detail::seq_tokens_kept / 2 < seen_seq_ ||
                mapped->changes > indexed_rows() / 8;
      if (rewrite) token = t.seq_token(seen_seq_);
      return true;
    });
    loaded_from_ = conn_->identity();
    if (rewrite && token) start_vectors_writer_locked(*token);
  }

  std::filesystem::path vectors_file_path() const { return side_file(options_.path, ".vectors"); }

  bool vectors_file_enabled() const noexcept {
    return options_.vectors_file_min_bytes != store_options::no_vectors_file;
  }

  struct mapped_load {
    std::int64_t seq;     // the vectors file's
    std::size_t changes;  // applied from SQLite since
  };

  /// Maps the vectors file into the indexes and applies the changes made
  /// since it was written. nullopt when there is none or it does not
  /// describe this store (damaged, foreign, from a restored older copy
  /// written again since, or older than the changes SQLite still keeps):
  /// the caller loads from SQLite then.
  std::optional<mapped_load> load_from_vectors_file(detail::record_tables& t) {
    if constexpr (mappable_index) {
      if (!vectors_file_enabled()) return std::nullopt;
      std::optional<detail::vectors_file> file =
          detail::read_vectors_file(vectors_file_path(), [&](std::int64_t seq, std::int64_t token) {
            return seq <= t.current_seq() && seq >= t.compacted_seq() && t.seq_token(seq) == token;
          });
      if (!file) return std::nullopt;
      {
        auto state_guard = lock_state_for_change();
        collections_.clear();
        sync_collections(t.collections());
        for (detail::vectors_file_collection& c : file->collections) {
          // Collections dropped since the file was written are skipped; ids are never reused.
          auto it = collections_.find(c.collection_id);
          if (it == collections_.end()) continue;
          if (it->second.row.dim == c.dim && it->second.row.space == c.space) {
            try {
              it->second.index.adopt(std::move(c.rows), std::move(c.keys), std::move(c.sq_norms));
              it->second.ids.adopt(std::move(c.id_rids), std::move(c.id_ends), std::move(c.id_chars));
              continue;
            } catch (const invalid_argument&) {
            }
          }
          collections_.clear();  // a whole file, but not one this store wrote
          return std::nullopt;
        }
        seen_seq_ = file->seq;
      }
      return mapped_load{file->seq, catch_up(t)};
    } else {
      (void)t;
      return std::nullopt;
    }
  }

  /// Rows held by every index now.
  std::size_t indexed_rows() const {
    std::size_t rows = 0;
    for (const auto& [id, state] : collections_) rows += state.index.size();
    return rows;
  }

  /// Writes the vectors file on a thread of its own, so that an open that
  /// had to read SQLite does not also wait for its vectors to reach the disk
  /// (a few seconds per GiB here). Requires db_mutex_.
  void start_vectors_writer_locked(std::int64_t token) {
    if constexpr (mappable_index) {
      if (!vectors_file_enabled()) return;
      finish_vectors_writer();
      vectors_writer_stop_.store(false, std::memory_order_relaxed);
      vectors_writer_.start([this, token, seq = seen_seq_] { save_vectors_file(seq, token); });
    } else {
      (void)token;
    }
  }

  /// Waits for the vectors file being written, if any: before closing, and
  /// before fork() (a child would not have the thread).
  void finish_vectors_writer() noexcept { vectors_writer_.join(); }

  /// The state exclusively, for changing the indexes. A vectors file being
  /// written holds the state shared for seconds; it gives up within one
  /// piece instead (detail::write_vectors_file), since whoever changes the
  /// indexes may hold the writer lock that other processes wait for.
  std::unique_lock<std::shared_mutex> lock_state_for_change() {
    vectors_writer_stop_.store(true, std::memory_order_relaxed);
    return std::unique_lock<std::shared_mutex>(state_mutex_);
  }

  /// Writes the indexes to the vectors file if they still hold the store as
  /// of `seq` (whose token is `token`) and at least vectors_file_min_bytes of
  /// vectors. Holds the state shared meanwhile: searches go on, and a change
  /// to the indexes stops the write (lock_state_for_change). Failing to
  /// write is not an error: the next open reads SQLite again.
  void save_vectors_file(std::int64_t seq, std::int64_t token) noexcept {
    if constexpr (mappable_index) {
      try {
        std::shared_lock<std::shared_mutex> state_guard(state_mutex_);
        if (seen_seq_ != seq) return;  // changed since: `token` names another content
        std::size_t bytes = 0;
        for (const auto& [id, state] : collections_) bytes += state.index.size() * state.row.dim * sizeof(float);
        if (bytes < options_.vectors_file_min_bytes) return;
        std::vector<detail::vectors_file_source> sources;
        for (const auto& [id, state] : collections_) {
          detail::vectors_file_source s;
          s.collection_id = id;
          s.space = state.row.space;
          s.rows = state.index.rows();
          s.keys = state.index.keys().data();
          s.sq_norms = state.row.space == metric::l2 ? state.index.squared_norms().data() : nullptr;
          s.id_rids.assign(state.index.keys().begin(), state.index.keys().end());
          std::sort(s.id_rids.begin(), s.id_rids.end());
          s.id_ends.reserve(s.id_rids.size());
          for (const std::int64_t rid : s.id_rids) {
            const std::optional<std::string_view> id_of = state.ids.find(rid);
            if (!id_of) return;  // cannot happen: every key has its id; but never write a wrong one
            s.id_chars += *id_of;
            s.id_ends.push_back(s.id_chars.size());
          }
          sources.push_back(std::move(s));
        }
        struct stat st {};
        const int mode = ::stat(options_.path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : 0600;
        detail::write_vectors_file(vectors_file_path(), seq, token, sources, mode, &vectors_writer_stop_);
      } catch (...) {
        // Out of memory for the id arrays: no vectors file this time.
      }
    } else {
      (void)seq;
      (void)token;
    }
  }

  /// Loads every collection and every embedding (each verified against its
  /// checksum as it is read).
  void load_all(detail::record_tables& t) {
    const std::int64_t seq = t.current_seq();
    auto state_guard = lock_state_for_change();
    collections_.clear();
    sync_collections(t.collections());
    for (auto& [id, state] : collections_) {
      load_index_state(t, state);
      // Records with or without an embedding: an upper bound that SQLite
      // counts from the (collection_id, id) index alone, where counting only
      // embeddings looks up every row (15% of opening 1M x 768).
      const std::size_t n = t.count_records(id);
      state.index.reserve(n);
      state.ids.reserve(state.index.size() + n);
    }
    // SQLite and the checksums on this thread, the index inserts on another.
    const auto apply = [this](const detail::embedding_row& row) { apply_row(row); };
    detail::load_pipeline<decltype(apply)> pipeline(apply);
    try {
      t.for_each_embedding(persistent_index, [&](const detail::embedding_row& row) { pipeline.push(row); });
    } catch (...) {
      pipeline.finish();  // the rows read before the failure first: an error in one of them is reported instead
      throw;
    }
    pipeline.finish();
    seen_seq_ = seq;
  }

  /// Makes `collections_` hold exactly the collections stored, keeping the
  /// indexes of those that remain.
  void sync_collections(const std::vector<detail::collection_row>& rows) {
    std::unordered_set<std::int64_t> present;
    for (const auto& row : rows) {
      present.insert(row.collection_id);
      if (collections_.find(row.collection_id) == collections_.end()) {
        collections_.emplace(row.collection_id, collection_state(row));
      }
    }
    for (auto it = collections_.begin(); it != collections_.end();) {
      it = present.count(it->first) ? std::next(it) : collections_.erase(it);
    }
  }

  void apply_row(const detail::embedding_row& row) {
    auto it = collections_.find(row.collection_id);
    if (it == collections_.end()) return;
    collection_state& state = it->second;
    if (!row.vector) {
      state.index.erase(row.rid);
      state.ids.erase(row.rid);
      return;
    }
    if (row.dim != state.row.dim) {
      detail::throw_error<corruption_error>(
          "a stored embedding is damaged", options_.path,
          "record \"" + std::string(row.id) + "\" has " + std::to_string(row.dim) +
              " values in a collection of dim " + std::to_string(state.row.dim),
          "Restore a backup or open the store with a recovery policy");
    }
    if constexpr (persistent_index) {
      state.index.upsert(row.rid, row.vector, row.list);
    } else {
      state.index.upsert(row.rid, row.vector);
    }
    state.ids.assign(row.rid, row.id);
  }

  // --- writes ----------------------------------------------------------------

  /// Runs `body(tables, seq)` as one write transaction under the writer
  /// lock, then applies the committed changes to this process's indexes.
  template <class Body>
  auto write(const std::string& what, Body&& body) {
    // Threads of this process queue here, not inside the LockPolicy, so that
    // the fork handlers can wait for writers without touching the LockPolicy.
    std::lock_guard<std::mutex> writers(write_mutex_);
    std::unique_lock<LockPolicy> writer = acquire_writer(what);
    std::lock_guard<std::mutex> db_guard(db_mutex_);
    check_usable_locked();
    // Apply other processes' commits first, so the checks `body` makes
    // (does this id exist?) see the same state the transaction will.
    refresh_locked();
    std::int64_t committed = 0;
    auto commit = [&] {
      own_changes_.clear();
      own_changes_complete_ = false;
      detail::record_tables tables(*conn_);
      detail::write_transaction tx(*conn_);
      const std::int64_t seq = tables.next_seq();
      committed = seq;
      // Checked every 16th transaction: counting tombstones is cheap, not free.
      const auto compact = [&] {
        if (seq % 16 == 0) tables.compact_tombstones(options_.tombstones_to_keep);
      };
      if constexpr (std::is_void_v<decltype(body(tables, seq))>) {
        body(tables, seq);
        compact();
        tx.commit();
        return true;
      } else {
        auto result = body(tables, seq);
        compact();
        tx.commit();
        return result;
      }
    };
    auto result = detail::with_retries(options_, options_.path, what, commit);
    // Under the writer lock and just caught up, this commit is the only change
    // since seen_seq_: when the body listed its effect on the indexes, apply
    // that instead of reading the batch back (half of an ingest's cost).
    if (own_changes_complete_ && committed == seen_seq_ + 1) {
      apply_own_changes_locked(committed);
    } else {
      apply_changes_locked();
    }
    return result;
  }

  /// What a write does to the indexes, noted by its body as it goes.
  struct own_change {
    std::int64_t collection_id;
    std::int64_t rid;
    const record* r;  // null: the record leaves the index
    std::int32_t list;
  };

  void apply_own_changes_locked(std::int64_t seq) {
    auto state_guard = lock_state_for_change();
    for (const own_change& change : own_changes_) {
      auto it = collections_.find(change.collection_id);
      if (it == collections_.end()) continue;
      collection_state& state = it->second;
      if (!change.r) {
        state.index.erase(change.rid);
        state.ids.erase(change.rid);
        continue;
      }
      if constexpr (persistent_index) {
        state.index.upsert(change.rid, change.r->embedding.data(), change.list);
      } else {
        state.index.upsert(change.rid, change.r->embedding.data());
      }
      state.ids.assign(change.rid, change.r->id);
    }
    own_changes_.clear();
    seen_seq_ = seq;
  }

  /// The writer lock, waited for `lock_timeout`, retried `max_retries` times
  /// with doubling backoff; then `lock_timeout` naming the holder.
  std::unique_lock<LockPolicy> acquire_writer(const std::string& what) {
    auto delay = options_.retry_delay;
    for (int attempt = 0;; ++attempt) {
      if (lock_.try_lock_for(options_.lock_timeout)) return std::unique_lock<LockPolicy>(lock_, std::adopt_lock);
      if (attempt >= options_.max_retries) break;
      std::this_thread::sleep_for(delay);
      delay *= 2;
    }
    const auto holder = lock_.holder_pid();
    detail::throw_error<lock_timeout>(
        what, options_.path,
        "the writer lock stayed busy through " + std::to_string(options_.max_retries + 1) + " waits of " +
            std::to_string(options_.lock_timeout.count()) + " ms" +
            (holder ? ", held by process " + std::to_string(*holder) : std::string()),
        "Check what that process is doing, or raise lock_timeout / max_retries");
  }

  collection make_collection(std::string name, const collection_options& options, bool existing_ok) {
    detail::check_collection_name(name);
    detail::check_collection_options(options);
    const detail::collection_row row =
        write("cannot create the collection", [&](detail::record_tables& t, std::int64_t seq) {
          if (auto found = t.find_collection(name)) {
            if (!existing_ok) {
              detail::throw_error<invalid_argument>(
                  "cannot create the collection", options_.path, "a collection named \"" + name + "\" exists already",
                  "Use get_collection or get_or_create_collection, or choose another name");
            }
            if (found->dim != options.dim || found->space != options.space) {
              detail::throw_error<invalid_argument>(
                  "cannot get the collection", options_.path,
                  "\"" + name + "\" exists with dim " + std::to_string(found->dim) + " and metric " +
                      to_string(found->space) + ", not dim " + std::to_string(options.dim) + " and metric " +
                      to_string(options.space),
                  "Ask for the collection with its own options, or use another name");
            }
            return *found;
          }
          return t.insert_collection(name, options.dim, options.space, seq);
        });
    return handle(row);
  }

  collection handle(const detail::collection_row& row) {
    return collection(this->shared_from_this(), row.collection_id, row.name, collection_options{row.dim, row.space});
  }

  [[noreturn]] void throw_unknown_collection(std::string_view name) const {
    detail::throw_error<not_found>("unknown collection", options_.path,
                                   "there is no collection named \"" + std::string(name) + "\"",
                                   "Create it first, or check the name with list_collections()");
  }

  /// Inside a write: the collection must still be there (another process may have deleted it).
  void check_collection_exists(detail::record_tables& t, const collection& c) const {
    const auto row = t.find_collection(c.name_);
    if (!row || row->collection_id != c.id_) throw_unknown_collection(c.name_);
  }

  void add_records(const collection& c, const std::vector<record>& records, write_kind kind) {
    detail::check_batch(records, c.options_);
    if (records.empty()) return;
    write("cannot write records", [&](detail::record_tables& t, std::int64_t seq) {
      check_collection_exists(t, c);
      for (std::size_t i = 0; i < records.size(); ++i) {
        const record& r = records[i];
        // add lets the UNIQUE (collection_id, id) constraint find duplicates:
        // one statement per record instead of a lookup and an insert.
        const auto found = kind == write_kind::add ? std::nullopt : t.find(c.id_, r.id);
        if (kind == write_kind::update && !found) {
          detail::throw_error<not_found>("cannot update records", options_.path,
                                         detail::batch_item(i, r.id) + " does not exist in collection \"" + c.name_ +
                                             "\"",
                                         "Use upsert to add it; nothing was written");
        }
        std::int64_t rid = 0;
        if (!found) {
          try {
            rid = t.insert(c.id_, r, seq);
          } catch (const SQLite::Exception& e) {
            if (e.getExtendedErrorCode() != SQLITE_CONSTRAINT_UNIQUE) throw;
            detail::throw_error<duplicate_id>("cannot add records", options_.path,
                                              detail::batch_item(i, r.id) + " exists already in collection \"" +
                                                  c.name_ + "\"",
                                              "Use upsert to replace it, or update to change it; nothing was written");
          }
        } else if (kind == write_kind::upsert) {
          rid = found->first;
          t.replace(rid, c.id_, r, seq);
        } else {
          rid = found->first;
          t.update(rid, c.id_, r, seq);
        }
        std::int32_t list = -1;
        if constexpr (persistent_index) {
          if (!r.embedding.empty()) t.save_assignment(rid, list = assign_locked(c, r.embedding));
        }
        if (!r.embedding.empty()) {
          own_changes_.push_back({c.id_, rid, &r, list});
        } else if (kind == write_kind::upsert) {
          own_changes_.push_back({c.id_, rid, nullptr, -1});  // replaced by a record without an embedding
        }
      }
      own_changes_complete_ = true;
    });
    if constexpr (persistent_index) train_if_wanted(c);
  }

  /// The list this process's (caught-up) index assigns a vector to.
  std::int32_t assign_locked(const collection& c, const std::vector<float>& v) {
    std::shared_lock<std::shared_mutex> state_guard(state_mutex_);
    const auto it = collections_.find(c.id_);
    return it == collections_.end() ? -1 : it->second.index.assign(v.data());
  }

  /// After a write: (re)trains the collection's index when it asks for it,
  /// and stores the new state with every record's new list in one
  /// transaction, so other processes load it instead of training.
  void train_if_wanted(const collection& c) {
    std::lock_guard<std::mutex> writers(write_mutex_);
    std::unique_lock<LockPolicy> writer = acquire_writer("cannot train the index");
    std::lock_guard<std::mutex> db_guard(db_mutex_);
    refresh_locked();
    {
      std::shared_lock<std::shared_mutex> state_guard(state_mutex_);
      const auto it = collections_.find(c.id_);
      if (it == collections_.end() || !it->second.index.wants_training(it->second.index.size())) return;
    }
    detail::with_retries(options_, options_.path, "cannot store the trained index", [&] {
      detail::record_tables tables(*conn_);
      detail::write_transaction tx(*conn_);
      const std::int64_t seq = tables.next_seq();
      auto state_guard = lock_state_for_change();
      auto& state = collections_.at(c.id_);
      tables.save_index_state(c.id_, "index", state.index.train(), seq);
      // Read every list first, then write them: no writes into a table
      // while a statement of this connection is still reading it.
      std::vector<std::pair<std::int64_t, std::int32_t>> lists;
      tables.for_each_embedding_of(c.id_, [&](const detail::embedding_row& row) {
        lists.emplace_back(row.rid, state.index.assign(row.vector));
      });
      state_guard.unlock();
      for (const auto& [rid, list] : lists) tables.save_assignment(rid, list);
      tx.commit();
      return true;
    });
    apply_changes_locked();
  }

  std::size_t remove_ids(const collection& c, const std::vector<std::string>& ids) {
    detail::check_ids(ids);
    if (ids.empty()) return 0;
    return write("cannot remove records", [&](detail::record_tables& t, std::int64_t seq) {
      check_collection_exists(t, c);
      std::size_t removed = 0;
      for (const auto& id : ids) {
        if (const auto found = t.find(c.id_, id)) {
          t.remove(found->first, c.id_, seq);
          own_changes_.push_back({c.id_, found->first, nullptr, -1});
          ++removed;
        }
      }
      own_changes_complete_ = true;
      return removed;
    });
  }

  std::size_t remove_matching(const collection& c, const filter& where, const document_filter& where_document) {
    if (where.empty() && where_document.empty()) {
      detail::throw_error<invalid_argument>("cannot remove records", options_.path,
                                            "both filters are empty, which would remove every record",
                                            "Pass a filter, or use delete_collection to drop everything");
    }
    return write("cannot remove records", [&](detail::record_tables& t, std::int64_t seq) {
      check_collection_exists(t, c);
      const auto rids = t.select(c.id_, where, where_document, false);
      for (const auto rid : rids) {
        t.remove(rid, c.id_, seq);
        own_changes_.push_back({c.id_, rid, nullptr, -1});
      }
      own_changes_complete_ = true;
      return rids.size();
    });
  }

  // --- reads -------------------------------------------------------------------

  /// Refreshes, then runs `body(tables)` in one read snapshot on a collection that must exist.
  template <class Body>
  auto read_collection(const collection& c, const std::string& what, Body&& body) {
    std::lock_guard<std::mutex> db_guard(db_mutex_);
    refresh_locked();
    {
      std::shared_lock<std::shared_mutex> state_guard(state_mutex_);
      if (collections_.find(c.id_) == collections_.end()) throw_unknown_collection(c.name_);
    }
    return read_snapshot(what, std::forward<Body>(body));
  }

  std::vector<record> get_records(const collection& c, const get_options& o) {
    detail::check_ids(o.ids);
    return read_collection(c, "cannot read records", [&](detail::record_tables& t) {
      std::vector<record> out;
      const bool filtered = !o.where.empty() || !o.where_document.empty();
      if (o.ids.empty()) {
        for (const auto rid : t.select(c.id_, o.where, o.where_document, false, o.limit, o.offset)) {
          if (auto row = t.read(rid, o.fields)) out.push_back(std::move(row->value));
        }
        return out;
      }
      std::unordered_set<std::int64_t> matching;
      if (filtered) {
        const auto rids = t.select(c.id_, o.where, o.where_document, false);
        matching.insert(rids.begin(), rids.end());
      }
      std::size_t skipped = 0;
      for (const auto& id : o.ids) {
        if (o.limit != 0 && out.size() >= o.limit) break;
        auto row = t.read(c.id_, id, o.fields);
        if (!row || (filtered && matching.count(row->rid) == 0)) continue;
        if (skipped++ < o.offset) continue;
        out.push_back(std::move(row->value));
      }
      return out;
    });
  }

  std::size_t count_records(const collection& c) {
    return read_collection(c, "cannot count records", [&](detail::record_tables& t) { return t.count_records(c.id_); });
  }

  std::vector<std::string> missing_ids(const collection& c, const std::vector<std::string>& ids) {
    detail::check_ids(ids);
    return read_collection(c, "cannot read records", [&](detail::record_tables& t) {
      std::vector<std::string> out;
      for (const auto& id : ids) {
        const auto found = t.find(c.id_, id);
        if (!found || !found->second) out.push_back(id);
      }
      return out;
    });
  }

  std::vector<std::vector<hit>> query_many(const collection& c, const std::vector<const std::vector<float>*>& queries,
                                           const query_options& o) {
    detail::check_k(o.k);
    std::vector<float> packed;
    packed.reserve(queries.size() * c.options_.dim);
    for (std::size_t i = 0; i < queries.size(); ++i) {
      const auto& q = *queries[i];
      detail::check_embedding(q.data(), q.size(), c.options_.dim, c.options_.space, "query " + std::to_string(i));
      packed.insert(packed.end(), q.begin(), q.end());
    }
    std::vector<std::vector<hit>> out(queries.size());
    if (queries.empty()) return out;

    // 1. Catch up, and let SQL pick the allowed rows when filtered.
    std::optional<std::vector<std::int64_t>> allowed;
    {
      std::lock_guard<std::mutex> db_guard(db_mutex_);
      refresh_locked();
      if (!o.where.empty() || !o.where_document.empty()) {
        allowed = read_snapshot("cannot filter records", [&](detail::record_tables& t) {
          return t.select(c.id_, o.where, o.where_document, true);
        });
      }
    }
    // 2. Search under the shared state lock only: searches run in parallel.
    std::vector<std::vector<neighbor>> found;
    {
      std::shared_lock<std::shared_mutex> state_guard(state_mutex_);
      auto it = collections_.find(c.id_);
      if (it == collections_.end()) throw_unknown_collection(c.name_);
      found = it->second.index.search(packed.data(), queries.size(), o.k, allowed ? &*allowed : nullptr);
      for (std::size_t q = 0; q < found.size(); ++q) {
        for (const auto& n : found[q]) {
          if (const auto id = it->second.ids.find(n.key))
            out[q].push_back(hit{std::string(*id), n.distance, std::nullopt, {}, {}});
        }
      }
    }
    // 3. Fetch what the caller asked to include.
    if (o.fields != include::none) {
      std::lock_guard<std::mutex> db_guard(db_mutex_);
      read_snapshot("cannot read records", [&](detail::record_tables& t) {
        for (std::size_t q = 0; q < out.size(); ++q) {
          std::vector<hit> kept;
          for (std::size_t i = 0; i < out[q].size(); ++i) {
            auto row = t.read(found[q][i].key, o.fields);
            if (!row) continue;  // removed since the search; not returned
            hit h = std::move(out[q][i]);
            h.document = std::move(row->value.document);
            h.meta = std::move(row->value.meta);
            h.embedding = std::move(row->value.embedding);
            kept.push_back(std::move(h));
          }
          out[q] = std::move(kept);
        }
        return true;
      });
    }
    return out;
  }

  // --- health ----------------------------------------------------------------

  template <class Check>
  static health_check timed(const std::string& name, Check&& check) {
    const auto start = std::chrono::steady_clock::now();
    health_check c{name, health_status::healthy, {}, {}};
    try {
      check(c);
    } catch (const std::exception& e) {
      c.status = health_status::unhealthy;
      c.detail = e.what();
    }
    c.duration = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    return c;
  }

  /// Every check; each one catches its own failure, so a broken store yields
  /// an unhealthy report rather than an exception.
  health_report run_health_checks(bool deep) {
    health_report report;
    report.path = options_.path;
    report.checked_at = std::chrono::system_clock::now();
    // The writer lock first, without the connection mutex: the lock order is
    // writer lock, then connection.
    report.add(timed("writer_lock", [&](health_check& c) {
      const auto wait = (std::min)(options_.lock_timeout, std::chrono::milliseconds(100));
      if (lock_.try_lock_for(wait)) {
        lock_.unlock();
        c.detail = "acquired";
        return;
      }
      const auto holder = lock_.holder_pid();
      c.status = health_status::degraded;
      c.detail = "busy for more than " + std::to_string(wait.count()) + " ms" +
                 (holder ? ", held by process " + std::to_string(*holder) : std::string());
    }));
    std::lock_guard<std::mutex> db_guard(db_mutex_);
    report.add(timed("open", [&](health_check& c) {
      refresh_locked();
      c.detail = "open in process " + std::to_string(owner_pid_);
    }));
    if (report.status == health_status::unhealthy) return report;
    report.add(timed("schema", [&](health_check& c) {
      const auto app = detail::pragma_int(*conn_, "PRAGMA application_id");
      const auto version = detail::pragma_int(*conn_, "PRAGMA user_version");
      c.detail = "schema version " + std::to_string(version);
      if (app != application_id || version != schema_version ||
          detail::read_schema(conn_->db()) != detail::expected_schema()) {
        c.status = health_status::unhealthy;
        c.detail += ", differs from the expected schema version " + std::to_string(schema_version);
      }
    }));
    report.add(timed(deep ? "integrity_check" : "quick_check", [&](health_check& c) {
      c.detail = detail::page_check(*conn_, deep);
      if (c.detail != "ok") c.status = health_status::unhealthy;
    }));
    if (deep) {
      report.add(timed("checksums", [&](health_check& c) {
        std::size_t verified = 0;
        read_snapshot("cannot verify embeddings", [&](detail::record_tables& t) {
          // Throws at the first mismatch.
          t.for_each_embedding(false, [&](const detail::embedding_row&) { ++verified; });
          return true;
        });
        c.detail = std::to_string(verified) + " embeddings match their checksums";
      }));
    }
    report.add(timed("index_counts", [&](health_check& c) {
      std::size_t mismatched = 0;
      // One snapshot for catching up and counting, so commits made by other
      // processes meanwhile cannot show up as a mismatch.
      read_snapshot("cannot count records", [&](detail::record_tables& t) {
        catch_up(t);
        std::shared_lock<std::shared_mutex> state_guard(state_mutex_);
        for (const auto& [id, state] : collections_) {
          collection_health h{state.row.name, t.count_records(id), t.count_embeddings(id), state.index.size()};
          if (h.embeddings != h.indexed) ++mismatched;
          report.collections.push_back(std::move(h));
        }
        return true;
      });
      c.detail = std::to_string(report.collections.size()) + " collections, " + std::to_string(mismatched) +
                 " with index count != stored count";
      if (mismatched) c.status = health_status::unhealthy;
    }));
    report.add(timed("wal_size", [&](health_check& c) {
      std::error_code ec;
      const auto bytes = std::filesystem::file_size(side_file(options_.path, "-wal"), ec);
      const std::uintmax_t wal = ec ? 0 : bytes;
      c.detail = std::to_string(wal) + " bytes";
      // Past this, checkpoints are being starved by long readers (wal.html).
      if (wal > detail::wal_size_warning) {
        c.status = health_status::degraded;
        c.detail += ", above " + std::to_string(detail::wal_size_warning) + ": a long-running reader may be "
                    "blocking checkpoints";
      }
    }));
    report.add(timed("backup", [&](health_check& c) {
      // Backups are verified when they are made (and again before a restore),
      // so the newest completed one counts as valid here without rereading it.
      const auto all = backups();
      if (all.empty()) {
        c.detail = "no backup yet";
      } else {
        const auto age = std::chrono::duration_cast<std::chrono::seconds>(report.checked_at - all.front().created);
        c.detail = "newest backup " + std::to_string(age.count()) + " s old: " + all.front().path.string();
      }
      const auto limit = options_.backup_max_age;
      if (limit.count() > 0 && (all.empty() || report.checked_at - all.front().created > limit)) {
        c.status = health_status::degraded;
        c.detail += ", older than backup_max_age (" + std::to_string(limit.count()) + " h)";
      }
    }));
    report.add(timed("disk_space", [&](health_check& c) {
      const auto space = std::filesystem::space(options_.path.parent_path());
      c.detail = std::to_string(space.available) + " bytes available";
      if (space.available < detail::disk_space_critical) {
        c.status = health_status::unhealthy;
      } else if (space.available < detail::disk_space_low) {
        c.status = health_status::degraded;
      }
    }));
    return report;
  }

  store_options options_;
  std::mutex write_mutex_;  // this process's writers, taken before lock_
  LockPolicy lock_;
  detail::open_lock open_lock_;
  mutable std::mutex db_mutex_;  // the connection and the fields below it
  std::unique_ptr<detail::connection> conn_;
  bool reconnect_after_fork_ = false;
  std::vector<own_change> own_changes_;  // the write in progress, for its indexes
  bool own_changes_complete_ = false;    // the body listed every change it made
  detail::file_identity loaded_from_;  // the file the indexes were built from
  long owner_pid_ = 0;
  std::int64_t data_version_ = -1;
  std::int64_t seen_seq_ = 0;
  std::optional<health_report> last_health_;
  std::optional<recovery_report> last_recovery_;
  mutable std::shared_mutex state_mutex_;  // collections_ (taken after db_mutex_ when both are held)
  std::map<std::int64_t, collection_state> collections_;
  std::atomic<bool> vectors_writer_stop_{false};  // set by lock_state_for_change
  // Writes the vectors file after an open (start_vectors_writer_locked).
  // Last, so that it is joined before the state it reads is destroyed, also
  // when the constructor throws after starting it.
  detail::joining_thread vectors_writer_;
};

}  // namespace v0
}  // namespace vecstore
