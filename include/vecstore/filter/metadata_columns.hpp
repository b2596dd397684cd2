// SPDX-License-Identifier: MIT
// metadata_columns: one collection's metadata held in memory as typed columns,
// and `where` filters evaluated over them with exactly the semantics of their
// SQL (filter/sql.hpp), so that a filtered query need not ask SQLite.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <vecstore/detail/bitmap.hpp>
#include <vecstore/filter/ast.hpp>
#include <vecstore/filter/node.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// 2^63 as a double: the doubles in [-2^63, 2^63) are those an int64 holds.
inline constexpr double two_63 = 9223372036854775808.0;

/// Exact three-way comparison of an int64 with a finite double, as SQLite
/// makes it (sqlite3IntFloatCompare): the integer is never rounded.
inline int compare_int_double(std::int64_t i, double d) noexcept {
  if (d >= two_63) return -1;
  if (d < -two_63) return 1;
  const auto whole = static_cast<std::int64_t>(d);  // truncated toward zero, exact in this range
  if (i != whole) return i < whole ? -1 : 1;
  const double fraction = d - static_cast<double>(whole);  // exact: whole and d share their high bits
  return fraction > 0 ? -1 : fraction < 0 ? 1 : 0;
}

/// The metadata of one collection's records, by key: per key a column of one
/// type tag and one 8-byte value per row, rows dense (a removed row's place
/// is taken by the last row), strings replaced by codes of a dictionary
/// shared by every key. Only records with at least one key have a row: every
/// comparison requires its key, so a record without metadata matches no
/// non-empty filter.
///
/// `select` compiles a filter into one bit per row, column by column, then
/// into the matching row ids. Costs: a leaf scans its key's column (9 bytes
/// a row); $and/$or combine bitmaps. Memory: 9 bytes per row per distinct
/// key of the collection (a key present in few records still costs its full
/// column), each distinct string once, and about 50 bytes per row for the
/// row id maps.
///
/// Not synchronized: store/index_keeper.hpp says which of its locks guard
/// reading and changing it.
class metadata_columns {
 public:
  /// Makes `meta` the whole metadata of record `rid` (add, upsert, a row read back from SQLite).
  void assign(std::int64_t rid, const metadata& meta) {
    if (meta.empty()) {
      erase(rid);
      return;
    }
    const std::size_t row = row_for(rid);
    for (auto& [key, column] : columns_) {
      if (meta.find(key) == meta.end()) clear_cell(column, row);
    }
    merge_into(row, meta);
    drop_empty_columns();
  }

  /// Sets the keys of `meta` and keeps the record's others (update, which
  /// SQL does as INSERT OR REPLACE per key).
  void merge(std::int64_t rid, const metadata& meta) {
    if (meta.empty()) return;
    merge_into(row_for(rid), meta);
  }

  /// Sets one key of record `rid` (loading row by row from SQLite).
  void merge(std::int64_t rid, const std::string& key, const metadata_value& value) {
    set_cell(column_for(key), row_for(rid), value);
  }

  /// Forgets record `rid`; nothing when it has no row.
  void erase(std::int64_t rid) {
    const auto found = row_of_rid_.find(rid);
    if (found == row_of_rid_.end()) return;
    const std::size_t row = found->second;
    const std::size_t last = rid_of_row_.size() - 1;
    for (auto& [key, column] : columns_) {
      clear_cell(column, row);
      if (row != last) {
        column.tags[row] = column.tags[last];
        column.values[row] = column.values[last];
      }
      column.tags.pop_back();
      column.values.pop_back();
    }
    if (row != last) {
      rid_of_row_[row] = rid_of_row_[last];
      row_of_rid_[rid_of_row_[row]] = row;
    }
    rid_of_row_.pop_back();
    row_of_rid_.erase(found);
    drop_empty_columns();
  }

  /// Records held (those with at least one key).
  std::size_t size() const noexcept { return rid_of_row_.size(); }

  /// Bytes held, about: what docs/architecture.md reports per record.
  std::size_t memory_bytes() const noexcept {
    std::size_t bytes = rid_of_row_.capacity() * sizeof(std::int64_t) +
                        row_of_rid_.size() * (sizeof(std::int64_t) + sizeof(std::size_t) + 2 * sizeof(void*)) +
                        row_of_rid_.bucket_count() * sizeof(void*);
    for (const auto& [key, column] : columns_)
      bytes += key.capacity() + column.tags.capacity() + column.values.capacity() * sizeof(std::uint64_t);
    for (const std::string* s : string_of_) bytes += s != nullptr ? s->capacity() + 3 * sizeof(void*) + 8 : 8;
    return bytes;
  }

  /// The row ids of the records `where` (not empty) matches, in no
  /// particular order; with `among`, only those also listed there.
  std::vector<std::int64_t> select(const filter& where, const std::vector<std::int64_t>* among = nullptr) const {
    const filter_node* root = filter_access::root(where);
    const std::vector<std::uint64_t> bits = root != nullptr ? evaluate(*root) : all_rows();
    std::vector<std::int64_t> out;
    if (among != nullptr) {
      for (const std::int64_t rid : *among) {
        const auto found = row_of_rid_.find(rid);
        if (found != row_of_rid_.end() && test(bits, found->second)) out.push_back(rid);
      }
      return out;
    }
    for_each_set_bit(bits, [&](std::size_t row) { out.push_back(rid_of_row_[row]); });
    return out;
  }

