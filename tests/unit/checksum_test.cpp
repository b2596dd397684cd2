// SPDX-License-Identifier: MIT
// Unit tests of detail::xxh64 and detail::embedding_checksum.
#include <vecstore/detail/checksum.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using vecstore::detail::embedding_checksum;
using vecstore::detail::embedding_checksum_bytes;
using vecstore::detail::xxh64;

std::uint64_t xxh64_of(std::string_view s, std::uint64_t seed = 0) {
  return xxh64(s.data(), s.size(), seed);
}

// A second XXH64, written plainly from the specification
// (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md): bytes assembled one at a
// time, index arithmetic instead of pointers, no shared helpers. It checks the tail handling of
// the library's version at every length, which the published vectors alone do not reach.
std::uint64_t reference_xxh64(const std::vector<unsigned char>& b, std::uint64_t seed) {
  const std::uint64_t p1 = 0x9E3779B185EBCA87ULL, p2 = 0xC2B2AE3D27D4EB4FULL,
                      p3 = 0x165667B19E3779F9ULL, p4 = 0x85EBCA77C2B2AE63ULL,
                      p5 = 0x27D4EB2F165667C5ULL;
  auto rotl = [](std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  auto le = [&](std::size_t at, std::size_t width) {
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < width; ++k) v |= static_cast<std::uint64_t>(b[at + k]) << (8 * k);
    return v;
  };
  auto round = [&](std::uint64_t acc, std::uint64_t in) { return rotl(acc + in * p2, 31) * p1; };
  const std::size_t n = b.size();
  std::size_t i = 0;
  std::uint64_t h;
  if (n >= 32) {
    std::uint64_t v[4] = {seed + p1 + p2, seed + p2, seed, seed - p1};
    for (; i + 32 <= n; i += 32)
      for (std::size_t k = 0; k < 4; ++k) v[k] = round(v[k], le(i + 8 * k, 8));
    h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18);
    for (std::size_t k = 0; k < 4; ++k) h = (h ^ round(0, v[k])) * p1 + p4;
  } else {
    h = seed + p5;
  }
  h += n;
  for (; i + 8 <= n; i += 8) h = rotl(h ^ round(0, le(i, 8)), 27) * p1 + p4;
  if (i + 4 <= n) {
    h = rotl(h ^ (le(i, 4) * p1), 23) * p2 + p3;
    i += 4;
  }
  for (; i < n; ++i) h = rotl(h ^ (b[i] * p5), 11) * p1;
  h ^= h >> 33;
  h *= p2;
  h ^= h >> 29;
  h *= p3;
  h ^= h >> 32;
  return h;
}

// Deterministic, varied test data (splitmix64), so failures reproduce.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::vector<float> make_vector(std::size_t dim, std::uint64_t seed) {
  std::vector<float> v(dim);
  for (auto& x : v)
    x = static_cast<float>(static_cast<double>(splitmix64(seed) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
  return v;
}

}  // namespace

TEST_CASE("xxh64 matches the published test vectors", "[checksum]") {
  // Published values (xxHash and python-xxhash); each also confirmed against an independent
  // Python implementation of the specification.
  CHECK(xxh64_of("") == 0xEF46DB3751D8E999ULL);
  CHECK(xxh64(nullptr, 0) == 0xEF46DB3751D8E999ULL);
  CHECK(xxh64_of("a") == 0xD24EC4F1A98C6E5BULL);
  CHECK(xxh64_of("abc") == 0x44BC2CF5AD770999ULL);
  CHECK(xxh64_of("Nobody inspects the spammish repetition") == 0xFBCEA83C8A378BF1ULL);
  CHECK(xxh64_of("The quick brown fox jumps over the lazy dog") == 0x0B242D361FDA71BCULL);
}

TEST_CASE("xxh64 matches an independent implementation for seeded and long inputs", "[checksum]") {
  // Computed with an independent Python implementation of the specification.
  std::vector<unsigned char> bytes(1024);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i);
  CHECK(xxh64(bytes.data(), bytes.size()) == 0x6F3914F18FE4DF57ULL);
  CHECK(xxh64(bytes.data(), bytes.size(), 0x9E3779B97F4A7C15ULL) == 0x22D0F4503BCDA26AULL);
  CHECK(xxh64_of("", 1) == 0xD5AFBA1336A3BE4BULL);
  CHECK(xxh64_of("abc", 1) == 0xBEA9CA8199328908ULL);
  CHECK(xxh64_of("Nobody inspects the spammish repetition", 0x123456789ABCDEF0ULL) ==
        0xB778ACC7C0601EB4ULL);
}

TEST_CASE("xxh64 agrees with a plain reference at every length from 0 to 300", "[checksum]") {
  std::uint64_t state = 42;
  std::vector<unsigned char> all(300);
  for (auto& c : all) c = static_cast<unsigned char>(splitmix64(state));
  for (const std::uint64_t seed : {0ULL, 1ULL, 0xFFFFFFFFFFFFFFFFULL, 0x0123456789ABCDEFULL}) {
    for (std::size_t len = 0; len <= all.size(); ++len) {
      const std::vector<unsigned char> prefix(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(len));
      INFO("len " << len << ", seed " << seed);
      REQUIRE(xxh64(prefix.data(), prefix.size(), seed) == reference_xxh64(prefix, seed));
    }
  }
}

