// SPDX-License-Identifier: MIT
// Writing the salvaged store: the salvager reads a damaged store through
// SQLite, read-only (by range_reader, or through a copy with its header
// rebuilt), and writes into a fresh store what verifies: collections that are
// well formed, records whose embedding checksum matches, metadata that is well
// typed, and the bookkeeping that keeps sequence numbers and row ids from being
// handed out again. It also counts and names what was lost. It is the work of
// salvage_recovery (recovery/salvage.hpp), which owns the files: the fresh
// store, its verification and the swap into place.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sqlite3.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <vecstore/detail/checksum.hpp>
#include <vecstore/detail/quarantine.hpp>
#include <vecstore/detail/utf8.hpp>
#include <vecstore/detail/validate.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/recovery/report.hpp>
#include <vecstore/recovery/salvage/range_reader.hpp>
#include <vecstore/recovery/salvage/rebuilt_header.hpp>
#include <vecstore/storage/backup.hpp>
#include <vecstore/storage/row_checksums.hpp>
#include <vecstore/storage/sqlite.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// What a salvage could not settle, for restore_backup_recovery to take from
/// a backup (recovery/salvage/backup_fill.hpp).
struct salvage_gaps {
  /// Row ids whose rows did not read (each single key the reader gave up on,
  /// which may never have held a row) or read but did not verify. Sorted.
  std::vector<std::int64_t> rids;
  /// Collection ids whose rows did not read or verify. Sorted.
  std::vector<std::int64_t> collections;
  bool collections_unread = false;  ///< nothing of the collections table read
  bool exhausted = false;           ///< the read budget ran out: rows past it were not read
  /// Row ids the damaged file's tombstones say were deleted. Sorted.
  std::vector<std::int64_t> tombstoned;
};

/// A record of the damaged store that the salvage did not keep.
struct lost_record {
  std::int64_t rid = 0;
  std::string name;                 ///< "<collection>/<id>", or less when less is known
  std::optional<std::int64_t> seq;  ///< its change sequence, when that read
};

/// The work of salvage_recovery: reads `damaged` through SQLite, read-only,
/// and writes what verifies into `out` (a fresh store, same collection ids
/// and row ids, so every checksum still matches).
class salvager {
 public:
  static constexpr std::size_t max_lost_listed = 1000;
  static constexpr std::size_t query_budget = 4000000;

  salvager(const std::filesystem::path& damaged, connection& out) : damaged_(damaged), out_(out) {}

  void run(recovery_report& report) {
    auto src = open_damaged(damaged_);
    // A damaged header makes SQLite refuse the whole file: read a copy with
    // the header rebuilt instead (the damaged file itself is never written).
    if (!try_scalar(*src, "SELECT count(*) FROM sqlite_master")) {
      src.reset();  // before our own descriptor opens and closes the file
      repaired_ =
          std::make_unique<temporary_file>(temporary_name(out_.file().parent_path(), damaged_.filename().string()));
      if (copy_with_rebuilt_header(damaged_, repaired_->path())) {
        src = open_damaged(repaired_->path());
        header_rebuilt_ = true;
      } else {
        src = open_damaged(damaged_);
      }
    }
    if (!src) {
      throw_error<io_error>("cannot read the damaged store", damaged_, "SQLite cannot open it",
                            "Check its permissions; nothing was changed");
    }
    // One read transaction for every read of the damaged file: otherwise
    // SQLite begins and ends one (WAL locks, a stat of the file) for each of
    // the thousands of range reads around the damage, most of the time a
    // salvage takes. BEGIN reads nothing, so damage cannot fail it; a read
    // that fails does not end it; closing `src` does.
    src->exec("BEGIN");
    held_ = count_records(*src);
    const std::optional<std::size_t>& held = held_;
    const std::optional<std::int64_t> damaged_seq = try_scalar(*src, "SELECT value FROM store_meta WHERE key = 'seq'");
    write_transaction tx(out_);
    try {
      const bool collections_read = copy_collections(*src);
      if (!collections_read || collections_.empty()) {
        report.rows_saved = 0;
        report.rows_lost = held.value_or(0);
        if (!collections_read) {
          report.note =
              "the collections table of the damaged store could not be read, so no record could be "
              "placed: the store is now empty";
          if (held) report.note += " (the damaged store held " + std::to_string(*held) + " records)";
        } else {
          report.note = "the damaged store has no collections: the store is now empty";
        }
        if (!held) {
          report.note += "; the damaged store no longer says how many records it held, so rows_lost is a lower bound";
        }
        if (!collections_read) list_unread_from_index(*src);
        tx.commit();
        gaps_.collections_unread = !collections_read;
        return;
      }
      copy_records(*src);
      copy_metadata(*src);
      check_row_checksums();
      list_unread_from_index(*src);
      read_tombstones(*src);
      finish_bookkeeping(*src, damaged_seq);
      tx.commit();
    } catch (const SQLite::Exception& e) {
      rethrow_sqlite(e, out_.file(), "cannot write the salvaged store");
    }

    std::size_t saved = 0;
    for (const auto& r : saved_) saved += r.kept ? 1 : 0;
    report.rows_saved = saved;
    report.rows_lost = rows_lost(saved, rejected_ + unread_listed_);
    report.note = std::to_string(saved) + " records saved";
    if (held) report.note += " of the " + std::to_string(*held) + " the damaged store held";
    report.note += "; " + std::to_string(rejected_) + " read but rejected (checksum, type or metadata damage), " +
                   std::to_string(collections_lost_) + " collections lost, " + std::to_string(queries_) +
                   " range reads";
    if (!held)
      report.note += "; the damaged store no longer says how many records it held, so rows_lost is a lower bound";
    if (header_rebuilt_) {
      report.note +=
          "; the damaged file's header was rebuilt to read it (changes still only in its -wal, if any, "
          "were not read)";
    }
    if (exhausted_)
      report.note += "; the read budget ran out: records with higher row ids may exist in the damaged file";
  }

