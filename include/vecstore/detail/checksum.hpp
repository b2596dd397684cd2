// SPDX-License-Identifier: MIT
// XXH64, and the checksums built on it: one per embedding (verified at open
// and when read) and one per record over its id, document and metadata.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

// Stripes are read as little-endian words with std::memcpy (compiled to plain loads; no
// unaligned pointer casts). On a big-endian target the hash would differ from the published
// XXH64 and from checksums written on little-endian machines, and so would the stored float
// bytes themselves: vecstore files are little-endian only, and this refuses to build otherwise.
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "vecstore: checksums and stored vectors assume a little-endian target");
#endif

// The five primes of the XXH64 specification
// (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md).
inline constexpr std::uint64_t xxh64_prime_1 = 0x9E3779B185EBCA87ULL;
inline constexpr std::uint64_t xxh64_prime_2 = 0xC2B2AE3D27D4EB4FULL;
inline constexpr std::uint64_t xxh64_prime_3 = 0x165667B19E3779F9ULL;
inline constexpr std::uint64_t xxh64_prime_4 = 0x85EBCA77C2B2AE63ULL;
inline constexpr std::uint64_t xxh64_prime_5 = 0x27D4EB2F165667C5ULL;

inline constexpr std::uint64_t xxh64_rotl(std::uint64_t x, int r) noexcept {
  return (x << r) | (x >> (64 - r));
}

