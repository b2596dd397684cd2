// SPDX-License-Identifier: MIT
// salvage_recovery: the RecoveryPolicy that copies every record that still
// reads, and whose checksum matches, from a damaged store into a fresh one.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <sqlite3.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <vecstore/detail/quarantine.hpp>
#include <vecstore/detail/utf8.hpp>
#include <vecstore/detail/validate.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/options.hpp>
#include <vecstore/recovery/report.hpp>
#include <vecstore/storage/backup.hpp>
#include <vecstore/storage/sqlite.hpp>
#include <vecstore/types.hpp>
#include <vecstore/version.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// One value copied out of a row of a damaged file.
struct salvaged_value {
  int type = SQLITE_NULL;
  std::int64_t integer = 0;
  double real = 0;
  std::string bytes;  ///< TEXT or BLOB

  static salvaged_value of(const SQLite::Column& c) {
    salvaged_value v;
    v.type = c.getType();
    switch (v.type) {
      case SQLITE_INTEGER: v.integer = c.getInt64(); break;
      case SQLITE_FLOAT: v.real = c.getDouble(); break;
      case SQLITE_TEXT:
      case SQLITE_BLOB:
        v.bytes.assign(static_cast<const char*>(c.getBlob()), static_cast<std::size_t>(c.getBytes()));
        break;
      default: break;
    }
    return v;
  }
  bool is_integer() const noexcept { return type == SQLITE_INTEGER; }
  bool is_text() const noexcept { return type == SQLITE_TEXT; }
  bool is_null() const noexcept { return type == SQLITE_NULL; }

  void bind(SQLite::Statement& st, int index) const {
    switch (type) {
      case SQLITE_INTEGER: st.bind(index, integer); break;
      case SQLITE_FLOAT: st.bind(index, real); break;
      case SQLITE_TEXT: st.bind(index, bytes); break;
      case SQLITE_BLOB: st.bind(index, bytes.data(), static_cast<int>(bytes.size())); break;
      default: st.bind(index); break;
    }
  }
};
using salvaged_row = std::vector<salvaged_value>;

/// Reads `SELECT key, ... WHERE key BETWEEN ?1 AND ?2 ORDER BY key` from a
/// damaged file and hands over each key's rows once all of them have read.
/// A range that fails (SQLITE_CORRUPT, a short read, rows out of order) is
/// resumed after the last complete key, and otherwise split in two, down to
/// single keys, which are then given up (RELIABILITY.md §2.7: Debian's SQLite
/// has no .recover). `budget` caps the number of queries.
class range_reader {
 public:
  range_reader(SQLite::Database& db, const std::string& sql, std::size_t budget) : st_(db, sql), budget_(budget) {}

  /// `on_group(key, rows)` for every key whose rows all read, in key order;
  /// `on_failed(key)` for every single key that could not be read.
  template <class OnGroup, class OnFailed>
  void read(std::int64_t lo, std::int64_t hi, OnGroup&& on_group, OnFailed&& on_failed) {
    while (lo <= hi) {
      if (queries_ >= budget_) {
        exhausted_ = true;
        return;
      }
      ++queries_;
      std::int64_t done = lo - 1;  // every key up to here was delivered
      std::int64_t key = 0;
      bool have = false, failed = false;
      salvaged_row row;
      std::vector<salvaged_row> group;
      try {
        st_.reset();
        st_.bind(1, lo);
        st_.bind(2, hi);
        while (st_.executeStep()) {
          const SQLite::Column k = st_.getColumn(0);
          const std::int64_t next = k.getInt64();
          if (!k.isInteger() || next < lo || next > hi || (have && next < key)) {
            failed = true;
            break;
          }
          if (have && next != key) {
            flush(key, group, on_group);
            done = key;
          }
          key = next;
          have = true;
          row.clear();
          for (int i = 0; i < st_.getColumnCount(); ++i) row.push_back(salvaged_value::of(st_.getColumn(i)));
          group.push_back(std::move(row));
        }
      } catch (const SQLite::Exception&) {
        failed = true;
      }
      try {
        st_.reset();
      } catch (const SQLite::Exception&) {  // reset repeats the step's error
      }
      if (!failed) {
        if (have) flush(key, group, on_group);
        return;
      }
      if (done >= lo) {  // progress: the damage lies after `done`
        lo = done + 1;
        continue;
      }
      if (lo == hi) {
        ++failed_keys_;
        on_failed(lo);
        return;
      }
      const std::int64_t mid = lo + (hi - lo) / 2;
      read(lo, mid, on_group, on_failed);
      lo = mid + 1;
    }
  }

