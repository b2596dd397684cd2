// SPDX-License-Identifier: MIT
// "<store>.vectors": the indexes' arrays as a file, which opening maps instead of reading every embedding from SQLite.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vecstore/detail/checksum.hpp>
#include <vecstore/detail/file_trust.hpp>
#include <vecstore/detail/page_array.hpp>
#include <vecstore/detail/quarantine.hpp>
#include <vecstore/index/kernel.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

// The file is derived data: SQLite stays the truth, and a vectors file that is
// missing, damaged, foreign or too old is simply not used. Layout, every
// number a little-endian 64-bit word:
//
//   header: magic, format, seq, token, collection count, file size; then per
//           collection: id, dim, metric, rows, and six arrays as (offset,
//           count, checksum): rows, keys, squared norms (l2 only), and the
//           record ids as row ids (ascending), id ends, id bytes; last, the
//           XXH64 of every word before it.
//   arrays: each at a multiple of vectors_file_align, so that it can be mapped
//           on its own (page_array::map), and the file padded to one more.
//
// "seq" and "token" name the store's content the file was written from
// (schema.hpp, seq_tokens). An array's checksum is the XXH64 of the XXH64s
// of its vectors_file_chunk-byte chunks, so that verifying runs on every thread.
// Written to a temporary file and renamed into place, never changed in place:
// a process mapping the old file keeps reading the old file.

inline constexpr std::uint64_t vectors_file_magic = 0x3153524F54434556ULL;  // "VECTORS1"
inline constexpr std::uint64_t vectors_file_format = 1;
inline constexpr std::uint64_t vectors_file_align = std::uint64_t{1} << 16;  // the largest page size Linux uses
inline constexpr std::size_t vectors_file_chunk = std::size_t{8} << 20;
// Written in pieces this large, so that a writer asked to stop does so within
// one (tens of ms, or a few hundred when the disk throttles writeback).
inline constexpr std::uint64_t vectors_file_piece = std::uint64_t{16} << 20;
inline constexpr std::size_t vectors_file_header_words = 6;  // before the collections
inline constexpr std::size_t vectors_file_arrays = 6;
inline constexpr std::size_t vectors_file_words_per_collection = 4 + 3 * vectors_file_arrays;
inline constexpr std::uint64_t vectors_file_max_collections = 1u << 20;  // a sanity bound on a damaged header

/// One collection of a vectors file: what flat_index::adopt and id_table::adopt take.
struct vectors_file_collection {
  std::int64_t collection_id = 0;
  std::size_t dim = 0;
  metric space = metric::cosine;
  page_array<float> rows;
  page_array<std::int64_t> keys;
  page_array<float> sq_norms;
  page_array<std::int64_t> id_rids;
  page_array<std::uint64_t> id_ends;
  page_array<char> id_chars;
};

struct vectors_file {
  std::int64_t seq = 0;
  std::int64_t token = 0;
  std::vector<vectors_file_collection> collections;
};

/// What write_vectors_file reads of one collection; the arrays are borrowed.
struct vectors_file_source {
  std::int64_t collection_id = 0;
  metric space = metric::cosine;
  row_view rows;                         // rows.rows rows of rows.dim floats, stride == dim
  const std::int64_t* keys = nullptr;    // rows.rows keys
  const float* sq_norms = nullptr;       // rows.rows floats for l2, else null
  std::vector<std::int64_t> id_rids;     // ascending
  std::vector<std::uint64_t> id_ends;
  std::string id_chars;
};

inline constexpr std::uint64_t vectors_file_aligned(std::uint64_t bytes) noexcept {
  return (bytes + vectors_file_align - 1) / vectors_file_align * vectors_file_align;
}

/// The checksum of an array as the header holds it (see above).
inline std::uint64_t vectors_file_checksum(const void* data, std::size_t bytes) {
  const std::size_t chunks = (bytes + vectors_file_chunk - 1) / vectors_file_chunk;
  std::vector<std::uint64_t> sums(chunks);
  const auto* p = static_cast<const unsigned char*>(data);
  const std::size_t tasks = (std::min)(chunks, search_threads());
  parallel_run(tasks, [&](std::size_t task) {
    for (std::size_t c = task; c < chunks; c += tasks) {
      sums[c] = xxh64(p + c * vectors_file_chunk, (std::min)(vectors_file_chunk, bytes - c * vectors_file_chunk));
    }
  });
  return xxh64(sums.data(), sums.size() * sizeof(std::uint64_t));
}

