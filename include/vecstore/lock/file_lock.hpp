// SPDX-License-Identifier: MIT
// file_lock: the default LockPolicy, an fcntl lock on "<store>.lock" plus an in-process mutex.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/sync/file_lock.hpp>

#include <vecstore/detail/file_trust.hpp>
#include <vecstore/errors.hpp>

namespace vecstore {
inline namespace v0 {

/// Writer exclusion across processes and threads.
///
/// - Across processes: `boost::interprocess::file_lock` (a whole-file fcntl
///   write lock) on a dedicated lock file, never on the database: closing any
///   descriptor of a file drops every fcntl lock the process holds on it,
///   SQLite's own included (docs/architecture.md, "Files of a store").
/// - Across threads: fcntl locks belong to the process, so a second thread
///   would "acquire" it too; a `std::timed_mutex` excludes threads first.
/// - Crashes: the kernel releases the lock when the holder dies (about 1 ms).
/// - Cost: two uncontended syscalls per write transaction.
///
/// One object per lock file per process (the store registry guarantees it),
/// and nothing else may open and close the lock file while it is held.
class file_lock {
 public:
  static constexpr bool cross_process = true;
  static constexpr bool crash_safe = true;

  explicit file_lock(const std::filesystem::path& lock_file) : path_(lock_file) {
    create_lock_file(path_);
    try {
      lock_ = boost::interprocess::file_lock(path_.c_str());
    } catch (const boost::interprocess::interprocess_exception& e) {
      detail::throw_error<io_error>("cannot open the lock file", path_, e.what(),
                                    "Check that the folder is writable by this user");
    }
  }
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;

  void lock() {
    threads_.lock();
    try {
      lock_.lock();
    } catch (...) {
      threads_.unlock();
      throw;
    }
  }

  bool try_lock() {
    if (!threads_.try_lock()) return own_thread_holds();
    if (lock_.try_lock()) return true;
    return other_process_holds();
  }

  /// Waits up to `timeout` for other threads, then for other processes.
  bool try_lock_for(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    // A system_clock deadline: libstdc++ waits on it with pthread_mutex_timedlock,
    // which ThreadSanitizer understands (its steady_clock path, clocklock, it does not).
    if (!threads_.try_lock_until(std::chrono::system_clock::now() + timeout)) return own_thread_holds();
    // Boost's timed_lock polls try_lock; it takes an absolute boost::posix_time,
    // so poll here with the same steady clock instead.
    auto pause = std::chrono::microseconds(50);
    for (;;) {
      if (lock_.try_lock()) return true;
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(pause);
      pause = (std::min)(pause * 2, std::chrono::microseconds(2000));
    }
    return other_process_holds();
  }

  void unlock() {
    lock_.unlock();
    threads_.unlock();
  }

  /// The process that held the lock when the last try_lock* failed
  /// (this process when another of its threads held it).
  std::optional<long> holder_pid() const noexcept {
    const long pid = last_holder_.load();
    if (pid <= 0) return std::nullopt;
    return pid;
  }

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  /// Creates the lock file owner-only, refusing to follow a symlink planted
  /// in its place. Closing this descriptor is safe: no lock is held yet.
  static void create_lock_file(const std::filesystem::path& p) {
    const int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      detail::throw_error<io_error>("cannot create the lock file", p, std::strerror(errno),
                                    "Check that the folder exists and is writable by this user");
    }
    try {
      detail::check_trusted(fd, p, "lock file");  // not one another user placed (and holds) there
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
  }

  bool own_thread_holds() noexcept {
    last_holder_.store(static_cast<long>(::getpid()));
    return false;
  }

  /// Records who holds the file lock, then gives the thread mutex back.
  /// The probe opens and closes a descriptor of the lock file, which would drop
  /// this process's fcntl lock if it held one; holding `threads_` here
  /// guarantees no thread of this process does.
  bool other_process_holds() noexcept {
    long holder = 0;
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
      struct flock probe {};
      probe.l_type = F_WRLCK;
      probe.l_whence = SEEK_SET;
      if (::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK) holder = probe.l_pid;
      ::close(fd);
    }
    last_holder_.store(holder);
    threads_.unlock();
    return false;
  }

  std::filesystem::path path_;
  std::atomic<long> last_holder_{0};
  std::timed_mutex threads_;
  boost::interprocess::file_lock lock_;
};

}  // namespace v0
}  // namespace vecstore
