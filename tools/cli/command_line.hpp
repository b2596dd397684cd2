// SPDX-License-Identifier: MIT
// The command-line grammar: global options, the commands and their options
// (docs/cli.md). Parsing yields the command to run as one of the commands'
// argument structs; main.cpp runs it.
//
// command_line.cpp is the one translation unit with CLI11 and without the
// library (CMakeLists.txt says why), so what the grammar needs from the
// library comes in as library_facts.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <variant>

#include "chroma.hpp"
#include "global_options.hpp"
#include "import_export.hpp"
#include "inspect.hpp"
#include "maintenance.hpp"
#include "query.hpp"
#include "records.hpp"

namespace vecstore_cli {

/// Every command's arguments; health_args serves health and verify.
using command = std::variant<create_args, import_args, export_args, get_args, query_args, count_args, stats_args,
                             health_args, backup_args, restore_args, recover_args, compact_args, chroma_args>;

/// The library's limits and version, which options are checked against and
/// --version prints.
struct library_facts {
  std::size_t max_dim;
  std::size_t max_k;
  std::string version;  ///< e.g. "0.1.0"
};

struct parsed_command_line {
  global_options globals;
  std::optional<command> to_run;  ///< empty: nothing to run, exit with exit_code
  int exit_code = 0;              ///< --help, --version (0) or a usage error, reported already (3)
};

parsed_command_line parse_command_line(int argc, char** argv, const library_facts& library);

}  // namespace vecstore_cli
