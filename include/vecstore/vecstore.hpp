// SPDX-License-Identifier: MIT
// The umbrella header: every policy, basic_store, and the common compositions.
#pragma once

#include <memory>

#include <vecstore/errors.hpp>
#include <vecstore/filter.hpp>
#include <vecstore/health.hpp>
#include <vecstore/index/flat_index.hpp>
#include <vecstore/index/ivf_index.hpp>
#include <vecstore/lock/file_lock.hpp>
#include <vecstore/lock/named_mutex.hpp>
#include <vecstore/lock/null_lock.hpp>
#include <vecstore/maintenance.hpp>
#include <vecstore/options.hpp>
#include <vecstore/recovery/reset.hpp>
#include <vecstore/recovery/restore_backup.hpp>
#include <vecstore/recovery/salvage.hpp>
#include <vecstore/recovery/strict.hpp>
#include <vecstore/storage/backup.hpp>
#include <vecstore/store.hpp>
#include <vecstore/types.hpp>
#include <vecstore/version.hpp>

namespace vecstore {
inline namespace v0 {

// The lock x index grid has aliases; recovery is an application decision and
// is spelled out otherwise (basic_store<file_lock, flat_index, salvage_recovery>).

/// Many processes and threads, exact search. The default.
using store = basic_store<file_lock, flat_index, restore_backup_recovery>;
/// Many processes and threads, approximate search (IVF) for large collections.
using ivf_store = basic_store<file_lock, ivf_index, restore_backup_recovery>;
/// One process and one thread, exact search (spdlog's `_st`). Recovery that replaces
/// the file needs a cross-process lock, so the `_st` aliases are strict.
using store_st = basic_store<null_lock, flat_index, strict_recovery>;
/// One process and one thread, approximate search.
using ivf_store_st = basic_store<null_lock, ivf_index, strict_recovery>;

/// The one-line start: `auto db = vecstore::open({"papers.db"});`
inline std::shared_ptr<store> open(store_options options) { return store::open(std::move(options)); }

}  // namespace v0
}  // namespace vecstore
