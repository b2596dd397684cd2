// SPDX-License-Identifier: MIT
// Value types of the public API: metrics, records, hits, include flags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace vecstore {
inline namespace v0 {

/// Distance space of a collection. Distances follow ChromaDB's conventions:
///  - cosine:        1 - cos(x, q), in [0, 2]; vectors are normalized at insert
///  - l2:            squared Euclidean distance ||x - q||^2
///  - inner_product: 1 - x.q
/// Smaller is closer for all three.
enum class metric { cosine, l2, inner_product };

/// How a process holds the store: `shared` lets other processes open it too;
/// `exclusive` holds it for the instance's lifetime.
enum class open_mode { shared, exclusive };

/// SQLite `synchronous` setting. `full` fsyncs the WAL at every commit and lost
/// nothing acknowledged in simulated power loss; `normal` is faster and may
/// roll back the commits of the last store_options::sync_interval on power
/// loss (never on a process crash).
enum class durability { full, normal };

inline const char* to_string(metric m) noexcept {
  switch (m) {
    case metric::cosine: return "cosine";
    case metric::l2: return "l2";
    case metric::inner_product: return "ip";
  }
  return "?";
}

/// Parses "cosine", "l2" or "ip" (ChromaDB's `hnsw:space` names).
inline std::optional<metric> metric_from_string(std::string_view s) noexcept {
  if (s == "cosine") return metric::cosine;
  if (s == "l2") return metric::l2;
  if (s == "ip") return metric::inner_product;
  return std::nullopt;
}

/// A metadata value keeps its type through storage: an int stays an int, a bool a bool.
using metadata_value = std::variant<std::int64_t, double, std::string, bool>;
using metadata = std::map<std::string, metadata_value>;

/// One stored item. An empty `embedding` means "no embedding yet": the record
/// is kept (with its document and metadata) and reported by `missing()`.
struct record {
  std::string id;
  std::vector<float> embedding;
  std::optional<std::string> document;
  metadata meta;
};

/// What `get` and `query` return besides ids (and distances).
enum class include : unsigned {
  none = 0,
  documents = 1u << 0,
  metadatas = 1u << 1,
  embeddings = 1u << 2,
  all = documents | metadatas | embeddings,
};
constexpr include operator|(include a, include b) noexcept {
  return static_cast<include>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr include operator&(include a, include b) noexcept {
  return static_cast<include>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
constexpr bool has(include set, include flag) noexcept {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(flag)) != 0;
}

/// One query result. `document`, `meta` and `embedding` are filled only when
/// requested through `include`; `embedding` is the vector as it was stored.
struct hit {
  std::string id;
  float distance = 0.0f;
  std::optional<std::string> document;
  metadata meta;
  std::vector<float> embedding;
};

/// A collection as listed by `list_collections()`.
struct collection_info {
  std::string name;
  std::size_t dim = 0;
  metric space = metric::cosine;
  std::size_t count = 0;
};

/// Limits on input, checked before any write starts.
struct limits {
  static constexpr std::size_t max_id_bytes = 1024;
  static constexpr std::size_t max_name_bytes = 128;
  static constexpr std::size_t max_key_bytes = 256;
  static constexpr std::size_t max_dim = 65536;
  static constexpr std::size_t max_k = 100000;
  /// Largest norm of an l2 or inner-product vector: distances between two
  /// such vectors (at most 4e36) stay finite in float32. Cosine vectors are
  /// normalized first and may have any finite norm.
  static constexpr double max_norm = 1e18;
};

}  // namespace v0
}  // namespace vecstore
