// SPDX-License-Identifier: MIT
// Reading a store file that may be damaged, without writing to it:
// verify_store_file() (backups, restores, recovery's result) and what a
// damaged file still tells (its record count, its change sequence).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

#include <sqlite3.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <vecstore/detail/checksum.hpp>
#include <vecstore/detail/utf8.hpp>
#include <vecstore/storage/row_checksums.hpp>
#include <vecstore/storage/schema.hpp>
#include <vecstore/version.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// What verify_store_file() found.
struct verify_result {
  bool ok = false;
  std::string problem;         ///< empty when ok
  std::int64_t seq = -1;       ///< store_meta's change sequence, -1 if unread
  std::size_t records = 0;     ///< records read from the table
  std::size_t embeddings = 0;  ///< embeddings read and verified
};

/// Checks a store file without changing it (opened read-only): vecstore's
/// application_id, a schema version this build reads (and, for the current
/// version, the exact schema), quick_check (integrity_check when `full`),
/// store_meta's sequence, every record against its collection and every
/// embedding against its checksum, and the table's record count against
/// the index's. Never throws for a damaged or foreign file: `problem` says
/// what is wrong.
inline verify_result verify_store_file(const std::filesystem::path& file, bool full) {
  namespace fs = std::filesystem;
  verify_result r;
  std::error_code ec;
  const auto status = fs::symlink_status(file, ec);
  if (!fs::exists(status)) {
    r.problem = "the file does not exist";
    return r;
  }
  if (!fs::is_regular_file(status)) {
    r.problem = "not a regular file";
    return r;
  }
  try {
    SQLite::Database db(file.string(), SQLite::OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, 5000);
    const auto scalar = [&](const char* sql) {
      SQLite::Statement st(db, sql);
      if (!st.executeStep()) throw SQLite::Exception(std::string("no row from ") + sql);
      return st.getColumn(0).getInt64();
    };
    const std::int64_t app = scalar("PRAGMA application_id");
    if (app != application_id) {
      r.problem = "not a vecstore store (application_id " + std::to_string(app) + ")";
      return r;
    }
    const std::int64_t version = scalar("PRAGMA user_version");
    if (version < 1 || version > schema_version) {
      r.problem = "schema version " + std::to_string(version) + " (this build reads 1 to " +
                  std::to_string(schema_version) + ")";
      return r;
    }
    {
      SQLite::Statement check(db, full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)");
      std::string found;
      while (check.executeStep()) {
        const std::string line = check.getColumn(0).getString();
        if (line == "ok") continue;
        if (!found.empty()) found += "; ";
        found += line;
      }
      if (!found.empty()) {
        r.problem = std::string(full ? "integrity_check" : "quick_check") + " failed: " + found;
        return r;
      }
    }
    if (version == schema_version && read_schema(db) != expected_schema()) {
      r.problem = "its table definitions differ from schema version " + std::to_string(schema_version);
      return r;
    }
    {
      SQLite::Statement st(db, "SELECT value FROM store_meta WHERE key = 'seq'");
      if (!st.executeStep()) {
        r.problem = "store_meta has no 'seq' row";
        return r;
      }
      r.seq = st.getColumn(0).getInt64();
    }
    std::unordered_map<std::int64_t, std::size_t> dims;
    {
      SQLite::Statement st(db, "SELECT collection_id, dim FROM collections");
      while (st.executeStep()) dims[st.getColumn(0).getInt64()] = static_cast<std::size_t>(st.getColumn(1).getInt64());
    }
    std::size_t bad = 0;
    std::string first_bad;
    {
      SQLite::Statement st(db, "SELECT collection_id, id, embedding, checksum FROM records NOT INDEXED ORDER BY rid");
      while (st.executeStep()) {
        ++r.records;
        const std::int64_t collection_id = st.getColumn(0).getInt64();
        const std::string id = st.getColumn(1).getString();
        const auto dim = dims.find(collection_id);
        std::string why;
        if (dim == dims.end()) {
          why = "record " + quote_name(id) + " belongs to collection " + std::to_string(collection_id) +
                ", which is missing";
        } else if (!st.getColumn(2).isNull()) {
          const SQLite::Column blob = st.getColumn(2);
          const SQLite::Column sum = st.getColumn(3);
          if (stored_embedding_ok(collection_id, id, blob.getBlob(), static_cast<std::size_t>(blob.getBytes()),
                                  sum.isInteger(), sum.getInt64(), dim->second)) {
            ++r.embeddings;
          } else {
            why = "the checksum of record " + quote_name(id) + " (collection " + std::to_string(collection_id) +
                  ") does not match its bytes";
          }
        }
        if (!why.empty() && bad++ == 0) first_bad = why;
      }
    }
    if (version >= 4) {  // row checksums: schema version 4
      for_each_row_checksum(db, [&](std::int64_t, std::int64_t collection_id, std::string_view id, bool ok) {
        if (!ok && bad++ == 0) {
          first_bad = "the checksum of record " + quote_name(id) + " (collection " +
                      std::to_string(collection_id) + ") does not match its id, document and metadata";
        }
      });
    }
    if (bad > 0) {
      r.problem =
          std::to_string(bad) + (bad == 1 ? " record is" : " records are") + " damaged; the first: " + first_bad;
      return r;
    }
    const auto indexed = static_cast<std::size_t>(scalar("SELECT count(*) FROM records INDEXED BY records_by_seq"));
    if (indexed != r.records) {
      r.problem =
          "the records table holds " + std::to_string(r.records) + " rows and its index " + std::to_string(indexed);
      return r;
    }
    r.ok = true;
  } catch (const SQLite::Exception& e) {
    r.problem = std::string(e.what()) + " [SQLite error " + std::to_string(e.getExtendedErrorCode()) + "]";
  } catch (const std::exception& e) {
    r.problem = e.what();
  }
  return r;
}

