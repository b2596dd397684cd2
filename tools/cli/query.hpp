// SPDX-License-Identifier: MIT
// The query command: nearest neighbours of one embedding (docs/cli.md). Its
// own translation unit (query.cpp) because the search it instantiates, the
// flat index's kernels, is the largest single part of the library the tool
// compiles (CMakeLists.txt). Standard library only, like every command header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "global_options.hpp"

namespace vecstore_cli {

struct query_args {
  fs::path store;
  std::string collection;
  std::string embedding;  ///< --embedding, a JSON array; or else
  fs::path from;          ///< --from FILE,
  std::string format;     ///< in this format (default: from the extension),
  std::uint64_t row = 0;  ///< this row of it
  std::size_t k = 10;
  std::string where;
  std::string where_document;
  std::vector<std::string> include;
};

int run_query(const global_options& g, const query_args& a);

}  // namespace vecstore_cli
