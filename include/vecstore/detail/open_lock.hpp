// SPDX-License-Identifier: MIT
// open_lock: who has a store open, for open_mode::exclusive. Every instance
// holds a shared fcntl lock on "<store>.open" for its lifetime; an exclusive
// instance holds it exclusively, so either side learns of the other at once.
#pragma once

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include <vecstore/detail/file_trust.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// A whole-file fcntl lock on a side file of its own: the writer lock's file
/// is locked whole by boost::interprocess::file_lock, and fcntl locks of one
/// process on one file would interfere. The descriptor is the only one this
/// process opens on the file (closing another would drop the lock) and is
/// close-on-exec. The kernel drops the lock when the process dies; a forked
/// child does not inherit it (it releases its copy of the descriptor, which
/// leaves the parent's lock alone, and acquires its own).
class open_lock {
 public:
  explicit open_lock(std::filesystem::path file) : file_(std::move(file)) {}
  open_lock(const open_lock&) = delete;
  open_lock& operator=(const open_lock&) = delete;
  ~open_lock() { release(); }

  /// Takes the lock without waiting: shared for open_mode::shared, exclusive
  /// for open_mode::exclusive. Returns the pid of a process in the way, or
  /// nullopt on success. Throws io_error when the file cannot be opened.
  std::optional<long> try_acquire(open_mode mode) {
    if (fd_ < 0) {
      fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd_ < 0) {
        throw_error<io_error>("cannot open the store's open-lock file", file_, std::strerror(errno),
                              "Check that the folder is writable by this user");
      }
      try {
        check_trusted(fd_, file_, "store's open-lock file");
      } catch (...) {
        release();
        throw;
      }
    }
    struct flock request = whole_file(mode == open_mode::exclusive ? F_WRLCK : F_RDLCK);
    if (::fcntl(fd_, F_SETLK, &request) == 0) return std::nullopt;
    struct flock probe = whole_file(mode == open_mode::exclusive ? F_WRLCK : F_RDLCK);
    if (::fcntl(fd_, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK) return static_cast<long>(probe.l_pid);
    return 0L;  // in the way, but gone before we could ask who it was
  }

  /// Releases the lock (closing the only descriptor drops it).
  void release() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  static struct flock whole_file(short type) {
    struct flock l {};
    l.l_type = type;
    l.l_whence = SEEK_SET;
    l.l_start = 0;
    l.l_len = 0;
    return l;
  }

  std::filesystem::path file_;
  int fd_ = -1;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
