// SPDX-License-Identifier: MIT
// What the binary formats (fvecs, npy) share: little-endian values, whatever
// the host's byte order, and an input file read sequentially with its size
// known up front, which the readers check every count against.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include <sys/stat.h>
#include <unistd.h>

#include "formats.hpp"

namespace vecstore_cli {

inline std::uint32_t load_u32_le(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
inline float load_f32_le(const unsigned char* p) noexcept {
  const std::uint32_t u = load_u32_le(p);
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline void store_f32_le(float f, unsigned char* p) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  p[0] = static_cast<unsigned char>(u);
  p[1] = static_cast<unsigned char>(u >> 8);
  p[2] = static_cast<unsigned char>(u >> 16);
  p[3] = static_cast<unsigned char>(u >> 24);
}

/// A binary input file read sequentially, with its size known up front.
class input_file {
 public:
  explicit input_file(fs::path path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "rb");
    if (!file_) io_failure("cannot open the input file", path_, errno);
    struct stat st {};
    if (::fstat(::fileno(file_), &st) != 0) io_failure("cannot read the input file", path_, errno);
    if (!S_ISREG(st.st_mode)) bad_input(path_, "not a regular file");
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  input_file(const input_file&) = delete;
  input_file& operator=(const input_file&) = delete;
  ~input_file() {
    if (file_) std::fclose(file_);
  }

  const fs::path& path() const noexcept { return path_; }
  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t position() const noexcept { return pos_; }
  std::uint64_t left() const noexcept { return size_ - pos_; }

  void read(void* out, std::size_t n) {
    if (n > left()) bad_input(path_, "unexpected end of file at byte " + std::to_string(pos_));
    if (n != 0 && std::fread(out, 1, n, file_) != n) {
      if (std::ferror(file_)) io_failure("cannot read the input file", path_, errno);
      bad_input(path_, "the file ended early at byte " + std::to_string(pos_) + " (it changed while being read?)");
    }
    pos_ += n;
  }

  void seek(std::uint64_t offset) {
    if (offset > size_) bad_input(path_, "offset " + std::to_string(offset) + " is past the end of the file");
    if (::fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0) io_failure("cannot read the input file", path_, errno);
    pos_ = offset;
  }

 private:
  fs::path path_;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;
  std::uint64_t pos_ = 0;
};

}  // namespace vecstore_cli