/// Writes the vectors file of `sources` at (`seq`, `token`) to `file`, through a
/// temporary file beside it and a rename. Returns false (and leaves nothing
/// behind) when the folder refuses it, or when `*stop` (if given) becomes
/// true, which is checked every vectors_file_piece bytes: the file is an
/// optimization, never a reason for a write or an open to fail or wait. No
/// fsync: after a crash the file is either whole or fails its checksums and
/// is ignored.
inline bool write_vectors_file(const std::filesystem::path& file, std::int64_t seq, std::int64_t token,
                               const std::vector<vectors_file_source>& sources, int mode,
                               const std::atomic<bool>* stop = nullptr) {
  struct array {
    const void* data;
    std::uint64_t count, bytes;
  };
  std::vector<std::uint64_t> header{vectors_file_magic, vectors_file_format, static_cast<std::uint64_t>(seq),
                                    static_cast<std::uint64_t>(token), sources.size(), 0};
  const std::uint64_t header_bytes = (header.size() + sources.size() * vectors_file_words_per_collection + 1) * 8;
  std::uint64_t at = vectors_file_aligned(header_bytes);
  std::vector<std::pair<std::uint64_t, array>> placed;
  for (const vectors_file_source& s : sources) {
    const std::size_t n = s.rows.rows;
    const array arrays[vectors_file_arrays] = {
        {s.rows.data, n * s.rows.dim, n * s.rows.dim * sizeof(float)},
        {s.keys, n, n * sizeof(std::int64_t)},
        {s.sq_norms, s.sq_norms ? n : 0, s.sq_norms ? n * sizeof(float) : 0},
        {s.id_rids.data(), s.id_rids.size(), s.id_rids.size() * sizeof(std::int64_t)},
        {s.id_ends.data(), s.id_ends.size(), s.id_ends.size() * sizeof(std::uint64_t)},
        {s.id_chars.data(), s.id_chars.size(), s.id_chars.size()}};
    header.insert(header.end(), {static_cast<std::uint64_t>(s.collection_id), s.rows.dim,
                                 static_cast<std::uint64_t>(s.space), n});
    for (const array& a : arrays) {
      if (stop != nullptr && stop->load(std::memory_order_relaxed)) return false;
      header.insert(header.end(), {at, a.count, vectors_file_checksum(a.data, a.bytes)});
      placed.emplace_back(at, a);
      at += vectors_file_aligned(a.bytes);
    }
  }
  const std::uint64_t file_bytes = at + vectors_file_align;  // padding: every mapped page lies inside the file
  header[5] = file_bytes;
  header.push_back(xxh64(header.data(), header.size() * 8));

  const std::filesystem::path tmp = temporary_name(file.parent_path(), file.filename().string());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const auto put = [&](const void* data, std::uint64_t bytes, std::uint64_t offset) {
    const auto* p = static_cast<const char*>(data);
    while (bytes > 0) {
      if (stop != nullptr && stop->load(std::memory_order_relaxed)) return false;
      const ssize_t n = ::pwrite(fd, p, (std::min)(bytes, vectors_file_piece), static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      p += n;
      offset += static_cast<std::uint64_t>(n);
      bytes -= static_cast<std::uint64_t>(n);
    }
    return true;
  };
  bool ok = ::fchmod(fd, static_cast<mode_t>(mode & 0666)) == 0 && put(header.data(), header_bytes, 0);
  for (const auto& [offset, a] : placed) ok = ok && put(a.data, a.bytes, offset);
  ok = ok && ::ftruncate(fd, static_cast<off_t>(file_bytes)) == 0;
  ok = ::close(fd) == 0 && ok;
  ok = ok && ::rename(tmp.c_str(), file.c_str()) == 0;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

/// The vectors file `file`, mapped and every checksum verified; nullopt when
/// there is none, it is damaged, truncated or not one, or `wanted(seq, token)`
/// of its verified header says it does not describe the store (asked before
/// anything is mapped or the arrays' bytes are read).
template <class Wanted>
std::optional<vectors_file> read_vectors_file(const std::filesystem::path& file, Wanted&& wanted) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_at_exit{fd};  // the mappings outlive the descriptor

  struct stat st {};
  // Another user's file (or one others can write) is not read: it is derived
  // data, and the store reads SQLite instead.
  if (::fstat(fd, &st) != 0 || !untrusted_because(st, false).empty()) return std::nullopt;
  const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
  const auto read_words = [&](std::size_t count) {
    std::vector<std::uint64_t> words(count);
    const std::size_t bytes = count * 8;
    if (bytes > file_bytes || ::pread(fd, words.data(), bytes, 0) != static_cast<ssize_t>(bytes)) words.clear();
    return words;
  };
  std::vector<std::uint64_t> h = read_words(vectors_file_header_words);
  if (h.empty() || h[0] != vectors_file_magic || h[1] != vectors_file_format || h[4] > vectors_file_max_collections ||
      h[5] != file_bytes)
    return std::nullopt;
  const std::size_t collections = static_cast<std::size_t>(h[4]);
  h = read_words(vectors_file_header_words + collections * vectors_file_words_per_collection + 1);
  if (h.empty() || xxh64(h.data(), (h.size() - 1) * 8) != h.back()) return std::nullopt;

  vectors_file out;
  out.seq = static_cast<std::int64_t>(h[2]);
  out.token = static_cast<std::int64_t>(h[3]);
  if (!wanted(out.seq, out.token)) return std::nullopt;
  try {
    for (std::size_t c = 0; c < collections; ++c) {
      const std::uint64_t* w = h.data() + vectors_file_header_words + c * vectors_file_words_per_collection;
      vectors_file_collection sc;
      sc.collection_id = static_cast<std::int64_t>(w[0]);
      sc.dim = static_cast<std::size_t>(w[1]);
      if (w[2] > static_cast<std::uint64_t>(metric::inner_product)) return std::nullopt;
      sc.space = static_cast<metric>(w[2]);
      const std::uint64_t n = w[3];
      const std::uint64_t* a = w + 4;  // (offset, count, checksum) per array
      const std::uint64_t sizes[vectors_file_arrays] = {sizeof(float), 8, sizeof(float), 8, 8, 1};
      const bool counts_fit = sc.dim > 0 && sc.dim <= limits::max_dim && a[1] == n * sc.dim && a[4] == n &&
                              a[7] == (sc.space == metric::l2 ? n : 0) && a[10] == n && a[13] == n;
      if (!counts_fit) return std::nullopt;
      for (std::size_t i = 0; i < vectors_file_arrays; ++i) {
        const std::uint64_t offset = a[3 * i], count = a[3 * i + 1];
        if (offset % vectors_file_align != 0 || offset > file_bytes || count > file_bytes / sizes[i] ||
            offset + count * sizes[i] + vectors_file_align > file_bytes)
          return std::nullopt;
      }
      // Verified through the mapping the index keeps: the pages it touches
      // are then the ones the searches read.
      const auto map = [&](auto& into, std::size_t i, std::size_t room) {
        into = std::remove_reference_t<decltype(into)>::map(fd, a[3 * i], a[3 * i + 1], room);
        return vectors_file_checksum(into.data(), into.size() * sizes[i]) == a[3 * i + 2];
      };
      // Rows, keys and norms get room to double in place (page_array).
      if (!(map(sc.rows, 0, 2 * a[1]) && map(sc.keys, 1, 2 * a[4]) && map(sc.sq_norms, 2, 2 * a[7]) &&
            map(sc.id_rids, 3, a[10]) && map(sc.id_ends, 4, a[13]) && map(sc.id_chars, 5, a[16])))
        return std::nullopt;
      out.collections.push_back(std::move(sc));
    }
  } catch (const std::bad_alloc&) {
    return std::nullopt;  // address space or the mapping refused: read SQLite instead
  }
  return out;
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
