// SPDX-License-Identifier: MIT
// What import-chroma did, or with --dry-run would do, per collection: what
// chroma_dry_run.cpp and chroma_import.cpp hand to chroma.cpp to print.
//
// The ChromaDB reader that these two compile leaves no room for the JSON
// output beside it (CMakeLists.txt), so they say what happened in these plain
// structs, and chroma.cpp, which does not include the importer, prints them.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "chroma.hpp"
#include "global_options.hpp"

namespace vecstore_cli {

/// One collection of the persist directory.
struct chroma_collection_summary {
  std::string name;         ///< in the store (--prefix + source_name)
  std::string source_name;  ///< in ChromaDB
  std::string metric;
  std::size_t dim = 0;
  std::size_t records = 0;
  std::size_t vectors_from_log = 0;
  std::size_t normalized = 0;
  bool skipped = false;               ///< never got an embedding, left out (--skip-empty)
  std::optional<std::string> action;  ///< dry run only: create, replace, merge or skip
};

struct chroma_summary {
  std::string chroma_version;  ///< the format the directory was recognised as
  fs::path store;              ///< as opened; as given when a dry run found no store
  std::vector<chroma_collection_summary> collections;
};

/// --dry-run: reads and checks the whole directory against the store with the
/// import's own code (vecstore::plan_chroma_import), so it fails where the
/// import fails; writes nothing (not even an empty store). chroma_dry_run.cpp.
chroma_summary chroma_dry_run(const global_options& g, const chroma_args& a);

/// Imports the directory, all of it or nothing: on any error the store is as
/// it was, and a store that did not exist is not created. chroma_import.cpp.
chroma_summary chroma_import(const global_options& g, const chroma_args& a);

}  // namespace vecstore_cli
