// SPDX-License-Identifier: MIT
// index_keeper: the in-memory index of every collection, kept in step with
// the store file through its change sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <vecstore/detail/id_table.hpp>
#include <vecstore/detail/load_pipeline.hpp>
#include <vecstore/detail/tsan.hpp>
#include <vecstore/detail/utf8.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/filter/metadata_columns.hpp>
#include <vecstore/index/requirements.hpp>
#include <vecstore/store/connection.hpp>
#include <vecstore/store/vectors_cache.hpp>
#include <vecstore/storage/records.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// One change a write made to a collection's index, noted by the write as it
/// goes so that it need not be read back after the commit.
struct own_change {
  std::int64_t collection_id;
  std::int64_t rid;
  const record* r;  // null: the record was deleted
  std::int32_t list;
  bool merge;  // update(): `r` holds what changes (its metadata keys are merged; no embedding keeps the stored one)
};

/// The collections of a store as this process holds them in memory: one
/// IndexPolicy and one id table per collection, and the change sequence they
/// reflect.
///
/// Every process applies what others committed before it answers a read
/// (`refresh`): the cheap check is `PRAGMA data_version`; then only the
/// changes with a sequence number above the last one seen are read, and a
/// process that fell behind a tombstone compaction, or whose file was
/// replaced, rebuilds. This process's own commits are applied right after
/// they are made (`apply_own_changes`), since data_version ignores them.
///
/// Each collection also keeps its metadata in memory for filters
/// (filter/metadata_columns.hpp), built by its first filtered query
/// (`ready_metadata_locked`) and from then on kept in step: this process's
/// writes apply their records, other processes' commits mark the rows they
/// changed stale, read again before the next filtered query; a reload drops it.
///
/// Locks: the connection's mutex guards the change sequence and every member
/// that reads the store (`..._locked`); the state mutex guards the indexes,
/// shared while searching (`read_state`), exclusive while changing them, and
/// is taken after the connection's mutex when both are held. The metadata
/// mutex is taken last: a collection's metadata is read under the state and
/// the metadata mutex shared (`select_metadata`), and changed either under
/// the state exclusive, or, by `ready_metadata_locked`, under the state shared
/// and the metadata mutex exclusive (so a vectors file being written, which
/// holds the state shared for seconds, is neither waited for nor stopped).
template <class IndexPolicy>
class index_keeper {
 public:
  /// An index that shares derived state (a quantizer) through SQLite; see
  /// the persistent-index extension in index/requirements.hpp.
  static constexpr bool persistent_index = is_persistent_index_v<IndexPolicy>;

  struct collection_state {
    collection_row row;
    IndexPolicy index;
    id_table ids;  // row id -> record id, for hits
    std::optional<metadata_columns> meta;         // none until the first filtered query
    std::unordered_set<std::int64_t> meta_stale;  // rows other processes changed since `meta` read them

    explicit collection_state(collection_row r) : row(std::move(r)), index(row.dim, row.space) {}

    /// Row `rid` enters the index (or replaces itself) as record `id`; `list`
    /// is its stored list for index policies that keep one.
    void put(std::int64_t rid, const float* vector, std::string_view id, std::int32_t list) {
      if constexpr (persistent_index) {
        index.upsert(rid, vector, list);
      } else {
        (void)list;
        index.upsert(rid, vector);
      }
      ids.assign(rid, id);
    }

    /// Row `rid` leaves the index (the record is deleted, or has no embedding now).
    void erase(std::int64_t rid) {
      index.erase(rid);
      ids.erase(rid);
    }

    /// Record `rid` was deleted.
    void forget(std::int64_t rid) {
      erase(rid);
      if (meta) meta->erase(rid);
      meta_stale.erase(rid);
    }
  };
  using collection_map = std::map<std::int64_t, collection_state>;

  index_keeper(const store_options& options, store_connection& conn)
      : options_(options), conn_(conn), vectors_(options) {}
  index_keeper(const index_keeper&) = delete;
  index_keeper& operator=(const index_keeper&) = delete;

  // --- reading the state ---------------------------------------------------------

  /// The state shared, for searching: searches run in parallel.
  std::shared_lock<std::shared_mutex> read_state() const { return std::shared_lock<std::shared_mutex>(state_mutex_); }

  /// The state exclusively, for changing the indexes. Stops a vectors file
  /// being written first (it holds the state shared for seconds).
  std::unique_lock<std::shared_mutex> lock_state_for_change() {
    vectors_.stop();
    return std::unique_lock<std::shared_mutex>(state_mutex_);
  }

  /// Every collection; requires the state, shared or exclusive.
  const collection_map& collections() const noexcept { return collections_; }
  collection_map& collections() noexcept { return collections_; }

