// SPDX-License-Identifier: MIT
// The on-disk schema: its DDL, creation of a new store, validation of an
// existing one at open, and forward migrations.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <vecstore/errors.hpp>
#include <vecstore/storage/row_checksums.hpp>
#include <vecstore/storage/sqlite.hpp>
#include <vecstore/version.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Schema version 1. STRICT tables with NOT NULL: a NaN bound to REAL would
/// become NULL and a TEXT key would accept NULL otherwise.
/// AUTOINCREMENT keeps row ids from being reused, so a row id names one
/// record for ever and other processes can apply deletes by row id.
inline constexpr const char* schema_v1 = R"sql(
CREATE TABLE collections (
  collection_id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  dim INTEGER NOT NULL CHECK (dim > 0),
  space TEXT NOT NULL CHECK (space IN ('cosine', 'l2', 'ip')),
  seq INTEGER NOT NULL
) STRICT;
CREATE TABLE records (
  rid INTEGER PRIMARY KEY AUTOINCREMENT,
  collection_id INTEGER NOT NULL REFERENCES collections (collection_id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  embedding BLOB,
  document TEXT,
  checksum INTEGER,
  seq INTEGER NOT NULL,
  UNIQUE (collection_id, id)
) STRICT;
CREATE INDEX records_by_seq ON records (seq);
CREATE TABLE metadata (
  record_id INTEGER NOT NULL REFERENCES records (rid) ON DELETE CASCADE,
  key TEXT NOT NULL,
  type INTEGER NOT NULL CHECK (type BETWEEN 0 AND 3),
  value ANY NOT NULL,
  PRIMARY KEY (record_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX metadata_by_value ON metadata (key, type, value);
CREATE TABLE tombstones (
  seq INTEGER NOT NULL,
  collection_id INTEGER NOT NULL,
  rid INTEGER NOT NULL
) STRICT;
CREATE INDEX tombstones_by_seq ON tombstones (seq);
CREATE TABLE store_meta (
  key TEXT PRIMARY KEY,
  value ANY NOT NULL
) STRICT;
INSERT INTO store_meta (key, value) VALUES ('seq', 0), ('compacted_seq', 0);
)sql";

/// Schema version 2: what persistent index policies (ivf_index) share between
/// processes — one serialized quantizer per collection and each record's
/// inverted list — so nobody retrains or reassigns at open.
inline constexpr const char* migration_v1_to_v2 = R"sql(
CREATE TABLE index_state (
  collection_id INTEGER PRIMARY KEY REFERENCES collections (collection_id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  state BLOB NOT NULL,
  checksum INTEGER NOT NULL,
  seq INTEGER NOT NULL
) STRICT;
CREATE INDEX index_state_by_seq ON index_state (seq);
CREATE TABLE index_assignments (
  rid INTEGER PRIMARY KEY REFERENCES records (rid) ON DELETE CASCADE,
  list INTEGER NOT NULL
) STRICT;
)sql";

/// Schema version 3: a random token per write transaction (the newest
/// seq_tokens_kept of them), so that "the store as of transaction seq" names
/// one content even across a file restored from an older copy and written
/// again, where the seq numbers repeat. The vectors file records the seq and
/// token it was written at (storage/vectors_file.hpp).
inline constexpr const char* migration_v2_to_v3 = R"sql(
CREATE TABLE seq_tokens (
  seq INTEGER PRIMARY KEY,
  token INTEGER NOT NULL
) STRICT;
INSERT INTO seq_tokens (seq, token) SELECT value, random() FROM store_meta WHERE key = 'seq';
)sql";

/// Schema version 4: a checksum per record over its id, document and
/// metadata (detail/checksum.hpp, row_checksum), so that damage inside a
/// document or a metadata value is caught when it is read. The migration
/// computes it for every existing record (fill_row_checksums).
inline constexpr const char* migration_v3_to_v4 = R"sql(
ALTER TABLE records ADD COLUMN row_checksum INTEGER;
)sql";

/// How many of the newest write transactions keep their token: a vectors
/// file older than that is not used.
inline constexpr std::int64_t seq_tokens_kept = 1000;

/// migrations[i] takes a store from version i + 1 to i + 2. A new store is
/// created at version 1 and runs every step too, so a created and a migrated
/// store have the same sqlite_master, byte for byte.
inline constexpr const char* migrations[] = {migration_v1_to_v2, migration_v2_to_v3, migration_v3_to_v4};
static_assert(sizeof(migrations) / sizeof(migrations[0]) + 1 == schema_version,
              "vecstore: every schema version above 1 needs its migration step");

/// Runs the migration steps from `from` up to schema_version.
inline void migrate(connection& c, std::int64_t from) {
  for (std::int64_t v = from; v < schema_version; ++v) c.exec(migrations[v - 1]);
  if (from < 4) fill_row_checksums(c);
  c.exec(("PRAGMA user_version = " + std::to_string(schema_version)).c_str());
}

/// One row of sqlite_master: what the schema check compares.
using schema_entry = std::tuple<std::string, std::string, std::string, std::string>;

