// SPDX-License-Identifier: MIT
// restore_backup_recovery: the RecoveryPolicy that puts the newest backup that
// verifies in place of a damaged store, which it moves aside.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <vecstore/detail/quarantine.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/options.hpp>
#include <vecstore/recovery/report.hpp>
#include <vecstore/storage/backup.hpp>

namespace vecstore {
inline namespace v0 {

/// Restores the newest backup that verifies (integrity_check, schema, every
/// embedding's checksum) in place of the damaged store, which is moved to
/// "<file>.corrupt-<UTC timestamp>" with its -wal and -shm. Backups that do
/// not verify are skipped and named in the report. The report also says how
/// many changes were newer than the backup (the caller replays those).
/// With no backup that verifies, nothing is touched and corruption_error
/// says so. The default RecoveryPolicy.
namespace detail {

/// Moves the store at `store_file` aside (quarantine) and puts a copy of the
/// already verified `backup` in its place: written under a temporary name,
/// fsynced, renamed. Fills the report's backup, quarantine, row and
/// lost-changes fields. Shared by restore_backup_recovery and basic_store::restore.
inline void install_verified_backup(const std::filesystem::path& backup, const verify_result& verified,
                                    const std::filesystem::path& store_file, recovery_report& report) {
  // What the replaced file still tells about its changes.
  const auto damaged_seq = read_store_seq(store_file);
  if (damaged_seq && *damaged_seq >= verified.seq) report.changes_after_backup = *damaged_seq - verified.seq;

  temporary_file copy(temporary_name(store_file.parent_path(), store_file.filename().string()));
  copy_private_file(backup, copy.path());
  report.quarantined = quarantine(store_file);
  install_store_file(copy.path(), store_file, report.quarantined);
  copy.release();

  report.backup_used = backup;
  report.rows_saved = verified.records;
  if (report.changes_after_backup) {
    report.note = std::to_string(*report.changes_after_backup) +
                  " changes were made after this backup and are not in the restored store";
  } else {
    report.note = damaged_seq ? "the replaced store's change sequence (" + std::to_string(*damaged_seq) +
                                    ") is below the backup's (" + std::to_string(verified.seq) +
                                    "): how many changes are missing is unknown"
                              : "the replaced store no longer says how many changes it held: how many changes "
                                "are missing is unknown";
  }
}

}  // namespace detail

struct restore_backup_recovery {
  static constexpr bool replaces_file = true;

  static recovery_report recover(const recovery_context& ctx) {
    namespace fs = std::filesystem;
    const auto started = std::chrono::steady_clock::now();
    const store_options defaults;
    const store_options& options = ctx.options ? *ctx.options : defaults;
    const fs::path dir = detail::backup_dir_of(ctx.file, options);

    recovery_report report;
    report.policy = "restore_backup_recovery";
    report.action = "restored";
    report.problem = ctx.problem;

    // 1. The newest backup that verifies; nothing changes until one does.
    std::optional<backup_info> chosen;
    detail::verify_result verified;
    const auto backups = detail::list_backups(ctx.file, dir);
    for (const auto& b : backups) {
      verified = detail::verify_store_file(b.path, true);
      if (verified.ok) {
        chosen = b;
        break;
      }
      report.backups_skipped.push_back(b.path.string() + ": " + verified.problem);
    }
    if (!chosen) {
      std::string why = backups.empty()
                            ? "there is no backup in " + dir.string()
                            : "none of the " + std::to_string(backups.size()) + " backups in " + dir.string() +
                                  " verifies (newest: " + report.backups_skipped.front() + ")";
      if (!ctx.problem.empty()) why = ctx.problem + "; restoring a backup failed: " + why;
      detail::throw_error<corruption_error>(
          "the store is damaged and cannot be restored", ctx.file, why,
          "Nothing was changed; open the store with salvage_recovery to keep what still reads, "
          "restore a backup by hand, or use reset_recovery to start empty");
    }

    detail::install_verified_backup(chosen->path, verified, ctx.file, report);
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return report;
  }
};

}  // namespace v0
}  // namespace vecstore