 private:
  struct saved_record {
    std::int64_t rid;
    std::int64_t collection_id;
    std::string id;
    std::int64_t seq;
    bool kept;
  };

  void add_lost(std::int64_t rid, std::string what, std::optional<std::int64_t> seq) {
    lost_.push_back(lost_record{rid, std::move(what), seq});
  }

  std::string name_of(std::int64_t collection_id) const {
    const auto it = collections_.find(collection_id);
    return it != collections_.end() ? it->second.first : "collection " + std::to_string(collection_id);
  }

  template <class Reader>
  void account(const Reader& r) {
    queries_ += r.queries();
    exhausted_ = exhausted_ || r.exhausted();
  }

  /// An upper bound of the keys of a table: its max() and its AUTOINCREMENT
  /// counter, whichever reads and is larger; `fallback` when neither does.
  static std::int64_t upper_bound(SQLite::Database& src, const char* max_sql, const char* sequence_sql,
                                  std::int64_t fallback) {
    const auto a = try_scalar(src, max_sql);
    const auto b = try_scalar(src, sequence_sql);
    if (!a && !b) return fallback;
    return (std::max)(a.value_or(0), b.value_or(0));
  }

  /// False when nothing of the collections table reads at all.
  bool copy_collections(SQLite::Database& src) {
    std::unique_ptr<range_reader> reader;
    try {
      reader = std::make_unique<range_reader>(
          src,
          "SELECT collection_id, name, dim, space, seq FROM collections WHERE collection_id BETWEEN ? AND ? "
          "ORDER BY collection_id",
          query_budget);
    } catch (const SQLite::Exception&) {
      return false;  // the schema itself does not read
    }
    const std::int64_t hi = upper_bound(src, "SELECT max(collection_id) FROM collections",
                                        "SELECT seq FROM sqlite_sequence WHERE name = 'collections'", 1 << 12);
    SQLite::Statement insert(out_.db(),
                             "INSERT INTO collections (collection_id, name, dim, space, seq) VALUES (?, ?, ?, ?, ?)");
    reader->read(
        0, hi,
        [&](std::int64_t id, const std::vector<salvaged_row>& rows) {
          const salvaged_row& r = rows.front();
          bool valid = rows.size() == 1 && r[1].is_text() && r[2].is_integer() && r[2].integer > 0 &&
                       r[2].integer <= static_cast<std::int64_t>(limits::max_dim) && r[3].is_text() &&
                       (r[3].bytes == "cosine" || r[3].bytes == "l2" || r[3].bytes == "ip") && r[4].is_integer();
          if (valid) {
            try {
              check_collection_name(r[1].bytes);
            } catch (const invalid_argument&) {
              valid = false;
            }
          }
          if (!valid) {
            ++collections_lost_;
            gaps_.collections.push_back(id);
            return;
          }
          insert.reset();
          insert.bind(1, id);
          for (int i = 1; i < 5; ++i) r[static_cast<std::size_t>(i)].bind(insert, i + 1);
          try {
            insert.exec();
          } catch (const SQLite::Exception& e) {
            if ((e.getErrorCode() & 0xff) != SQLITE_CONSTRAINT) throw;
            ++collections_lost_;  // a second collection of that name: damage
            gaps_.collections.push_back(id);
            return;
          }
          collections_[id] = {r[1].bytes, static_cast<std::size_t>(r[2].integer)};
          max_seq_ = (std::max)(max_seq_, r[4].integer);
        },
        [&](std::int64_t id) {
          ++collections_lost_;
          gaps_.collections.push_back(id);
        });
    account(*reader);
    max_collection_id_ = (std::max)(max_collection_id_, hi);
    return !(collections_.empty() && reader->failed_keys() > 0);
  }

