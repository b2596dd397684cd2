// SPDX-License-Identifier: MIT
// Reading what still reads from a damaged store: rows copied out value by value
// (salvaged_value), and range_reader, which reads a table by key ranges and
// bisects around the ranges SQLite fails on, handing over only keys whose rows
// all read. It only reads, through a connection the caller opened, and knows
// nothing of vecstore's tables, so the salvager (salvage/salvager.hpp) uses
// one for each table it copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <sqlite3.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

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
/// single keys, which are then given up (Debian's SQLite has no .recover, so
/// reading around the damage is all there is). `budget` caps the number of
/// queries.
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

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
