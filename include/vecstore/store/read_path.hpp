// SPDX-License-Identifier: MIT
// read_path: every read of a store, reads of records and searches, each
// answered after applying what other processes committed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <vecstore/detail/validate.hpp>
#include <vecstore/options.hpp>
#include <vecstore/store/collection.hpp>
#include <vecstore/store/connection.hpp>
#include <vecstore/store/index_keeper.hpp>
#include <vecstore/storage/records.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// The reads of one store in this process. SQL runs under the connection's
/// mutex; searches run under the indexes' state held shared, so any number
/// of them run at once.
template <class IndexPolicy>
class read_path {
 public:
  read_path(const store_options& options, store_connection& conn, index_keeper<IndexPolicy>& keeper)
      : options_(options), conn_(conn), keeper_(keeper) {}
  read_path(const read_path&) = delete;
  read_path& operator=(const read_path&) = delete;

  /// The collection named `name`, or nullopt.
  std::optional<collection_row> find_collection(std::string_view name) {
    std::lock_guard<std::mutex> db_guard(conn_.mutex());
    keeper_.refresh_locked();
    auto state_guard = keeper_.read_state();
    for (const auto& [id, state] : keeper_.collections()) {
      if (state.row.name == name) return state.row;
    }
    return std::nullopt;
  }

  std::vector<collection_info> list_collections() {
    std::lock_guard<std::mutex> db_guard(conn_.mutex());
    keeper_.refresh_locked();
    return keeper_.read_snapshot("cannot list collections", [&](record_tables& t) {
      std::vector<collection_info> out;
      for (const auto& row : t.collections()) {
        out.push_back(collection_info{row.name, row.dim, row.space, t.count_records(row.collection_id)});
      }
      return out;
    });
  }

  std::vector<record> get(const collection_ref& c, const get_options& o) {
    check_ids(o.ids);
    return read_collection(c, "cannot read records", [&](record_tables& t) {
      std::vector<record> out;
      const bool filtered = !o.where.empty() || !o.where_document.empty();
      if (o.ids.empty()) {
        for (const auto rid : t.select(c.id, o.where, o.where_document, false, o.limit, o.offset)) {
          if (auto row = t.read(rid, o.fields)) out.push_back(std::move(row->value));
        }
        return out;
      }
      std::unordered_set<std::int64_t> matching;
      if (filtered) {
        const auto rids = t.select(c.id, o.where, o.where_document, false);
        matching.insert(rids.begin(), rids.end());
      }
      std::size_t skipped = 0;
      for (const auto& id : o.ids) {
        if (o.limit != 0 && out.size() >= o.limit) break;
        auto row = t.read(c.id, id, o.fields);
        if (!row || (filtered && matching.count(row->rid) == 0)) continue;
        if (skipped++ < o.offset) continue;
        out.push_back(std::move(row->value));
      }
      return out;
    });
  }

  std::size_t count(const collection_ref& c) {
    return read_collection(c, "cannot count records", [&](record_tables& t) { return t.count_records(c.id); });
  }

  std::vector<std::string> missing(const collection_ref& c, const std::vector<std::string>& ids) {
    check_ids(ids);
    return read_collection(c, "cannot read records", [&](record_tables& t) {
      std::vector<std::string> out;
      for (const auto& id : ids) {
        const auto found = t.find(c.id, id);
        if (!found || !found->second) out.push_back(id);
      }
      return out;
    });
  }