 private:
  /// A cell's type; `absent` for a record without the key. The order of
  /// the first four is metadata_type's (filter/sql.hpp) plus one.
  enum class tag : std::uint8_t { absent, integer, real, string, boolean };

  struct column {
    std::vector<tag> tags;               // by row
    std::vector<std::uint64_t> values;   // by row: the int64, the double's bits, the string's code, 0/1
    std::size_t present = 0;             // rows whose tag is not absent
  };

  using bitmap = std::vector<std::uint64_t>;

  static bool test(const bitmap& bits, std::size_t row) noexcept { return (bits[row / 64] >> (row % 64)) & 1U; }

  static std::uint64_t bits_of(double d) noexcept {
    std::uint64_t u = 0;
    std::memcpy(&u, &d, sizeof u);
    return u;
  }
  static double double_of(std::uint64_t u) noexcept {
    double d = 0;
    std::memcpy(&d, &u, sizeof d);
    return d;
  }

  std::size_t row_for(std::int64_t rid) {
    const auto [it, inserted] = row_of_rid_.emplace(rid, rid_of_row_.size());
    if (inserted) {
      rid_of_row_.push_back(rid);
      for (auto& [key, column] : columns_) {
        column.tags.push_back(tag::absent);
        column.values.push_back(0);
      }
    }
    return it->second;
  }

  column& column_for(const std::string& key) {
    const auto [it, inserted] = columns_.try_emplace(key);
    if (inserted) {
      it->second.tags.assign(rid_of_row_.size(), tag::absent);
      it->second.values.assign(rid_of_row_.size(), 0);
    }
    return it->second;
  }

  void merge_into(std::size_t row, const metadata& meta) {
    for (const auto& [key, value] : meta) set_cell(column_for(key), row, value);
  }

  void set_cell(column& c, std::size_t row, const metadata_value& v) {
    clear_cell(c, row);
    switch (v.index()) {
      case 0:
        c.tags[row] = tag::integer;
        c.values[row] = static_cast<std::uint64_t>(std::get<std::int64_t>(v));
        break;
      case 1:
        c.tags[row] = tag::real;
        c.values[row] = bits_of(std::get<double>(v));
        break;
      case 2:
        c.tags[row] = tag::string;
        c.values[row] = acquire(std::get<std::string>(v));
        break;
      default:
        c.tags[row] = tag::boolean;
        c.values[row] = std::get<bool>(v) ? 1 : 0;
        break;
    }
    ++c.present;
  }

  void clear_cell(column& c, std::size_t row) {
    if (c.tags[row] == tag::absent) return;
    if (c.tags[row] == tag::string) release(static_cast<std::uint32_t>(c.values[row]));
    c.tags[row] = tag::absent;
    c.values[row] = 0;
    --c.present;
  }

  /// A column whose every cell is absent costs 9 bytes a row for nothing.
  void drop_empty_columns() {
    for (auto it = columns_.begin(); it != columns_.end();) it = it->second.present == 0 ? columns_.erase(it) : std::next(it);
  }

  // --- the string dictionary: a code per distinct string in use ---------------

  std::uint32_t acquire(const std::string& s) {
    const auto found = code_of_.find(s);
    if (found != code_of_.end()) {
      ++uses_[found->second];
      return found->second;
    }
    std::uint32_t code = 0;
    if (!free_codes_.empty()) {
      code = free_codes_.back();
      free_codes_.pop_back();
    } else {
      code = static_cast<std::uint32_t>(string_of_.size());
      string_of_.push_back(nullptr);
      uses_.push_back(0);
    }
    const auto it = code_of_.emplace(s, code).first;
    string_of_[code] = &it->first;  // a map's keys stay where they are until erased
    uses_[code] = 1;
    return code;
  }

  void release(std::uint32_t code) {
    if (--uses_[code] != 0) return;
    code_of_.erase(*string_of_[code]);
    string_of_[code] = nullptr;
    free_codes_.push_back(code);
  }

  // --- evaluation -------------------------------------------------------------------

  bitmap all_rows() const {
    bitmap bits(bitmap_words(rid_of_row_.size()), ~std::uint64_t{0});
    if (const std::size_t tail = rid_of_row_.size() % 64; tail != 0) bits.back() = (std::uint64_t{1} << tail) - 1;
    return bits;
  }

  bitmap evaluate(const filter_node& n) const {
    switch (n.kind) {
      case node_kind::all_of:
      case node_kind::any_of: {
        const bool all = n.kind == node_kind::all_of;
        bitmap acc = all ? all_rows() : bitmap(bitmap_words(rid_of_row_.size()), 0);
        for (const filter_node* child : n.children.items()) {
          const bitmap bits = evaluate(*child);
          for (std::size_t w = 0; w < acc.size(); ++w) acc[w] = all ? acc[w] & bits[w] : acc[w] | bits[w];
        }
        return acc;
      }
      case node_kind::compare:
        return compare(n);
      case node_kind::contains:
      case node_kind::not_contains:
        break;  // document filters never reach here: `where` holds metadata comparisons only
    }
    return bitmap(bitmap_words(rid_of_row_.size()), 0);
  }