inline std::vector<schema_entry> read_schema(SQLite::Database& db) {
  std::vector<schema_entry> out;
  SQLite::Statement st(db,
                       "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master "
                       "WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name");
  while (st.executeStep()) {
    out.emplace_back(st.getColumn(0).getString(), st.getColumn(1).getString(), st.getColumn(2).getString(),
                     st.getColumn(3).getString());
  }
  return out;
}

/// The sqlite_master of a freshly created store, made once per process in
/// memory: the reference an opened file must match byte for byte. A flipped
/// byte in a table name otherwise reads as an empty table without any error.
inline const std::vector<schema_entry>& expected_schema() {
  static const std::vector<schema_entry> expected = [] {
    SQLite::Database mem(":memory:", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    mem.exec(schema_v1);
    for (const char* step : migrations) mem.exec(step);
    return read_schema(mem);
  }();
  return expected;
}

inline std::int64_t pragma_int(connection& c, const char* pragma) {
  SQLite::Statement st(c.db(), pragma);
  st.executeStep();
  return st.getColumn(0).getInt64();
}

/// Stores up to this size get a full integrity_check at open (it also
/// compares index b-trees with their tables); larger ones get quick_check.
/// Measured on this class of machine (warm cache): see docs/operations.md.
inline constexpr std::int64_t integrity_check_limit = std::int64_t{64} << 20;

/// Stores up to this size get quick_check at open even after a clean close.
inline constexpr std::int64_t quick_check_limit = std::int64_t{1} << 30;

/// "ok", or what SQLite's integrity_check (full) / quick_check found.
inline std::string page_check(connection& c, bool full) {
  SQLite::Statement st(c.db(), full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)");
  std::string result;
  while (st.executeStep()) result += (result.empty() ? "" : "; ") + st.getColumn(0).getString();
  return result;
}

/// A file with no tables and no ids: a new store to create.
inline bool is_empty_file(connection& c) {
  return pragma_int(c, "PRAGMA application_id") == 0 && pragma_int(c, "PRAGMA user_version") == 0 &&
         pragma_int(c, "SELECT count(*) FROM sqlite_master") == 0;
}

/// Throws schema_error unless the file is empty or carries vecstore's application_id.
inline void check_not_foreign(connection& c) {
  const std::int64_t app = pragma_int(c, "PRAGMA application_id");
  if (app == application_id || is_empty_file(c)) return;
  throw_error<schema_error>("not a vecstore store", c.file(),
                            "its application_id is " + std::to_string(app) + ", vecstore's is " +
                                std::to_string(application_id),
                            "Open a file created by vecstore, or move this file away");
}

/// True when the file holds a vecstore store of an older schema version.
inline bool needs_migration(connection& c) {
  try {
    if (is_empty_file(c) || pragma_int(c, "PRAGMA application_id") != application_id) return false;
    const std::int64_t version = pragma_int(c, "PRAGMA user_version");
    return version >= 1 && version < schema_version;
  } catch (const SQLite::Exception& e) {
    rethrow_sqlite(e, c.file(), "cannot read the store's schema");
  }
}

/// Creates the schema in an empty file, or checks the one an existing file
/// has, migrating it forward when it is older. Runs in one `BEGIN IMMEDIATE`
/// transaction, re-reading the version inside it, so two processes opening
/// a new or old store at once create or migrate it exactly once.
/// The caller takes its pre-migration backup before calling this (see
/// needs_migration): SQLite cannot back up from a connection that is writing.
inline void prepare_schema(connection& c) {
  const auto& file = c.file();
  try {
    // Refuse a foreign file before changing anything in it (even its journal mode).
    check_not_foreign(c);
    // WAL must be chosen outside a transaction; it persists in the file.
    std::string mode;
    {
      SQLite::Statement wal(c.db(), "PRAGMA journal_mode = WAL");
      if (wal.executeStep()) mode = wal.getColumn(0).getString();
    }
    if (mode != "wal") {
      throw_error<io_error>("cannot switch the store to WAL mode", file, "SQLite refused journal_mode=WAL",
                            "Use a local file system that supports shared memory (not NFS)");
    }
    write_transaction tx(c);
    if (is_empty_file(c)) {
      c.exec(schema_v1);
      c.exec(("PRAGMA application_id = " + std::to_string(application_id)).c_str());
      migrate(c, 1);
      tx.commit();
      return;
    }
    check_not_foreign(c);
    const std::int64_t version = pragma_int(c, "PRAGMA user_version");
    if (version > schema_version) {
      throw_error<schema_error>("store written by a newer vecstore", file,
                                "its schema version is " + std::to_string(version) + ", this build reads up to " +
                                    std::to_string(schema_version),
                                "Upgrade vecstore to open it; nothing was changed");
    }
    if (version < 1) {
      throw_error<schema_error>("unknown schema version", file, "user_version is " + std::to_string(version),
                                "The file was not written by a released vecstore; restore a backup");
    }
    if (version < schema_version) migrate(c, version);
    tx.commit();
    if (read_schema(c.db()) != expected_schema()) {
      throw_error<corruption_error>("the store's schema is damaged", file,
                                    "its table definitions differ from schema version " +
                                        std::to_string(schema_version),
                                    repair_advice);
    }
  } catch (const SQLite::Exception& e) {
    rethrow_sqlite(e, file, "cannot read the store's schema");
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