  void copy_records(SQLite::Database& src) {
    // A store older than schema version 4 has no row checksums: those are
    // computed afresh for what it holds (fill_row_checksums), and a record
    // of it without an embedding has nothing that vouches for it.
    try {
      SQLite::Statement probe(src, "SELECT row_checksum FROM records LIMIT 0");
      row_checksums_ = true;
    } catch (const SQLite::Exception&) {
      row_checksums_ = false;
    }
    range_reader reader(src,
                        std::string("SELECT rid, collection_id, id, embedding, document, checksum, seq, ") +
                            (row_checksums_ ? "row_checksum" : "NULL") +
                            " FROM records WHERE rid BETWEEN ? AND ? ORDER BY rid",
                        query_budget);
    const std::int64_t hi =
        upper_bound(src, "SELECT max(rid) FROM records", "SELECT seq FROM sqlite_sequence WHERE name = 'records'",
                    std::int64_t{1} << 32);
    max_rid_ = (std::max)(max_rid_, hi);
    SQLite::Statement insert(out_.db(),
                             "INSERT INTO records (rid, collection_id, id, embedding, document, checksum, seq, "
                             "row_checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    reader.read(
        1, hi,
        [&](std::int64_t rid, const std::vector<salvaged_row>& rows) {
          const salvaged_row& r = rows.front();
          const std::string id = r[2].is_text() ? r[2].bytes : std::string();
          const auto collection = r[1].is_integer() ? collections_.find(r[1].integer) : collections_.end();
          const std::string where = (r[1].is_integer() ? name_of(r[1].integer) : std::string("?")) + "/" +
                                    (is_valid_utf8(id) ? id : std::string("<damaged id>"));
          const bool id_ok = rows.size() == 1 && r[2].is_text() && !id.empty() && id.size() <= limits::max_id_bytes &&
                             is_valid_utf8(id);
          // Kept only when the checksum over (collection, id, bytes) matches,
          // and later its row checksum too (check_row_checksums).
          const bool embedding_ok =
              collection != collections_.end() &&
              (r[3].is_null() ? row_checksums_ && r[7].is_integer()
                              : r[3].type == SQLITE_BLOB &&
                                    stored_embedding_ok(r[1].integer, id, r[3].bytes.data(), r[3].bytes.size(),
                                                        r[5].is_integer(), r[5].integer, collection->second.second));
          const bool valid = id_ok && embedding_ok &&
                             (r[4].is_null() || (r[4].is_text() && is_valid_utf8(r[4].bytes))) && r[6].is_integer();
          const std::optional<std::int64_t> seq =
              rows.size() == 1 && r[6].is_integer() ? std::optional<std::int64_t>(r[6].integer) : std::nullopt;
          if (!valid) {
            ++rejected_;
            rejected_rids_.push_back(rid);  // in row id order
            add_lost(rid, where, seq);
            return;
          }
          insert.reset();
          insert.bind(1, rid);
          for (int i = 1; i < 8; ++i) r[static_cast<std::size_t>(i)].bind(insert, i + 1);
          try {
            insert.exec();
          } catch (const SQLite::Exception& e) {
            if ((e.getErrorCode() & 0xff) != SQLITE_CONSTRAINT) throw;
            ++rejected_;  // the same (collection, id) twice: damage
            rejected_rids_.push_back(rid);
            add_lost(rid, where, seq);
            return;
          }
          saved_.push_back(saved_record{rid, r[1].integer, id, r[6].integer, true});
          max_seq_ = (std::max)(max_seq_, r[6].integer);
        },
        [&](std::int64_t rid) { gaps_.rids.push_back(rid); });
    account(reader);
  }

