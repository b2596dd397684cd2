// SPDX-License-Identifier: MIT
// The commands that move records between a collection and a file: import and
// export (docs/cli.md; the formats in formats.hpp). Their arguments as the
// command line gives them, and the commands, defined in import_export.cpp.
// Standard library only, like every command header.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "global_options.hpp"

namespace vecstore_cli {

struct import_args {
  fs::path store;
  std::string collection;
  fs::path file;
  std::string format;                 ///< empty: from the extension
  std::optional<std::size_t> dim;     ///< given: create the collection if missing
  std::optional<std::string> metric;  ///< of a created collection
  std::size_t batch = 1000;
  std::string id_prefix;
  bool upsert = false;
};

struct export_args {
  fs::path store;
  std::string collection;
  fs::path file;
  std::string format;  ///< empty: jsonl, or npy for a .npy file
  bool force = false;
};

int run_import(const global_options& g, const import_args& a);
int run_export(const global_options& g, const export_args& a);

}  // namespace vecstore_cli
