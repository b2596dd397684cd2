// SPDX-License-Identifier: MIT
// Options of a store and of a collection; field names are part of the API contract.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <thread>

#include <string>
#include <vector>

#include <vecstore/filter.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {

struct store_options {
  std::filesystem::path path;  ///< the store file (SQLite database)
  bool create_if_missing = true;
  open_mode mode = open_mode::shared;
  int max_retries = 3;                                ///< retries of a busy database or lock
  std::chrono::milliseconds retry_delay{1000};        ///< backoff base, doubled per retry
  std::chrono::milliseconds lock_timeout{10000};      ///< wait for the writer lock per attempt
  std::chrono::seconds health_check_interval{300};    ///< how long health() is cached
  bool auto_recover = true;  ///< let the RecoveryPolicy act; false: detect and report only
  durability sync = durability::full;
  /// With durability::normal, how long a commit may stay in the WAL without
  /// an fsync. SQLite itself syncs that WAL only at a checkpoint (every
  /// 64 MiB) or at close(); the store also syncs it once its oldest unsynced
  /// commit is `sync_interval` old: inline in the next write, or from a
  /// thread of the store when no write comes (started at the first unsynced
  /// commit, joined before fork() and at close(); nothing to manage).
  /// The bound: a power loss at time T loses no commit acknowledged before
  /// T - sync_interval - s, where s is how long that sync took to start and
  /// finish (an fsync of the WAL, after the write in progress, if any,
  /// commits; normally milliseconds, plus the time of a large batch in
  /// progress). 0 syncs the WAL after every commit.
  /// Ignored with durability::full, which syncs within every commit.
  /// Must not be negative.
  std::chrono::milliseconds sync_interval{1000};
  std::filesystem::path backup_dir;  ///< default: "<store>.backups" beside the store
  int backups_to_keep = 5;
  /// health() reports "degraded" when the newest backup is older than this,
  /// or when there is none; 0 (the default) expects no backups.
  std::chrono::hours backup_max_age{0};
  /// Deletes are kept as tombstones so other processes can apply them as a
  /// delta; past twice this many the oldest are dropped, and a process that
  /// had not caught up with them rebuilds its indexes from the file instead.
  std::size_t tombstones_to_keep = 10000;

  /// A store whose indexes hold at least this many bytes of vectors keeps
  /// them also in "<store>.vectors", a file derived from the store that
  /// opening maps instead of reading every embedding from SQLite: every
  /// process of the store shares one copy of those pages, and opening a
  /// large store takes about as long as reading that file once. The file is
  /// written at an open that had to read SQLite (or found the file well
  /// behind), checked against the store at every open, and ignored when it
  /// does not match. Index policies without `adopt` (ivf_index) never use it.
  /// `no_vectors_file` turns it off: nothing is written, and an existing
  /// file is not read.
  std::size_t vectors_file_min_bytes = std::size_t{64} << 20;
  static constexpr std::size_t no_vectors_file = static_cast<std::size_t>(-1);
};

struct collection_options {
  std::size_t dim = 0;
  metric space = metric::cosine;
};

/// What `import_collections` does when the store has a collection of the name.
enum class on_existing {
  refuse,   ///< invalid_argument; nothing is written
  replace,  ///< delete it with its records, then create it anew
  merge,    ///< upsert into it; its dim and metric must be the options given
};

/// One collection's part of `basic_store::import_collections`: created (or
/// replaced, or merged into) with `records`.
struct collection_import {
  std::string name;
  collection_options options;
  on_existing if_exists = on_existing::refuse;
  std::vector<record> records;  ///< added (upserted when merging)
};

/// What `collection::get` selects and returns. With `ids` empty, every
/// record matching the filters, in insertion order; with `ids`, those ids
/// (in the order given, absent ones skipped) that also match the filters.
struct get_options {
  std::vector<std::string> ids;
  filter where;
  document_filter where_document;
  std::size_t limit = 0;  ///< 0: no limit
  std::size_t offset = 0;
  include fields = include::documents | include::metadatas;
};

/// What `collection::query` searches and returns.
struct query_options {
  std::size_t k = 10;  ///< neighbours per query, 1 to limits::max_k
  filter where;
  document_filter where_document;
  include fields = include::documents | include::metadatas;
};

}  // namespace v0
}  // namespace vecstore
