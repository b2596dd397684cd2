// SPDX-License-Identifier: MIT
// Metadata (`where`) and document (`where_document`) filters: builders, Chroma's JSON, SQL.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vecstore/detail/utf8.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/types.hpp>
#include <vector>

// Semantics of filters
// ====================
//
// A `filter` (Chroma's `where`) selects records by their metadata:
//
//   where("year") >= 2020 && where("cat").in({"cs.LG", "cs.AI"})
//   filter::parse(R"({"$and": [{"year": {"$gte": 2020}}, {"cat": {"$in": ["cs.LG", "cs.AI"]}}]})")
//
// JSON form (ChromaDB's):
//   {"k": v}                                shorthand for {"k": {"$eq": v}}
//   {"k": {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": v}}
//   {"k": {"$in"|"$nin": [v, ...]}}
//   {"$and": [f, ...]}, {"$or": [f, ...]}   one or more filters
//   {}                                      (whole filter only) matches every record
// An object with several members is the AND of them, so {"a": 1, "b": 2} is
// {"$and": [{"a": 1}, {"b": 2}]}, and {"k": {"$gte": 1, "$lt": 5}} is a range.
// (ChromaDB insists on exactly one member per object; every filter it accepts
// means the same here.)
//
// Values and comparisons:
//  - Integers and doubles are one class, "numbers", and compare numerically
//    with each other: {"n": 2} matches n = 2 and n = 2.0. The comparison is
//    exact (SQLite compares int64 with double without rounding the integer).
//  - Strings compare only with strings (byte-wise, case-sensitive), bools only
//    with bools. true is not 1 and "1" is not 1: {"n": 1} does not match
//    n = true or n = "1".
//  - $gt $gte $lt $lte take numbers only. $eq and $ne take a number, a string
//    or a bool. $in and $nin take a non-empty array whose values are all of one
//    class (all numbers, all strings or all bools).
//  - $ne and $nin match only records that HAVE the key, with a value that is
//    not equal to / not in the operand. A record without the key matches
//    neither (ChromaDB's behaviour). A value of another class counts as
//    different: n = "1" matches {"n": {"$ne": 1}}. So for a record with the
//    key exactly one of $eq/$ne (and of $in/$nin) matches.
//  - Doubles must be finite, strings valid UTF-8, integers within int64.
//
// A `document_filter` (Chroma's `where_document`) selects records by their
// document: contains("fox") || not_contains("dog"), or
// {"$contains": "fox"}, {"$not_contains": "dog"}, {"$and": [...]}, {"$or": [...]}.
//  - $contains is a case-sensitive substring test on the document text.
//    A record without a document never matches $contains; it always matches
//    $not_contains. The text must be a non-empty valid UTF-8 string.
//
// Combining: `a && b`, `a || b`. A default-constructed filter is empty and
// matches everything: empty && f == f, empty || f == empty.
//
// Limits: $and/$or nest at most `detail::max_filter_depth` (64) levels, and a
// filter compiles to at most `detail::max_filter_params` (16000) SQL
// parameters (keys plus values), below SQLite's limit on bound variables.
//
// Errors: every problem throws `vecstore::invalid_argument` whose message says
// where it is, e.g.
//   vecstore: invalid filter: at $and[1].year: $gt needs a number, got string "x". <what to do>
// Paths name members (`year`, `$and`), array elements (`[1]`), and keys that are
// not plain words in quotes (`["my key"]`); "the top level" is the whole filter.

