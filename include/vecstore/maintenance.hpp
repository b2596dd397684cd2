// SPDX-License-Identifier: MIT
// restore() and recover(): repairs of a store file made without opening it,
// so that they also work on a store that no longer opens (a damaged header,
// a missing file). `vecstore restore` and `vecstore recover` run them.
#pragma once

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <utility>

#include <vecstore/detail/open_lock.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/lock/file_lock.hpp>
#include <vecstore/options.hpp>
#include <vecstore/recovery/report.hpp>
#include <vecstore/recovery/requirements.hpp>
#include <vecstore/recovery/restore_backup.hpp>
#include <vecstore/storage/backup.hpp>
#include <vecstore/storage/recovery_notice.hpp>
#include <vecstore/storage/schema.hpp>
#include <vecstore/storage/sqlite.hpp>
#include <vecstore/store/connection.hpp>
#include <vecstore/store/store_path.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Runs `body()` holding the store's writer lock (`LockPolicy` on
/// "<store>.lock", as every writer takes it) and its open lock shared, so
/// that no process holds the store exclusively meanwhile. Processes that
/// have the store open follow the replaced file at their next read or write
/// (store/connection.hpp, follow_replaced_file).
template <class LockPolicy, class Body>
auto holding_store_locks(const store_options& options, const std::string& what, Body&& body) {
  open_lock opened(side_file(options.path, ".open"));
  if (const auto holder = opened.try_acquire(open_mode::shared)) {
    throw_error<store_locked>(what, options.path,
                              (*holder > 0 ? "process " + std::to_string(*holder) : std::string("another process")) +
                                  " holds it exclusively",
                              "Close it there first");
  }
  LockPolicy lock(side_file(options.path, ".lock"));
  if (!lock.try_lock_for(options.lock_timeout)) {
    const auto holder = lock.holder_pid();
    throw_error<lock_timeout>(what, options.path,
                              "the writer lock stayed busy for " + std::to_string(options.lock_timeout.count()) +
                                  " ms" + (holder ? ", held by process " + std::to_string(*holder) : std::string()),
                              "Retry when that process has finished its write, or raise lock_timeout");
  }
  std::lock_guard<LockPolicy> writer(lock, std::adopt_lock);
  return body();
}

}  // namespace detail

/// Replaces the store at `store_path` with a copy of `backup` (a file made
/// by backup()), without opening the store: it works when the store no
/// longer opens, or is missing. The backup is verified first
/// (integrity_check, schema, every checksum) and nothing changes if it
/// fails; then the current file, if any, is moved to
/// "<file>.corrupt-<time>" with its -wal and -shm (never deleted) and the
/// copy put in its place, under the writer lock. `options` supplies the lock
/// timeout; its path is ignored. `LockPolicy` must be the one the store's
/// users open it with.
template <class LockPolicy = file_lock>
recovery_report restore(const std::filesystem::path& store_path, const std::filesystem::path& backup,
                        store_options options = {}) {
  static_assert(LockPolicy::cross_process, "vecstore: restore() needs a cross-process LockPolicy");
  const auto started = std::chrono::steady_clock::now();
  options.path = store_path;
  options.create_if_missing = true;  // a missing store file is restored too
  options.path = detail::canonical_store_path(options);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(backup, ec)) {
    detail::throw_error<not_found>("cannot restore the store", backup, "the backup file does not exist",
                                   "List the store's backups (vecstore backups, or the <store>.backups folder)");
  }
  const detail::verify_result verified = detail::verify_store_file(backup, true);
  if (!verified.ok) {
    detail::throw_error<corruption_error>("cannot restore from this backup", backup, verified.problem,
                                          "Nothing was changed; pick another backup");
  }
  return detail::holding_store_locks<LockPolicy>(options, "cannot restore the store", [&] {
    recovery_report report;
    report.policy = "restore";
    report.action = "restored";
    detail::install_verified_backup(backup, verified, options.path, report);
    report.at = std::chrono::system_clock::now();
    report.duration =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return report;
  });
}

/// Runs `RecoveryPolicy` on the store at `options.path` on purpose, without
/// opening it first: for a store that health() or verify() found damaged
/// while processes had it open, or one that does not open. The default
/// (restore_backup_recovery) keeps every record that still reads and takes
/// the rest from the newest backup. The report is recorded in the recovered
/// store, where health() shows it until acknowledge_recovery().
template <class RecoveryPolicy = restore_backup_recovery, class LockPolicy = file_lock>
recovery_report recover(store_options options, std::string why = "recovery asked for by an operator") {
  static_assert(detail::checked<recovery_requirements<RecoveryPolicy>>);
  static_assert(LockPolicy::cross_process, "vecstore: recover() needs a cross-process LockPolicy");
  options.create_if_missing = false;
  options.path = detail::canonical_store_path(options);
  return detail::holding_store_locks<LockPolicy>(options, "cannot recover the store", [&] {
    recovery_context ctx{options.path, &options, std::move(why)};
    recovery_report report = RecoveryPolicy::recover(ctx);
    report.at = std::chrono::system_clock::now();
    detail::connection recovered(options.path, options);
    detail::prepare_schema(recovered);
    detail::write_recovery_notice(recovered, report);
    return report;
  });
}

}  // namespace v0
}  // namespace vecstore