  /// One collection's state, or null; requires the state.
  const collection_state* find(std::int64_t collection_id) const {
    const auto it = collections_.find(collection_id);
    return it == collections_.end() ? nullptr : &it->second;
  }
  collection_state* find(std::int64_t collection_id) {
    const auto it = collections_.find(collection_id);
    return it == collections_.end() ? nullptr : &it->second;
  }

  // --- staying in step ---------------------------------------------------------

  /// Makes the connection usable: after a fork it is opened again, and when
  /// that finds another file than the indexes were built from, they are rebuilt.
  void ensure_usable_locked() {
    if (conn_.must_reconnect()) {
      conn_.reconnect();
      rebuild_if_replaced_locked();
    }
    conn_.check_usable();
  }

  /// Before a read: follows a replaced file, then applies what other
  /// processes committed since the last look.
  void refresh_locked() {
    ensure_usable_locked();
    if (conn_.follow_replaced_file()) rebuild_if_replaced_locked();
    if (conn_.others_committed()) apply_changes_locked();
  }

  /// `body(tables)` in one read snapshot of a usable connection.
  template <class Body>
  auto read_snapshot(const std::string& what, Body&& body) {
    ensure_usable_locked();
    return conn_.read_snapshot(what, std::forward<Body>(body));
  }

  /// Applies every change made since the last one seen.
  void apply_changes_locked() {
    read_snapshot("cannot read the store's changes", [&](record_tables& t) {
      catch_up(t);
      return true;
    });
  }

  /// Brings the indexes to the snapshot `t` reads from; call inside a read
  /// snapshot. Tombstones first (row ids are never reused), then changed
  /// rows. Returns how many changes it applied (0 after a reload).
  std::size_t catch_up(record_tables& t) {
    const std::int64_t seq = t.current_seq();
    if (seq == seen_seq_) return 0;
    if (t.compacted_seq() > seen_seq_) {
      load_all(t);
      return 0;
    }
    std::size_t applied = 0;
    auto state_guard = lock_state_for_change();
    sync_collections(t.collections());
    // A collection whose index state another writer replaced (retrained) is
    // reloaded whole after the state; its rows need no delta.
    std::unordered_set<std::int64_t> reload;
    if constexpr (persistent_index) {
      for (const auto id : t.index_states_since(seen_seq_)) reload.insert(id);
    }
    t.for_each_tombstone_since(seen_seq_, [&](std::int64_t collection_id, std::int64_t rid) {
      ++applied;
      if (collection_state* state = find(collection_id)) state->forget(rid);
    });
    t.for_each_change_since(seen_seq_, [&](const embedding_row& row) {
      ++applied;
      collection_state* state = find(row.collection_id);
      if (state && state->meta) state->meta_stale.insert(row.rid);
      if (!reload.count(row.collection_id)) apply_row(row);
    });
    for (const auto id : reload) {
      collection_state* state = find(id);
      if (!state) continue;
      collection_state fresh(state->row);
      fresh.meta = std::move(state->meta);  // the metadata does not depend on the index state
      fresh.meta_stale = std::move(state->meta_stale);
      *state = std::move(fresh);
      load_index_state(t, *state);
      t.for_each_embedding_of(id, [&](const embedding_row& row) { apply_row(row); });
    }
    seen_seq_ = seq;
    return applied;
  }

  /// After this process's own commit `seq`, the only change since the last
  /// one seen: applies the changes its write noted.
  void apply_own_changes(const std::vector<own_change>& changes, std::int64_t seq) {
    auto state_guard = lock_state_for_change();
    for (const own_change& change : changes) {
      collection_state* state = find(change.collection_id);
      if (!state) continue;
      if (!change.r) {
        state->forget(change.rid);
        continue;
      }
      if (!change.r->embedding.empty()) {
        state->put(change.rid, change.r->embedding.data(), change.r->id, change.list);
      } else if (!change.merge) {
        state->erase(change.rid);  // added or replaced without an embedding: nothing to search
      }
      if (state->meta) {
        if (change.merge) {
          state->meta->merge(change.rid, change.r->meta);
        } else {
          state->meta->assign(change.rid, change.r->meta);
        }
      }
    }
    seen_seq_ = seq;
  }

  // --- metadata for filters ---------------------------------------------------------

  /// Stale rows past this many (and an eighth of the collection) rebuild the
  /// collection's metadata in one scan instead of one read per row.
  static constexpr std::size_t max_stale_reads = 1024;