namespace vecstore {
inline namespace v0 {

class filter;
class document_filter;

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

/// Deepest allowed nesting of $and/$or; deeper input is refused before it can
/// exhaust the stack or SQLite's expression depth (1000).
inline constexpr std::size_t max_filter_depth = 64;

/// Most '?' parameters one compiled filter may have. SQLite 3.32+ allows 32766
/// bound variables per statement; a store statement may hold a where and a
/// where_document fragment plus a few parameters of its own.
inline constexpr std::size_t max_filter_params = 16000;

/// Node kinds of the filter AST shared by `filter` and `document_filter`.
enum class node_kind { all_of, any_of, compare, contains, not_contains };
enum class compare_op { eq, ne, gt, gte, lt, lte, in, nin };

/// One node: all_of/any_of have `children`; compare has `key`, `op` and
/// `values` (one value, or the list of $in/$nin); contains/not_contains have
/// `text`. `depth` is the $and/$or nesting below and including this node.
struct filter_node {
  node_kind kind = node_kind::all_of;
  compare_op op = compare_op::eq;
  std::string key;
  std::vector<metadata_value> values;
  std::string text;
  std::vector<filter_node> children;
  std::size_t depth = 0;

  friend bool operator==(const filter_node& a, const filter_node& b) {
    return a.kind == b.kind && a.op == b.op && a.key == b.key && a.values == b.values &&
           a.text == b.text && a.children == b.children;
  }
  friend bool operator!=(const filter_node& a, const filter_node& b) { return !(a == b); }
};

/// Value classes: what compares with what.
enum class value_class { number, string, boolean };

inline value_class class_of(const metadata_value& v) noexcept {
  switch (v.index()) {
    case 0:
    case 1:
      return value_class::number;
    case 2:
      return value_class::string;
    default:
      return value_class::boolean;
  }
}

inline const char* class_name(value_class c) noexcept {
  switch (c) {
    case value_class::number:
      return "a number";
    case value_class::string:
      return "a string";
    case value_class::boolean:
      return "a bool";
  }
  return "?";
}

inline const char* op_name(compare_op op) noexcept {
  switch (op) {
    case compare_op::eq:
      return "$eq";
    case compare_op::ne:
      return "$ne";
    case compare_op::gt:
      return "$gt";
    case compare_op::gte:
      return "$gte";
    case compare_op::lt:
      return "$lt";
    case compare_op::lte:
      return "$lte";
    case compare_op::in:
      return "$in";
    case compare_op::nin:
      return "$nin";
  }
  return "?";
}

inline std::optional<compare_op> op_from_name(std::string_view name) noexcept {
  constexpr compare_op all[] = {compare_op::eq, compare_op::ne,  compare_op::gt, compare_op::gte,
                                compare_op::lt, compare_op::lte, compare_op::in, compare_op::nin};
  for (compare_op op : all) {
    if (name == op_name(op)) return op;
  }
  return std::nullopt;
}

inline bool is_list_op(compare_op op) noexcept {
  return op == compare_op::in || op == compare_op::nin;
}

inline bool is_ordering_op(compare_op op) noexcept {
  return op == compare_op::gt || op == compare_op::gte || op == compare_op::lt ||
         op == compare_op::lte;
}

inline std::string format_double(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  return nlohmann::json(d).dump();
}

/// "string \"x\"", "number 3", "bool true": what a message says was given.
inline std::string describe(const metadata_value& v) {
  switch (v.index()) {
    case 0:
      return "number " + std::to_string(std::get<std::int64_t>(v));
    case 1:
      return "number " + format_double(std::get<double>(v));
    case 2:
      return "string " + quote_for_message(std::get<std::string>(v));
    default:
      return std::get<bool>(v) ? "bool true" : "bool false";
  }
}

inline std::string describe(const nlohmann::json& j) {
  using t = nlohmann::json::value_t;
  // replace: a string holding invalid UTF-8 must not make dump() throw here.
  const auto dumped = [&j] {
    return escape_for_message(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), 40);
  };
  switch (j.type()) {
    case t::null:
      return "null";
    case t::boolean:
      return j.get<bool>() ? "bool true" : "bool false";
    case t::string:
      return "string " + quote_for_message(j.get_ref<const std::string&>());
    case t::number_float:
      return "number " + format_double(j.get<double>());
    case t::number_integer:
    case t::number_unsigned:
      return "number " + dumped();
    case t::array:
      return "array " + dumped();
    case t::object:
      return "object " + dumped();
    case t::binary:
      return "binary data";
    case t::discarded:
      break;
  }
  return "a discarded value";
}

/// True when `key` can stand in a path as it is; others are written ["..."].
inline bool is_plain_word(std::string_view key) noexcept {
  if (key.empty() || key.size() > 40) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '$' || c == ':' || c == '/';
  });
}

inline std::string path_member(const std::string& path, std::string_view key) {
  if (!is_plain_word(key)) return path + "[" + quote_for_message(key) + "]";
  if (path.empty()) return std::string(key);
  return path + "." + std::string(key);
}

