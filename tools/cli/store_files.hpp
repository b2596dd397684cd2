// SPDX-License-Identifier: MIT
// The files of a store on disk, for the sizes stats and compact print: the
// database and SQLite's -wal and -shm files beside it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <system_error>

namespace vecstore_cli {

namespace fs = std::filesystem;

/// 0 for a file that does not exist (no -wal file after a checkpoint).
inline std::uintmax_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

/// The file SQLite keeps beside the store, e.g. side_file(p, "-wal").
inline fs::path side_file(const fs::path& store, const char* suffix) { return fs::path(store.string() + suffix); }

}  // namespace vecstore_cli
