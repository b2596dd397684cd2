// SPDX-License-Identifier: MIT
// The tool's exit statuses (docs/cli.md, "Exit codes") and how an error is
// reported. Standard library only, so that every translation unit, including
// the ones that do not include the library, can use them.
#pragma once

#include <stdexcept>
#include <string>

namespace vecstore_cli {

enum exit_status : int {
  exit_ok = 0,
  exit_degraded = 1,
  exit_unhealthy = 2,
  exit_usage = 3,
  exit_not_found = 4,
  exit_invalid = 5,
  exit_locked = 6,
  exit_corruption = 7,
  exit_io = 8,
  exit_schema = 9,
  exit_other = 10,
};

/// A command line that parsed but makes no sense (exit 3).
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reports an error: one line on stderr, and with --json an error document on
/// stdout. Returns `code`, the exit status.
int report_error(bool json_mode, int code, const std::string& message);

}  // namespace vecstore_cli