inline std::string path_index(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

/// Throws `invalid_argument` "vecstore: <what>: at <path>: <why>. <todo>".
[[noreturn]] inline void throw_filter_error(const char* what, const std::string& path,
                                            const std::string& why, const std::string& todo) {
  std::string where = path.empty() ? std::string("the top level") : path;
  // A path 64 levels deep is long; its two ends locate the problem.
  constexpr std::size_t keep = 60;
  if (where.size() > 2 * keep + 3) {
    const std::size_t head = cut_at_boundary(where, keep);
    std::size_t tail = where.size() - keep;
    while (tail < where.size() && (static_cast<unsigned char>(where[tail]) & 0xC0) == 0x80) ++tail;
    where = where.substr(0, head) + "..." + where.substr(tail);
  }
  throw_error<invalid_argument>(what, {}, "at " + where + ": " + why, todo);
}

inline constexpr const char* where_what = "invalid filter";
inline constexpr const char* document_what = "invalid document filter";

[[noreturn]] inline void where_error(const std::string& path, const std::string& why,
                                     const std::string& todo) {
  throw_filter_error(where_what, path, why, todo);
}

[[noreturn]] inline void depth_error(const char* what, const std::string& path) {
  throw_filter_error(what, path,
                     "$and/$or nest deeper than " + std::to_string(max_filter_depth) + " levels",
                     "Flatten the filter: an $and inside an $and (or an $or inside an $or) can "
                     "be merged into it");
}

/// Checks a metadata key; `path` is the object holding it.
inline void check_key(const std::string& path, std::string_view key) {
  if (key.empty()) where_error(path, "a key is empty", "Name a metadata key");
  if (key.size() > limits::max_key_bytes) {
    where_error(path,
                "key " + quote_for_message(key) + " is " + std::to_string(key.size()) +
                    " bytes long; the limit is " + std::to_string(limits::max_key_bytes),
                "Use a shorter metadata key");
  }
  if (const std::size_t bad = first_invalid_utf8(key); bad != std::string_view::npos) {
    where_error(
        path,
        "key " + quote_for_message(key) + " is not valid UTF-8 (byte " + std::to_string(bad) + ")",
        "Encode keys as UTF-8");
  }
  if (key.front() == '$') {
    where_error(path, "key " + quote_for_message(key) + " starts with '$', which marks operators",
                "Use a metadata key that does not start with '$'");
  }
}

inline const char* ordering_todo() {
  return "Order only numbers; compare strings and bools with $eq, $ne, $in or $nin";
}

/// Checks one operand once it is a metadata_value; `label` names it in the
/// message ("$gt", "$in[2]").
inline void check_operand(const std::string& path, const std::string& label,
                          const metadata_value& v, bool numbers_only) {
  if (numbers_only && class_of(v) != value_class::number) {
    where_error(path, label + " needs a number, got " + describe(v), ordering_todo());
  }
  if (const auto* d = std::get_if<double>(&v); d != nullptr && !std::isfinite(*d)) {
    where_error(path, label + " needs a finite number, got " + describe(v), "Use a finite number");
  }
  if (const auto* s = std::get_if<std::string>(&v); s != nullptr) {
    if (const std::size_t bad = first_invalid_utf8(*s); bad != std::string_view::npos) {
      where_error(path,
                  label + " is not valid UTF-8 (byte " + std::to_string(bad) +
                      "): " + quote_for_message(*s),
                  "Encode strings as UTF-8");
    }
  }
}

/// Checks the values of $in/$nin: non-empty, each valid, all of one class.
inline void check_list(const std::string& path, compare_op op,
                       const std::vector<metadata_value>& values) {
  const std::string name = op_name(op);
  if (values.empty()) {
    where_error(path, name + " needs at least one value, got an empty list",
                "List the values to match, or remove the condition");
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string label = name + "[" + std::to_string(i) + "]";
    check_operand(path, label, values[i], false);
    if (class_of(values[i]) != class_of(values[0])) {
      where_error(path,
                  label + " is " + describe(values[i]) + ", but " + name + "[0] is " +
                      class_name(class_of(values[0])) + "; a list holds values of one type",
                  "Use all numbers, all strings or all bools");
    }
  }
}

/// A comparison leaf, checked.
inline filter_node make_compare(const std::string& path, std::string key, compare_op op,
                                std::vector<metadata_value> values) {
  if (is_list_op(op)) {
    check_list(path, op, values);
  } else {
    check_operand(path, op_name(op), values.at(0), is_ordering_op(op));
  }
  filter_node n;
  n.kind = node_kind::compare;
  n.op = op;
  n.key = std::move(key);
  n.values = std::move(values);
  return n;
}

/// `a && b` or `a || b`, flattening nodes of the same kind: (a && b) && c is
/// one node with three children, so chains of && do not nest.
inline filter_node combine(node_kind kind, filter_node a, filter_node b, const char* what) {
  filter_node out;
  out.kind = kind;
  for (filter_node* n : {&a, &b}) {
    if (n->kind == kind) {
      for (filter_node& c : n->children) out.children.push_back(std::move(c));
    } else {
      out.children.push_back(std::move(*n));
    }
  }
  for (const filter_node& c : out.children) out.depth = (std::max)(out.depth, c.depth + 1);
  if (out.depth > max_filter_depth) depth_error(what, {});
  return out;
}

/// Character types: a builder operand of one of these is refused at compile
/// time, since 'a' is as likely meant as "a" as it is as 97.
template <class T>
inline constexpr bool is_char_type_v =
    std::is_same_v<T, char> || std::is_same_v<T, wchar_t> || std::is_same_v<T, char16_t> ||
#if defined(__cpp_char8_t)
    std::is_same_v<T, char8_t> ||
#endif
    std::is_same_v<T, char32_t>;

/// One argument of a builder comparison. It exists so that each C++ type picks
/// the intended alternative: std::variant's converting constructor turned
/// `"text"` into a bool before P0608 and turns 'c' into an integer, and any
/// pointer converts to bool. Here integral types become int64, floating types
/// double, strings string and only `bool` itself bool; characters and nullptr
/// do not compile.
class value_arg {
 public:
  template <class T,
            std::enable_if_t<
                std::is_integral_v<T> && !std::is_same_v<T, bool> && !is_char_type_v<T>, int> = 0>
  value_arg(T v) : value_(std::int64_t{0}) {  // implicit on purpose, as all of these
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
      if (v > static_cast<T>((std::numeric_limits<std::int64_t>::max)())) {
        problem_ = "needs an integer within the signed 64-bit range, got " + std::to_string(v);
        todo_ = "Use an integer from -9223372036854775808 to 9223372036854775807, or a double";
        return;
      }
    }
    value_ = static_cast<std::int64_t>(v);
  }
  template <class T, std::enable_if_t<std::is_same_v<T, bool>, int> = 0>
  value_arg(T b) : value_(b) {}
  template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  value_arg(T d) : value_(static_cast<double>(d)) {}
  template <class T, std::enable_if_t<is_char_type_v<T>, int> = 0>
  value_arg(T) = delete;  // a character: write a string ("a") or an integer
  value_arg(std::nullptr_t) = delete;
  value_arg(const char* s) : value_(std::string()) {
    if (s == nullptr) {
      problem_ = "needs a string, got a null pointer";
      todo_ = "Pass a string";
    } else {
      value_ = std::string(s);
    }
  }
  value_arg(std::string s) : value_(std::move(s)) {}
  value_arg(std::string_view s) : value_(std::string(s)) {}
  value_arg(metadata_value v) : value_(std::move(v)) {}

  /// The value; meaningful only when `problem()` is empty.
  const metadata_value& value() const noexcept { return value_; }
  metadata_value&& take() noexcept { return std::move(value_); }
  /// Why the argument cannot be used (empty when it can), and what to do.
  const std::string& problem() const noexcept { return problem_; }
  const std::string& todo() const noexcept { return todo_; }

 private:
  metadata_value value_;
  std::string problem_;
  std::string todo_;
};

