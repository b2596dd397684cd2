// SPDX-License-Identifier: MIT
// Files of a store other than the live one: online backups (made, verified,
// listed, rotated), fresh store files that recovery fills and moves into
// place, and cleanup of our stale temporaries. Verifying a store file, and
// reading one that may be damaged, is in storage/verify.hpp.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <vecstore/detail/checksum.hpp>
#include <vecstore/detail/file_trust.hpp>
#include <vecstore/detail/quarantine.hpp>
#include <vecstore/detail/utf8.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/options.hpp>
#include <vecstore/storage/row_checksums.hpp>
#include <vecstore/storage/schema.hpp>
#include <vecstore/storage/sqlite.hpp>
#include <vecstore/storage/verify.hpp>
#include <vecstore/version.hpp>

namespace vecstore {
inline namespace v0 {

/// One completed backup of a store: "<backup_dir>/<store file name>.<UTC
/// yyyymmddThhmmss.mmmZ>.backup", a single self-contained SQLite file
/// (rollback-journal mode, no -wal needed) that was verified before it was
/// given its name.
struct backup_info {
  std::filesystem::path path;
  std::uintmax_t bytes = 0;
  std::chrono::system_clock::time_point created;  ///< from the file name (UTC)
  std::chrono::milliseconds duration{0};          ///< time to make it; 0 when listed, not made
  std::int64_t seq = -1;                          ///< the store's change sequence it holds; -1 when listed, not read
  std::size_t records = 0;                        ///< records it holds; 0 when listed, not read (see verify_store_file)
};

namespace detail {

/// "<store>.backups", beside the store file.
inline std::filesystem::path default_backup_dir(const std::filesystem::path& store_file) {
  return with_suffix(store_file, ".backups");
}

/// The backup folder a store's options name (empty: the default one).
inline std::filesystem::path backup_dir_of(const std::filesystem::path& store_file, const store_options& o) {
  return o.backup_dir.empty() ? default_backup_dir(store_file) : o.backup_dir;
}

/// The stamp of a completed backup of `store_name` called `file_name`, or
/// false if the name is not exactly "<store_name>.<stamp>.backup".
inline bool parse_backup_name(std::string_view store_name, std::string_view file_name,
                              std::chrono::system_clock::time_point& created) {
  constexpr std::string_view suffix = ".backup";
  if (file_name.size() != store_name.size() + 1 + 20 + suffix.size()) return false;
  if (file_name.substr(0, store_name.size()) != store_name || file_name[store_name.size()] != '.') return false;
  if (file_name.substr(file_name.size() - suffix.size()) != suffix) return false;
  return parse_utc_stamp(file_name.substr(store_name.size() + 1, 20), created);
}

/// Completed backups of `store_file` in `dir`, newest first. Reads names
/// and sizes only (`seq` -1, `records` 0): verify_store_file() opens one.
/// Temporary files, symlinks, other stores' backups, files of other users or
/// that others can write, and anything else in the folder are never listed.
/// A missing folder, or one that is not this user's alone, lists nothing.
inline std::vector<backup_info> list_backups(const std::filesystem::path& store_file,
                                             const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::vector<backup_info> out;
  const fs::path folder = dir.empty() ? default_backup_dir(store_file) : dir;
  const std::string store_name = store_file.filename().string();
  std::error_code ec;
  // Another user's folder, or files in it that are not ours, could hold a
  // "backup" that a recovery would put in the store's place.
  if (!is_trusted(folder, true)) return out;
  fs::directory_iterator it(folder, ec), end;
  if (ec) return out;
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    backup_info b;
    if (!parse_backup_name(store_name, it->path().filename().string(), b.created)) continue;
    std::error_code status_ec;
    if (!is_trusted(it->path())) continue;
    b.path = it->path();
    b.bytes = fs::file_size(b.path, status_ec);
    if (status_ec) continue;  // gone meanwhile (rotated by another process)
    out.push_back(std::move(b));
  }
  std::sort(out.begin(), out.end(), [](const backup_info& a, const backup_info& b) {
    return a.created != b.created ? a.created > b.created : a.path > b.path;
  });
  return out;
}

/// Deletes temporary files that a backup or a recovery left behind when its
/// process died: ".<name>.tmp-<pid>-<UTC stamp>" (and that name's -journal,
/// -wal, -shm) whose pid is no longer alive. Files of live processes, and
/// every other file, are left alone. A pid reused by an unrelated process
/// only delays the cleanup.
inline void remove_stale_temporaries(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) return;
  std::vector<fs::path> stale;
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] != '.') continue;
    for (const char* s : sqlite_side_suffixes) {
      const std::string_view sv = s;
      if (name.size() > sv.size() && name.compare(name.size() - sv.size(), sv.size(), sv) == 0) {
        name.resize(name.size() - sv.size());
        break;
      }
    }
    // ".<name>.tmp-<pid>-<20-character stamp>"
    if (name.size() < 1 + 5 + 1 + 1 + 20) continue;
    const std::size_t tag = name.rfind(".tmp-", name.size() - 22);
    if (tag == std::string::npos || tag == 0) continue;
    const std::size_t pid_begin = tag + 5, pid_end = name.size() - 21;
    if (pid_end <= pid_begin || pid_end - pid_begin > 10 || name[pid_end] != '-') continue;
    long pid = 0;
    bool digits = true;
    for (std::size_t i = pid_begin; i < pid_end; ++i) {
      if (name[i] < '0' || name[i] > '9')
        digits = false;
      else
        pid = pid * 10 + (name[i] - '0');
    }
    std::chrono::system_clock::time_point stamp;
    if (!digits || pid <= 0 || !parse_utc_stamp(std::string_view(name).substr(pid_end + 1), stamp)) continue;
    if (!fs::is_regular_file(it->symlink_status(ec))) continue;
    const bool alive = ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
    if (!alive) stale.push_back(it->path());
  }
  for (const auto& p : stale) fs::remove(p, ec);
}

