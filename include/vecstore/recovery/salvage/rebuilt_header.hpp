// SPDX-License-Identifier: MIT
// A damaged store whose 100-byte SQLite header alone is damaged, which SQLite
// then refuses whole as "not a database": copy_with_rebuilt_header makes a
// copy with the header written anew from what vecstore always writes and a
// page size that the file's own b-tree pages agree on. It works on the bytes
// of the file, beside SQLite rather than through it, so it sits apart from the
// reading and writing of records; the salvager (salvage/salvager.hpp) reads
// the copy instead, and never writes the damaged file itself.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

#include <vecstore/storage/backup.hpp>
#include <vecstore/version.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Big-endian store of a header field.
inline void put_be32(unsigned char* at, std::uint32_t v) noexcept {
  at[0] = static_cast<unsigned char>(v >> 24);
  at[1] = static_cast<unsigned char>(v >> 16);
  at[2] = static_cast<unsigned char>(v >> 8);
  at[3] = static_cast<unsigned char>(v);
}

/// Copies `damaged` to `copy` with its 100-byte database header rebuilt, for
/// a file whose header alone is damaged (SQLite then refuses the whole file
/// as "not a database"). The page size is the first one at which page 1's
/// b-tree header (at byte 100) and page 2 both look like b-tree pages; the
/// rest is what vecstore writes (UTF-8, no auto-vacuum, rollback journal,
/// size taken from the file, empty free list). False, and no copy, when no
/// page size fits. Requires: no connection of this process has `damaged` open.
inline bool copy_with_rebuilt_header(const std::filesystem::path& damaged, const std::filesystem::path& copy) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(damaged, ec);
  if (ec || size < 1024) return false;
  const int fd = ::open(damaged.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  const auto byte_at = [&](std::uintmax_t offset) {
    unsigned char b = 0;
    return ::pread(fd, &b, 1, static_cast<off_t>(offset)) == 1 ? static_cast<int>(b) : -1;
  };
  const auto is_btree = [](int type) { return type == 0x02 || type == 0x05 || type == 0x0a || type == 0x0d; };
  std::uint32_t page = 0;
  if (byte_at(100) == 0x0d || byte_at(100) == 0x05) {
    for (const std::uint32_t p : {4096u, 1024u, 2048u, 8192u, 16384u, 32768u, 65536u, 512u}) {
      if (size >= 2u * p && is_btree(byte_at(p))) {
        page = p;
        break;
      }
    }
  }
  ::close(fd);
  if (page == 0) return false;

  unsigned char h[100] = {};
  std::memcpy(h, "SQLite format 3", 16);  // with its terminating NUL
  h[16] = static_cast<unsigned char>(page == 65536 ? 0 : page >> 8);
  h[17] = static_cast<unsigned char>(page == 65536 ? 1 : page & 0xff);
  h[18] = 1;  // rollback journal: the copy has no -wal
  h[19] = 1;
  h[21] = 64;
  h[22] = 32;
  h[23] = 32;
  put_be32(h + 24, 1);  // change counter; version-valid-for (92) stays 0, so the size comes from the file
  put_be32(h + 40, 1);  // schema cookie
  put_be32(h + 44, 4);  // schema format
  put_be32(h + 56, 1);  // UTF-8
  put_be32(h + 60, static_cast<std::uint32_t>(schema_version));
  put_be32(h + 68, static_cast<std::uint32_t>(application_id));
  put_be32(h + 96, SQLITE_VERSION_NUMBER);
  copy_private_file(damaged, copy);
  const int out = ::open(copy.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  const bool written = out >= 0 && ::pwrite(out, h, sizeof h, 0) == static_cast<ssize_t>(sizeof h);
  if (out >= 0) ::close(out);
  return written;
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
