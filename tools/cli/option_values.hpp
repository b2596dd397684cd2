// SPDX-License-Identifier: MIT
// Option values turned into the library's types: --include, --metric,
// --where, --where-document and --embedding.
//
// Defined in option_values.cpp: parsing a filter instantiates the library's
// JSON parser and filter checks, some 70 MB of compiler memory at -O2, which
// get and query would otherwise each pay next to the store (CMakeLists.txt).
#pragma once

#include <string>
#include <vector>

#include <vecstore/vecstore.hpp>  // the whole library: the single header, when that is what is on the path

namespace vecstore_cli {

/// --include: the fields to return besides the id (and the distance, for
/// query); `fallback` when none is given. An unknown name is a usage_error
/// (the command-line grammar refuses it first).
vecstore::include parse_include(const std::vector<std::string>& items, vecstore::include fallback);

/// --metric; an unknown name is a usage_error.
vecstore::metric parse_metric(const std::string& s);

/// --where: a metadata filter in ChromaDB's JSON; empty text, no filter.
vecstore::filter parse_where(const std::string& text);

/// --where-document: a document filter in ChromaDB's JSON; empty text, no filter.
vecstore::document_filter parse_where_document(const std::string& text);

/// --embedding: a non-empty JSON array of numbers in the float32 range.
std::vector<float> parse_embedding(const std::string& text);

}  // namespace vecstore_cli