/// Creates `dir` (and missing parents) owner-only (0700); an existing folder
/// is used as it is when it is this user's and no one else can write to it.
inline void ensure_private_directory(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    check_trusted(dir, "backup folder", true);
    return;
  }
  const fs::path parent = dir.parent_path();
  if (!parent.empty() && parent != dir) ensure_private_directory(parent);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw_error<io_error>("cannot create the backup folder", dir, std::strerror(errno),
                          "Create it, or set store_options::backup_dir to a writable folder");
  }
  if (!fs::is_directory(dir, ec)) {
    throw_error<io_error>("cannot create the backup folder", dir, "the path exists and is not a folder",
                          "Move that file away, or set store_options::backup_dir to another folder");
  }
}

/// Deletes a temporary file of ours and SQLite's side files of it, unless released.
class temporary_file {
 public:
  explicit temporary_file(std::filesystem::path p) : path_(std::move(p)) {}
  temporary_file(const temporary_file&) = delete;
  temporary_file& operator=(const temporary_file&) = delete;
  ~temporary_file() { remove(); }
  const std::filesystem::path& path() const noexcept { return path_; }
  void release() noexcept { path_.clear(); }
  void remove() noexcept {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    for (const char* s : sqlite_side_suffixes) std::filesystem::remove(with_suffix(path_, s), ec);
    path_.clear();
  }

 private:
  std::filesystem::path path_;
};

/// Throws the vecstore error for SQLite result `rc` on `db` (kept nested).
[[noreturn]] inline void throw_sqlite_code(sqlite3* db, int rc, const std::filesystem::path& file,
                                           const std::string& what) {
  try {
    if (db) throw SQLite::Exception(db, rc);
    throw SQLite::Exception(sqlite3_errstr(rc), rc);
  } catch (const SQLite::Exception& e) {
    rethrow_sqlite(e, file, what);
  }
}