  /// $gt/$gte/$lt/$lte against one number: true for a number cell that
  /// compares so, exactly across int64 and double.
  static auto ordering_test(compare_op op, const metadata_value& operand) {
    const bool int_operand = operand.index() == 0;
    const std::int64_t oi = int_operand ? std::get<std::int64_t>(operand) : 0;
    const double od = int_operand ? 0.0 : std::get<double>(operand);
    return [op, int_operand, oi, od](tag t, std::uint64_t value) {
      int order = 0;  // cell <=> operand
      if (t == tag::integer) {
        const auto i = static_cast<std::int64_t>(value);
        order = int_operand ? (i < oi ? -1 : i > oi ? 1 : 0) : compare_int_double(i, od);
      } else if (t == tag::real) {
        const double d = double_of(value);
        order = int_operand ? -compare_int_double(oi, d) : (d < od ? -1 : d > od ? 1 : 0);
      } else {
        return false;
      }
      switch (op) {
        case compare_op::gt: return order > 0;
        case compare_op::gte: return order >= 0;
        case compare_op::lt: return order < 0;
        default: return order <= 0;
      }
    };
  }

  /// $eq/$ne/$in/$nin over numbers: the operands as the int64 values and the
  /// doubles they equal exactly, so a cell is looked up in its own type.
  static auto number_set(const std::vector<metadata_value>& operands) {
    std::vector<std::int64_t> ints;
    std::vector<double> doubles;
    for (const metadata_value& v : operands) {
      if (v.index() == 0) {
        const std::int64_t i = std::get<std::int64_t>(v);
        ints.push_back(i);
        if (compare_int_double(i, static_cast<double>(i)) == 0) doubles.push_back(static_cast<double>(i));
      } else {
        const double d = std::get<double>(v);
        doubles.push_back(d);
        if (d >= -two_63 && d < two_63 && compare_int_double(static_cast<std::int64_t>(d), d) == 0)
          ints.push_back(static_cast<std::int64_t>(d));
      }
    }
    std::sort(ints.begin(), ints.end());
    std::sort(doubles.begin(), doubles.end());
    return [ints = std::move(ints), doubles = std::move(doubles)](tag t, std::uint64_t value) {
      if (t == tag::integer) return std::binary_search(ints.begin(), ints.end(), static_cast<std::int64_t>(value));
      if (t == tag::real) return std::binary_search(doubles.begin(), doubles.end(), double_of(value));
      return false;
    };
  }

  /// One leaf, as its SQL: the key present and (not, for $ne/$nin) of the
  /// operand's class with a value that compares so.
  bitmap compare(const filter_node& n) const {
    bitmap bits(bitmap_words(rid_of_row_.size()), 0);
    const auto found = columns_.find(n.key);
    if (found == columns_.end()) return bits;
    const column& c = found->second;
    const bool negated = n.op == compare_op::ne || n.op == compare_op::nin;
    const auto fill = [&](auto&& positive) {
      for (std::size_t row = 0; row < c.tags.size(); ++row) {
        const tag t = c.tags[row];
        const bool hit = t != tag::absent && positive(t, c.values[row]) != negated;
        bits[row / 64] |= std::uint64_t{hit} << (row % 64);
      }
    };
    switch (class_of(n.values.at(0))) {
      case value_class::number:
        if (is_ordering_op(n.op)) {
          fill(ordering_test(n.op, n.values.at(0)));
        } else {
          fill(number_set(n.values));
        }
        break;
      case value_class::string: {
        std::vector<std::uint64_t> codes;
        for (const metadata_value& v : n.values) {
          const auto code = code_of_.find(std::get<std::string>(v));
          if (code != code_of_.end()) codes.push_back(code->second);
        }
        fill([&codes](tag t, std::uint64_t value) {
          return t == tag::string && std::find(codes.begin(), codes.end(), value) != codes.end();
        });
        break;
      }
      case value_class::boolean: {
        bool wanted[2] = {false, false};
        for (const metadata_value& v : n.values) wanted[std::get<bool>(v) ? 1 : 0] = true;
        fill([&wanted](tag t, std::uint64_t value) { return t == tag::boolean && wanted[value != 0 ? 1 : 0]; });
        break;
      }
    }
    return bits;
  }

  std::unordered_map<std::string, column> columns_;            // by key
  std::vector<std::int64_t> rid_of_row_;                       // row -> record's row id
  std::unordered_map<std::int64_t, std::size_t> row_of_rid_;   // record's row id -> row
  std::unordered_map<std::string, std::uint32_t> code_of_;     // string -> code
  std::vector<const std::string*> string_of_;                  // code -> string (a key of code_of_), null when free
  std::vector<std::uint32_t> uses_;                            // code -> cells holding it
  std::vector<std::uint32_t> free_codes_;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