/// How many records the store behind `db` (possibly damaged) says it holds:
/// the largest count any readable records b-tree gives (the two indexes are
/// small; the table itself is read only when both fail); nullopt when none reads.
inline std::optional<std::size_t> count_records(SQLite::Database& db) noexcept {
  std::optional<std::size_t> best;
  for (const char* sql : {"SELECT count(*) FROM records INDEXED BY records_by_seq",
                          "SELECT count(*) FROM records INDEXED BY sqlite_autoindex_records_1",
                          "SELECT count(*) FROM records NOT INDEXED"}) {
    if (best && std::strstr(sql, "NOT INDEXED")) break;
    try {
      SQLite::Statement st(db, sql);
      if (st.executeStep()) {
        const auto n = static_cast<std::size_t>(st.getColumn(0).getInt64());
        if (!best || n > *best) best = n;
      }
    } catch (...) {  // that b-tree is damaged; try the next
    }
  }
  return best;
}

/// The first column of the first row of `sql` on a (possibly damaged) store,
/// when it reads as an integer.
inline std::optional<std::int64_t> try_scalar(SQLite::Database& db, const char* sql) noexcept {
  try {
    SQLite::Statement st(db, sql);
    if (st.executeStep() && st.getColumn(0).isInteger()) return st.getColumn(0).getInt64();
  } catch (...) {  // damaged or missing
  }
  return std::nullopt;
}

/// Opens a (possibly damaged) store file read-only through SQLite; nullptr
/// when SQLite cannot open it at all.
inline std::unique_ptr<SQLite::Database> open_damaged(const std::filesystem::path& file) noexcept {
  try {
    auto db = std::make_unique<SQLite::Database>(file.string(), SQLite::OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, 1000);
    db->exec("PRAGMA cell_size_check = ON");  // catch more damage as errors rather than odd values
    // Read what is there even when the file is shorter than its header says
    // (SQLite refuses a truncated file outright otherwise) or the schema
    // text has damage. The connection is read-only: nothing is written.
    db->exec("PRAGMA writable_schema = ON");
    return db;
  } catch (...) {
    return nullptr;
  }
}

/// store_meta's change sequence of a (possibly damaged) store file, read
/// without writing to it; nullopt when it cannot be read.
inline std::optional<std::int64_t> read_store_seq(const std::filesystem::path& file) noexcept {
  auto db = open_damaged(file);
  if (!db) return std::nullopt;
  return try_scalar(*db, "SELECT value FROM store_meta WHERE key = 'seq'");
}

/// How many records a (possibly damaged) store file says it holds; nullopt
/// when it no longer tells.
inline std::optional<std::size_t> read_record_count(const std::filesystem::path& file) noexcept {
  auto db = open_damaged(file);
  if (!db) return std::nullopt;
  return count_records(*db);
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
