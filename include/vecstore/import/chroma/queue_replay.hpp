// SPDX-License-Identifier: MIT
// The replay of ChromaDB's write-ahead log (table embeddings_queue of
// chroma.sqlite3) over a collection as its two segments hold it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <nlohmann/json.hpp>

#include <vecstore/import/chroma/common.hpp>
#include <vecstore/vecstore.hpp>  // the whole library, as common.hpp explains

namespace vecstore {
inline namespace v0 {
namespace detail {
namespace chroma {

// ChromaDB applies the log to each segment in its own time, and the VECTOR
// segment usually lags: its HNSW files are written only every `sync_threshold`
// (1,000) log rows of a collection, so the rows past its max_seq_id routinely
// hold vectors found nowhere else. The log is purged only up to the smaller of
// the two segments' max_seq_id, so every row either has not applied is still
// there (docs/migrating-from-chroma.md, "What a ChromaDB persist directory holds").

/// A collection as its segments hold it, which the replay brings up to date.
struct collection_state {
  std::vector<record> records;                           ///< in ChromaDB's insertion order
  std::unordered_map<std::string, std::size_t> index;    ///< id -> position in records
  std::vector<bool> alive;                               ///< per record: false once the log deleted it
  std::unordered_map<std::string, std::vector<float>> vectors;  ///< by id
  std::unordered_set<std::string> normalized;            ///< cosine vectors left as unit vectors
  std::unordered_set<std::string> from_log;              ///< ids whose vector the log gave
  std::size_t dim = 0;                                   ///< 0: unknown; the first vector in the log sets it
};

/// A metadata value as the log's JSON holds it; null (a key removal) is nullopt.
inline std::optional<metadata_value> json_value(const nlohmann::json& v, const std::filesystem::path& file,
                                                const std::string& where) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return std::nullopt;
    case nlohmann::json::value_t::boolean: return metadata_value(v.get<bool>());
    case nlohmann::json::value_t::number_integer: return metadata_value(v.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>((std::numeric_limits<std::int64_t>::max)())) {
        corrupt(file, where + " holds an integer beyond 64 bits");
      }
      return metadata_value(static_cast<std::int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return metadata_value(v.get<double>());
    case nlohmann::json::value_t::string: return metadata_value(v.get<std::string>());
    default: corrupt(file, where + " holds a " + std::string(v.type_name()) + ", not a metadata value");
  }
}

/// Replays the rows of embeddings_queue for collection `collection_id` in seq
/// order (0 add, 1 update, 2 upsert, 3 delete): vector operations past the
/// VECTOR segment's `vector_seq`, record operations past the METADATA
/// segment's `metadata_seq`. An add of an existing id and an update of a
/// missing one are ignored, as ChromaDB ignores them; update and upsert merge
/// metadata (given keys replace, null removes).
/// Throws: corruption_error or schema_error naming `db_file` for a bad row;
/// SQLite's own errors propagate as SQLite::Exception, for the caller to
/// translate (chroma_reader does).
inline void replay_queue(const SQLite::Database& db, const std::filesystem::path& db_file,
                         const std::string& collection_id, std::int64_t metadata_seq, std::int64_t vector_seq,
                         collection_state& state) {
  SQLite::Statement st(db,
                       "SELECT seq_id, operation, id, vector, encoding, metadata FROM embeddings_queue "
                       "WHERE substr(topic, -37) = ? AND seq_id > ? ORDER BY seq_id");
  st.bind(1, "/" + collection_id);
  st.bind(2, (std::min)(metadata_seq, vector_seq));
  while (st.executeStep()) {
    const std::int64_t seq = st.getColumn(0).getInt64();
    const std::int64_t op = st.getColumn(1).getInt64();
    const std::string id = st.getColumn(2).getString();
    const std::string where = "embeddings_queue row seq_id " + std::to_string(seq);
    if (op < 0 || op > 3) {
      corrupt(db_file, where + " has operation " + std::to_string(op) + ", not 0 to 3 (add, update, upsert, delete)");
    }
    enum : std::int64_t { op_add = 0, op_update = 1, op_upsert = 2, op_delete = 3 };

    std::optional<std::vector<float>> vec;
    const SQLite::Column blob = st.getColumn(3);
    if (!blob.isNull() && op != op_delete) {
      const std::string encoding = st.getColumn(4).isNull() ? std::string() : st.getColumn(4).getString();
      if (encoding != "FLOAT32") {
        unsupported(db_file, where + " has vector encoding " + quote_for_message(encoding, 32));
      }
      const auto bytes = static_cast<std::size_t>(blob.getBytes());
      if (state.dim == 0 && bytes % 4 == 0 && bytes / 4 > 0 && bytes / 4 <= limits::max_dim) state.dim = bytes / 4;
      if (bytes != state.dim * 4) {
        corrupt(db_file, where + " has a vector of " + std::to_string(bytes) + " bytes, the collection's dimension " +
                             std::to_string(state.dim) + " needs " + std::to_string(state.dim * 4));
      }
      const auto* p = static_cast<const unsigned char*>(blob.getBlob());
      std::vector<float> v(state.dim);
      for (std::size_t i = 0; i < state.dim; ++i) {
        v[i] = load_f32(p + 4 * i);
        if (!std::isfinite(v[i])) {
          corrupt(db_file, where + " has a non-finite vector value at position " + std::to_string(i));
        }
      }
      vec = std::move(v);
    }
    if (seq > vector_seq) {
      const bool exists = state.vectors.count(id) != 0;
      if (op == op_delete) {
        state.vectors.erase(id);
      } else if (vec && (op == op_upsert || (op == op_add && !exists) || (op == op_update && exists))) {
        state.vectors[id] = *vec;
        state.normalized.erase(id);
        state.from_log.insert(id);
      }
    }
    if (seq > metadata_seq) {
      nlohmann::json meta;
      if (!st.getColumn(5).isNull()) {
        auto parsed = detail::parse_json_text_bounded(st.getColumn(5).getString(), detail::max_data_json_depth);
        if (!parsed.ok()) corrupt(db_file, where + " has metadata that does not read: " + parsed.why);
        meta = std::move(parsed.value);
        if (!(meta.is_object() || meta.is_null())) corrupt(db_file, where + " has metadata that is not a JSON object");
      }
      const auto found = state.index.find(id);
      const bool exists = found != state.index.end() && state.alive[found->second];
      if (op == op_delete) {
        if (exists) state.alive[found->second] = false;
        continue;
      }
      if ((op == op_add && exists) || (op == op_update && !exists)) continue;  // ChromaDB ignores these too
      record* r;
      if (!exists) {  // add, or upsert of a new id: a new record at the end
        state.index[id] = state.records.size();
        state.records.push_back(record{id, {}, std::nullopt, {}});
        state.alive.push_back(true);
        r = &state.records.back();
      } else {
        r = &state.records[found->second];
      }
      // update and upsert merge: given keys replace, null removes (ChromaDB 1.0 does so)
      if (meta.is_object()) {
        for (const auto& [key, value] : meta.items()) {
          const auto v = json_value(value, db_file, where + ", key " + quote_name(key));
          if (key == "chroma:document") {
            if (v && !std::holds_alternative<std::string>(*v)) {
              corrupt(db_file, where + " holds a document that is not text");
            }
            if (v) r->document = std::get<std::string>(*v); else r->document.reset();
          } else if (v) {
            r->meta[key] = *v;
          } else {
            r->meta.erase(key);
          }
        }
      }
    }
  }
}

}  // namespace chroma
}  // namespace detail
}  // namespace v0
}  // namespace vecstore
