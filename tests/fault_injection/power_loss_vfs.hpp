// SPDX-License-Identifier: MIT
// A power-loss simulator: a shim SQLite VFS over "unix", after SQLite's own
// src/test6.c. Install it in a CHILD process only (it calls _exit).
//
// Every write and truncate of a main database or WAL file is applied to the
// real file at once (so reads see it, as the page cache would) and also logged
// with the bytes it replaced, until an xSync of that file makes it durable.
// xSync itself does nothing else: durability is this model's alone, so the
// tests run at memory speed. At the chosen I/O call (xRead, xWrite,
// xTruncate or xSync; counted from 1) the power fails before that call runs:
// every file is first rolled back to its last synced content (the logged
// operations undone newest first), then each unsynced operation, oldest
// first, is independently kept (re-applied), dropped, or garbled (its range
// filled with random bytes; a truncate is kept or dropped). Then the process
// _exit()s with `crash_exit_code`, having written one line to `report_fd`:
//   "crash io=<n> ops=<unsynced> kept=<k> dropped=<d> garbled=<g>"
// A dropped write followed by a kept one leaves a hole of zeros, as on disk.
// The line ends with " at_ns=<steady_clock time of the power failure>".
//
// The crash can also be armed later, from another thread than the one doing
// I/O (crash_after); the counters are atomic for that. The file operations
// themselves need no lock: SQLite's callers serialize them (vecstore holds
// the connection's mutex around every use of the connection).
//
// The -shm file, temporary files and locks pass straight through: SQLite
// rebuilds the WAL index when the next process opens the store alone.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <sqlite3.h>

namespace vecstore_test::power_loss {

inline constexpr int crash_exit_code = 42;

namespace detail {

/// One write or truncate not yet covered by an xSync of its file.
struct unsynced_op {
  bool truncate = false;
  sqlite3_int64 offset = 0;   // a write's offset, or a truncate's new size
  std::string old_bytes;      // what the range held before (clipped to the old size)
  sqlite3_int64 old_size = 0; // the file size before the operation
  std::string new_bytes;      // what a write wrote
};

struct simulator {
  sqlite3_vfs* real = nullptr;
  sqlite3_vfs shim{};
  sqlite3_io_methods methods{};
  std::atomic<std::uint64_t> io_calls{0};
  std::atomic<std::uint64_t> crash_at{0};  // 0: never
  int report_fd = -1;
  std::mt19937_64 rng;
  std::map<std::string, std::vector<unsynced_op>> unsynced;  // by file path
};

inline simulator& sim() {
  static simulator s;
  return s;
}

/// Our file object; the real VFS's file lives right after it.
struct shim_file {
  sqlite3_file base;
  sqlite3_file* real;
  const char* path;  // valid until xClose (SQLite's guarantee for xOpen's name)
  bool tracked;      // a main database or WAL: its writes are logged
};

inline constexpr std::size_t shim_size = (sizeof(shim_file) + 15) & ~std::size_t{15};

inline shim_file* as_shim(sqlite3_file* f) { return reinterpret_cast<shim_file*>(f); }
inline sqlite3_file* real_of(sqlite3_file* f) { return as_shim(f)->real; }

inline void write_all(int fd, const char* data, std::size_t n, sqlite3_int64 offset) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w <= 0) return;  // nothing more can be done in a dying process
    data += w;
    n -= static_cast<std::size_t>(w);
    offset += w;
  }
}

/// The power fails: every file goes back to its synced content, then each
/// unsynced operation is kept, dropped or garbled. Never returns.
[[noreturn]] inline void crash_now() {
  const auto failed_at = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  simulator& s = sim();
  std::size_t ops = 0, kept = 0, dropped = 0, garbled = 0;
  for (auto& [path, log] : s.unsynced) {
    if (log.empty()) continue;
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;
    // Back to the last synced state, newest first.
    for (auto it = log.rbegin(); it != log.rend(); ++it) {
      if (it->truncate) {
        if (::ftruncate(fd, static_cast<off_t>(it->old_size)) != 0) break;
        write_all(fd, it->old_bytes.data(), it->old_bytes.size(), it->offset);
      } else {
        write_all(fd, it->old_bytes.data(), it->old_bytes.size(), it->offset);
        if (::ftruncate(fd, static_cast<off_t>(it->old_size)) != 0) break;
      }
    }
    // What reached the platter, oldest first.
    for (const auto& op : log) {
      ++ops;
      const auto fate = s.rng() % 3;
      if (op.truncate) {
        if (fate == 0) {
          ++dropped;
        } else {
          ++kept;
          if (::ftruncate(fd, static_cast<off_t>(op.offset)) != 0) break;
        }
        continue;
      }
      if (fate == 0) {
        ++dropped;
      } else if (fate == 1) {
        ++kept;
        write_all(fd, op.new_bytes.data(), op.new_bytes.size(), op.offset);
      } else {
        ++garbled;
        std::string noise(op.new_bytes.size(), '\0');
        for (auto& c : noise) c = static_cast<char>(s.rng() & 0xff);
        write_all(fd, noise.data(), noise.size(), op.offset);
      }
    }
    ::close(fd);
  }
  if (s.report_fd >= 0) {
    char line[200];
    const int n = std::snprintf(line, sizeof line, "crash io=%llu ops=%zu kept=%zu dropped=%zu garbled=%zu at_ns=%lld\n",
                                static_cast<unsigned long long>(s.io_calls.load()), ops, kept, dropped, garbled,
                                static_cast<long long>(failed_at));
    if (n > 0) (void)!::write(s.report_fd, line, static_cast<std::size_t>(n));
  }
  ::_exit(crash_exit_code);
}