TEST_CASE("every single-bit flip of a 768-float vector changes the embedding checksum",
          "[checksum]") {
  const std::size_t dim = 768;
  const std::vector<float> original = make_vector(dim, 7);
  const std::uint64_t expected = embedding_checksum(3, "doc-17", original.data(), dim);

  std::vector<unsigned char> bytes(dim * sizeof(float));
  std::memcpy(bytes.data(), original.data(), bytes.size());
  std::vector<float> flipped(dim);
  std::size_t unchanged = 0;
  for (std::size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    bytes[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
    std::memcpy(flipped.data(), bytes.data(), bytes.size());
    if (embedding_checksum(3, "doc-17", flipped.data(), dim) == expected) ++unchanged;
    bytes[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
  }
  CHECK(unchanged == 0);
  // Restored bytes give the original checksum back: the function is deterministic.
  std::memcpy(flipped.data(), bytes.data(), bytes.size());
  CHECK(embedding_checksum(3, "doc-17", flipped.data(), dim) == expected);
}

TEST_CASE("swapping two bytes or two floats of a vector changes the embedding checksum",
          "[checksum]") {
  const std::size_t dim = 768;
  const std::vector<float> original = make_vector(dim, 11);
  const std::uint64_t expected = embedding_checksum(1, "x", original.data(), dim);

  SECTION("adjacent bytes") {
    std::vector<unsigned char> bytes(dim * sizeof(float));
    std::memcpy(bytes.data(), original.data(), bytes.size());
    std::vector<float> swapped(dim);
    for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
      if (bytes[i] == bytes[i + 1]) continue;
      std::swap(bytes[i], bytes[i + 1]);
      std::memcpy(swapped.data(), bytes.data(), bytes.size());
      INFO("byte " << i);
      CHECK(embedding_checksum(1, "x", swapped.data(), dim) != expected);
      std::swap(bytes[i], bytes[i + 1]);
    }
  }
  SECTION("adjacent floats") {
    std::vector<float> swapped = original;
    std::swap(swapped[100], swapped[101]);
    CHECK(embedding_checksum(1, "x", swapped.data(), dim) != expected);
  }
}

TEST_CASE("the embedding checksum covers the collection and the record id", "[checksum]") {
  const std::size_t dim = 768;
  const std::vector<float> v = make_vector(dim, 13);
  const std::uint64_t base = embedding_checksum(5, "record-1", v.data(), dim);

  CHECK(embedding_checksum(5, "record-1", v.data(), dim) == base);
  CHECK(embedding_checksum(6, "record-1", v.data(), dim) != base);
  CHECK(embedding_checksum(-5, "record-1", v.data(), dim) != base);
  CHECK(embedding_checksum(5, "record-2", v.data(), dim) != base);
  CHECK(embedding_checksum(5, "record-1 ", v.data(), dim) != base);
  CHECK(embedding_checksum(5, "", v.data(), dim) != base);
  CHECK(embedding_checksum(5, std::string_view("record-1\0", 9), v.data(), dim) != base);
  CHECK(embedding_checksum(5, "record-1", v.data(), dim - 1) != base);
  // It is not a plain hash of the vector bytes.
  CHECK(xxh64(v.data(), dim * sizeof(float)) != base);
}

TEST_CASE("moving bytes across the id and vector boundary changes the embedding checksum",
          "[checksum]") {
  // id "ab" + vector bytes V  versus  id "a" + bytes "b" followed by V (shifted by one byte,
  // so the raw concatenations collection|id|bytes would be equal).
  const std::size_t dim = 8;
  const std::vector<float> v = make_vector(dim, 17);

  std::vector<unsigned char> concat;  // "b" followed by V and three padding bytes
  concat.push_back('b');
  concat.resize(1 + dim * sizeof(float) + 3, 0);
  std::memcpy(concat.data() + 1, v.data(), dim * sizeof(float));

  // Vector of "a" is the first (dim + 1) floats of "b" + V + padding.
  std::vector<float> shifted(dim + 1);
  std::memcpy(shifted.data(), concat.data(), shifted.size() * sizeof(float));

  CHECK(embedding_checksum(1, "ab", v.data(), dim) !=
        embedding_checksum(1, "a", shifted.data(), dim + 1));

  // The same with whole floats: id bytes that spell a float.
  float f = 0.0f;
  const char four[4] = {'w', 'x', 'y', 'z'};
  std::memcpy(&f, four, sizeof f);
  std::vector<float> with_f = {f};
  with_f.insert(with_f.end(), v.begin(), v.end());
  CHECK(embedding_checksum(1, "idwxyz", v.data(), dim) !=
        embedding_checksum(1, "id", with_f.data(), dim + 1));

  // Collection id bytes must not trade places with id bytes either.
  CHECK(embedding_checksum(0x61, "", v.data(), dim) != embedding_checksum(0, "a", v.data(), dim));
  CHECK(embedding_checksum(0, "", nullptr, 0) != embedding_checksum(0, "a", nullptr, 0));
}

TEST_CASE("unaligned input gives the same xxh64 and embedding checksum as aligned input",
          "[checksum]") {
  const std::size_t dim = 768;
  const std::vector<float> v = make_vector(dim, 19);
  const std::size_t n = dim * sizeof(float);
  const std::uint64_t aligned_hash = xxh64(v.data(), n, 99);
  const std::uint64_t aligned_checksum = embedding_checksum(2, "id", v.data(), dim);

  std::vector<unsigned char> buffer(n + 16);
  for (std::size_t offset = 1; offset < 16; ++offset) {
    unsigned char* p = buffer.data() + offset;
    std::memcpy(p, v.data(), n);
    INFO("offset " << offset);
    CHECK(xxh64(p, n, 99) == aligned_hash);
    // Raw bytes at any offset, as an SQLite BLOB pointer may be.
    CHECK(embedding_checksum_bytes(2, "id", p, n) == aligned_checksum);
    std::memcpy(p, "id", 2);
    CHECK(embedding_checksum(2, std::string_view(reinterpret_cast<const char*>(p), 2), v.data(),
                             dim) == aligned_checksum);
  }
}
