// SPDX-License-Identifier: MIT
// A canonical JSON dump of records (embeddings bit-exact as hex, metadata with
// their types), used to compare what one process wrote with what another reads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <vecstore/vecstore.hpp>

namespace vecstore_test {

inline std::string hex_bytes(const std::vector<float>& v) {
  std::string out;
  char buf[3];
  const auto* bytes = reinterpret_cast<const unsigned char*>(v.data());
  for (std::size_t i = 0; i < v.size() * sizeof(float); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", bytes[i]);
    out += buf;
  }
  return out;
}

inline nlohmann::json dump_value(const vecstore::metadata_value& v) {
  switch (v.index()) {
    case 0: return {{"int", std::get<std::int64_t>(v)}};
    case 1: return {{"double", std::get<double>(v)}};
    case 2: return {{"string", std::get<std::string>(v)}};
    default: return {{"bool", std::get<bool>(v)}};
  }
}

/// Records sorted by id, every field with its type.
inline nlohmann::json dump_records(std::vector<vecstore::record> records) {
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : records) {
    nlohmann::json meta = nlohmann::json::object();
    for (const auto& [k, v] : r.meta) meta[k] = dump_value(v);
    out.push_back({{"id", r.id},
                   {"embedding", hex_bytes(r.embedding)},
                   {"document", r.document ? nlohmann::json(*r.document) : nlohmann::json()},
                   {"meta", meta}});
  }
  return out;
}

/// Every collection of a store with all its records.
template <class Store>
nlohmann::json dump_store(Store& db) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& info : db.list_collections()) {
    auto c = db.get_collection(info.name);
    vecstore::get_options all;
    all.fields = vecstore::include::all;
    out.push_back({{"name", info.name},
                   {"dim", info.dim},
                   {"space", vecstore::to_string(info.space)},
                   {"records", dump_records(c.get(all))}});
  }
  return out;
}

/// The same id, bit-identical embedding, document and metadata.
inline bool same_record(const vecstore::record& a, const vecstore::record& b) {
  return a.id == b.id && a.embedding.size() == b.embedding.size() &&
         std::memcmp(a.embedding.data(), b.embedding.data(), a.embedding.size() * sizeof(float)) == 0 &&
         a.document == b.document && a.meta == b.meta;
}

}  // namespace vecstore_test