// ---- JSON -> AST --------------------------------------------------------

/// Converts one JSON operand; `label` names it ("$eq", "$in[2]").
inline metadata_value operand_from_json(const std::string& path, const std::string& label,
                                        const nlohmann::json& j, bool numbers_only) {
  using t = nlohmann::json::value_t;
  metadata_value v;
  switch (j.type()) {
    case t::boolean:
      v = j.get<bool>();
      break;
    case t::string:
      v = j.get<std::string>();
      break;
    case t::number_integer:
      v = j.get<std::int64_t>();
      break;
    case t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>((std::numeric_limits<std::int64_t>::max)())) {
        where_error(
            path,
            label + " needs an integer within the signed 64-bit range, got " + std::to_string(u),
            "Use an integer from -9223372036854775808 to 9223372036854775807, or a "
            "double");
      }
      v = static_cast<std::int64_t>(u);
      break;
    }
    case t::number_float:
      v = j.get<double>();
      break;
    default:
      if (numbers_only)
        where_error(path, label + " needs a number, got " + describe(j), ordering_todo());
      where_error(path, label + " needs a number, a string or a bool, got " + describe(j),
                  j.is_array() && label == "$eq" ? "Use $in to match any of several values"
                                                 : "Compare with a number, a string or a bool");
  }
  check_operand(path, label, v, numbers_only);
  return v;
}

