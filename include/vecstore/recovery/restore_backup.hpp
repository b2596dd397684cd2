// SPDX-License-Identifier: MIT
// restore_backup_recovery: the default RecoveryPolicy, which keeps what still
// reads in a damaged store and takes what does not from the newest backup.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <vecstore/detail/quarantine.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/options.hpp>
#include <vecstore/recovery/report.hpp>
#include <vecstore/recovery/salvage.hpp>
#include <vecstore/recovery/salvage/backup_fill.hpp>
#include <vecstore/storage/backup.hpp>

namespace vecstore {
inline namespace v0 {

/// The default RecoveryPolicy; it loses the least data. It salvages the
/// damaged store (every record that reads and verifies, as salvage_recovery
/// does) and takes from the newest backup that verifies (integrity_check,
/// schema, every embedding's checksum) the records whose copy in the damaged
/// file did not read or verify: the result holds everything the damaged
/// file still holds, including changes newer than the backup, plus what only
/// the backup holds. Records the damaged file's tombstones say were deleted
/// stay deleted. The damaged file is moved to "<file>.corrupt-<UTC
/// timestamp>" with its -wal and -shm. The report counts records kept, taken
/// from the backup and lost, and names the lost ones (a record whose newer
/// version did not read but whose older one the backup held is lost and
/// named too). Backups that do not verify are skipped and named.
/// With no backup that verifies it keeps what reads, as salvage_recovery;
/// when nothing reads either, nothing is touched and corruption_error says so.
namespace detail {

/// Moves the store at `store_file` aside (quarantine) and puts a copy of the
/// already verified `backup` in its place: written under a temporary name,
/// fsynced, renamed. Fills the report's backup, quarantine and record
/// counts. Used by basic_store::restore, and by restore_backup_recovery when
/// the damaged file cannot be read at all.
inline void install_verified_backup(const std::filesystem::path& backup, const verify_result& verified,
                                    const std::filesystem::path& store_file, recovery_report& report) {
  const auto held = read_record_count(store_file);  // what the replaced file still tells
  temporary_file copy(temporary_name(store_file.parent_path(), store_file.filename().string()));
  copy_private_file(backup, copy.path());
  report.quarantined = quarantine(store_file);
  install_store_file(copy.path(), store_file, report.quarantined);
  copy.release();

  report.backup_used = backup;
  report.rows_saved = verified.records;
  report.rows_from_backup = verified.records;
  report.rows_lost = held && *held > verified.records ? *held - verified.records : 0;
  report.note = held ? "the replaced store held " + std::to_string(*held) + " records, the backup holds " +
                           std::to_string(verified.records) +
                           "; records changed or added after the backup are not in the restored store"
                     : "the replaced store no longer says how many records it held";
}

/// The newest backup of `file` that verifies; the ones skipped go into the report.
inline std::optional<std::pair<backup_info, verify_result>> newest_verified_backup(const std::filesystem::path& file,
                                                                                   const store_options& options,
                                                                                   recovery_report& report) {
  for (const auto& b : list_backups(file, backup_dir_of(file, options))) {
    verify_result verified = verify_store_file(b.path, true);
    if (verified.ok) return std::make_pair(b, std::move(verified));
    report.backups_skipped.push_back(b.path.string() + ": " + verified.problem);
  }
  return std::nullopt;
}

/// The report's lost records and counts once `filled` came from the backup:
/// a lost record taken from the backup is kept, unless the damaged file
/// showed a newer version of it than the backup's.
inline void account_backup_fill(const salvager& s, const backup_fill& filled, recovery_report& report) {
  std::vector<lost_record> still_lost;
  for (const auto& l : s.lost()) {
    const auto it = filled.records.find(l.rid);
    if (it == filled.records.end()) {
      still_lost.push_back(l);
    } else if (l.seq && *l.seq != it->second) {
      still_lost.push_back(lost_record{l.rid, l.name + " (an older version came from the backup)", l.seq});
    }
  }
  report.rows_from_backup = filled.records.size();
  report.rows_saved += filled.records.size();
  report.rows_lost = s.rows_lost(report.rows_saved, still_lost.size());
  report.lost_records = salvager::names(still_lost);
  report.note = std::to_string(report.rows_saved) + " records kept: " +
                std::to_string(report.rows_saved - report.rows_from_backup) + " read from the damaged file, " +
                std::to_string(report.rows_from_backup) + " from the backup" +
                (filled.collections ? " (with " + std::to_string(filled.collections) + " collections)" : "") +
                " where the damaged file's copy did not read or verify; " + std::to_string(report.rows_lost) +
                " lost. Salvage: " + report.note;
}

}  // namespace detail

struct restore_backup_recovery {
  static constexpr bool replaces_file = true;

  static recovery_report recover(const recovery_context& ctx) {
    const auto started = std::chrono::steady_clock::now();
    const store_options defaults;
    const store_options& options = ctx.options ? *ctx.options : defaults;

    recovery_report report;
    report.policy = "restore_backup_recovery";
    report.problem = ctx.problem;
    const auto backup = detail::newest_verified_backup(ctx.file, options, report);
    try {
      detail::salvage_in_place(ctx, options, report, [&](detail::connection& out, const detail::salvager& s) {
        if (backup) {
          report.action = "restored";
          report.backup_used = backup->first.path;
          detail::account_backup_fill(
              s, detail::fill_from_backup(out, backup->first.path, backup->second.seq, s.gaps()), report);
          return;
        }
        report.action = "salvaged";
        report.lost_records = detail::salvager::names(s.lost());
        // Nothing read of a store that held records (or no longer says): an
        // empty store in its place would look like a working one.
        if (report.rows_saved == 0 && s.held().value_or(1) > 0) throw_unrestorable(ctx, options, report);
      });
    } catch (const io_error&) {
      if (!backup) throw;
      // The damaged file does not read at all: the backup as it is.
      recovery_report restored;
      restored.policy = report.policy;
      restored.action = "restored";
      restored.problem = ctx.problem;
      restored.backups_skipped = std::move(report.backups_skipped);
      detail::install_verified_backup(backup->first.path, backup->second, ctx.file, restored);
      restored.note = "the damaged file does not read at all; " + restored.note;
      report = std::move(restored);
    }
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return report;
  }

 private:
  [[noreturn]] static void throw_unrestorable(const recovery_context& ctx, const store_options& options,
                                              const recovery_report& report) {
    const std::filesystem::path dir = detail::backup_dir_of(ctx.file, options);
    std::string why = report.backups_skipped.empty()
                          ? "there is no backup in " + dir.string()
                          : "none of the " + std::to_string(report.backups_skipped.size()) + " backups in " +
                                dir.string() + " verifies (newest: " + report.backups_skipped.front() + ")";
    why += ", and no record of the damaged file reads (" + report.note + ")";
    if (!ctx.problem.empty()) why = ctx.problem + "; restoring a backup failed: " + why;
    detail::throw_error<corruption_error>("the store is damaged and cannot be restored", ctx.file, why,
                                          "Nothing was changed; restore a backup by hand (vecstore restore), "
                                          "or use reset_recovery to start empty");
  }
};

}  // namespace v0
}  // namespace vecstore