  std::size_t queries() const noexcept { return queries_; }
  std::size_t failed_keys() const noexcept { return failed_keys_; }
  bool exhausted() const noexcept { return exhausted_; }

 private:
  template <class OnGroup>
  static void flush(std::int64_t key, std::vector<salvaged_row>& group, OnGroup& on_group) {
    on_group(key, group);
    group.clear();
  }

  SQLite::Statement st_;
  std::size_t budget_;
  std::size_t queries_ = 0;
  std::size_t failed_keys_ = 0;
  bool exhausted_ = false;
};

/// Big-endian store of a header field.
inline void put_be32(unsigned char* at, std::uint32_t v) noexcept {
  at[0] = static_cast<unsigned char>(v >> 24);
  at[1] = static_cast<unsigned char>(v >> 16);
  at[2] = static_cast<unsigned char>(v >> 8);
  at[3] = static_cast<unsigned char>(v);
}

/// Copies `damaged` to `copy` with its 100-byte database header rebuilt, for
/// a file whose header alone is damaged (SQLite then refuses the whole file
/// as "not a database"). The page size is the first one at which page 1's
/// b-tree header (at byte 100) and page 2 both look like b-tree pages; the
/// rest is what vecstore writes (UTF-8, no auto-vacuum, rollback journal,
/// size taken from the file, empty free list). False, and no copy, when no
/// page size fits. Requires: no connection of this process has `damaged` open.
inline bool copy_with_rebuilt_header(const std::filesystem::path& damaged, const std::filesystem::path& copy) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(damaged, ec);
  if (ec || size < 1024) return false;
  const int fd = ::open(damaged.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  const auto byte_at = [&](std::uintmax_t offset) {
    unsigned char b = 0;
    return ::pread(fd, &b, 1, static_cast<off_t>(offset)) == 1 ? static_cast<int>(b) : -1;
  };
  const auto is_btree = [](int type) { return type == 0x02 || type == 0x05 || type == 0x0a || type == 0x0d; };
  std::uint32_t page = 0;
  if (byte_at(100) == 0x0d || byte_at(100) == 0x05) {
    for (const std::uint32_t p : {4096u, 1024u, 2048u, 8192u, 16384u, 32768u, 65536u, 512u}) {
      if (size >= 2u * p && is_btree(byte_at(p))) {
        page = p;
        break;
      }
    }
  }
  ::close(fd);
  if (page == 0) return false;

  unsigned char h[100] = {};
  std::memcpy(h, "SQLite format 3", 16);  // with its terminating NUL
  h[16] = static_cast<unsigned char>(page == 65536 ? 0 : page >> 8);
  h[17] = static_cast<unsigned char>(page == 65536 ? 1 : page & 0xff);
  h[18] = 1;  // rollback journal: the copy has no -wal
  h[19] = 1;
  h[21] = 64;
  h[22] = 32;
  h[23] = 32;
  put_be32(h + 24, 1);  // change counter; version-valid-for (92) stays 0, so the size comes from the file
  put_be32(h + 40, 1);  // schema cookie
  put_be32(h + 44, 4);  // schema format
  put_be32(h + 56, 1);  // UTF-8
  put_be32(h + 60, static_cast<std::uint32_t>(schema_version));
  put_be32(h + 68, static_cast<std::uint32_t>(application_id));
  put_be32(h + 96, SQLITE_VERSION_NUMBER);
  copy_private_file(damaged, copy);
  const int out = ::open(copy.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  const bool written = out >= 0 && ::pwrite(out, h, sizeof h, 0) == static_cast<ssize_t>(sizeof h);
  if (out >= 0) ::close(out);
  return written;
}

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
    const std::optional<std::size_t> held = count_records(*src);
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
        return;
      }
      copy_records(*src);
      copy_metadata(*src);
      list_unread_from_index(*src);
      finish_bookkeeping(*src, damaged_seq);
      tx.commit();
    } catch (const SQLite::Exception& e) {
      rethrow_sqlite(e, out_.file(), "cannot write the salvaged store");
    }

    std::size_t saved = 0;
    for (const auto& r : saved_) saved += r.kept ? 1 : 0;
    report.rows_saved = saved;
    const std::size_t known_lost = rejected_ + unread_listed_;
    report.rows_lost = held && *held > saved ? (std::max)(*held - saved, known_lost) : known_lost;
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
    bool kept;
  };

  void lost(std::string what) {
    if (lost_.size() < max_lost_listed) lost_.push_back(std::move(what));
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
            return;
          }
          collections_[id] = {r[1].bytes, static_cast<std::size_t>(r[2].integer)};
          max_seq_ = (std::max)(max_seq_, r[4].integer);
        },
        [&](std::int64_t) { ++collections_lost_; });
    account(*reader);
    max_collection_id_ = (std::max)(max_collection_id_, hi);
    return !(collections_.empty() && reader->failed_keys() > 0);
  }

  void copy_records(SQLite::Database& src) {
    range_reader reader(src,
                        "SELECT rid, collection_id, id, embedding, document, checksum, seq FROM records "
                        "WHERE rid BETWEEN ? AND ? ORDER BY rid",
                        query_budget);
    const std::int64_t hi =
        upper_bound(src, "SELECT max(rid) FROM records", "SELECT seq FROM sqlite_sequence WHERE name = 'records'",
                    std::int64_t{1} << 32);
    max_rid_ = (std::max)(max_rid_, hi);
    SQLite::Statement insert(out_.db(),
                             "INSERT INTO records (rid, collection_id, id, embedding, document, checksum, seq) VALUES "
                             "(?, ?, ?, ?, ?, ?, ?)");
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
          // Kept only when the checksum over (collection, id, bytes) matches:
          // a record without an embedding has nothing that vouches for it.
          const bool valid = id_ok && collection != collections_.end() && r[3].type == SQLITE_BLOB &&
                             stored_embedding_ok(r[1].integer, id, r[3].bytes.data(), r[3].bytes.size(),
                                                 r[5].is_integer(), r[5].integer, collection->second.second) &&
                             (r[4].is_null() || (r[4].is_text() && is_valid_utf8(r[4].bytes))) && r[6].is_integer();
          if (!valid) {
            ++rejected_;
            rejected_rids_.push_back(rid);  // in row id order
            lost(where);
            return;
          }
          insert.reset();
          insert.bind(1, rid);
          for (int i = 1; i < 7; ++i) r[static_cast<std::size_t>(i)].bind(insert, i + 1);
          try {
            insert.exec();
          } catch (const SQLite::Exception& e) {
            if ((e.getErrorCode() & 0xff) != SQLITE_CONSTRAINT) throw;
            ++rejected_;  // the same (collection, id) twice: damage
            rejected_rids_.push_back(rid);
            lost(where);
            return;
          }
          saved_.push_back(saved_record{rid, r[1].integer, id, true});
          max_seq_ = (std::max)(max_seq_, r[6].integer);
        },
        [&](std::int64_t) {});
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
    lost(name_of(r.collection_id) + "/" + r.id);
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
        lost(name_of(st.getColumn(1).getInt64()) + "/" + (is_valid_utf8(id) ? id : std::string("<damaged id>")));
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
  /// The lost records named so far, moved out.
  std::vector<std::string> take_lost() { return std::move(lost_); }

 private:
  std::vector<std::string> lost_;
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