/// One `"op": operand` member of an operator object under `key`.
inline filter_node parse_operator(const std::string& path, const std::string& key,
                                  const std::string& name, const nlohmann::json& operand) {
  const std::optional<compare_op> op = op_from_name(name);
  if (!op) {
    where_error(path,
                "unknown operator " + quote_for_message(name) +
                    "; the valid operators are $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin",
                "Use one of those operators");
  }
  std::vector<metadata_value> values;
  if (is_list_op(*op)) {
    if (!operand.is_array()) {
      where_error(path, name + " needs an array of values, got " + describe(operand),
                  "Write {\"" + name + "\": [value, ...]}");
    }
    values.reserve(operand.size());
    for (std::size_t i = 0; i < operand.size(); ++i) {
      values.push_back(
          operand_from_json(path, name + "[" + std::to_string(i) + "]", operand[i], false));
    }
  } else {
    values.push_back(operand_from_json(path, name, operand, is_ordering_op(*op)));
  }
  return make_compare(path, key, *op, std::move(values));
}

/// The node for a list of children of one kind, the depth already checked.
inline filter_node make_group(node_kind kind, std::vector<filter_node> children) {
  filter_node n;
  n.kind = kind;
  n.children = std::move(children);
  for (const filter_node& c : n.children) n.depth = (std::max)(n.depth, c.depth + 1);
  return n;
}

/// Shared by both filter kinds: an object whose members are ANDed. `member`
/// parses one member (key, value, path, level).
template <class Member>
filter_node parse_object(const char* what, const nlohmann::json& j, const std::string& path,
                         std::size_t level, const Member& member) {
  if (!j.is_object()) {
    throw_filter_error(what, path, "expected a JSON object, got " + describe(j),
                       std::string_view(what) == where_what
                           ? "Write a filter as an object, e.g. {\"year\": {\"$gte\": 2020}}"
                           : "Write a document filter as an object, e.g. {\"$contains\": "
                             "\"text\"}");
  }
  if (j.empty()) {
    throw_filter_error(what, path, "an empty object is not a filter here",
                       "Remove it, or put a condition in it");
  }
  if (j.size() == 1) return member(j.begin().key(), j.begin().value(), path, level);
  if (level + 1 > max_filter_depth) depth_error(what, path);
  std::vector<filter_node> children;
  children.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    children.push_back(member(it.key(), it.value(), path, level + 1));
  }
  return make_group(node_kind::all_of, std::move(children));
}

/// `{"$and": [...]}` / `{"$or": [...]}`; `element` parses one element.
template <class Element>
filter_node parse_group(const char* what, const std::string& name, const nlohmann::json& value,
                        const std::string& path, std::size_t level, const Element& element) {
  const std::string here = path_member(path, name);
  if (!value.is_array()) {
    throw_filter_error(what, path, name + " needs an array of filters, got " + describe(value),
                       "Write {\"" + name + "\": [{...}, {...}]}");
  }
  if (value.empty()) {
    throw_filter_error(what, path, name + " needs at least one filter, got an empty array",
                       "List the filters to combine, or remove the " + name);
  }
  if (level + 1 > max_filter_depth) depth_error(what, here);
  std::vector<filter_node> children;
  children.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    children.push_back(element(value[i], path_index(here, i), level + 1));
  }
  return make_group(name == "$and" ? node_kind::all_of : node_kind::any_of, std::move(children));
}

/// A metadata filter object at `path`, with `level` $and/$or levels above it.
inline filter_node parse_where(const nlohmann::json& j, const std::string& path, std::size_t level);

inline filter_node parse_where_member(const std::string& key, const nlohmann::json& value,
                                      const std::string& path, std::size_t level) {
  if (key == "$and" || key == "$or") {
    return parse_group(where_what, key, value, path, level, parse_where);
  }
  if (!key.empty() && key.front() == '$') {
    const bool for_documents = key == "$contains" || key == "$not_contains";
    where_error(path,
                "unknown operator " + quote_for_message(key) +
                    "; the operators allowed here are $and and $or",
                for_documents ? "Filter documents with a document_filter (where_document)"
                              : "Use $and or $or, or a metadata key (keys cannot start with '$')");
  }
  check_key(path, key);
  const std::string here = path_member(path, key);
  if (!value.is_object()) {
    // {"k": v} is Chroma's shorthand for {"k": {"$eq": v}}.
    std::vector<metadata_value> values{operand_from_json(here, "$eq", value, false)};
    return make_compare(here, key, compare_op::eq, std::move(values));
  }
  if (value.empty()) {
    where_error(here, "needs an operator, got an empty object",
                "Write {\"" + key + "\": {\"$eq\": value}} or {\"" + key + "\": value}");
  }
  if (value.size() == 1)
    return parse_operator(here, key, value.begin().key(), value.begin().value());
  // Several operators on one key: their AND, e.g. a range {"$gte": 1, "$lt": 5}.
  if (level + 1 > max_filter_depth) depth_error(where_what, here);
  std::vector<filter_node> children;
  for (auto it = value.begin(); it != value.end(); ++it) {
    children.push_back(parse_operator(here, key, it.key(), it.value()));
  }
  return make_group(node_kind::all_of, std::move(children));
}

