// SPDX-License-Identifier: MIT
// write_path: every write of a store, one transaction under the writer lock,
// applied to this process's indexes once committed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include <vecstore/detail/validate.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/filter.hpp>
#include <vecstore/options.hpp>
#include <vecstore/store/collection.hpp>
#include <vecstore/store/connection.hpp>
#include <vecstore/store/index_keeper.hpp>
#include <vecstore/store/wal_syncer.hpp>
#include <vecstore/storage/records.hpp>
#include <vecstore/storage/sqlite.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// get_or_create_collection's rule: an existing collection of that name is
/// returned only if it has the options asked for, never silently reused.
inline void check_collection_matches(const std::filesystem::path& file, const collection_row& found,
                                     const collection_options& options) {
  if (found.dim == options.dim && found.space == options.space) return;
  throw_error<invalid_argument>("cannot get the collection", file,
                                quote_name(found.name) + " exists with dim " + std::to_string(found.dim) +
                                    " and metric " + to_string(found.space) + ", not dim " +
                                    std::to_string(options.dim) + " and metric " + to_string(options.space),
                                "Ask for the collection with its own options, or use another name");
}

/// The writes of one store in this process. Lock order, outermost first:
/// this process's write mutex (threads queue there, not inside the
/// LockPolicy, so the fork handlers can wait for writers without touching
/// the LockPolicy), the writer lock (processes), the connection's mutex, the
/// indexes' state.
template <class LockPolicy, class IndexPolicy>
class write_path {
  using keeper_type = index_keeper<IndexPolicy>;

 public:
  write_path(const store_options& options, store_connection& conn, keeper_type& keeper, wal_syncer& syncer)
      : options_(options), conn_(conn), keeper_(keeper), syncer_(syncer), lock_(side_file(options.path, ".lock")) {}
  write_path(const write_path&) = delete;
  write_path& operator=(const write_path&) = delete;

  /// This process's writers; held across fork() by the fork handlers.
  std::mutex& mutex() noexcept { return write_mutex_; }
  /// The writer lock itself, for the health check that probes it.
  LockPolicy& lock() noexcept { return lock_; }

  /// The writer lock, waited for `lock_timeout`, retried `max_retries` times
  /// with doubling backoff; then `lock_timeout` naming the holder.
  std::unique_lock<LockPolicy> acquire_writer(const std::string& what) {
    auto delay = options_.retry_delay;
    for (int attempt = 0;; ++attempt) {
      if (lock_.try_lock_for(options_.lock_timeout)) return std::unique_lock<LockPolicy>(lock_, std::adopt_lock);
      if (attempt >= options_.max_retries) break;
      std::this_thread::sleep_for(delay);
      delay *= 2;
    }
    const auto holder = lock_.holder_pid();
    throw_error<lock_timeout>(what, options_.path,
                              "the writer lock stayed busy through " + std::to_string(options_.max_retries + 1) +
                                  " waits of " + std::to_string(options_.lock_timeout.count()) + " ms" +
                                  (holder ? ", held by process " + std::to_string(*holder) : std::string()),
                              "Check what that process is doing, or raise lock_timeout / max_retries");
  }

  /// Runs `body()` holding every write lock and the connection's mutex: for
  /// what replaces or rewrites the file (restore, compact).
  template <class Body>
  auto exclusively(const std::string& what, Body&& body) {
    std::lock_guard<std::mutex> writers(write_mutex_);
    std::unique_lock<LockPolicy> writer = acquire_writer(what);
    std::lock_guard<std::mutex> db_guard(conn_.mutex());
    return body();
  }

  /// Runs `body(tables, seq)` as one write transaction, then applies the
  /// committed changes to this process's indexes.
  template <class Body>
  auto write(const std::string& what, Body&& body) {
    return exclusively(what, [&] {
      // Apply other processes' commits first, so the checks `body` makes
      // (does this id exist?) see the same state the transaction will.
      keeper_.refresh_locked();
      conn_.check_writable();
      std::int64_t committed = 0;
      auto commit = [&] {
        own_changes_.clear();
        own_changes_complete_ = false;
        record_tables tables(conn_.get());
        write_transaction tx(conn_.get());
        const std::int64_t seq = tables.next_seq();
        committed = seq;
        // Checked every 16th transaction: counting tombstones is cheap, not free.
        const auto compact = [&] {
          if (seq % 16 == 0) tables.compact_tombstones(options_.tombstones_to_keep);
        };
        if constexpr (std::is_void_v<decltype(body(tables, seq))>) {
          body(tables, seq);
          compact();
          tx.commit();
          return true;
        } else {
          auto result = body(tables, seq);
          compact();
          tx.commit();
          return result;
        }
      };
      auto result = with_retries(options_, options_.path, what, commit);
      syncer_.committed_locked();  // durability::normal: synced within sync_interval
      // Under the writer lock and just caught up, this commit is the only change
      // since the last one seen: when the body listed its effect on the indexes,
      // apply that instead of reading the batch back (half of an ingest's cost).
      if (own_changes_complete_ && committed == keeper_.seen_seq() + 1) {
        keeper_.apply_own_changes(own_changes_, committed);
      } else {
        keeper_.apply_changes_locked();
      }
      own_changes_.clear();
      return result;
    });
  }

