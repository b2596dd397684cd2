// SPDX-License-Identifier: MIT
// The checks every filter node passes, and the C++ builder (`where("year") >= 2020`, `contains("fox")`);
// the nodes themselves are in filter/node.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vecstore/detail/utf8.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/filter/node.hpp>
#include <vecstore/types.hpp>
#include <vector>

// The semantics of filters are described in include/vecstore/filter.hpp, which
// includes this AST, its JSON form (filter/json.hpp) and its SQL (filter/sql.hpp).

namespace vecstore {
inline namespace v0 {
namespace detail {

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
/// one node with three children, so chains of && do not nest. When a side is
/// already such a node its children are kept (shared, not copied) and the
/// other side joins at its end: O(1) for `f = f && c` and `f = c && f`, so a
/// loop of n steps is O(n). Two such nodes cost the smaller one's length.
inline filter_node combine(node_kind kind, filter_node a, filter_node b, const char* what) {
  filter_node out;
  if (a.kind == kind && (b.kind != kind || a.children.size() >= b.children.size())) {
    out = std::move(a);
    if (b.kind == kind) {
      for (const filter_node* c : b.children.items()) {
        out.depth = (std::max)(out.depth, c->depth + 1);
        out.children.push_back(*c);
      }
    } else {
      out.depth = (std::max)(out.depth, b.depth + 1);
      out.children.push_back(std::move(b));
    }
  } else if (b.kind == kind) {
    out = std::move(b);
    if (a.kind == kind) {
      const std::vector<const filter_node*> first = a.children.items();
      for (auto c = first.rbegin(); c != first.rend(); ++c) {
        out.depth = (std::max)(out.depth, (*c)->depth + 1);
        out.children.push_front(**c);
      }
    } else {
      out.depth = (std::max)(out.depth, a.depth + 1);
      out.children.push_front(std::move(a));
    }
  } else {
    out.kind = kind;
    out.depth = (std::max)(a.depth, b.depth) + 1;
    out.children.push_back(std::move(a));
    out.children.push_back(std::move(b));
  }
  if (out.depth > max_filter_depth) depth_error(what, {});
  return out;
}

/// A $contains / $not_contains leaf, checked.
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

/// A metadata filter (Chroma's `where`); see the semantics in
/// include/vecstore/filter.hpp. Default-constructed, it is empty and matches
/// every record.
///
/// from_json, parse and to_json are defined with the JSON form, in
/// include/vecstore/filter/json.hpp (included by include/vecstore/filter.hpp).
class filter {
 public:
  filter() = default;

  /// True for the filter that matches everything.
  bool empty() const noexcept { return !root_.has_value(); }

  /// Parses Chroma's JSON form. `{}` is the empty filter.
  /// Throws `invalid_argument` naming the path of the bad part.
  static inline filter from_json(const nlohmann::json& j);

  /// Parses JSON text, e.g. R"({"year": {"$gte": 2020}})".
  static inline filter parse(std::string_view json_text);

  /// The JSON form, in canonical spelling: every comparison as
  /// {"key": {"$op": operand}}, every group as {"$and"|"$or": [...]}.
  /// from_json(f.to_json()) == f.
  inline nlohmann::json to_json() const;

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

/// A document filter (Chroma's `where_document`); see the semantics in
/// include/vecstore/filter.hpp. Default-constructed, it is empty and matches
/// every record. from_json, parse and to_json are defined in
/// include/vecstore/filter/json.hpp.
class document_filter {
 public:
  document_filter() = default;

  bool empty() const noexcept { return !root_.has_value(); }

  /// Parses {"$contains": "text"}, {"$not_contains": "text"}, {"$and"|"$or": [...]}.
  /// `{}` is the empty filter. Throws `invalid_argument` naming the bad part.
  static inline document_filter from_json(const nlohmann::json& j);

  static inline document_filter parse(std::string_view json_text);

  inline nlohmann::json to_json() const;

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

}  // namespace v0
}  // namespace vecstore