  /// Before a filtered query, with the connection's mutex held: builds the
  /// collection's metadata if it has none, or reads again the rows other
  /// processes changed. SQLite is read without holding the state
  /// exclusively, so searches go on meanwhile.
  void ready_metadata_locked(std::int64_t collection_id) {
    std::vector<std::int64_t> stale;
    bool rebuild = false;
    {
      auto state_guard = read_state();
      const collection_state* state = find(collection_id);
      if (!state || (state->meta && state->meta_stale.empty())) return;
      const std::size_t rows = state->meta ? state->meta->size() : 0;
      rebuild = !state->meta || (state->meta_stale.size() > max_stale_reads && state->meta_stale.size() > rows / 8);
      if (!rebuild) stale.assign(state->meta_stale.begin(), state->meta_stale.end());
    }
    read_snapshot("cannot read the metadata", [&](record_tables& t) {
      metadata_columns built;
      std::vector<std::pair<std::int64_t, metadata>> rows;
      if (rebuild) {
        t.for_each_metadata_of(collection_id, [&](std::int64_t rid, const std::string& key, const metadata_value& v) {
          built.merge(rid, key, v);
        });
      } else {
        for (const std::int64_t rid : stale) rows.emplace_back(rid, t.metadata_of(rid));
      }
      // Nothing else changes the state meanwhile: every change holds the connection's mutex.
      auto state_guard = read_state();
      std::unique_lock<std::shared_mutex> meta_guard(meta_mutex_);
      collection_state* state = find(collection_id);
      if (!state) return true;
      if (rebuild) {
        state->meta = std::move(built);
      } else {
        for (const auto& [rid, meta] : rows) state->meta->assign(rid, meta);
      }
      state->meta_stale.clear();
      return true;
    });
  }

  /// The row ids of the collection's records that `where` matches (only
  /// those in `among` when given), from its metadata in memory, which
  /// `ready_metadata_locked` prepared; nullopt when a reload dropped it since.
  /// An empty list for a collection that is gone (the search reports it).
  std::optional<std::vector<std::int64_t>> select_metadata(std::int64_t collection_id, const filter& where,
                                                           const std::vector<std::int64_t>* among) const {
    auto state_guard = read_state();
    std::shared_lock<std::shared_mutex> meta_guard(meta_mutex_);
    const collection_state* state = find(collection_id);
    if (!state) return std::vector<std::int64_t>{};
    if (!state->meta) return std::nullopt;
    return state->meta->select(where, among);
  }

  /// The last change sequence number the indexes reflect.
  std::int64_t seen_seq() const noexcept { return seen_seq_; }

  /// Loads the indexes: from the vectors file when it is usable, else from
  /// every embedding in SQLite; then rewrites the vectors file if it is
  /// missing or well behind (see store_options::vectors_file_min_bytes).
  void rebuild_locked() {
    std::optional<std::int64_t> token;
    read_snapshot("cannot load the store", [&](record_tables& t) {
      std::optional<std::int64_t> file_seq;
      std::size_t changes = 0;
      if (std::optional<vectors_file> file = vectors_.read(t)) {
        file_seq = file->seq;
        if (adopt(*file, t)) {
          changes = catch_up(t);
        } else {
          file_seq.reset();
        }
      }
      if (!file_seq) load_all(t);
      if (vectors_cache<IndexPolicy>::stale(file_seq, changes, seen_seq_, indexed_rows())) {
        token = t.seq_token(seen_seq_);
      }
      return true;
    });
    loaded_from_ = conn_->identity();
    if (token) {
      vectors_.start([this, token = *token, seq = seen_seq_] {
        std::shared_lock<std::shared_mutex> state_guard(state_mutex_);
        if (seen_seq_ != seq) return;  // changed since: `token` names another content
        vectors_.write(seq, token, collections_);
      });
    }
  }

  // --- training (persistent indexes) ---------------------------------------------

  /// The list this process's (caught-up) index assigns a vector to.
  std::int32_t assign(std::int64_t collection_id, const std::vector<float>& v) const {
    auto state_guard = read_state();
    const collection_state* state = find(collection_id);
    return state ? state->index.assign(v.data()) : -1;
  }

  /// Installs a collection's stored index state, for index policies that share one.
  static void load_index_state(record_tables& t, collection_state& state) {
    if constexpr (persistent_index) {
      if (const auto blob = t.load_index_state(state.row.collection_id)) {
        state.index.load_state(blob->data(), blob->size());
      }
    } else {
      (void)t;
      (void)state;
    }
  }

  // --- closing and fork() --------------------------------------------------------

  /// Waits for the vectors file being written and drops every index.
  void clear() noexcept {
    vectors_.finish();
    std::unique_lock<std::shared_mutex> state_guard(state_mutex_);
    collections_.clear();
  }

  /// Before fork(), with the connection's mutex held: no vectors writer
  /// thread (the child would not have it), and the state held exclusively.
  void before_fork() noexcept {
    vectors_.finish();
    state_mutex_.lock();
  }

