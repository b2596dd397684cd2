// SPDX-License-Identifier: MIT
// What a recovery policy is told (recovery_context) and what it reports back (recovery_report).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

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
/// `quarantined`.
struct recovery_report {
  std::string policy;               ///< e.g. "strict_recovery"
  std::string action;               ///< "none", "restored", "salvaged", "reset"
  std::string problem;              ///< what detection found
  std::filesystem::path quarantined;  ///< where the damaged file went, if it was moved
  std::filesystem::path backup_used;  ///< the backup restored, if any
  std::size_t rows_saved = 0;
  std::size_t rows_lost = 0;
};

}  // namespace v0
}  // namespace vecstore
