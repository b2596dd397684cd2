// SPDX-License-Identifier: MIT
// How a command opens its store and looks a collection up. The store type is
// the one docs/cli.md promises: vecstore::store (file_lock, flat_index,
// restore_backup_recovery), the type an application opens.
//
// Both functions are defined in store_access.cpp only: opening a store
// instantiates the lock, the recovery policy and the index loading, some
// 110 MB of compiler memory at -O2, which no command's translation unit then
// pays again (CMakeLists.txt says why that matters).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <vecstore/vecstore.hpp>  // the whole library: the single header, when that is what is on the path

#include "global_options.hpp"

namespace vecstore_cli {

using store_t = vecstore::store;
using collection_t = store_t::collection;

/// How a command opens its store.
enum class open_as {
  existing,  ///< must exist; the RecoveryPolicy may repair damage found at open
  create,    ///< created if missing (create, import, import-chroma)
  inspect,   ///< must exist; damage is reported, never repaired (health, verify, stats)
};

/// Opens a store. Unless `create`, a missing store is a not_found error (and
/// no empty store is left behind). When the RecoveryPolicy repaired the store
/// while opening it, says so in one line on stderr.
std::shared_ptr<store_t> open_store(const fs::path& path, open_as how, const global_options& g);

/// The collection `name` if the store has it.
std::optional<vecstore::collection_info> find_collection(store_t& s, const std::string& name);

}  // namespace vecstore_cli
