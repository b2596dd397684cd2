// SPDX-License-Identifier: MIT
// The commands that make collections and read records back: create, count,
// get (docs/cli.md). Their arguments as the command line gives them, and the
// commands, defined in records.cpp. Standard library only, like every
// command header: the command-line grammar includes it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "global_options.hpp"

namespace vecstore_cli {

struct create_args {
  fs::path store;
  std::string collection;
  std::size_t dim = 0;
  std::string metric = "cosine";
  bool exist_ok = false;
};

struct count_args {
  fs::path store;
  std::string collection;  ///< empty: every collection
};

struct get_args {
  fs::path store;
  std::string collection;
  std::vector<std::string> ids;
  std::string where;
  std::string where_document;
  std::size_t limit = 0;
  std::size_t offset = 0;
  std::vector<std::string> include;
};

int run_create(const global_options& g, const create_args& a);
int run_count(const global_options& g, const count_args& a);
int run_get(const global_options& g, const get_args& a);

}  // namespace vecstore_cli