  saved_record* find_saved(std::int64_t rid) {
    const auto it = std::lower_bound(saved_.begin(), saved_.end(), rid,
                                     [](const saved_record& r, std::int64_t k) { return r.rid < k; });
    return it != saved_.end() && it->rid == rid ? &*it : nullptr;
  }

  /// A saved record whose metadata is damaged or unreadable goes too: half
  /// of its metadata would be wrong data served as right.
  void drop(saved_record& r) {
    if (!r.kept) return;
    SQLite::Statement del(out_.db(), "DELETE FROM records WHERE rid = ?");
    del.bind(1, r.rid);
    del.exec();
    r.kept = false;
    ++rejected_;
    add_lost(r.rid, name_of(r.collection_id) + "/" + r.id, r.seq);
  }

  void copy_metadata(SQLite::Database& src) {
    if (saved_.empty()) return;
    std::unique_ptr<range_reader> reader;
    try {
      reader = std::make_unique<range_reader>(
          src,
          "SELECT record_id, key, type, value FROM metadata WHERE record_id BETWEEN ? AND ? ORDER BY record_id, key",
          query_budget);
    } catch (const SQLite::Exception&) {
      for (auto& r : saved_) drop(r);
      return;
    }
    SQLite::Statement insert(out_.db(), "INSERT INTO metadata (record_id, key, type, value) VALUES (?, ?, ?, ?)");
    reader->read(
        saved_.front().rid, saved_.back().rid,
        [&](std::int64_t rid, const std::vector<salvaged_row>& rows) {
          saved_record* r = find_saved(rid);
          if (!r || !r->kept) return;
          for (const auto& m : rows) {
            const bool key_ok = m[1].is_text() && !m[1].bytes.empty() && m[1].bytes.size() <= limits::max_key_bytes &&
                                is_valid_utf8(m[1].bytes);
            bool value_ok = m[2].is_integer();
            if (value_ok) {
              switch (m[2].integer) {
                case 0: value_ok = m[3].is_integer(); break;
                case 1: value_ok = m[3].type == SQLITE_FLOAT; break;
                case 2: value_ok = m[3].is_text() && is_valid_utf8(m[3].bytes); break;
                case 3: value_ok = m[3].is_integer() && (m[3].integer == 0 || m[3].integer == 1); break;
                default: value_ok = false; break;
              }
            }
            if (!key_ok || !value_ok) {
              drop(*r);
              return;
            }
          }
          for (const auto& m : rows) {
            insert.reset();
            insert.bind(1, rid);
            for (int i = 1; i < 4; ++i) m[static_cast<std::size_t>(i)].bind(insert, i + 1);
            try {
              insert.exec();
            } catch (const SQLite::Exception& e) {
              if ((e.getErrorCode() & 0xff) != SQLITE_CONSTRAINT) throw;
              drop(*r);  // its metadata rows were removed with it by cascade
              return;
            }
          }
        },
        [&](std::int64_t rid) {
          if (saved_record* r = find_saved(rid)) drop(*r);
        });
    account(*reader);
  }

  /// A kept record whose id, document and metadata do not match its row
  /// checksum goes: a flipped byte in a document would be served otherwise.
  /// From a store without row checksums, they are computed for what was kept.
  void check_row_checksums() {
    if (!row_checksums_) {
      fill_row_checksums(out_);
      return;
    }
    std::vector<std::int64_t> damaged;
    for_each_row_checksum(out_.db(), [&](std::int64_t rid, std::int64_t, std::string_view, bool ok) {
      if (!ok) damaged.push_back(rid);
    });
    for (const std::int64_t rid : damaged) {
      if (saved_record* r = find_saved(rid)) drop(*r);
    }
  }

  /// Records the unique index still names but whose rows did not read: their
  /// ids go into the report, so the caller knows what to add again.
  void list_unread_from_index(SQLite::Database& src) {
    try {
      SQLite::Statement st(src, "SELECT rid, collection_id, id FROM records INDEXED BY sqlite_autoindex_records_1");
      while (st.executeStep()) {
        const std::int64_t rid = st.getColumn(0).getInt64();
        if (find_saved(rid)) continue;  // saved, or rejected and listed already
        if (read_but_rejected(rid)) continue;
        ++unread_listed_;
        const std::string id = st.getColumn(2).getString();
        add_lost(rid, name_of(st.getColumn(1).getInt64()) + "/" + (is_valid_utf8(id) ? id : std::string("<damaged id>")),
             std::nullopt);
      }
    } catch (const SQLite::Exception&) {  // the index is damaged too: what it gave so far is listed
    }
  }

