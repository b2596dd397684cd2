// SPDX-License-Identifier: MIT
// The store file a path names: resolved once, so that every spelling of one
// file maps to one registry entry and one lock file, and checked for what
// SQLite cannot tell (a missing folder, a directory, a dangling symlink, a
// second hard link, files another user placed under the store's names).
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vecstore/detail/file_trust.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/options.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// A store file with a second name (a hard link) would get a second WAL,
/// lock file and registry entry, one per name: SQLite keeps its WAL by
/// name, so commits made through one name are lost to the other.
inline void check_single_link(const std::filesystem::path& file) {
  struct ::stat st {};
  if (::stat(file.c_str(), &st) != 0 || st.st_nlink <= 1) return;
  throw_error<invalid_argument>("cannot open the store", file,
                                "the file has " + std::to_string(st.st_nlink) +
                                    " hard links; SQLite keeps one write-ahead log per name, so writes "
                                    "through the other names would be lost",
                                "Keep one name and remove the other links (find " + file.parent_path().string() +
                                    " -samefile " + file.string() + " lists those in the same folder)");
}

/// The files a store opens by name, each of which may exist already: they
/// must be this user's and writable by no one else (detail/file_trust.hpp),
/// and the folder must not let every user replace them.
inline void check_store_files(const std::filesystem::path& file) {
  check_store_folder(file.parent_path());
  check_trusted(file, "store file");
  const std::pair<const char*, const char*> side_files[] = {{"-wal", "store's write-ahead log"},
                                                            {"-shm", "store's shared-memory index"},
                                                            {"-journal", "store's rollback journal"},
                                                            {".lock", "store's lock file"},
                                                            {".open", "store's open-lock file"}};
  for (const auto& [suffix, role] : side_files) check_trusted(std::filesystem::path(file.string() + suffix), role);
}

/// The canonical store path: symlinks and relative parts resolved, so every
/// spelling of one file maps to one registry entry and one lock file.
inline std::filesystem::path canonical_store_path(const store_options& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path absolute = fs::absolute(o.path, ec);
  const fs::path parent = absolute.parent_path();
  if (!fs::is_directory(parent, ec)) {
    throw_error<io_error>("cannot open the store", o.path, "the folder " + parent.string() + " does not exist",
                          "Create the folder first");
  }
  if (fs::is_directory(absolute, ec)) {
    throw_error<invalid_argument>("cannot open the store", o.path, "the path is a directory",
                                  "Give the path of the store file, e.g. " + (absolute / "store.db").string());
  }
  if (fs::exists(absolute, ec)) {
    const fs::path file = fs::canonical(absolute);
    check_single_link(file);
    check_store_files(file);
    return file;
  }
  if (fs::is_symlink(fs::symlink_status(absolute, ec))) {
    throw_error<io_error>(
        "cannot open the store", o.path,
        "it is a symbolic link to " + fs::read_symlink(absolute, ec).string() + ", which does not exist",
        "Point the link at the store file, or give the store file's own path");
  }
  if (!o.create_if_missing) {
    throw_error<not_found>("cannot open the store", o.path, "the file does not exist",
                           "Set create_if_missing, or check the path");
  }
  const fs::path file = fs::canonical(parent) / absolute.filename();
  check_store_files(file);
  return file;
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
