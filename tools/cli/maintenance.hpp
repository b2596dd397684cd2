// SPDX-License-Identifier: MIT
// The commands that maintain a store's file: backup, restore, recover and compact
// (docs/cli.md). Their arguments, and the commands, defined in
// maintenance.cpp. Standard library only, like every command header.
#pragma once

#include <string>

#include "global_options.hpp"

namespace vecstore_cli {

struct backup_args {
  fs::path store;
};

struct restore_args {
  fs::path store;
  fs::path backup_file;
};

struct recover_args {
  fs::path store;
  std::string policy = "restore_backup";  ///< restore_backup, salvage or reset
};

struct compact_args {
  fs::path store;
};

int run_backup(const global_options& g, const backup_args& a);
int run_restore(const global_options& g, const restore_args& a);
int run_recover(const global_options& g, const recover_args& a);
int run_compact(const global_options& g, const compact_args& a);

}  // namespace vecstore_cli
