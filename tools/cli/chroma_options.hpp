// SPDX-License-Identifier: MIT
// What the dry run and the import of import-chroma check alike, before they
// read a collection: the --on-conflict value, and names the store has already.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include <vecstore/import/chroma/import.hpp>
#include <vecstore/import/chroma/sqlite_reader.hpp>

#include "chroma.hpp"
#include "exit_codes.hpp"

namespace vecstore_cli {

/// The importer's options from the command line; a usage_error for an
/// unknown --on-conflict (the command-line grammar refuses it first).
inline vecstore::chroma_import_options chroma_options(const chroma_args& a) {
  vecstore::chroma_import_options o;
  o.name_prefix = a.prefix;
  o.batch_size = a.batch;
  if (a.on_conflict == "refuse") {
    o.on_conflict = vecstore::chroma_conflict::refuse;
  } else if (a.on_conflict == "replace") {
    o.on_conflict = vecstore::chroma_conflict::replace;
  } else if (a.on_conflict == "merge") {
    o.on_conflict = vecstore::chroma_conflict::merge;
  } else {
    throw usage_error("--on-conflict: use refuse, replace or merge");
  }
  return o;
}

/// Refuses, before anything is written, a collection whose name (with the
/// prefix) the store has already. For --on-conflict refuse.
inline void check_chroma_conflicts(const std::unordered_set<std::string>& existing,
                                   const std::vector<vecstore::chroma_collection_info>& sources,
                                   const std::string& prefix, const fs::path& store) {
  for (const auto& c : sources) {
    if (existing.count(prefix + c.name)) {
      vecstore::detail::throw_error<vecstore::invalid_argument>(
          "cannot import the ChromaDB directory", store,
          "the store has a collection named \"" + prefix + c.name + "\" already",
          "Nothing was imported. Pass --on-conflict replace or merge, or a --prefix");
    }
  }
}

}  // namespace vecstore_cli
