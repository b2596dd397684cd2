// SPDX-License-Identifier: MIT
// What every part of the ChromaDB importer shares: its two errors, little-endian
// loads, and reads of files whose sizes are checked before anything is allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

// The whole library, not single headers: with the single header first on the
// include path, the importer then builds on it instead of redefining it. Every
// part of the importer includes the library this way, and only this way.
#include <vecstore/vecstore.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {
namespace chroma {

/// What a refusal names as supported, and what to do instead.
inline constexpr const char* supported_text = "sysdb 1-9, metadb 1-5, embeddings_queue 1-2 (ChromaDB 1.0)";
inline constexpr const char* jsonl_hint =
    "Export the collections with ChromaDB's own client and import JSON Lines instead";

inline std::uint32_t load_u32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
inline std::uint64_t load_u64(const unsigned char* p) noexcept {
  return static_cast<std::uint64_t>(load_u32(p)) | static_cast<std::uint64_t>(load_u32(p + 4)) << 32;
}
inline float load_f32(const unsigned char* p) noexcept {
  const std::uint32_t bits = load_u32(p);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// Damage: corruption_error naming the file and what was wrong.
[[noreturn]] inline void corrupt(const std::filesystem::path& file, const std::string& why) {
  throw_error<corruption_error>("cannot import the ChromaDB directory", file, why,
                                "The file is damaged or was changed while ChromaDB wrote it; nothing was imported");
}
/// A format this importer does not know: schema_error naming what is supported.
[[noreturn]] inline void unsupported(const std::filesystem::path& file, const std::string& why) {
  throw_error<schema_error>("cannot import the ChromaDB directory", file,
                            why + "; supported: " + std::string(supported_text), jsonl_hint);
}

/// A regular file's size; io_error when it cannot be read at all.
inline std::uintmax_t stat_size(const std::filesystem::path& p) {
  std::error_code ec;
  const auto st = std::filesystem::status(p, ec);
  if (ec || !std::filesystem::is_regular_file(st)) {
    throw_error<io_error>("cannot import the ChromaDB directory", p,
                          ec ? ec.message() : std::string("not a regular file"),
                          "Check that the persist directory is complete and readable");
  }
  const auto size = std::filesystem::file_size(p, ec);
  if (ec) {
    throw_error<io_error>("cannot import the ChromaDB directory", p, ec.message(),
                          "Check that the file is readable by this user");
  }
  return size;
}

inline std::ifstream open_binary(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    throw_error<io_error>("cannot import the ChromaDB directory", p, "the file cannot be opened",
                          "Check that the file is readable by this user");
  }
  return in;
}

/// Reads `size` bytes. The files are untrusted: the caller has checked `size`
/// against the file's size and a limit before this allocates it.
inline std::vector<unsigned char> read_bytes(const std::filesystem::path& p, std::size_t size) {
  std::ifstream in = open_binary(p);
  std::vector<unsigned char> out(size);
  if (size != 0 && !in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size))) {
    corrupt(p, "the file ended while reading its " + std::to_string(size) + " bytes");
  }
  return out;
}

}  // namespace chroma
}  // namespace detail
}  // namespace v0
}  // namespace vecstore
