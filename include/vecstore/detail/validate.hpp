// SPDX-License-Identifier: MIT
// Input validation, run before any lock is taken or any write starts, so bad
// input never changes a store. Every message names the offending item.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <vecstore/detail/utf8.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/options.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// "record 3 (id "abc")": how messages point into a batch. The id is quoted
/// with quote_name, as every name, id and key from the caller is: a
/// valid id may still hold newlines, quotes or control characters.
inline std::string batch_item(std::size_t index, std::string_view id) {
  std::string s = "record " + std::to_string(index);
  if (!id.empty() && is_valid_utf8(id) && id.size() <= 64) s += " (id " + quote_name(id) + ")";
  return s;
}

inline void check_utf8(std::string_view text, const std::string& what, const std::string& where) {
  const std::size_t bad = first_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    throw_error<invalid_argument>(what, {}, where + " is not valid UTF-8 (first bad byte at offset " +
                                                std::to_string(bad) + ")",
                                  "Encode text as UTF-8");
  }
}

inline void check_collection_name(std::string_view name) {
  const auto bad = [&](const std::string& why) {
    throw_error<invalid_argument>("invalid collection name", {}, why,
                                  "Use 1 to " + std::to_string(limits::max_name_bytes) +
                                      " characters from [A-Za-z0-9._-], starting with a letter or digit");
  };
  if (name.empty()) bad("the name is empty");
  if (name.size() > limits::max_name_bytes) {
    bad("the name is " + std::to_string(name.size()) + " bytes long, the limit is " +
        std::to_string(limits::max_name_bytes));
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (i == 0 && !alnum) bad(quote_name(name) + " does not start with a letter or digit");
    if (!alnum && c != '.' && c != '_' && c != '-') {
      bad(quote_name(name) + " has the character at offset " + std::to_string(i) + " that is not allowed");
    }
  }
}

inline void check_collection_options(const collection_options& o) {
  if (o.dim == 0) {
    throw_error<invalid_argument>("invalid collection options", {}, "dim is 0",
                                  "Give the length of the embeddings the collection will hold");
  }
  if (o.dim > limits::max_dim) {
    throw_error<invalid_argument>("invalid collection options", {},
                                  "dim is " + std::to_string(o.dim) + ", the limit is " +
                                      std::to_string(limits::max_dim),
                                  "Check the dimension; embeddings that long are not supported");
  }
}

inline void check_id(std::string_view id, const std::string& where) {
  if (id.empty()) {
    throw_error<invalid_argument>("invalid id", {}, where + " has an empty id", "Give every record a non-empty id");
  }
  if (id.size() > limits::max_id_bytes) {
    throw_error<invalid_argument>("invalid id", {},
                                  where + " has an id of " + std::to_string(id.size()) + " bytes, the limit is " +
                                      std::to_string(limits::max_id_bytes),
                                  "Use shorter ids (a hash of a long key works)");
  }
  check_utf8(id, "invalid id", where + "'s id");
}

/// Checks one embedding: the collection's length, finite values, and for
/// cosine a non-zero norm (a zero vector has no direction to compare), for
/// l2 and inner product a norm whose distances stay finite (limits::max_norm).
inline void check_embedding(const float* v, std::size_t size, std::size_t dim, metric space, const std::string& where) {
  if (size != dim) {
    throw_error<dimension_mismatch>("wrong embedding dimension", {},
                                    where + " has " + std::to_string(size) + " values, the collection's dim is " +
                                        std::to_string(dim),
                                    "Embed with the model the collection was created for");
  }
  double norm = 0.0;
  for (std::size_t i = 0; i < size; ++i) {
    if (!std::isfinite(v[i])) {
      throw_error<invalid_argument>("invalid embedding", {},
                                    where + " has a non-finite value (" + std::to_string(v[i]) + ") at position " +
                                        std::to_string(i),
                                    "Replace NaN and infinite values before storing");
    }
    norm += static_cast<double>(v[i]) * v[i];
  }
  if (space == metric::cosine && norm == 0.0) {
    throw_error<invalid_argument>("invalid embedding", {}, where + " is all zeros, which has no cosine direction",
                                  "Store a non-zero vector, or use the l2 or inner product metric");
  }
  if (space != metric::cosine && !(std::sqrt(norm) <= limits::max_norm)) {
    const auto shown = [](double x) {
      char text[32];
      std::snprintf(text, sizeof text, "%.3g", x);
      return std::string(text);
    };
    throw_error<invalid_argument>("invalid embedding", {},
                                  where + " has norm " + shown(std::sqrt(norm)) + ", above " + to_string(space) +
                                      "'s limit of " + shown(limits::max_norm) + ", where float32 distances overflow",
                                  "Scale the vectors down, or use the cosine metric, which does not depend on the scale");
  }
}

inline void check_metadata(const metadata& meta, const std::string& where) {
  for (const auto& [key, value] : meta) {
    if (key.empty()) {
      throw_error<invalid_argument>("invalid metadata", {}, where + " has an empty metadata key",
                                    "Give every metadata value a non-empty key");
    }
    if (key.size() > limits::max_key_bytes) {
      throw_error<invalid_argument>("invalid metadata", {},
                                    where + " has a metadata key of " + std::to_string(key.size()) +
                                        " bytes, the limit is " + std::to_string(limits::max_key_bytes),
                                    "Use shorter keys");
    }
    check_utf8(key, "invalid metadata", where + "'s metadata key");
    if (key[0] == '$') {
      throw_error<invalid_argument>("invalid metadata", {},
                                    where + " has the metadata key " + quote_name(key) +
                                        ", which starts with '$'",
                                    "Keys starting with '$' are reserved for filter operators; rename the key");
    }
    if (const auto* d = std::get_if<double>(&value); d && !std::isfinite(*d)) {
      throw_error<invalid_argument>("invalid metadata", {},
                                    where + "'s metadata " + quote_name(key) +
                                        " is not finite (" + std::to_string(*d) + ")",
                                    "Store finite numbers only");
    }
    if (const auto* s = std::get_if<std::string>(&value)) {
      check_utf8(*s, "invalid metadata", where + "'s metadata " + quote_name(key));
    }
  }
}

/// Checks a whole batch before any write: ids, unique ids, embeddings,
/// documents, metadata. `embedding_required` is false for update, where an
/// empty embedding means "keep the stored one".
inline void check_batch(const std::vector<record>& batch, const collection_options& c) {
  std::unordered_set<std::string_view> seen;
  seen.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const record& r = batch[i];
    const std::string where = batch_item(i, r.id);
    check_id(r.id, where);
    if (!seen.insert(r.id).second) {
      throw_error<duplicate_id>("duplicate id in batch", {}, where + " repeats an id given earlier in the same batch",
                                "Give each record of a batch its own id");
    }
    if (!r.embedding.empty()) check_embedding(r.embedding.data(), r.embedding.size(), c.dim, c.space, where);
    if (r.document) check_utf8(*r.document, "invalid document", where + "'s document");
    check_metadata(r.meta, where);
  }
}

inline void check_ids(const std::vector<std::string>& ids) {
  for (std::size_t i = 0; i < ids.size(); ++i) check_id(ids[i], "id " + std::to_string(i));
}

inline void check_k(std::size_t k) {
  if (k == 0) {
    throw_error<invalid_argument>("invalid query", {}, "k is 0", "Ask for at least one neighbour");
  }
  if (k > limits::max_k) {
    throw_error<invalid_argument>("invalid query", {},
                                  "k is " + std::to_string(k) + ", the limit is " + std::to_string(limits::max_k),
                                  "Ask for fewer neighbours, or page through get() instead");
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
