// SPDX-License-Identifier: MIT
// What a recovery policy is told (recovery_context) and what it reports back (recovery_report).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <vecstore/options.hpp>

namespace vecstore {
inline namespace v0 {

/// Handed to `RecoveryPolicy::recover` when a store is found damaged. The
/// store has closed its connection and holds the writer lock meanwhile.
struct recovery_context {
  std::filesystem::path file;  ///< the damaged store file
  const store_options* options = nullptr;
  std::string problem;  ///< what detection found (the corruption_error's message)
};

/// What a recovery did. Nothing is ever deleted: a replaced file is moved to
/// `quarantined` (with its -wal and -shm beside it, same name plus suffix).
struct recovery_report {
  std::string policy;               ///< e.g. "strict_recovery"
  std::string action;               ///< "none", "restored", "salvaged", "reset"
  std::string problem;              ///< what detection found
  std::filesystem::path quarantined;  ///< where the damaged file went, if it was moved
  std::filesystem::path backup_used;  ///< the backup restored, if any
  /// Records in the store after recovery: restored from the backup, or
  /// salvaged (each one verified against its checksum).
  std::size_t rows_saved = 0;
  /// salvage and reset: records of the damaged store that are not in the
  /// recovered one (unread, failing their checksum, or all of them). A lower
  /// bound when the damaged file no longer says how many it held (see
  /// `note`). restore: 0; `changes_after_backup` says what is missing.
  std::size_t rows_lost = 0;
  /// restore_backup_recovery: how many changes (the damaged file's store_meta
  /// sequence minus the backup's) are newer than the backup and must be
  /// replayed by the caller; nullopt when the damaged file no longer tells.
  std::optional<std::int64_t> changes_after_backup;
  /// Newer backups that were skipped because they did not verify, as
  /// "<path>: <problem>".
  std::vector<std::string> backups_skipped;
  /// salvage_recovery: the records not saved, as "<collection>/<id>" (or
  /// "collection <n>/<id>", "rid <n>" when less is known); at most 1000.
  std::vector<std::string> lost_records;
  std::string note;                     ///< anything else a person should know, in a sentence or two
  std::chrono::milliseconds duration{0};  ///< time the recovery took
};

}  // namespace v0
}  // namespace vecstore
