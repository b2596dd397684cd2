// SPDX-License-Identifier: MIT
// The file export writes, made to appear whole or not at all.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include "formats.hpp"

namespace vecstore_cli {

/// A file written under a temporary name beside its destination and renamed
/// into place by commit(), so that a failed export never leaves a partial
/// file. The temporary is owner-only and never follows a symlink; an existing
/// destination is replaced only when `overwrite`.
class output_file {
 public:
  output_file(fs::path path, bool overwrite) : path_(std::move(path)) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(path_, ec)) && !overwrite) {
      vecstore::detail::throw_error<vecstore::invalid_argument>("cannot export", path_, "the file exists",
                                                                "Pass --force to replace it, or choose another name");
    }
    if (fs::is_directory(path_, ec)) {
      vecstore::detail::throw_error<vecstore::invalid_argument>("cannot export", path_, "the path is a directory");
    }
    const fs::path dir = path_.has_parent_path() ? path_.parent_path() : fs::path(".");
    temp_ = dir / ("." + path_.filename().string() + ".tmp-" + std::to_string(::getpid()));
    const int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) io_failure("cannot create the output file", temp_, errno);
    file_ = ::fdopen(fd, "wb");
    if (!file_) {
      const int err = errno;
      ::close(fd);
      ::unlink(temp_.c_str());
      io_failure("cannot create the output file", temp_, err);
    }
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  }
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  ~output_file() {
    if (file_) {
      std::fclose(file_);
      ::unlink(temp_.c_str());  // our own temporary, never the user's file
    }
  }

  void write(const void* data, std::size_t n) {
    if (n != 0 && std::fwrite(data, 1, n, file_) != n) io_failure("cannot write the output file", temp_, errno);
  }
  void write(std::string_view s) { write(s.data(), s.size()); }

  /// Rewrites `n` bytes at `offset` (the npy header, once the row count is known).
  void patch(std::uint64_t offset, const void* data, std::size_t n) {
    if (std::fflush(file_) != 0 || ::fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0) {
      io_failure("cannot write the output file", temp_, errno);
    }
    write(data, n);
    if (std::fflush(file_) != 0 || ::fseeko(file_, 0, SEEK_END) != 0) io_failure("cannot write the output file", temp_, errno);
  }

  /// Flushes, syncs and renames the file into place.
  void commit() {
    if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) io_failure("cannot write the output file", temp_, errno);
    const int closed = std::fclose(file_);
    file_ = nullptr;
    if (closed != 0) {
      const int err = errno;
      ::unlink(temp_.c_str());
      io_failure("cannot write the output file", temp_, err);
    }
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
      const int err = errno;
      ::unlink(temp_.c_str());
      io_failure("cannot move the output file into place", path_, err);
    }
  }

 private:
  fs::path path_;
  fs::path temp_;
  std::FILE* file_ = nullptr;
};

}  // namespace vecstore_cli
