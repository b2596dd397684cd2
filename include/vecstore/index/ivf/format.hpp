// SPDX-License-Identifier: MIT
// The ivf_index quantizer as bytes: the blob `ivf_index::train()` returns and
// `ivf_index::load_state` reads, which the store persists so that every process
// shares one quantizer (the persistent-index extension, index/requirements.hpp).
// It sits apart from the index because the layout is a file format: it changes
// only with `format_version`, whatever the in-memory index does, and it is
// little-endian whatever the host.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <vecstore/detail/checksum.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {
namespace ivf {

/// Version of the blob `write_state` makes; `read_state` accepts only this one
/// (ivf_index::format_version).
inline constexpr std::uint32_t format_version = 1;

// magic[8] version metric dim nlist (u32 each) trained_size seed (u64 each),
// nlist * dim float32 centroids, XXH64 of all that.
inline constexpr unsigned char magic[8] = {'v', 'e', 'c', 's', 'I', 'V', 'F', '1'};
inline constexpr std::size_t header_bytes = 40;
inline constexpr std::size_t trailer_bytes = 8;
inline constexpr std::uint64_t checksum_seed = 0x1f5eedULL;

inline void put_u32(std::uint8_t* out, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline void put_u64(std::uint8_t* out, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline std::uint32_t read_u32(const std::uint8_t* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline std::uint64_t read_u64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline float read_f32(const std::uint8_t* p) noexcept {
  const std::uint32_t bits = read_u32(p);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline std::uint32_t metric_code(metric m) noexcept {
  switch (m) {
    case metric::cosine: return 0;
    case metric::l2: return 1;
    case metric::inner_product: return 2;
  }
  return 3;
}

/// A quantizer as `read_state` found it in a blob.
struct state {
  std::vector<float> centroids;  ///< nlist x dim, row-major
  std::size_t nlist = 0;
  std::size_t trained_size = 0;
  std::uint64_t seed = 0;
};

/// The blob of a quantizer of `nlist` centroids (`centroids`, nlist x dim,
/// row-major) trained on `trained_size` vectors with `seed`.
inline std::vector<std::uint8_t> write_state(metric space, std::size_t dim, std::size_t nlist,
                                             std::size_t trained_size, std::uint64_t seed,
                                             const std::vector<float>& centroids) {
  const std::size_t body = header_bytes + centroids.size() * sizeof(float);
  std::vector<std::uint8_t> out(body + trailer_bytes);
  std::uint8_t* p = out.data();
  for (std::size_t i = 0; i < sizeof magic; ++i) p[i] = magic[i];
  put_u32(p + 8, format_version);
  put_u32(p + 12, metric_code(space));
  put_u32(p + 16, static_cast<std::uint32_t>(dim));
  put_u32(p + 20, static_cast<std::uint32_t>(nlist));
  put_u64(p + 24, trained_size);
  put_u64(p + 32, seed);
  for (std::size_t i = 0; i < centroids.size(); ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &centroids[i], sizeof bits);
    put_u32(p + header_bytes + i * sizeof(float), bits);
  }
  put_u64(p + body, detail::xxh64(p, body, checksum_seed));
  return out;
}

/// Parses and checks a blob made by `write_state` for a collection of
/// `space` and `dim`. Throws `vecstore::corruption_error` on a blob that does
/// not parse, fails its checksum, or was made for another dimension or metric.
inline state read_state(const std::uint8_t* data, std::size_t size, metric space, std::size_t dim) {
  const auto bad = [](const std::string& why) {
    detail::throw_error<corruption_error>("cannot load the ivf_index quantizer", {}, why,
                                          "Retrain the collection's index or restore a backup");
  };
  if (data == nullptr || size < header_bytes + trailer_bytes)
    bad("the blob has " + std::to_string(size) + " bytes, fewer than a header");
  if (std::memcmp(data, magic, sizeof magic) != 0) bad("the blob does not start with the ivf_index magic");
  const std::uint64_t stored_sum = read_u64(data + size - trailer_bytes);
  if (stored_sum != detail::xxh64(data, size - trailer_bytes, checksum_seed)) bad("the blob's checksum does not match");
  const std::uint32_t version = read_u32(data + 8);
  if (version != format_version)
    bad("format version " + std::to_string(version) + ", this build reads version " +
        std::to_string(format_version));
  const std::uint32_t space_code = read_u32(data + 12);
  const std::uint32_t stored_dim = read_u32(data + 16);
  const std::uint32_t nlist = read_u32(data + 20);
  const std::uint64_t trained_size = read_u64(data + 24);
  if (space_code != metric_code(space))
    bad("it was trained for metric code " + std::to_string(space_code) + ", this collection uses " +
        to_string(space));
  if (stored_dim != dim)
    bad("it was trained for dimension " + std::to_string(stored_dim) + ", not " + std::to_string(dim));
  const std::size_t payload = size - header_bytes - trailer_bytes;
  if (nlist == 0 || payload % (sizeof(float) * dim) != 0 || payload / (sizeof(float) * dim) != nlist)
    bad("it names " + std::to_string(nlist) + " lists but holds " + std::to_string(payload) + " bytes of centroids");
  std::vector<float> centroids(static_cast<std::size_t>(nlist) * dim);
  for (std::size_t i = 0; i < centroids.size(); ++i) {
    centroids[i] = read_f32(data + header_bytes + i * sizeof(float));
    if (!std::isfinite(centroids[i])) bad("a centroid holds a value that is not finite");
  }
  state out;
  out.centroids = std::move(centroids);
  out.nlist = nlist;
  out.trained_size = static_cast<std::size_t>(trained_size);
  out.seed = read_u64(data + 32);
  return out;
}

}  // namespace ivf
}  // namespace detail
}  // namespace v0
}  // namespace vecstore
