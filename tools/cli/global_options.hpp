// SPDX-License-Identifier: MIT
// The options every command takes (docs/cli.md, "global option"). Standard
// library only: the command-line grammar (command_line.cpp) fills them in, and
// that translation unit does not include the library (see CMakeLists.txt).
#pragma once

#include <filesystem>

namespace vecstore_cli {

namespace fs = std::filesystem;

struct global_options {
  bool json = false;          ///< --json: one JSON document on stdout
  bool no_progress = false;   ///< --no-progress
  bool no_recover = false;    ///< --no-recover: report damage found at open instead of repairing it
  long lock_timeout_ms = -1;  ///< --lock-timeout; -1 keeps the library's default
};

}  // namespace vecstore_cli
