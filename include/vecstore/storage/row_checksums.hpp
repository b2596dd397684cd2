// SPDX-License-Identifier: MIT
// Records' metadata as stored, and the row checksum over each record's id,
// document and metadata (detail/checksum.hpp, row_checksum): filling it in
// (schema version 4's migration, a salvaged or restored store) and
// verifying every record's (verify(), backups, salvage).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <vecstore/detail/checksum.hpp>
#include <vecstore/storage/sqlite.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// One metadata value from its stored `type` (0 int, 1 double, 2 string, 3 bool) and value column.
inline metadata_value stored_metadata_value(int type, const SQLite::Column& value) {
  switch (type) {
    case 0: return metadata_value(std::int64_t{value.getInt64()});
    case 1: return metadata_value(value.getDouble());
    case 2: return metadata_value(value.getString());
    default: return metadata_value(value.getInt64() != 0);
  }
}

/// The metadata of record `rid`, as stored.
inline metadata read_metadata(connection& c, std::int64_t rid) {
  metadata meta;
  auto st = c.statement("SELECT key, type, value FROM metadata WHERE record_id = ?");
  st->bind(1, rid);
  while (st->executeStep()) meta.emplace(st->getColumn(0).getString(), stored_metadata_value(st->getColumn(1).getInt(), st->getColumn(2)));
  return meta;
}

/// A record's document column as row_checksum takes it.
inline std::optional<std::string_view> stored_document(const SQLite::Column& document) {
  if (document.isNull()) return std::nullopt;
  return std::string_view(static_cast<const char*>(document.getText()), static_cast<std::size_t>(document.getBytes()));
}

/// Calls `fn(rid, collection_id, id, ok)` for every record, in row id order,
/// with `ok` telling whether its row checksum is set and matches its id,
/// document and metadata. Records and metadata are read in one pass each,
/// both in row id order (metadata's primary key starts with the row id), so
/// the cost is one read of the two tables. Returns the number of records.
template <class Fn>
std::size_t for_each_row_checksum(SQLite::Database& db, Fn&& fn) {
  SQLite::Statement records(db, "SELECT rid, collection_id, id, document, row_checksum FROM records ORDER BY rid");
  SQLite::Statement metas(db, "SELECT record_id, key, type, value FROM metadata ORDER BY record_id, key");
  bool meta_row = metas.executeStep();
  std::size_t n = 0;
  while (records.executeStep()) {
    const std::int64_t rid = records.getColumn(0).getInt64();
    while (meta_row && metas.getColumn(0).getInt64() < rid) meta_row = metas.executeStep();  // orphans
    metadata meta;
    for (; meta_row && metas.getColumn(0).getInt64() == rid; meta_row = metas.executeStep()) {
      meta.emplace(metas.getColumn(1).getString(), stored_metadata_value(metas.getColumn(2).getInt(), metas.getColumn(3)));
    }
    const std::int64_t collection_id = records.getColumn(1).getInt64();
    const SQLite::Column id = records.getColumn(2);
    const std::string_view id_text(static_cast<const char*>(id.getText()), static_cast<std::size_t>(id.getBytes()));
    const SQLite::Column stored = records.getColumn(4);
    const bool ok = !stored.isNull() && static_cast<std::uint64_t>(stored.getInt64()) ==
                                            row_checksum(collection_id, id_text, stored_document(records.getColumn(3)), meta);
    fn(rid, collection_id, id_text, ok);
    ++n;
  }
  return n;
}

/// Sets the row checksum of every record whose checksum is missing (all of
/// them after the migration to schema version 4; those copied from an older
/// backup or damaged file into a fresh store). The caller holds a write
/// transaction.
inline void fill_row_checksums(connection& c) {
  // Computed first, written after: SQLite leaves undefined what a running
  // SELECT sees of the rows its own connection updates meanwhile.
  std::vector<std::pair<std::int64_t, std::uint64_t>> sums;
  {
    SQLite::Statement missing(c.db(),
                              "SELECT rid, collection_id, id, document FROM records WHERE row_checksum IS NULL");
    while (missing.executeStep()) {
      const std::int64_t rid = missing.getColumn(0).getInt64();
      const SQLite::Column id = missing.getColumn(2);
      sums.emplace_back(rid, row_checksum(missing.getColumn(1).getInt64(),
                                          std::string_view(static_cast<const char*>(id.getText()),
                                                           static_cast<std::size_t>(id.getBytes())),
                                          stored_document(missing.getColumn(3)), read_metadata(c, rid)));
    }
  }
  SQLite::Statement update(c.db(), "UPDATE records SET row_checksum = ? WHERE rid = ?");
  for (const auto& [rid, sum] : sums) {
    update.reset();
    update.bind(1, static_cast<std::int64_t>(sum));
    update.bind(2, rid);
    update.exec();
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