  /// The k nearest records to each query, in three steps: catch up (and
  /// pick the allowed rows when filtered); search under the shared state;
  /// read what the caller asked to include.
  std::vector<std::vector<hit>> query(const collection_ref& c, const std::vector<const std::vector<float>*>& queries,
                                      const query_options& o) {
    check_k(o.k);
    std::vector<float> packed;
    packed.reserve(queries.size() * c.options.dim);
    for (std::size_t i = 0; i < queries.size(); ++i) {
      const auto& q = *queries[i];
      check_embedding(q.data(), q.size(), c.options.dim, c.options.space, "query " + std::to_string(i));
      packed.insert(packed.end(), q.begin(), q.end());
    }
    std::vector<std::vector<hit>> out(queries.size());
    if (queries.empty()) return out;

    std::optional<std::vector<std::int64_t>> allowed;
    if (!o.where.empty() || !o.where_document.empty()) {
      allowed = filtered_rows(c, o);
    } else {
      std::lock_guard<std::mutex> db_guard(conn_.mutex());
      keeper_.refresh_locked();
    }
    std::vector<std::vector<neighbor>> found;
    {
      auto state_guard = keeper_.read_state();
      const auto* state = keeper_.find(c.id);
      if (!state) throw_gone(c);
      found = state->index.search(packed.data(), queries.size(), o.k, allowed ? &*allowed : nullptr);
      for (std::size_t q = 0; q < found.size(); ++q) {
        for (const auto& n : found[q]) {
          if (const auto id = state->ids.find(n.key))
            out[q].push_back(hit{std::string(*id), n.distance, std::nullopt, {}, {}});
        }
      }
    }
    if (o.fields != include::none) {
      std::lock_guard<std::mutex> db_guard(conn_.mutex());
      keeper_.read_snapshot("cannot read records", [&](record_tables& t) {
        for (std::size_t q = 0; q < out.size(); ++q) {
          std::vector<hit> kept;
          for (std::size_t i = 0; i < out[q].size(); ++i) {
            auto row = t.read(found[q][i].key, o.fields);
            if (!row) continue;  // removed since the search; not returned
            hit h = std::move(out[q][i]);
            h.document = std::move(row->value.document);
            h.meta = std::move(row->value.meta);
            h.embedding = std::move(row->value.embedding);
            kept.push_back(std::move(h));
          }
          out[q] = std::move(kept);
        }
        return true;
      });
    }
    return out;
  }

 private:
  /// After catching up, the row ids a filtered query may return: `where`
  /// evaluated on the collection's metadata in memory, `where_document` by
  /// SQL (documents stay in SQLite), intersected. Neither is in row id order.
  std::vector<std::int64_t> filtered_rows(const collection_ref& c, const query_options& o) {
    for (;;) {
      std::optional<std::vector<std::int64_t>> documents;
      {
        std::lock_guard<std::mutex> db_guard(conn_.mutex());
        keeper_.refresh_locked();
        if (!o.where_document.empty()) {
          documents = keeper_.read_snapshot("cannot filter records", [&](record_tables& t) {
            return t.select(c.id, filter{}, o.where_document, true);
          });
        }
        if (o.where.empty()) return std::move(*documents);
        keeper_.ready_metadata_locked(c.id);
      }
      if (auto rows = keeper_.select_metadata(c.id, o.where, documents ? &*documents : nullptr)) return std::move(*rows);
      // Another thread's refresh reloaded the collection in between (a
      // replaced file, a compaction behind): prepare its metadata again.
    }
  }

  /// Refreshes, then runs `body(tables)` in one read snapshot on a collection that must exist.
  template <class Body>
  auto read_collection(const collection_ref& c, const std::string& what, Body&& body) {
    std::lock_guard<std::mutex> db_guard(conn_.mutex());
    keeper_.refresh_locked();
    {
      auto state_guard = keeper_.read_state();
      if (!keeper_.find(c.id)) throw_gone(c);
    }
    return keeper_.read_snapshot(what, std::forward<Body>(body));
  }

  /// `c` is no longer stored; requires the state.
  [[noreturn]] void throw_gone(const collection_ref& c) const {
    bool name_taken = false;
    for (const auto& [id, state] : keeper_.collections()) name_taken = name_taken || state.row.name == c.name;
    throw_collection_gone(options_.path, c, name_taken);
  }

  const store_options& options_;
  store_connection& conn_;
  index_keeper<IndexPolicy>& keeper_;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