inline std::uint64_t xxh64_read64(const unsigned char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline std::uint32_t xxh64_read32(const unsigned char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline constexpr std::uint64_t xxh64_round(std::uint64_t acc, std::uint64_t input) noexcept {
  acc += input * xxh64_prime_2;
  acc = xxh64_rotl(acc, 31);
  return acc * xxh64_prime_1;
}

inline constexpr std::uint64_t xxh64_merge_round(std::uint64_t acc, std::uint64_t val) noexcept {
  acc ^= xxh64_round(0, val);
  return acc * xxh64_prime_1 + xxh64_prime_4;
}

inline constexpr std::uint64_t xxh64_avalanche(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= xxh64_prime_2;
  h ^= h >> 29;
  h *= xxh64_prime_3;
  h ^= h >> 32;
  return h;
}

/// XXH64 of `len` bytes at `data` (any alignment; may be null when `len` is 0), as published
/// by Yann Collet: a fast non-cryptographic hash that detects accidental corruption, not tampering.
inline std::uint64_t xxh64(const void* data, std::size_t len, std::uint64_t seed = 0) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  const unsigned char* const end = p + len;
  std::uint64_t h;

  if (len >= 32) {
    // Four independent lanes over 32-byte stripes: the multiplies pipeline, which is what
    // makes XXH64 run near memory bandwidth without SIMD.
    const unsigned char* const limit = end - 32;
    std::uint64_t v1 = seed + xxh64_prime_1 + xxh64_prime_2;
    std::uint64_t v2 = seed + xxh64_prime_2;
    std::uint64_t v3 = seed;
    std::uint64_t v4 = seed - xxh64_prime_1;
    do {
      v1 = xxh64_round(v1, xxh64_read64(p));
      v2 = xxh64_round(v2, xxh64_read64(p + 8));
      v3 = xxh64_round(v3, xxh64_read64(p + 16));
      v4 = xxh64_round(v4, xxh64_read64(p + 24));
      p += 32;
    } while (p <= limit);
    h = xxh64_rotl(v1, 1) + xxh64_rotl(v2, 7) + xxh64_rotl(v3, 12) + xxh64_rotl(v4, 18);
    h = xxh64_merge_round(h, v1);
    h = xxh64_merge_round(h, v2);
    h = xxh64_merge_round(h, v3);
    h = xxh64_merge_round(h, v4);
  } else {
    h = seed + xxh64_prime_5;
  }

  h += static_cast<std::uint64_t>(len);

  while (end - p >= 8) {
    h ^= xxh64_round(0, xxh64_read64(p));
    h = xxh64_rotl(h, 27) * xxh64_prime_1 + xxh64_prime_4;
    p += 8;
  }
  if (end - p >= 4) {
    h ^= static_cast<std::uint64_t>(xxh64_read32(p)) * xxh64_prime_1;
    h = xxh64_rotl(h, 23) * xxh64_prime_2 + xxh64_prime_3;
    p += 4;
  }
  while (p < end) {
    h ^= static_cast<std::uint64_t>(*p) * xxh64_prime_5;
    h = xxh64_rotl(h, 11) * xxh64_prime_1;
    ++p;
  }
  return xxh64_avalanche(h);
}

// Domain seed so an embedding checksum never equals a plain xxh64 of the same bytes
// ("vecstore" in ASCII, little-endian).
inline constexpr std::uint64_t embedding_checksum_domain = 0x65726F7473636576ULL;

/// Checksum of an embedding given as raw bytes, e.g. a BLOB straight from SQLite, whose
/// pointer need not be float-aligned. Equals `embedding_checksum` of the same floats.
/// Requires: `bytes` points to `byte_count` bytes (may be null when `byte_count` is 0).
inline std::uint64_t embedding_checksum_bytes(std::int64_t collection_id, std::string_view id,
                                              const void* bytes, std::size_t byte_count) noexcept {
  // The value hashed is, in effect, the length-prefixed encoding
  //   collection_id (8 bytes) | id length (8) | vector length in bytes (8) | xxh64(id) (8) | vector,
  // a 32-byte fixed-width header followed by the vector bytes. Every field has a fixed width or
  // an explicit length, so no two (collection, id, vector) triples share an encoding: id "ab"
  // with vector V and id "a" with a vector starting with 'b' differ in the id length, and the id
  // is hashed on its own, never concatenated with the vector bytes. The header lives on the
  // stack and its hash seeds the hash of the vector, so nothing is allocated or copied.
  const std::uint64_t header[4] = {
      static_cast<std::uint64_t>(collection_id),
      static_cast<std::uint64_t>(id.size()),
      static_cast<std::uint64_t>(byte_count),
      xxh64(id.data(), id.size(), embedding_checksum_domain),
  };
  // Hashed as bytes: little-endian, as asserted above, so the value is the same on every
  // supported platform.
  const std::uint64_t header_hash = xxh64(header, sizeof header, embedding_checksum_domain);
  return xxh64(bytes, byte_count, header_hash);
}

/// Checksum of one stored embedding: covers the collection, the record id and the vector bytes,
/// so a row moved to another collection or id fails verification too.
/// Requires: `vector` points to `dim` floats (may be null when `dim` is 0). Does not allocate.
inline std::uint64_t embedding_checksum(std::int64_t collection_id, std::string_view id,
                                        const float* vector, std::size_t dim) noexcept {
  return embedding_checksum_bytes(collection_id, id, vector, dim * sizeof(float));
}

/// Whether a stored embedding is intact: a BLOB of a whole number of floats
/// (exactly `dim` of them when `dim` is not 0) whose checksum column is set
/// and matches detail::embedding_checksum over (collection, id, bytes).
/// The one definition of "intact" that verification and salvage share with
/// the store's own read path.
inline bool stored_embedding_ok(std::int64_t collection_id, std::string_view id, const void* blob, std::size_t bytes,
                                bool has_checksum, std::int64_t checksum, std::size_t dim = 0) noexcept {
  if (bytes == 0 || bytes % sizeof(float) != 0 || !has_checksum) return false;
  if (dim != 0 && bytes != dim * sizeof(float)) return false;
  return embedding_checksum_bytes(collection_id, id, blob, bytes) == static_cast<std::uint64_t>(checksum);
}

// Domain seed of row checksums ("vecsrows" in ASCII, little-endian).
inline constexpr std::uint64_t row_checksum_domain = 0x73776F7273636576ULL;

/// Checksum of what a record holds besides its embedding: its collection,
/// id, document (or its absence) and metadata, so that a flipped byte in a
/// document's text or a metadata value is caught when it is read, not
/// served. The encoding hashed is length-prefixed throughout: id; a document
/// flag and the document; then per metadata entry, in key order, the key,
/// the value's index in metadata_value (int64, double, string, bool) and the
/// value (8 bytes little-endian, the double's bits, length-prefixed text, or
/// one byte). No two records share an encoding.
inline std::uint64_t row_checksum(std::int64_t collection_id, std::string_view id,
                                  std::optional<std::string_view> document, const metadata& meta) {
  std::string buf;
  const auto put_u64 = [&](std::uint64_t v) { buf.append(reinterpret_cast<const char*>(&v), sizeof v); };
  const auto put_text = [&](std::string_view text) {
    put_u64(text.size());
    buf.append(text.data(), text.size());
  };
  put_text(id);
  buf.push_back(document ? '\1' : '\0');
  if (document) put_text(*document);
  put_u64(meta.size());
  for (const auto& [key, value] : meta) {
    put_text(key);
    buf.push_back(static_cast<char>(value.index()));
    switch (value.index()) {
      case 0: put_u64(static_cast<std::uint64_t>(std::get<std::int64_t>(value))); break;
      case 1: {
        std::uint64_t bits;
        const double d = std::get<double>(value);
        std::memcpy(&bits, &d, sizeof bits);
        put_u64(bits);
        break;
      }
      case 2: put_text(std::get<std::string>(value)); break;
      default: buf.push_back(std::get<bool>(value) ? '\1' : '\0'); break;
    }
  }
  return xxh64(buf.data(), buf.size(), row_checksum_domain ^ static_cast<std::uint64_t>(collection_id));
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