/// Copies what still reads from a damaged store into a fresh one, then moves
/// the damaged file to "<file>.corrupt-<UTC timestamp>" (with its -wal and
/// -shm) and the fresh one into its place. Debian's SQLite has no .recover,
/// so tables are read by row id ranges, bisecting around the ranges that
/// fail. A record is kept only when its embedding's checksum (over
/// collection, id and bytes) matches and its metadata reads and is well
/// typed; its document comes with it. Collection ids and row ids are kept,
/// so every checksum still matches. The report counts saved and lost
/// records and names the lost ones. When not even the collections table
/// reads, the result is an empty store and the report says so.
struct salvage_recovery {
  static constexpr bool replaces_file = true;

  static recovery_report recover(const recovery_context& ctx) {
    const auto started = std::chrono::steady_clock::now();
    const store_options defaults;
    const store_options& options = ctx.options ? *ctx.options : defaults;

    recovery_report report;
    report.policy = "salvage_recovery";
    report.action = "salvaged";
    report.problem = ctx.problem;

    detail::temporary_file fresh(detail::temporary_name(ctx.file.parent_path(), ctx.file.filename().string()));
    {
      auto out = detail::open_fresh_store(fresh.path(), options);
      detail::salvager s(ctx.file, *out);
      s.run(report);
      report.lost_records = s.take_lost();
      detail::finish_fresh_store(out);
    }
    const detail::verify_result check = detail::verify_store_file(fresh.path(), false);
    if (!check.ok || check.records != report.rows_saved) {
      detail::throw_error<io_error>(
          "the salvaged store does not verify", fresh.path(),
          check.ok ? "it holds " + std::to_string(check.records) + " records, not " + std::to_string(report.rows_saved)
                   : check.problem,
          "Nothing was changed; report this as a vecstore bug");
    }
    report.quarantined = detail::quarantine(ctx.file);
    detail::install_store_file(fresh.path(), ctx.file, report.quarantined);
    fresh.release();
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return report;
  }
};

}  // namespace v0
}  // namespace vecstore