inline filter_node parse_where(const nlohmann::json& j, const std::string& path,
                               std::size_t level) {
  return parse_object(where_what, j, path, level, parse_where_member);
}

inline filter_node make_contains(const char* what, const std::string& path, node_kind kind,
                                 std::string text) {
  const std::string name = kind == node_kind::contains ? "$contains" : "$not_contains";
  if (text.empty()) {
    throw_filter_error(what, path, name + " needs a non-empty string",
                       "Give the text to look for, or remove the condition");
  }
  if (const std::size_t bad = first_invalid_utf8(text); bad != std::string_view::npos) {
    throw_filter_error(what, path,
                       name + " text is not valid UTF-8 (byte " + std::to_string(bad) +
                           "): " + quote_for_message(text),
                       "Encode strings as UTF-8");
  }
  filter_node n;
  n.kind = kind;
  n.text = std::move(text);
  return n;
}

inline filter_node parse_document(const nlohmann::json& j, const std::string& path,
                                  std::size_t level);

inline filter_node parse_document_member(const std::string& key, const nlohmann::json& value,
                                         const std::string& path, std::size_t level) {
  if (key == "$and" || key == "$or") {
    return parse_group(document_what, key, value, path, level, parse_document);
  }
  if (key == "$contains" || key == "$not_contains") {
    if (!value.is_string()) {
      throw_filter_error(document_what, path, key + " needs a string, got " + describe(value),
                         "Write {\"" + key + "\": \"text\"}");
    }
    return make_contains(document_what, path,
                         key == "$contains" ? node_kind::contains : node_kind::not_contains,
                         value.get<std::string>());
  }
  const bool metadata_key = key.empty() || key.front() != '$';
  throw_filter_error(document_what, path,
                     "unknown operator " + quote_for_message(key) +
                         "; the valid operators are $contains, $not_contains, $and, $or",
                     metadata_key ? "Filter metadata with a filter (where), not a document "
                                    "filter"
                                  : "Use one of those operators");
}

inline filter_node parse_document(const nlohmann::json& j, const std::string& path,
                                  std::size_t level) {
  return parse_object(document_what, j, path, level, parse_document_member);
}

/// Parses JSON text, turning nlohmann's exceptions into ours.
inline nlohmann::json parse_json_text(const char* what, std::string_view text) {
  const char* todo = std::string_view(what) == where_what
                         ? "Pass JSON text such as {\"year\": {\"$gte\": 2020}}"
                         : "Pass JSON text such as {\"$contains\": \"text\"}";
  try {
    return nlohmann::json::parse(text.data(), text.data() + text.size());
  } catch (const nlohmann::json::parse_error& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep its words.
    std::string_view why = e.what();
    if (const std::size_t close = why.find("] ");
        !why.empty() && why.front() == '[' && close != std::string_view::npos) {
      why.remove_prefix(close + 2);
    }
    throw_filter_error(what, "byte " + std::to_string(e.byte),
                       "the text is not valid JSON: " + escape_for_message(why), todo);
  } catch (const nlohmann::json::exception& e) {
    // out_of_range 406: a number too large for a double ("1e400").
    std::string_view why = e.what();
    if (const std::size_t close = why.find("] ");
        !why.empty() && why.front() == '[' && close != std::string_view::npos) {
      why.remove_prefix(close + 2);
    }
    throw_filter_error(what, {}, "the text is not valid JSON: " + escape_for_message(why), todo);
  }
}

// ---- AST -> JSON --------------------------------------------------------

inline nlohmann::json value_to_json(const metadata_value& v) {
  return std::visit([](const auto& x) { return nlohmann::json(x); }, v);
}

