// SPDX-License-Identifier: MIT
// Filling a salvaged store from a backup: the records (and collections) whose
// rows in the damaged file did not read or verify are taken from a verified
// backup, so that restore_backup_recovery keeps everything the damaged file
// still holds plus what only the backup holds (recovery/restore_backup.hpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include <sqlite3.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <vecstore/recovery/salvage/range_reader.hpp>
#include <vecstore/recovery/salvage/salvager.hpp>
#include <vecstore/storage/row_checksums.hpp>
#include <vecstore/storage/sqlite.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// What fill_from_backup() took from the backup.
struct backup_fill {
  std::size_t collections = 0;
  /// Row id -> the change sequence of the backup's copy, for every record taken.
  std::unordered_map<std::int64_t, std::int64_t> records;
};

/// Copies into `out` (a salvaged store, inside no transaction) what `gaps`
/// leaves open and the verified `backup` holds:
///  - a collection whose row did not read (or none read at all), unless its
///    name is taken by a collection the salvage kept;
///  - a record whose row did not read or verify, unless the damaged file's
///    tombstones say it was deleted, its collection is not in `out`, or `out`
///    holds its (collection, id) under another row id (a newer copy).
/// A record the salvage kept is never replaced: the damaged file's copy is at
/// least as new as the backup's. Row ids and collection ids are kept, so
/// every checksum still matches. Finally the store's sequence is raised to
/// the backup's, so later changes sort after every record taken.
inline backup_fill fill_from_backup(connection& out, const std::filesystem::path& backup, std::int64_t backup_seq,
                                    const salvage_gaps& gaps) {
  backup_fill filled;
  SQLite::Database src(backup.string(), SQLite::OPEN_READONLY);
  src.exec("BEGIN");  // one snapshot for every read below, not a transaction (locks, a stat) per row
  write_transaction tx(out);

  const auto listed = [](const std::vector<std::int64_t>& sorted, std::int64_t key) {
    return std::binary_search(sorted.begin(), sorted.end(), key);
  };

  // Collections first: a record is taken only into a collection `out` holds.
  {
    SQLite::Statement read(src, "SELECT collection_id, name, dim, space, seq FROM collections ORDER BY collection_id");
    SQLite::Statement insert(out.db(),
                             "INSERT OR IGNORE INTO collections (collection_id, name, dim, space, seq) "
                             "VALUES (?, ?, ?, ?, ?)");
    while (read.executeStep()) {
      const std::int64_t id = read.getColumn(0).getInt64();
      if (!gaps.collections_unread && !listed(gaps.collections, id)) continue;  // read fine, or deleted since
      insert.reset();
      insert.bind(1, id);
      insert.bind(2, read.getColumn(1).getString());
      insert.bind(3, read.getColumn(2).getInt64());
      insert.bind(4, read.getColumn(3).getString());
      insert.bind(5, read.getColumn(4).getInt64());
      filled.collections += static_cast<std::size_t>(insert.exec());
    }
  }

  std::vector<std::int64_t> present;  // the collections `out` holds now, sorted
  {
    SQLite::Statement st(out.db(), "SELECT collection_id FROM collections ORDER BY collection_id");
    while (st.executeStep()) present.push_back(st.getColumn(0).getInt64());
  }

  // Records: looked up by row id, one by one (the gaps are few, the backup large).
  // Prepared once: take() runs once per row id in the gaps.
  SQLite::Statement insert(out.db(),
                           "INSERT OR IGNORE INTO records (rid, collection_id, id, embedding, document, checksum, seq, "
                           "row_checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  SQLite::Statement meta_read(src, "SELECT key, type, value FROM metadata WHERE record_id = ?");
  SQLite::Statement meta_insert(out.db(), "INSERT INTO metadata (record_id, key, type, value) VALUES (?, ?, ?, ?)");
  const auto take = [&](SQLite::Statement& read) {
    while (read.executeStep()) {
      const std::int64_t rid = read.getColumn(0).getInt64();
      const std::int64_t collection_id = read.getColumn(1).getInt64();
      if (listed(gaps.tombstoned, rid) || filled.records.count(rid)) continue;
      if (!listed(present, collection_id)) continue;
      insert.reset();
      insert.bind(1, rid);
      for (int i = 1; i < 8; ++i) salvaged_value::of(read.getColumn(i)).bind(insert, i + 1);
      if (insert.exec() == 0) continue;  // the row id or (collection, id) is taken by a kept record
      meta_read.reset();
      meta_read.bind(1, rid);
      while (meta_read.executeStep()) {
        meta_insert.reset();
        meta_insert.bind(1, rid);
        for (int i = 0; i < 3; ++i) salvaged_value::of(meta_read.getColumn(i)).bind(meta_insert, i + 2);
        meta_insert.exec();
      }
      filled.records[rid] = read.getColumn(6).getInt64();
    }
  };
  // A backup older than schema version 4 has no row checksums: they are
  // computed below for what it gives.
  const std::string columns = [&] {
    std::string c = "SELECT rid, collection_id, id, embedding, document, checksum, seq, ";
    try {
      SQLite::Statement probe(src, "SELECT row_checksum FROM records LIMIT 0");
      return c + "row_checksum FROM records";
    } catch (const SQLite::Exception&) {
      return c + "NULL FROM records";
    }
  }();
  {
    SQLite::Statement by_rid(src, columns + " WHERE rid = ?");
    for (const std::int64_t rid : gaps.rids) {
      by_rid.reset();
      by_rid.bind(1, rid);
      take(by_rid);
    }
  }
  if (gaps.collections_unread || gaps.exhausted) {  // no row id tells what is missing: every row is a candidate
    SQLite::Statement all(src, columns);
    take(all);
  }

  fill_row_checksums(out);

  // Later changes sort after every record taken, and row ids are not reused.
  {
    SQLite::Statement st(out.db(), "UPDATE store_meta SET value = max(value, ?) WHERE key IN ('seq', 'compacted_seq')");
    st.bind(1, backup_seq);
    st.exec();
    out.exec("UPDATE store_meta SET value = (SELECT max(value) FROM store_meta WHERE key IN ('seq', 'compacted_seq')) "
             "WHERE key IN ('seq', 'compacted_seq')");
  }
  for (const char* table : {"records", "collections"}) {
    const std::string max_key = std::string("SELECT coalesce(max(") + (table[0] == 'r' ? "rid" : "collection_id") +
                                "), 0) FROM " + table;
    SQLite::Statement top(out.db(), max_key);
    top.executeStep();
    const std::int64_t highest = top.getColumn(0).getInt64();
    SQLite::Statement update(out.db(), "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?");
    update.bind(1, highest);
    update.bind(2, table);
    if (update.exec() == 0 && highest > 0) {
      SQLite::Statement insert(out.db(), "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)");
      insert.bind(1, table);
      insert.bind(2, highest);
      insert.exec();
    }
  }
  tx.commit();
  return filled;
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
