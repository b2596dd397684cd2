// SPDX-License-Identifier: MIT
// What a recovery policy is told (recovery_context) and what it reports back (recovery_report).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include <vecstore/detail/quarantine.hpp>
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
  std::chrono::system_clock::time_point at{};  ///< when it ran (set by the store, not the policy)
};

/// The stable JSON shape of a report, as health() shows the last recovery
/// and the CLI prints one (docs/operations.md): every field by its name,
/// paths as strings, "duration_ms", and "at" as "yyyymmddThhmmss.mmmZ" (UTC).
inline nlohmann::json to_json(const recovery_report& r) {
  return {{"policy", r.policy},
          {"action", r.action},
          {"problem", r.problem},
          {"quarantined", r.quarantined.string()},
          {"backup_used", r.backup_used.string()},
          {"rows_saved", r.rows_saved},
          {"rows_from_backup", r.rows_from_backup},
          {"rows_lost", r.rows_lost},
          {"backups_skipped", r.backups_skipped},
          {"lost_records", r.lost_records},
          {"note", r.note},
          {"duration_ms", r.duration.count()},
          {"at", detail::utc_stamp(r.at, true)}};
}

/// Reads what to_json() wrote; a field that is missing or of another type
/// keeps its default.
inline recovery_report recovery_report_from_json(const nlohmann::json& j) {
  recovery_report r;
  if (!j.is_object()) return r;
  const auto get = [&](const char* key, auto& field) {
    using T = std::decay_t<decltype(field)>;
    const auto it = j.find(key);
    if (it == j.end()) return;
    try {
      field = it->template get<T>();
    } catch (const nlohmann::json::exception&) {  // another type: the default stays
    }
  };
  std::string quarantined, backup_used, at;
  std::int64_t duration_ms = 0;
  get("policy", r.policy);
  get("action", r.action);
  get("problem", r.problem);
  get("quarantined", quarantined);
  get("backup_used", backup_used);
  get("rows_saved", r.rows_saved);
  get("rows_from_backup", r.rows_from_backup);
  get("rows_lost", r.rows_lost);
  get("backups_skipped", r.backups_skipped);
  get("lost_records", r.lost_records);
  get("note", r.note);
  get("duration_ms", duration_ms);
  get("at", at);
  r.quarantined = quarantined;
  r.backup_used = backup_used;
  r.duration = std::chrono::milliseconds(duration_ms);
  detail::parse_utc_stamp(at, r.at);
  return r;
}

}  // namespace v0
}  // namespace vecstore
