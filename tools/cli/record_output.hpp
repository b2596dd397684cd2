// SPDX-License-Identifier: MIT
// A record as get and query print it: a JSON object, or tab-separated columns
// after the id. Shared by records.cpp and query.cpp, which print the same
// fields the same way, and by formats.cpp, whose JSON Lines lines hold the
// metadata and embeddings as get prints them.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <vecstore/vecstore.hpp>  // the whole library: the single header, when that is what is on the path

#include "output.hpp"

namespace vecstore_cli {

/// Metadata as a JSON object; each value keeps its type.
inline json_doc metadata_json(const vecstore::metadata& meta) {
  json_doc m = json_doc::object();
  for (const auto& kv : meta) {
    std::visit([&](const auto& x) { m.set(kv.first, x); }, kv.second);
  }
  return m;
}

inline json_doc embedding_json(const std::vector<float>& v) {
  json_doc e = json_doc::array();
  for (const float f : v) e.push_back(json_float(f));
  return e;
}

/// The record as a JSON object; `distance` only for query results. A field
/// asked for but absent is null, so every object has the same keys.
inline json_doc record_json(const std::string& id, const float* distance, const std::optional<std::string>& document,
                            const vecstore::metadata& meta, const std::vector<float>& embedding,
                            vecstore::include fields) {
  json_doc j = json_doc::object({{"id", id}});
  if (distance) j.set("distance", json_float(*distance));
  if (vecstore::has(fields, vecstore::include::documents)) j.set("document", document ? json_doc(*document) : json_doc(nullptr));
  if (vecstore::has(fields, vecstore::include::metadatas)) j.set("metadata", metadata_json(meta));
  if (vecstore::has(fields, vecstore::include::embeddings)) {
    j.set("embedding", embedding.empty() ? json_doc(nullptr) : embedding_json(embedding));
  }
  return j;
}

/// The fields asked for as text columns, each after a tab; "-" for an absent one.
inline std::string text_columns(const std::optional<std::string>& document, const vecstore::metadata& meta,
                                const std::vector<float>& embedding, vecstore::include fields) {
  std::string out;
  if (vecstore::has(fields, vecstore::include::documents)) out += "\t" + (document ? one_line(*document) : "-");
  if (vecstore::has(fields, vecstore::include::metadatas)) out += "\t" + metadata_json(meta).dump(-1);
  if (vecstore::has(fields, vecstore::include::embeddings)) {
    out += "\t" + (embedding.empty() ? std::string("-") : embedding_json(embedding).dump(-1));
  }
  return out;
}

}  // namespace vecstore_cli