inline nlohmann::json node_to_json(const filter_node& n) {
  nlohmann::json out = nlohmann::json::object();
  switch (n.kind) {
    case node_kind::all_of:
    case node_kind::any_of: {
      nlohmann::json list = nlohmann::json::array();
      for (const filter_node& c : n.children) list.push_back(node_to_json(c));
      out[n.kind == node_kind::all_of ? "$and" : "$or"] = std::move(list);
      break;
    }
    case node_kind::compare: {
      nlohmann::json operand;
      if (is_list_op(n.op)) {
        operand = nlohmann::json::array();
        for (const metadata_value& v : n.values) operand.push_back(value_to_json(v));
      } else {
        operand = value_to_json(n.values.at(0));
      }
      nlohmann::json ops = nlohmann::json::object();
      ops[op_name(n.op)] = std::move(operand);
      out[n.key] = std::move(ops);
      break;
    }
    case node_kind::contains:
      out["$contains"] = n.text;
      break;
    case node_kind::not_contains:
      out["$not_contains"] = n.text;
      break;
  }
  return out;
}

/// Grants the builders and the SQL compiler access to a filter's AST without
/// making the AST part of the public interface.
struct filter_access {
  template <class F>
  static const filter_node* root(const F& f) noexcept {
    return f.root_ ? &*f.root_ : nullptr;
  }
  template <class F>
  static F make(filter_node n) {
    F f;
    f.root_ = std::move(n);
    return f;
  }
};

}  // namespace detail

/// A metadata filter (Chroma's `where`); see the semantics at the top of this
/// file. Default-constructed, it is empty and matches every record.
class filter {
 public:
  filter() = default;

  /// True for the filter that matches everything.
  bool empty() const noexcept { return !root_.has_value(); }

  /// Parses Chroma's JSON form. `{}` is the empty filter.
  /// Throws `invalid_argument` naming the path of the bad part.
  static filter from_json(const nlohmann::json& j) {
    if (j.is_object() && j.empty()) return filter{};
    return detail::filter_access::make<filter>(detail::parse_where(j, {}, 0));
  }

  /// Parses JSON text, e.g. R"({"year": {"$gte": 2020}})".
  static filter parse(std::string_view json_text) {
    return from_json(detail::parse_json_text(detail::where_what, json_text));
  }

  /// The JSON form, in canonical spelling: every comparison as
  /// {"key": {"$op": operand}}, every group as {"$and"|"$or": [...]}.
  /// from_json(f.to_json()) == f.
  nlohmann::json to_json() const {
    return root_ ? detail::node_to_json(*root_) : nlohmann::json::object();
  }

  /// Both must match. An empty side is dropped.
  friend filter operator&&(filter a, filter b) { return join(detail::node_kind::all_of, a, b); }
  /// Either may match. An empty side matches everything, so the result is empty.
  friend filter operator||(filter a, filter b) {
    if (a.empty() || b.empty()) return filter{};
    return join(detail::node_kind::any_of, a, b);
  }

  /// Same tree (not merely the same meaning).
  friend bool operator==(const filter& a, const filter& b) { return a.root_ == b.root_; }
  friend bool operator!=(const filter& a, const filter& b) { return !(a == b); }

 private:
  friend struct detail::filter_access;

  static filter join(detail::node_kind kind, filter& a, filter& b) {
    if (a.empty()) return std::move(b);
    if (b.empty()) return std::move(a);
    return detail::filter_access::make<filter>(
        detail::combine(kind, std::move(*a.root_), std::move(*b.root_), detail::where_what));
  }

  std::optional<detail::filter_node> root_;
};

/// A document filter (Chroma's `where_document`); see the semantics at the top
/// of this file. Default-constructed, it is empty and matches every record.
class document_filter {
 public:
  document_filter() = default;

  bool empty() const noexcept { return !root_.has_value(); }

  /// Parses {"$contains": "text"}, {"$not_contains": "text"}, {"$and"|"$or": [...]}.
  /// `{}` is the empty filter. Throws `invalid_argument` naming the bad part.
  static document_filter from_json(const nlohmann::json& j) {
    if (j.is_object() && j.empty()) return document_filter{};
    return detail::filter_access::make<document_filter>(detail::parse_document(j, {}, 0));
  }

  static document_filter parse(std::string_view json_text) {
    return from_json(detail::parse_json_text(detail::document_what, json_text));
  }

  nlohmann::json to_json() const {
    return root_ ? detail::node_to_json(*root_) : nlohmann::json::object();
  }

  friend document_filter operator&&(document_filter a, document_filter b) {
    return join(detail::node_kind::all_of, a, b);
  }
  friend document_filter operator||(document_filter a, document_filter b) {
    if (a.empty() || b.empty()) return document_filter{};
    return join(detail::node_kind::any_of, a, b);
  }

