// SPDX-License-Identifier: MIT
// SQLite's own verdict on a store file, read beside the library.
#pragma once

#include <filesystem>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

namespace vecstore_test {

/// "ok", or what PRAGMA integrity_check found.
inline std::string integrity(const std::filesystem::path& path) {
  SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
  return db.execAndGet("PRAGMA integrity_check").getString();
}

}  // namespace vecstore_test
