// SPDX-License-Identifier: MIT
// The reader of a ChromaDB VECTOR segment's HNSW files: header.bin,
// data_level0.bin, length.bin and the label map of index_metadata.pickle.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <vecstore/import/chroma/common.hpp>
#include <vecstore/import/chroma/pickle.hpp>
#include <vecstore/vecstore.hpp>  // the whole library, as common.hpp explains

namespace vecstore {
inline namespace v0 {
namespace detail {
namespace chroma {

// The files are untrusted: every size and count in header.bin is checked
// against the others, the file sizes and vecstore's limits before anything is
// allocated. Their layout: docs/migrating-from-chroma.md, "What a ChromaDB
// persist directory holds".
inline constexpr std::size_t hnsw_header_size = 100;
inline constexpr std::uint64_t max_neighbours_level0 = 0xffff;  // hnswlib keeps the link count in a u16

/// header.bin: hnswlib's header as Chroma's fork persists it, 100 bytes,
/// little-endian: version:i32 offsetLevel0:u64 max_elements:u64
/// cur_element_count:u64 size_data_per_element:u64 label_offset:u64
/// offsetData:u64 maxlevel:i32 enterpoint_node:u32 maxM:u64 maxM0:u64 M:u64
/// mult:f64 ef_construction:u64 (Python struct '<i6QiI3QdQ'; docs/migrating-from-chroma.md).
struct hnsw_header {
  std::int32_t version = 0;
  std::uint64_t offset_level0 = 0, max_elements = 0, cur_element_count = 0, size_data_per_element = 0,
                label_offset = 0, offset_data = 0;
  std::uint64_t max_m0 = 0;
  std::size_t dim = 0;
};

inline hnsw_header read_hnsw_header(const std::filesystem::path& file) {
  const auto size = stat_size(file);
  if (size != hnsw_header_size) {
    corrupt(file, "the HNSW header is " + std::to_string(size) + " bytes, not " + std::to_string(hnsw_header_size));
  }
  const auto b = read_bytes(file, hnsw_header_size);
  hnsw_header h;
  h.version = static_cast<std::int32_t>(load_u32(b.data()));
  h.offset_level0 = load_u64(b.data() + 4);
  h.max_elements = load_u64(b.data() + 12);
  h.cur_element_count = load_u64(b.data() + 20);
  h.size_data_per_element = load_u64(b.data() + 28);
  h.label_offset = load_u64(b.data() + 36);
  h.offset_data = load_u64(b.data() + 44);
  h.max_m0 = load_u64(b.data() + 68);
  if (h.version != 1) {
    unsupported(file, "the HNSW header has version " + std::to_string(h.version) + ", this reader knows version 1");
  }
  const auto bad = [&](const std::string& why) { corrupt(file, "inconsistent HNSW header: " + why); };
  if (h.offset_level0 != 0) bad("offsetLevel0 is " + std::to_string(h.offset_level0) + ", not 0");
  if (h.cur_element_count > h.max_elements) {
    bad("cur_element_count " + std::to_string(h.cur_element_count) + " exceeds max_elements " +
        std::to_string(h.max_elements));
  }
  if (h.max_m0 == 0 || h.max_m0 > max_neighbours_level0) bad("maxM0 is " + std::to_string(h.max_m0));
  // hnswlib: size_links_level0 = maxM0 * sizeof(tableint) + sizeof(linklistsizeint)
  if (h.offset_data != 4 + 4 * h.max_m0) {
    bad("offsetData " + std::to_string(h.offset_data) + " does not match maxM0 " + std::to_string(h.max_m0));
  }
  if (h.label_offset <= h.offset_data || (h.label_offset - h.offset_data) % 4 != 0 ||
      (h.label_offset - h.offset_data) / 4 > limits::max_dim) {
    bad("label_offset " + std::to_string(h.label_offset) + " does not leave room for a vector after offsetData " +
        std::to_string(h.offset_data));
  }
  if (h.size_data_per_element != h.label_offset + 8) {
    bad("size_data_per_element " + std::to_string(h.size_data_per_element) + " is not label_offset + 8");
  }
  h.dim = static_cast<std::size_t>((h.label_offset - h.offset_data) / 4);
  return h;
}

/// The vectors of the HNSW files by id (deleted slots and slots whose label
/// has no id skipped), cosine ones multiplied back by their length.bin norm.
/// Every label of index_metadata.pickle must be found in a live slot.
struct hnsw_vectors {
  std::unordered_map<std::string, std::vector<float>> by_id;
  std::unordered_set<std::string> normalized;  // cosine vectors left as unit vectors
};

inline hnsw_vectors read_hnsw(const std::filesystem::path& folder, std::size_t dim, metric space) {
  hnsw_vectors out;
  const auto header_file = folder / "header.bin";
  const auto data_file = folder / "data_level0.bin";
  const auto pickle_file = folder / "index_metadata.pickle";
  const auto length_file = folder / "length.bin";
  std::error_code ec;
  if (!std::filesystem::exists(header_file, ec)) {
    // ChromaDB creates the folder before it first writes the index (a small
    // collection may have no HNSW data at all); then every vector is in the log.
    if (std::filesystem::exists(data_file, ec) || std::filesystem::exists(pickle_file, ec)) {
      corrupt(header_file, "the HNSW header is missing while other index files exist");
    }
    return out;
  }
  const hnsw_header h = read_hnsw_header(header_file);
  if (h.dim != dim) {
    corrupt(header_file, "the HNSW vectors have " + std::to_string(h.dim) + " values, the collection's dimension is " +
                             std::to_string(dim));
  }
  if (h.cur_element_count == 0) return out;
  const auto data_size = stat_size(data_file);
  if (data_size / h.size_data_per_element < h.cur_element_count) {
    corrupt(data_file, "the file holds " + std::to_string(data_size) + " bytes, fewer than the " +
                           std::to_string(h.cur_element_count) + " records of " +
                           std::to_string(h.size_data_per_element) + " bytes that header.bin announces");
  }
  const auto labels = read_label_map(pickle_file);

  // length.bin: one float32 per slot, the vector's norm before Chroma normalised it
  // (cosine only; zeros otherwise). Used only where it checks out.
  std::vector<unsigned char> lengths;
  if (space == metric::cosine && std::filesystem::exists(length_file, ec)) {
    const auto length_size = stat_size(length_file);
    if (length_size / 4 < h.cur_element_count) {
      corrupt(length_file, "the file holds " + std::to_string(length_size / 4) + " norms, fewer than the " +
                               std::to_string(h.cur_element_count) + " records of data_level0.bin");
    }
    lengths = read_bytes(length_file, static_cast<std::size_t>(h.cur_element_count) * 4);
  }

  std::ifstream in = open_binary(data_file);
  std::vector<unsigned char> row(static_cast<std::size_t>(h.size_data_per_element));
  std::unordered_set<std::uint64_t> seen;
  for (std::uint64_t slot = 0; slot < h.cur_element_count; ++slot) {
    if (!in.read(reinterpret_cast<char*>(row.data()), static_cast<std::streamsize>(row.size()))) {
      corrupt(data_file, "the file ended at record " + std::to_string(slot));
    }
    // hnswlib marks a deleted element in the third byte of its level-0 link header
    // (DELETE_MARK 0x01; the link count is the first two bytes).
    if (row[2] & 0x01) continue;
    const std::uint64_t label = load_u64(row.data() + h.label_offset);
    if (!seen.insert(label).second) {
      corrupt(data_file, "label " + std::to_string(label) + " appears in two live records (record " +
                             std::to_string(slot) + ")");
    }
    const auto id = labels.find(label);
    if (id == labels.end()) continue;  // no id maps to it: ChromaDB cannot return it either
    std::vector<float> v(dim);
    double norm = 0.0;
    for (std::size_t i = 0; i < dim; ++i) {
      v[i] = load_f32(row.data() + h.offset_data + 4 * i);
      if (!std::isfinite(v[i])) {
        corrupt(data_file, "record " + std::to_string(slot) + " (id " + quote_name(id->second) +
                               ") has a non-finite value at position " + std::to_string(i));
      }
      norm += static_cast<double>(v[i]) * v[i];
    }
    if (space == metric::cosine) {
      // Restore only what is verifiably a unit vector and its norm; the
      // product is what ChromaDB's get() returns, bit for bit (tested on the fixture).
      const float length = lengths.empty() ? 0.0f : load_f32(lengths.data() + 4 * slot);
      if (std::fabs(std::sqrt(norm) - 1.0) < 1e-3 && std::isfinite(length) && length > 0.0f) {
        for (auto& x : v) x *= length;
      } else {
        out.normalized.insert(id->second);
      }
    }
    out.by_id[id->second] = std::move(v);
  }
  // Every label of the map must name a live record: one that does not is a
  // vector the files lost (random bytes over data_level0.bin, a slot marked
  // deleted), and its id would otherwise be imported without one.
  const std::pair<const std::uint64_t, std::string>* lost = nullptr;
  for (const auto& entry : labels) {
    if (!seen.count(entry.first) && (!lost || entry.first < lost->first)) lost = &entry;
  }
  if (lost) {
    corrupt(data_file, "label " + std::to_string(lost->first) + " (id " + quote_name(lost->second) +
                           ") of index_metadata.pickle is in no live record of the " +
                           std::to_string(h.cur_element_count) + " records header.bin announces");
  }
  return out;
}

}  // namespace chroma
}  // namespace detail
}  // namespace v0
}  // namespace vecstore