  // --- collections -------------------------------------------------------------

  /// Creates a collection, or with `existing_ok` returns the one of that
  /// name if its options match.
  collection_row create_collection(const std::string& name, const collection_options& options, bool existing_ok) {
    check_collection_name(name);
    check_collection_options(options);
    return write("cannot create the collection", [&](record_tables& t, std::int64_t seq) {
      if (auto found = t.find_collection(name)) {
        if (!existing_ok) {
          throw_error<invalid_argument>("cannot create the collection", options_.path,
                                        "a collection named " + quote_name(name) + " exists already",
                                        "Use get_collection or get_or_create_collection, or choose another name");
        }
        check_collection_matches(options_.path, *found, options);
        return *found;
      }
      return t.insert_collection(name, options.dim, options.space, seq);
    });
  }

  void delete_collection(std::string_view name) {
    check_collection_name(name);
    write("cannot delete the collection", [&](record_tables& t, std::int64_t) {
      const auto row = t.find_collection(name);
      if (!row) throw_unknown_collection(options_.path, name);
      t.delete_collection(row->collection_id);
    });
  }

  /// Creates, replaces or merges into every collection of `imports`, with
  /// their records, in one transaction: all of it or nothing. Every name,
  /// option and batch is checked first, as create_collection and add check them.
  void import_collections(const std::vector<collection_import>& imports) {
    std::unordered_set<std::string_view> names;
    for (const collection_import& im : imports) {
      check_collection_name(im.name);
      check_collection_options(im.options);
      if (!names.insert(im.name).second) {
        throw_error<invalid_argument>("cannot import collections", options_.path,
                                      "the collection " + quote_name(im.name) + " is given twice",
                                      "Give each collection once; nothing was written");
      }
      check_batch(im.records, im.options);
    }
    if (imports.empty()) return;
    std::vector<collection_ref> written;
    write("cannot import collections", [&](record_tables& t, std::int64_t seq) {
      written.clear();  // a retry starts over
      for (const collection_import& im : imports) {
        std::optional<collection_row> row = t.find_collection(im.name);
        if (row && im.if_exists == on_existing::refuse) {
          throw_error<invalid_argument>("cannot import collections", options_.path,
                                        "a collection named " + quote_name(im.name) + " exists already",
                                        "Replace it, merge into it or choose another name; nothing was written");
        }
        if (row && im.if_exists == on_existing::replace) {
          t.delete_collection(row->collection_id);
          row.reset();
        }
        if (row) {
          check_collection_matches(options_.path, *row, im.options);
        } else {
          row = t.insert_collection(im.name, im.options.dim, im.options.space, seq);
        }
        const collection_ref c{row->collection_id, row->name, collection_options{row->dim, row->space}};
        const write_kind kind = im.if_exists == on_existing::merge ? write_kind::upsert : write_kind::add;
        for (std::size_t i = 0; i < im.records.size(); ++i) write_one(t, seq, c, i, im.records[i], kind);
        written.push_back(c);
      }
      // own_changes_complete_ stays false: collections were created and
      // deleted, which the indexes learn from the committed rows instead.
    });
    if constexpr (keeper_type::persistent_index) {
      for (const collection_ref& c : written) train_if_wanted(c);
    }
  }

  // --- records -----------------------------------------------------------------

  /// add, upsert or update `records`, all or none.
  void write(const collection_ref& c, const std::vector<record>& records, write_kind kind) {
    check_batch(records, c.options);
    if (records.empty()) return;
    write("cannot write records", [&](record_tables& t, std::int64_t seq) {
      check_collection_exists(t, c);
      for (std::size_t i = 0; i < records.size(); ++i) write_one(t, seq, c, i, records[i], kind);
      own_changes_complete_ = true;
    });
    if constexpr (keeper_type::persistent_index) train_if_wanted(c);
  }

  /// Removes the records with these ids; returns how many there were.
  std::size_t remove(const collection_ref& c, const std::vector<std::string>& ids) {
    check_ids(ids);
    if (ids.empty()) return 0;
    return write("cannot remove records", [&](record_tables& t, std::int64_t seq) {
      check_collection_exists(t, c);
      std::size_t removed = 0;
      for (const auto& id : ids) {
        if (const auto found = t.find(c.id, id)) {
          t.remove(found->first, c.id, seq);
          own_changes_.push_back({c.id, found->first, nullptr, -1, false});
          ++removed;
        }
      }
      own_changes_complete_ = true;
      return removed;
    });
  }