/// Removes the oldest backups of `store_file` in `dir` so that `keep` remain,
/// never the one just made (`newest`), whatever the clock did. Only files
/// that list_backups() lists (our names, this store) are ever deleted.
inline void rotate_backups(const std::filesystem::path& store_file, const std::filesystem::path& dir, int keep,
                           const std::filesystem::path& newest) {
  std::error_code ec;
  int kept = 1;  // `newest`
  for (const auto& b : list_backups(store_file, dir)) {
    if (b.path == newest) continue;
    if (kept < keep) {
      ++kept;
      continue;
    }
    std::filesystem::remove(b.path, ec);
  }
}

/// Makes a verified backup of the store behind `source` (an open connection
/// of this process; other processes may keep writing meanwhile) in `dir`
/// (empty: default_backup_dir), keeping the newest `keep` backups.
///
/// One sqlite3_backup_step(-1) copies a consistent snapshot under one read
/// transaction: an incremental backup restarts whenever another connection
/// writes and may never finish under a steady writer. The copy goes to
/// ".<store name>.tmp-<pid>-<stamp>", is switched to rollback-journal mode
/// (one self-contained file), fsynced and verified (verify_store_file, quick
/// check) before it is renamed to "<store name>.<UTC stamp>.backup" and the
/// folder fsynced; on any failure the temporary is deleted. A process killed
/// meanwhile leaves only a temporary, which is never listed as a backup and
/// which remove_stale_temporaries() later deletes.
///
/// Requires: `source` is not used by another thread meanwhile.
/// Throws: io_error, lock_timeout, corruption_error (the copy does not verify).
inline backup_info make_backup(sqlite3* source, const std::filesystem::path& store_file,
                               const std::filesystem::path& dir, int keep) {
  namespace fs = std::filesystem;
  const auto started = std::chrono::steady_clock::now();
  const fs::path folder = dir.empty() ? default_backup_dir(store_file) : dir;
  const std::string store_name = store_file.filename().string();
  ensure_private_directory(folder);
  remove_stale_temporaries(folder);

  temporary_file tmp(temporary_name(folder, store_name));
  create_private_file(tmp.path());
  {
    sqlite3* dest = nullptr;
    int rc = sqlite3_open_v2(tmp.path().c_str(), &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
    const std::unique_ptr<sqlite3, int (*)(sqlite3*)> dest_guard(dest, &sqlite3_close_v2);
    if (rc != SQLITE_OK) throw_sqlite_code(dest, rc, tmp.path(), "cannot create the backup file");
    sqlite3_backup* b = sqlite3_backup_init(dest, "main", source, "main");
    if (!b) throw_sqlite_code(dest, sqlite3_errcode(dest), store_file, "cannot start the backup");
    // BUSY here means another connection held an exclusive lock (WAL recovery,
    // a checkpoint in exclusive mode): brief, so wait and try again.
    for (int attempt = 0;; ++attempt) {
      rc = sqlite3_backup_step(b, -1);
      if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt >= 200) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    const int finish = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) throw_sqlite_code(nullptr, rc, store_file, "cannot back up the store");
    if (finish != SQLITE_OK) throw_sqlite_code(dest, finish, tmp.path(), "cannot write the backup file");
    // One self-contained file: the copy is in WAL mode like its source.
    rc = sqlite3_exec(dest, "PRAGMA journal_mode = DELETE", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) throw_sqlite_code(dest, rc, tmp.path(), "cannot write the backup file");
  }
  fsync_file(tmp.path());
  const verify_result v = verify_store_file(tmp.path(), false);
  if (!v.ok) {
    throw_error<corruption_error>("the backup does not verify", store_file, v.problem,
                                  "The store itself may be damaged: run health(true); no backup was kept");
  }
  fs::path final_path;
  auto created = std::chrono::system_clock::now();
  for (int attempt = 0;; ++attempt) {
    created = std::chrono::system_clock::now();
    final_path = folder / (store_name + "." + utc_stamp(created, true) + ".backup");
    const int err = rename_no_replace(tmp.path(), final_path);
    if (err == 0) break;
    if (err != EEXIST || attempt > 100) {
      throw_error<io_error>("cannot name the backup", final_path, std::strerror(err),
                            "Check that the backup folder is writable by this user");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a backup made in the same millisecond
  }
  tmp.release();
  fsync_directory(folder);
  // created is the stamp in the name, truncated to milliseconds like the name.
  created = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::milliseconds>(created.time_since_epoch()));
  rotate_backups(store_file, folder, keep < 1 ? 1 : keep, final_path);

  backup_info info;
  info.path = final_path;
  std::error_code ec;
  info.bytes = fs::file_size(final_path, ec);
  info.created = created;
  info.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  info.seq = v.seq;
  info.records = v.records;
  return info;
}

