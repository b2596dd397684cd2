// SPDX-License-Identifier: MIT
// Which existing files a store may use. In a folder other users can write
// into (/tmp, a shared volume), another user can create a file under a
// store's name before the store does: an empty store file whose -wal and
// -shm would then be theirs and readable by them, a lock file they hold
// locked, a "backup" that a recovery would restore. A store therefore uses
// only files (and folders) owned by the user it runs as and writable by no
// one else, and refuses the others with io_error (docs/operations.md).
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <vecstore/errors.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// "0644": a mode's permission bits in octal.
inline std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

/// Why the file `st` describes (an lstat or fstat) is not one this process
/// may use, or an empty string: a regular file (a folder when `folder`)
/// owned by this process's effective user and not writable by group or others.
inline std::string untrusted_because(const struct ::stat& st, bool folder) {
  if (folder ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    return S_ISLNK(st.st_mode) ? "it is a symbolic link" : folder ? "it is not a folder" : "it is not a regular file";
  }
  if (st.st_uid != ::geteuid()) {
    return "it is owned by user " + std::to_string(st.st_uid) + ", not by this process's user " +
           std::to_string(::geteuid());
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return "other users can write to it (mode " + mode_text(st.st_mode) + ")";
  return {};
}

/// Throws io_error unless `file` is missing or one this process may use
/// (`role` names it in the message: "store file", "lock file", ...).
inline void check_trusted(const std::filesystem::path& file, const char* role, bool folder = false) {
  struct ::stat st {};
  if (::lstat(file.c_str(), &st) != 0) return;  // missing: it will be created owner-only
  const std::string why = untrusted_because(st, folder);
  if (why.empty()) return;
  throw_error<io_error>(std::string("refusing the ") + role, file, why,
                        "Remove or move it (another user may have placed it there), or keep stores in a folder "
                        "only this user can write to");
}

/// The same for a descriptor just opened: the file it names now, after any
/// race with another user between a check by name and the open.
inline void check_trusted(int fd, const std::filesystem::path& file, const char* role) {
  struct ::stat st {};
  if (::fstat(fd, &st) != 0) {
    throw_error<io_error>(std::string("cannot check the ") + role, file, std::strerror(errno),
                          "Check the file system");
  }
  const std::string why = untrusted_because(st, false);
  if (why.empty()) return;
  throw_error<io_error>(std::string("refusing the ") + role, file, why,
                        "Remove or move it (another user may have placed it there), or keep stores in a folder "
                        "only this user can write to");
}

/// True when `file` exists and may be used (for listings that skip the rest).
inline bool is_trusted(const std::filesystem::path& file, bool folder = false) noexcept {
  struct ::stat st {};
  try {
    return ::lstat(file.c_str(), &st) == 0 && untrusted_because(st, folder).empty();
  } catch (...) {  // std::to_string's allocation
    return false;
  }
}

/// A folder that every user may write to must have the sticky bit (as /tmp
/// does): otherwise anyone can rename or delete a store's files in it.
inline void check_store_folder(const std::filesystem::path& folder) {
  struct ::stat st {};
  if (::stat(folder.c_str(), &st) != 0) return;  // reported when the store opens
  if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
    throw_error<io_error>("refusing the store's folder", folder,
                          "every user can write to it (mode " + mode_text(st.st_mode) +
                              ") and it has no sticky bit, so anyone can replace the store's files",
                          "Keep the store in a folder only this user can write to (or chmod +t it)");
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
