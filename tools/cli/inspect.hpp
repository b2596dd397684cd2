// SPDX-License-Identifier: MIT
// The commands that inspect a store without changing it: stats, health and
// verify (docs/cli.md). They open it as open_as::inspect, so damage is
// reported, never repaired. Their arguments, and the commands, defined in
// inspect.cpp. Standard library only, like every command header.
#pragma once

#include "global_options.hpp"

namespace vecstore_cli {

struct stats_args {
  fs::path store;
};

/// health, and verify: the deep check (integrity_check and every checksum).
struct health_args {
  fs::path store;
  bool force = false;  ///< run the checks even if a cached report is recent (verify always does)
  bool deep = false;   ///< verify
  bool acknowledge_recovery = false;  ///< clear the last recovery's record after the report
};

int run_stats(const global_options& g, const stats_args& a);
int run_health(const global_options& g, const health_args& a);

}  // namespace vecstore_cli