  void after_fork(bool in_child) noexcept {
    if (in_child) {
      // glibc's rwlock remembers its writer by thread id, and the child's only
      // thread has a new one, so unlock() would be taken for a reader's and
      // leave the lock held. Nobody else can hold it in the child (the parent
      // held it exclusively across fork()), so give the child a fresh one;
      // TSan is told the old one was released, since it cannot see that.
      tsan_released(&state_mutex_);
      state_mutex_.~shared_mutex();
      ::new (static_cast<void*>(&state_mutex_)) std::shared_mutex();
    } else {
      state_mutex_.unlock();
    }
  }

 private:
  /// Replaced while this process was not connected: the indexes describe the old file.
  void rebuild_if_replaced_locked() {
    if (conn_->identity() != loaded_from_) rebuild_locked();
  }

  /// Maps the vectors file's rows into the indexes, as of the file's
  /// sequence number. False, with nothing adopted, when the file does not
  /// fit this store's collections (collections dropped since it was written
  /// are skipped: ids are never reused).
  bool adopt(vectors_file& file, record_tables& t) {
    if constexpr (vectors_cache<IndexPolicy>::enabled_for_policy) {
      auto state_guard = lock_state_for_change();
      collections_.clear();
      sync_collections(t.collections());
      for (vectors_file_collection& c : file.collections) {
        collection_state* state = find(c.collection_id);
        if (!state) continue;
        if (state->row.dim == c.dim && state->row.space == c.space) {
          try {
            state->index.adopt(std::move(c.rows), std::move(c.keys), std::move(c.sq_norms));
            state->ids.adopt(std::move(c.id_rids), std::move(c.id_ends), std::move(c.id_chars));
            continue;
          } catch (const invalid_argument&) {
          }
        }
        collections_.clear();  // a whole file, but not one this store wrote
        return false;
      }
      seen_seq_ = file.seq;
      return true;
    } else {
      (void)file;
      (void)t;
      return false;
    }
  }

  /// Rows held by every index now.
  std::size_t indexed_rows() const {
    std::size_t rows = 0;
    for (const auto& [id, state] : collections_) rows += state.index.size();
    return rows;
  }

  /// Loads every collection and every embedding (each verified against its
  /// checksum as it is read).
  void load_all(record_tables& t) {
    const std::int64_t seq = t.current_seq();
    auto state_guard = lock_state_for_change();
    collections_.clear();
    sync_collections(t.collections());
    for (auto& [id, state] : collections_) {
      load_index_state(t, state);
      // Records with or without an embedding: an upper bound that SQLite
      // counts from the (collection_id, id) index alone, where counting only
      // embeddings looks up every row (15% of opening 1M x 768).
      const std::size_t n = t.count_records(id);
      state.index.reserve(n);
      state.ids.reserve(state.index.size() + n);
    }
    // SQLite and the checksums on this thread, the index inserts on another.
    const auto apply = [this](const embedding_row& row) { apply_row(row); };
    load_pipeline<decltype(apply)> pipeline(apply);
    try {
      t.for_each_embedding(persistent_index, [&](const embedding_row& row) { pipeline.push(row); });
    } catch (...) {
      pipeline.finish();  // the rows read before the failure first: an error in one of them is reported instead
      throw;
    }
    pipeline.finish();
    seen_seq_ = seq;
  }

  /// Makes `collections_` hold exactly the collections stored, keeping the
  /// indexes of those that remain.
  void sync_collections(const std::vector<collection_row>& rows) {
    std::unordered_set<std::int64_t> present;
    for (const auto& row : rows) {
      present.insert(row.collection_id);
      if (collections_.find(row.collection_id) == collections_.end()) {
        collections_.emplace(row.collection_id, collection_state(row));
      }
    }
    for (auto it = collections_.begin(); it != collections_.end();) {
      it = present.count(it->first) ? std::next(it) : collections_.erase(it);
    }
  }

  void apply_row(const embedding_row& row) {
    collection_state* state = find(row.collection_id);
    if (!state) return;
    if (!row.vector) {
      state->erase(row.rid);
      return;
    }
    if (row.dim != state->row.dim) {
      throw_error<corruption_error>("a stored embedding is damaged", options_.path,
                                    "record " + quote_name(row.id) + " has " + std::to_string(row.dim) +
                                        " values in a collection of dim " + std::to_string(state->row.dim),
                                    repair_advice);
    }
    state->put(row.rid, row.vector, row.id, row.list);
  }

  const store_options& options_;
  store_connection& conn_;
  mutable std::shared_mutex state_mutex_;
  mutable std::shared_mutex meta_mutex_;  // every collection_state's `meta` and `meta_stale`; see the class comment
  collection_map collections_;
  std::int64_t seen_seq_ = 0;
  file_identity loaded_from_;  // the file the indexes were built from
  // Last, so that its writer thread is joined before the state it reads is destroyed.
  vectors_cache<IndexPolicy> vectors_;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