/// Copies `from` (a file no connection of this process has open: closing our
/// descriptor would drop that connection's locks) to `to`, created
/// owner-only and exclusively, and fsyncs it.
inline void copy_private_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) {
    throw_error<io_error>("cannot read a file to copy it", from, std::strerror(errno), "Check its permissions");
  }
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    throw_error<io_error>("cannot create a file", to, std::strerror(err),
                          "Check that the folder is writable by this user");
  }
  std::vector<char> buf(1 << 20);
  int err = 0;
  for (;;) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out, buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        err = errno;
        break;
      }
      done += w;
    }
    if (err) break;
  }
  if (!err && ::fsync(out) != 0) err = errno;
  ::close(in);
  ::close(out);
  if (err) {
    throw_error<io_error>("cannot copy a file", to, std::strerror(err),
                          "Check the free space of the store's folder; nothing was replaced");
  }
}

/// Opens a new, empty store file at `file` (which must not exist): owner-only,
/// the current schema, then switched to rollback-journal mode and synchronous
/// OFF while recovery fills it; finish_fresh_store() makes it one durable,
/// self-contained file that can be renamed into place (the store switches
/// it back to WAL when it opens it).
inline std::unique_ptr<connection> open_fresh_store(const std::filesystem::path& file, const store_options& base) {
  create_private_file(file);
  store_options o = base;
  o.create_if_missing = false;  // the file exists; never create another by mistake
  auto c = std::make_unique<connection>(file, o);
  prepare_schema(*c);  // a new file: nothing to migrate
  try {
    SQLite::Statement mode(c->db(), "PRAGMA journal_mode = DELETE");
    if (!mode.executeStep() || mode.getColumn(0).getString() != "delete") {
      throw_error<io_error>("cannot prepare a new store file", file, "SQLite kept it in WAL mode",
                            "Check the file system; nothing was replaced");
    }
    c->exec("PRAGMA synchronous = OFF");
  } catch (const SQLite::Exception& e) {
    rethrow_sqlite(e, file, "cannot prepare a new store file");
  }
  return c;
}

/// Closes a store file made by open_fresh_store() and fsyncs it. Its -wal
/// and -shm (kept on close by the connection, empty since the switch to
/// rollback-journal mode) are ours and go.
inline void finish_fresh_store(std::unique_ptr<connection>& c) {
  const std::filesystem::path file = c->file();
  c->clear_cache();
  c.reset();
  std::error_code ec;
  std::filesystem::remove(with_suffix(file, "-wal"), ec);
  std::filesystem::remove(with_suffix(file, "-shm"), ec);
  fsync_file(file);
}

/// Moves a finished file into the store's place (which must be free: the
/// damaged file was quarantined) and fsyncs the folder.
inline void install_store_file(const std::filesystem::path& from, const std::filesystem::path& store_file,
                               const std::filesystem::path& quarantined) {
  if (const int err = rename_no_replace(from, store_file); err != 0) {
    throw_error<io_error>(
        "cannot move the recovered store into place", store_file,
        "renaming " + from.string() + " failed: " + std::strerror(err),
        "The damaged store is at " + quarantined.string() + "; move " + from.string() + " to the store's path by hand");
  }
  fsync_directory(store_file.parent_path());
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
