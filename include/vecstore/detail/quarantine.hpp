// SPDX-License-Identifier: MIT
// Moving a damaged store aside ("<file>.corrupt-<UTC timestamp>", with its -wal
// and -shm), and the small file-system primitives that backups and recovery
// share: UTC stamps, fsync of files and folders, rename without overwriting,
// owner-only temporary files next to their destination.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vecstore/errors.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// "yyyymmddThhmmssZ", or with `millis` "yyyymmddThhmmss.mmmZ", in UTC.
/// Sorts lexicographically in time order.
inline std::string utc_stamp(std::chrono::system_clock::time_point t, bool millis) {
  const auto since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(since_epoch.count() / 1000);
  const int ms = static_cast<int>(since_epoch.count() % 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
  std::string out = buf;
  if (millis) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", ms);
    out += frac;
  }
  return out + "Z";
}

/// Parses what `utc_stamp(t, true)` wrote; false unless the text is exactly
/// "yyyymmddThhmmss.mmmZ" with in-range fields.
inline bool parse_utc_stamp(std::string_view s, std::chrono::system_clock::time_point& out) {
  if (s.size() != 20 || s[8] != 'T' || s[15] != '.' || s[19] != 'Z') return false;
  const auto digits = [&](std::size_t at, std::size_t n, int& value) {
    value = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      value = value * 10 + (s[i] - '0');
    }
    return true;
  };
  int year, month, day, hour, minute, second, ms;
  if (!digits(0, 4, year) || !digits(4, 2, month) || !digits(6, 2, day) || !digits(9, 2, hour) ||
      !digits(11, 2, minute) || !digits(13, 2, second) || !digits(16, 3, ms)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return false;
  // system_clock counts nanoseconds in 64 bits: years past 2262 overflow it
  // (a file name is untrusted input), and no vecstore file predates 1970.
  if (year < 1970 || year > 2200) return false;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t seconds = ::timegm(&tm);
  out = std::chrono::system_clock::time_point(std::chrono::seconds(seconds)) + std::chrono::milliseconds(ms);
  return true;
}

/// The path with `suffix` appended to its file name ("store.db" + "-wal").
inline std::filesystem::path with_suffix(const std::filesystem::path& p, std::string_view suffix) {
  return std::filesystem::path(p.string() + std::string(suffix));
}

/// fsync of a file this process has no SQLite connection to (closing the
/// descriptor would otherwise drop that connection's POSIX locks).
inline void fsync_file(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw_error<io_error>("cannot flush a file to disk", file, std::strerror(err),
                          "Check the disk and the file system; nothing was replaced");
  }
  ::close(fd);
}

/// fsync of a folder, so that a rename or a new file in it survives a power loss.
inline void fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw_error<io_error>("cannot flush a folder to disk", dir, std::strerror(err),
                          "Check the disk and the file system");
  }
  ::close(fd);
}

/// Renames `from` to `to` atomically, failing with EEXIST instead of
/// replacing an existing `to`. Returns 0 or an errno value.
inline int rename_no_replace(const std::filesystem::path& from, const std::filesystem::path& to) noexcept {
#if defined(RENAME_NOREPLACE)
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
#endif
  // File systems without RENAME_NOREPLACE: a hard link fails on an existing
  // name, then the old name goes. Callers hold the store's writer lock, so
  // nobody else creates the destination meanwhile.
  if (::link(from.c_str(), to.c_str()) != 0) return errno;
  if (::unlink(from.c_str()) != 0) return errno;
  return 0;
}

/// Creates `file` empty, owner-only (0600) and exclusively: never follows a
/// symlink nor reuses an existing file. Throws io_error.
inline void create_private_file(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw_error<io_error>("cannot create a file", file, std::strerror(errno),
                          "Check that the folder exists and is writable by this user");
  }
  ::fchmod(fd, 0600);  // the umask may have removed bits, never added any; be explicit
  ::close(fd);
}

/// "<dir>/.<name>.tmp-<pid>-<UTC stamp>": where backups and recovery build a
/// file before renaming it into place. Such a file is ours; when the pid in
/// its name is no longer alive, remove_stale_temporaries() may delete it.
inline std::filesystem::path temporary_name(const std::filesystem::path& dir, const std::string& name) {
  for (;;) {
    std::filesystem::path p = dir / ("." + name + ".tmp-" + std::to_string(::getpid()) + "-" +
                                     utc_stamp(std::chrono::system_clock::now(), true));
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::symlink_status(p, ec))) return p;
    ::usleep(1000);  // one made in this millisecond already
  }
}

/// The side files SQLite keeps beside a database, moved together with it.
inline constexpr const char* sqlite_side_suffixes[] = {"-wal", "-shm", "-journal"};

/// Moves the damaged store `store_file` and, together, its -wal, -shm and
/// -journal to "<file>.corrupt-<UTC yyyymmddThhmmssZ>" (+ the same suffixes),
/// adding "-2", "-3", ... to the stamp when that name is taken. Never deletes
/// and never overwrites anything. The side files go first and the database
/// last, so a crash in between never leaves the database paired with a
/// stranger's WAL. Returns the new database path (empty when there was no
/// database file to move).
///
/// Requires: the caller holds the store's writer lock and has no connection
/// open on the file (renaming under a live connection of this process would
/// leave it writing into the quarantined file).
inline std::filesystem::path quarantine(const std::filesystem::path& store_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string stamp = utc_stamp(std::chrono::system_clock::now(), false);
  const auto taken = [&](const fs::path& base) {
    if (fs::exists(fs::symlink_status(base, ec))) return true;
    for (const char* s : sqlite_side_suffixes) {
      if (fs::exists(fs::symlink_status(with_suffix(base, s), ec))) return true;
    }
    return false;
  };
  fs::path target = with_suffix(store_file, ".corrupt-" + stamp);
  for (int n = 2; taken(target); ++n) target = with_suffix(store_file, ".corrupt-" + stamp + "-" + std::to_string(n));

  const auto move = [&](const fs::path& from, const fs::path& to) {
    if (!fs::exists(fs::symlink_status(from, ec))) return false;
    if (const int err = rename_no_replace(from, to); err != 0) {
      throw_error<io_error>("cannot move the damaged store aside", from,
                            "renaming it to " + to.string() + " failed: " + std::strerror(err),
                            "Nothing was deleted; check that the folder is writable by this user");
    }
    return true;
  };
  for (const char* s : sqlite_side_suffixes) move(with_suffix(store_file, s), with_suffix(target, s));
  const bool moved = move(store_file, target);
  fsync_directory(store_file.parent_path());
  return moved ? target : fs::path();
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
