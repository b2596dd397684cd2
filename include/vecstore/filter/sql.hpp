// SPDX-License-Identifier: MIT
// The filter AST compiled to a parameterized SQL expression over the metadata table or a document column.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vecstore/filter/ast.hpp>
#include <vecstore/types.hpp>
#include <vector>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// The type tag of a metadata row (`metadata.type`). Bools are stored as the
/// integers 0/1 under tag 3, so the tag, not SQLite's type, tells them apart.
enum class metadata_type { integer = 0, real = 1, string = 2, boolean = 3 };

inline metadata_type type_of(const metadata_value& v) noexcept {
  switch (v.index()) {
    case 0:
      return metadata_type::integer;
    case 1:
      return metadata_type::real;
    case 2:
      return metadata_type::string;
    default:
      return metadata_type::boolean;
  }
}

/// Most '?' parameters one compiled filter may have. SQLite 3.32+ allows 32766
/// bound variables per statement; a store statement may hold a where and a
/// where_document fragment plus a few parameters of its own.
inline constexpr std::size_t max_filter_params = 16000;

/// A boolean SQL expression and the values of its '?' parameters, in order.
/// Bools bind as the integers 0/1 (how the metadata table stores them).
struct sql_fragment {
  std::string sql;
  std::vector<metadata_value> params;
};

/// SQL for the type tags of one value class: ints and doubles compare with
/// each other, each other class only with itself.
inline const char* type_test(value_class c) noexcept {
  switch (c) {
    case value_class::number:
      return "type IN (0, 1)";
    case value_class::string:
      return "type = 2";
    case value_class::boolean:
      return "type = 3";
  }
  return "0";
}

inline void append_placeholders(std::string& sql, std::size_t n) {
  sql += '(';
  for (std::size_t i = 0; i < n; ++i) sql += i == 0 ? "?" : ", ?";
  sql += ')';
}

/// Appends one node. Only type tags, operators and the caller's column
/// expressions become SQL text; every key, value and text is a parameter.
inline void append_sql(const filter_node& n, std::string_view column, sql_fragment& out) {
  switch (n.kind) {
    case node_kind::all_of:
    case node_kind::any_of: {
      out.sql += '(';
      const std::vector<const filter_node*> children = n.children.items();
      for (std::size_t i = 0; i < children.size(); ++i) {
        if (i > 0) out.sql += n.kind == node_kind::all_of ? " AND " : " OR ";
        append_sql(*children[i], column, out);
      }
      out.sql += ')';
      return;
    }
    case node_kind::compare: {
      // One subquery per leaf, answered by the metadata_by_value index on
      // (key, type, value). $ne/$nin negate inside the subquery, so they
      // require the key to be present (ChromaDB's semantics).
      const bool negated = n.op == compare_op::ne || n.op == compare_op::nin;
      out.sql += column;
      out.sql += " IN (SELECT record_id FROM metadata WHERE key = ? AND ";
      out.params.emplace_back(n.key);
      if (negated) out.sql += "NOT (";
      out.sql += type_test(class_of(n.values.at(0)));
      switch (n.op) {
        case compare_op::eq:
        case compare_op::ne:
          out.sql += " AND value = ?";
          break;
        case compare_op::gt:
          out.sql += " AND value > ?";
          break;
        case compare_op::gte:
          out.sql += " AND value >= ?";
          break;
        case compare_op::lt:
          out.sql += " AND value < ?";
          break;
        case compare_op::lte:
          out.sql += " AND value <= ?";
          break;
        case compare_op::in:
        case compare_op::nin:
          out.sql += " AND value IN ";
          append_placeholders(out.sql, n.values.size());
          break;
      }
      if (negated) out.sql += ')';
      out.sql += ')';
      out.params.insert(out.params.end(), n.values.begin(), n.values.end());
      return;
    }
    case node_kind::contains:
    case node_kind::not_contains: {
      // instr() is case-sensitive (LIKE is not) and has no wildcards to
      // escape; coalesce() makes a NULL document a definite 0 rather than
      // NULL, so the expression stays two-valued wherever it is embedded.
      out.sql += "coalesce(instr(";
      out.sql += column;
      out.sql += n.kind == node_kind::contains ? ", ?), 0) > 0" : ", ?), 0) = 0";
      out.params.emplace_back(n.text);
      return;
    }
  }
}

inline sql_fragment compile(const filter_node* root, std::string_view column, const char* what) {
  sql_fragment out;
  if (root == nullptr) {
    out.sql = "1";
    return out;
  }
  append_sql(*root, column, out);
  if (out.params.size() > max_filter_params) {
    throw_filter_error(what, {},
                       "the filter needs " + std::to_string(out.params.size()) +
                           " SQL parameters (one per key, value and text); the limit is " +
                           std::to_string(max_filter_params),
                       "Split the request, or match fewer $in/$nin values at once");
  }
  return out;
}

/// A boolean SQL expression selecting the records whose rowid, `rid_expr`
/// (e.g. "r.rid"), satisfies `f`; "1" for the empty filter.
inline sql_fragment to_sql(const filter& f, std::string_view rid_expr) {
  return compile(filter_access::root(f), rid_expr, where_what);
}

/// A boolean SQL expression over the document column `document_expr` (e.g.
/// "r.document"); "1" for the empty filter.
inline sql_fragment to_sql(const document_filter& f, std::string_view document_expr) {
  return compile(filter_access::root(f), document_expr, document_what);
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
