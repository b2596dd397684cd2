// SPDX-License-Identifier: MIT
// The import-chroma command: every collection of a ChromaDB 1.0 persist
// directory into a store (docs/cli.md, docs/migrating-from-chroma.md). Its
// arguments, and the command, defined in chroma.cpp over chroma_summary.hpp.
// Standard library only, like every command header.
#pragma once

#include <cstddef>
#include <string>

#include "global_options.hpp"

namespace vecstore_cli {

struct chroma_args {
  fs::path persist_dir;
  fs::path store;
  std::string prefix;                  ///< prepended to every collection name
  std::string on_conflict = "refuse";  ///< refuse, replace or merge
  std::size_t batch = 1000;           ///< unused: the import is one transaction
  bool skip_empty = false;             ///< leave out collections without a dimension
  bool dry_run = false;
};

int run_import_chroma(const global_options& g, const chroma_args& a);

}  // namespace vecstore_cli