/// Counts one I/O call; the power fails before the chosen one runs (or
/// before the first one past it, when crash_after armed it late).
inline void tick() {
  simulator& s = sim();
  const std::uint64_t call = ++s.io_calls;
  const std::uint64_t at = s.crash_at.load();
  if (at != 0 && call >= at) crash_now();
}

inline sqlite3_int64 size_of(sqlite3_file* real) {
  sqlite3_int64 size = 0;
  if (real->pMethods->xFileSize(real, &size) != SQLITE_OK) return 0;
  return size;
}

/// The bytes [offset, offset + n) of the real file, clipped to its size.
inline std::string read_range(sqlite3_file* real, sqlite3_int64 offset, sqlite3_int64 n, sqlite3_int64 size) {
  const sqlite3_int64 end = offset + n < size ? offset + n : size;
  if (end <= offset) return {};
  std::string out(static_cast<std::size_t>(end - offset), '\0');
  if (real->pMethods->xRead(real, out.data(), static_cast<int>(out.size()), offset) != SQLITE_OK) out.clear();
  return out;
}

// --- sqlite3_io_methods ------------------------------------------------------

inline int x_close(sqlite3_file* f) {
  // Unsynced operations stay logged by path: a power failure after a close
  // loses them as well.
  const int rc = real_of(f)->pMethods->xClose(real_of(f));
  f->pMethods = nullptr;
  return rc;
}

inline int x_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  tick();
  return real_of(f)->pMethods->xRead(real_of(f), buf, amount, offset);
}

inline int x_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  tick();
  shim_file* s = as_shim(f);
  if (s->tracked) {
    unsynced_op op;
    op.offset = offset;
    op.old_size = size_of(s->real);
    op.old_bytes = read_range(s->real, offset, amount, op.old_size);
    op.new_bytes.assign(static_cast<const char*>(buf), static_cast<std::size_t>(amount));
    sim().unsynced[s->path].push_back(std::move(op));
  }
  return s->real->pMethods->xWrite(s->real, buf, amount, offset);
}

inline int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  tick();
  shim_file* s = as_shim(f);
  if (s->tracked) {
    unsynced_op op;
    op.truncate = true;
    op.offset = size;
    op.old_size = size_of(s->real);
    op.old_bytes = read_range(s->real, size, op.old_size - size, op.old_size);
    sim().unsynced[s->path].push_back(std::move(op));
  }
  return s->real->pMethods->xTruncate(s->real, size);
}

inline int x_sync(sqlite3_file* f, int) {
  tick();
  shim_file* s = as_shim(f);
  if (s->tracked) sim().unsynced[s->path].clear();  // durable from now on
  return SQLITE_OK;
}

