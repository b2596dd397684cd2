// SPDX-License-Identifier: MIT
// What a recovery policy is told (recovery_context) and what it reports back (recovery_report).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
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
  /// Records in the store after recovery: read from the damaged file (each
  /// one verified against its checksum), taken from a backup, or both.
  std::size_t rows_saved = 0;
  /// Of rows_saved, the records taken from the backup because their copy in
  /// the damaged file did not read or verify (restore_backup_recovery).
  std::size_t rows_from_backup = 0;
  /// Records of the damaged store whose latest version is not in the
  /// recovered one (unread and in no backup, failing their checksum, older in
  /// the backup, or all of them for reset). A lower bound when the damaged
  /// file no longer says how many it held (see `note`). basic_store::restore:
  /// the damaged file's records beyond the backup's count.
  std::size_t rows_lost = 0;
  /// Newer backups that were skipped because they did not verify, as
  /// "<path>: <problem>".
  std::vector<std::string> backups_skipped;
  /// The records lost, as "<collection>/<id>" (or "collection <n>/<id>" when
  /// less is known); at most 1000.
  std::vector<std::string> lost_records;
  std::string note;                     ///< anything else a person should know, in a sentence or two
  std::chrono::milliseconds duration{0};  ///< time the recovery took
};

}  // namespace v0
}  // namespace vecstore