  friend bool operator==(const document_filter& a, const document_filter& b) {
    return a.root_ == b.root_;
  }
  friend bool operator!=(const document_filter& a, const document_filter& b) { return !(a == b); }

 private:
  friend struct detail::filter_access;

  static document_filter join(detail::node_kind kind, document_filter& a, document_filter& b) {
    if (a.empty()) return std::move(b);
    if (b.empty()) return std::move(a);
    return detail::filter_access::make<document_filter>(
        detail::combine(kind, std::move(*a.root_), std::move(*b.root_), detail::document_what));
  }

  std::optional<detail::filter_node> root_;
};

/// One metadata key in the builder; `where("year") >= 2020` makes a filter.
/// Operands: any integral type (as int64), float/double, strings
/// (const char*, std::string, std::string_view), bool, or a metadata_value.
class field {
 public:
  /// Throws `invalid_argument` for an empty, too long, non-UTF-8 or '$' key.
  explicit field(std::string key) : key_(std::move(key)) { detail::check_key({}, key_); }

  const std::string& key() const noexcept { return key_; }

  filter operator==(detail::value_arg v) const { return one(detail::compare_op::eq, std::move(v)); }
  filter operator!=(detail::value_arg v) const { return one(detail::compare_op::ne, std::move(v)); }
  filter operator<(detail::value_arg v) const { return one(detail::compare_op::lt, std::move(v)); }
  filter operator<=(detail::value_arg v) const {
    return one(detail::compare_op::lte, std::move(v));
  }
  filter operator>(detail::value_arg v) const { return one(detail::compare_op::gt, std::move(v)); }
  filter operator>=(detail::value_arg v) const {
    return one(detail::compare_op::gte, std::move(v));
  }

  /// The key is present with one of `values` (all of one type, at least one).
  filter in(std::initializer_list<detail::value_arg> values) const {
    return list(detail::compare_op::in, values.begin(), values.end());
  }
  filter in(const std::vector<metadata_value>& values) const {
    return list(detail::compare_op::in, values.begin(), values.end());
  }
  /// The key is present with a value not among `values`.
  filter not_in(std::initializer_list<detail::value_arg> values) const {
    return list(detail::compare_op::nin, values.begin(), values.end());
  }
  filter not_in(const std::vector<metadata_value>& values) const {
    return list(detail::compare_op::nin, values.begin(), values.end());
  }

 private:
  std::string path() const { return detail::path_member({}, key_); }

  filter one(detail::compare_op op, detail::value_arg v) const {
    if (!v.problem().empty()) {
      detail::where_error(path(), std::string(detail::op_name(op)) + " " + v.problem(), v.todo());
    }
    std::vector<metadata_value> values;
    values.push_back(v.take());
    return detail::filter_access::make<filter>(
        detail::make_compare(path(), key_, op, std::move(values)));
  }

  template <class It>
  filter list(detail::compare_op op, It first, It last) const {
    std::vector<metadata_value> values;
    values.reserve(static_cast<std::size_t>(std::distance(first, last)));
    for (It it = first; it != last; ++it) {
      const detail::value_arg& v = *it;
      if (!v.problem().empty()) {
        detail::where_error(path(),
                            std::string(detail::op_name(op)) + "[" + std::to_string(values.size()) +
                                "] " + v.problem(),
                            v.todo());
      }
      values.push_back(v.value());
    }
    return detail::filter_access::make<filter>(
        detail::make_compare(path(), key_, op, std::move(values)));
  }

  std::string key_;
};

/// Starts a builder comparison on a metadata key.
inline field where(std::string key) { return field(std::move(key)); }

/// Records whose document contains `text` (case-sensitive; never a record
/// without a document).
inline document_filter contains(std::string text) {
  return detail::filter_access::make<document_filter>(detail::make_contains(
      detail::document_what, {}, detail::node_kind::contains, std::move(text)));
}

/// Records whose document does not contain `text`, and records without one.
inline document_filter not_contains(std::string text) {
  return detail::filter_access::make<document_filter>(detail::make_contains(
      detail::document_what, {}, detail::node_kind::not_contains, std::move(text)));
}

namespace detail {

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
      for (std::size_t i = 0; i < n.children.size(); ++i) {
        if (i > 0) out.sql += n.kind == node_kind::all_of ? " AND " : " OR ";
        append_sql(n.children[i], column, out);
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