inline int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return real_of(f)->pMethods->xFileSize(real_of(f), size); }
inline int x_lock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xLock(real_of(f), level); }
inline int x_unlock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
inline int x_check_reserved_lock(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
inline int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
inline int x_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
inline int x_device_characteristics(sqlite3_file* f) {
  return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
inline int x_shm_map(sqlite3_file* f, int page, int page_size, int extend, void volatile** out) {
  return real_of(f)->pMethods->xShmMap(real_of(f), page, page_size, extend, out);
}
inline int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
inline void x_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
inline int x_shm_unmap(sqlite3_file* f, int delete_flag) {
  return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}
/// No memory mapping: every read goes through xRead.
inline int x_fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
  *out = nullptr;
  return SQLITE_OK;
}
inline int x_unfetch(sqlite3_file*, sqlite3_int64, void*) { return SQLITE_OK; }

// --- sqlite3_vfs ---------------------------------------------------------------

inline int x_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  simulator& s = sim();
  shim_file* shim = as_shim(f);
  shim->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + shim_size);
  shim->path = name;
  shim->tracked = name != nullptr && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_JOURNAL)) != 0;
  const int rc = s.real->xOpen(s.real, name, shim->real, flags, out_flags);
  f->pMethods = rc == SQLITE_OK ? &s.methods : nullptr;
  return rc;
}
inline int x_delete(sqlite3_vfs*, const char* name, int sync_dir) { return sim().real->xDelete(sim().real, name, sync_dir); }
inline int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return sim().real->xAccess(sim().real, name, flags, out);
}
inline int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return sim().real->xFullPathname(sim().real, name, n, out);
}
inline void* x_dl_open(sqlite3_vfs*, const char* name) { return sim().real->xDlOpen(sim().real, name); }
inline void x_dl_error(sqlite3_vfs*, int n, char* out) { sim().real->xDlError(sim().real, n, out); }
inline void (*x_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return sim().real->xDlSym(sim().real, handle, symbol);
}
inline void x_dl_close(sqlite3_vfs*, void* handle) { sim().real->xDlClose(sim().real, handle); }
inline int x_randomness(sqlite3_vfs*, int n, char* out) { return sim().real->xRandomness(sim().real, n, out); }
inline int x_sleep(sqlite3_vfs*, int micros) { return sim().real->xSleep(sim().real, micros); }
inline int x_current_time(sqlite3_vfs*, double* out) { return sim().real->xCurrentTime(sim().real, out); }
inline int x_get_last_error(sqlite3_vfs*, int n, char* out) { return sim().real->xGetLastError(sim().real, n, out); }
inline int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return sim().real->xCurrentTimeInt64(sim().real, out);
}

}  // namespace detail

/// Registers the simulator as the default VFS of this (child) process. The
/// power fails at I/O call `crash_at` (0: never), with unsynced operations
/// kept, dropped or garbled as `seed` decides. Call before any SQLite use.
inline void install(std::uint64_t seed, std::uint64_t crash_at, int report_fd) {
  using namespace detail;
  simulator& s = sim();
  s.real = sqlite3_vfs_find("unix");
  s.crash_at = crash_at;
  s.report_fd = report_fd;
  s.rng.seed(seed);

  sqlite3_io_methods& m = s.methods;
  m.iVersion = 3;
  m.xClose = x_close;
  m.xRead = x_read;
  m.xWrite = x_write;
  m.xTruncate = x_truncate;
  m.xSync = x_sync;
  m.xFileSize = x_file_size;
  m.xLock = x_lock;
  m.xUnlock = x_unlock;
  m.xCheckReservedLock = x_check_reserved_lock;
  m.xFileControl = x_file_control;
  m.xSectorSize = x_sector_size;
  m.xDeviceCharacteristics = x_device_characteristics;
  m.xShmMap = x_shm_map;
  m.xShmLock = x_shm_lock;
  m.xShmBarrier = x_shm_barrier;
  m.xShmUnmap = x_shm_unmap;
  m.xFetch = x_fetch;
  m.xUnfetch = x_unfetch;

  sqlite3_vfs& v = s.shim;
  v.iVersion = 2;
  v.szOsFile = static_cast<int>(shim_size) + s.real->szOsFile;
  v.mxPathname = s.real->mxPathname;
  v.zName = "vecstore_power_loss";
  v.xOpen = x_open;
  v.xDelete = x_delete;
  v.xAccess = x_access;
  v.xFullPathname = x_full_pathname;
  v.xDlOpen = x_dl_open;
  v.xDlError = x_dl_error;
  v.xDlSym = x_dl_sym;
  v.xDlClose = x_dl_close;
  v.xRandomness = x_randomness;
  v.xSleep = x_sleep;
  v.xCurrentTime = x_current_time;
  v.xGetLastError = x_get_last_error;
  v.xCurrentTimeInt64 = x_current_time_int64;
  sqlite3_vfs_register(&v, 1);
}

/// I/O calls counted so far (a run without a crash reports its total).
inline std::uint64_t io_calls() { return detail::sim().io_calls.load(); }

/// Arms the power failure for the `calls`-th I/O call from now (at least 1),
/// whichever thread makes it: a test that crashes by time rather than by count.
inline void crash_after(std::uint64_t calls) {
  detail::sim().crash_at.store(io_calls() + (calls == 0 ? 1 : calls));
}

}  // namespace vecstore_test::power_loss