  /// Removes every record matching the filters, at least one of them non-empty.
  std::size_t remove_matching(const collection_ref& c, const filter& where, const document_filter& where_document) {
    if (where.empty() && where_document.empty()) {
      throw_error<invalid_argument>("cannot remove records", options_.path,
                                    "both filters are empty, which would remove every record",
                                    "Pass a filter, or use delete_collection to drop everything");
    }
    return write("cannot remove records", [&](record_tables& t, std::int64_t seq) {
      check_collection_exists(t, c);
      const auto rids = t.select(c.id, where, where_document, false);
      for (const auto rid : rids) {
        t.remove(rid, c.id, seq);
        own_changes_.push_back({c.id, rid, nullptr, -1, false});
      }
      own_changes_complete_ = true;
      return rids.size();
    });
  }

 private:
  /// Inside a write: the collection must still be there (another process may have deleted it).
  void check_collection_exists(record_tables& t, const collection_ref& c) const {
    const auto row = t.find_collection(c.name);
    if (!row || row->collection_id != c.id) throw_collection_gone(options_.path, c, row.has_value());
  }

  void write_one(record_tables& t, std::int64_t seq, const collection_ref& c, std::size_t i, const record& r,
                 write_kind kind) {
    // add lets the UNIQUE (collection_id, id) constraint find duplicates:
    // one statement per record instead of a lookup and an insert.
    const auto found = kind == write_kind::add ? std::nullopt : t.find(c.id, r.id);
    if (kind == write_kind::update && !found) {
      throw_error<not_found>("cannot update records", options_.path,
                             batch_item(i, r.id) + " does not exist in collection " + quote_name(c.name),
                             "Use upsert to add it; nothing was written");
    }
    std::int64_t rid = 0;
    if (!found) {
      try {
        rid = t.insert(c.id, r, seq);
      } catch (const SQLite::Exception& e) {
        if (e.getExtendedErrorCode() != SQLITE_CONSTRAINT_UNIQUE) throw;
        throw_error<duplicate_id>("cannot add records", options_.path,
                                  batch_item(i, r.id) + " exists already in collection " + quote_name(c.name),
                                  "Use upsert to replace it, or update to change it; nothing was written");
      }
    } else if (kind == write_kind::upsert) {
      rid = found->first;
      t.replace(rid, c.id, r, seq);
    } else {
      rid = found->first;
      t.update(rid, c.id, r, seq);
    }
    std::int32_t list = -1;
    if constexpr (keeper_type::persistent_index) {
      if (!r.embedding.empty()) t.save_assignment(rid, list = keeper_.assign(c.id, r.embedding));
    }
    own_changes_.push_back({c.id, rid, &r, list, kind == write_kind::update});
  }

  /// After a write: (re)trains the collection's index when it asks for it,
  /// and stores the new state with every record's new list in one
  /// transaction, so other processes load it instead of training.
  void train_if_wanted(const collection_ref& c) {
    exclusively("cannot train the index", [&] {
      keeper_.refresh_locked();
      {
        auto state_guard = keeper_.read_state();
        const auto* state = keeper_.find(c.id);
        if (!state || !state->index.wants_training(state->index.size())) return;
      }
      with_retries(options_, options_.path, "cannot store the trained index", [&] {
        record_tables tables(conn_.get());
        write_transaction tx(conn_.get());
        const std::int64_t seq = tables.next_seq();
        auto state_guard = keeper_.lock_state_for_change();
        auto* state = keeper_.find(c.id);
        tables.save_index_state(c.id, "index", state->index.train(), seq);
        // Read every list first, then write them: no writes into a table
        // while a statement of this connection is still reading it.
        std::vector<std::pair<std::int64_t, std::int32_t>> lists;
        tables.for_each_embedding_of(
            c.id, [&](const embedding_row& row) { lists.emplace_back(row.rid, state->index.assign(row.vector)); });
        state_guard.unlock();
        for (const auto& [rid, list] : lists) tables.save_assignment(rid, list);
        tx.commit();
        return true;
      });
      syncer_.committed_locked();
      keeper_.apply_changes_locked();
    });
  }

  const store_options& options_;
  store_connection& conn_;
  keeper_type& keeper_;
  wal_syncer& syncer_;
  std::mutex write_mutex_;
  LockPolicy lock_;
  std::vector<own_change> own_changes_;  // the write in progress, for its indexes
  bool own_changes_complete_ = false;    // the body listed every change it made
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