  /// Rows read but rejected were counted and listed when they were read.
  bool read_but_rejected(std::int64_t rid) const noexcept {
    return std::binary_search(rejected_rids_.begin(), rejected_rids_.end(), rid);
  }

  void finish_bookkeeping(SQLite::Database&, std::optional<std::int64_t> damaged_seq) {
    // Later changes must sort after every salvaged one, and a process that
    // had the damaged file open must rebuild rather than apply deltas.
    const std::int64_t seq = (std::max)(max_seq_, damaged_seq.value_or(0));
    {
      SQLite::Statement st(out_.db(), "UPDATE store_meta SET value = ? WHERE key IN ('seq', 'compacted_seq')");
      st.bind(1, seq);
      st.exec();
    }
    // Row ids and collection ids of lost records are never handed out again.
    for (const auto& [name, value] :
         {std::make_pair("records", max_rid_), std::make_pair("collections", max_collection_id_)}) {
      SQLite::Statement update(out_.db(), "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?");
      update.bind(1, value);
      update.bind(2, name);
      if (update.exec() == 0) {
        SQLite::Statement insert(out_.db(), "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)");
        insert.bind(1, name);
        insert.bind(2, value);
        insert.exec();
      }
    }
  }

 public:
  /// How many records the damaged store said it held; nullopt when it no longer tells.
  const std::optional<std::size_t>& held() const noexcept { return held_; }

  /// The records not kept, in the order found.
  const std::vector<lost_record>& lost() const noexcept { return lost_; }

  /// What did not read or verify, for a backup to fill (call after run()).
  salvage_gaps gaps() const {
    salvage_gaps g = gaps_;
    for (const auto& l : lost_) g.rids.push_back(l.rid);
    g.exhausted = exhausted_;
    for (auto* v : {&g.rids, &g.collections, &g.tombstoned}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    return g;
  }

  /// rows_lost of a store that keeps `kept` records and knows of `known_lost`
  /// records it lost: a lower bound when the damaged file no longer says
  /// how many it held.
  std::size_t rows_lost(std::size_t kept, std::size_t known_lost) const noexcept {
    return held_ && *held_ > kept ? (std::max)(*held_ - kept, known_lost) : known_lost;
  }

  /// The first max_lost_listed names of `lost`, for a report.
  static std::vector<std::string> names(const std::vector<lost_record>& lost) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < lost.size() && i < max_lost_listed; ++i) out.push_back(lost[i].name);
    return out;
  }

 private:
  /// The row ids the damaged file's tombstones name: deleted records, which
  /// a backup must not bring back. What reads is used; the rest is unknown.
  void read_tombstones(SQLite::Database& src) {
    try {
      range_reader reader(src, "SELECT rowid, rid FROM tombstones WHERE rowid BETWEEN ? AND ? ORDER BY rowid",
                          query_budget);
      const std::int64_t hi = try_scalar(src, "SELECT max(rowid) FROM tombstones").value_or(0);
      reader.read(
          1, hi,
          [&](std::int64_t, const std::vector<salvaged_row>& rows) {
            if (rows.front()[1].is_integer()) gaps_.tombstoned.push_back(rows.front()[1].integer);
          },
          [](std::int64_t) {});
      account(reader);
    } catch (const SQLite::Exception&) {  // the table does not read at all
    }
  }

  std::vector<lost_record> lost_;
  salvage_gaps gaps_;
  bool row_checksums_ = false;  // the damaged store has them (schema version 4 or later)
  std::optional<std::size_t> held_;
  std::vector<std::int64_t> rejected_rids_;  // in row id order
  std::filesystem::path damaged_;
  std::unique_ptr<temporary_file> repaired_;  // a copy with a rebuilt header, deleted afterwards
  bool header_rebuilt_ = false;
  connection& out_;
  std::unordered_map<std::int64_t, std::pair<std::string, std::size_t>> collections_;  // id -> (name, dim)
  std::vector<saved_record> saved_;                                                    // in row id order
  std::size_t rejected_ = 0;
  std::size_t unread_listed_ = 0;
  std::size_t collections_lost_ = 0;
  std::size_t queries_ = 0;
  bool exhausted_ = false;
  std::int64_t max_seq_ = 0;
  std::int64_t max_rid_ = 0;
  std::int64_t max_collection_id_ = 0;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
