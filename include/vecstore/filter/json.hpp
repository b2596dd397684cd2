// SPDX-License-Identifier: MIT
// ChromaDB's JSON form of filters: the parser from JSON to the AST, and the AST back to canonical JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vecstore/detail/json_text.hpp>
#include <vecstore/detail/utf8.hpp>
#include <vecstore/filter/ast.hpp>
#include <vecstore/types.hpp>
#include <vector>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Deepest nesting of arrays and objects accepted in filter text. A filter
/// nests two levels per $and/$or (object and array) plus three for a leaf
/// such as {"k": {"$in": [...]}}, so max_filter_depth needs 2 * 64 + 3; deeper
/// text is refused before nlohmann builds a value that recursion (copy,
/// dump) could not walk.
inline constexpr std::size_t max_json_depth = 2 * max_filter_depth + 8;

/// The compact JSON of `j`, cut after about `max_bytes`: written with an
/// explicit stack, so a value nested any depth costs O(max_bytes) time and
/// no recursion (nlohmann's dump recurses over the whole value).
inline std::string bounded_dump(const nlohmann::json& j, std::size_t max_bytes) {
  struct frame {
    const nlohmann::json* value;
    nlohmann::json::const_iterator next;
  };
  std::string out;
  std::vector<frame> stack;
  // Scalars only: their dump does not recurse. A long string is cut first.
  const auto scalar = [&out, max_bytes](const nlohmann::json& v) {
    if (v.is_string() && v.get_ref<const std::string&>().size() > max_bytes) {
      const std::string& s = v.get_ref<const std::string&>();
      out += nlohmann::json(s.substr(0, cut_at_boundary(s, max_bytes)))
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      out += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  };
  const auto open = [&out, &stack](const nlohmann::json& v) {
    out += v.is_object() ? '{' : '[';
    stack.push_back(frame{&v, v.cbegin()});
  };
  if (j.is_structured()) {
    open(j);
  } else {
    scalar(j);
  }
  while (!stack.empty() && out.size() <= max_bytes) {
    frame& top = stack.back();
    if (top.next == top.value->cend()) {
      out += top.value->is_object() ? '}' : ']';
      stack.pop_back();
      continue;
    }
    if (top.next != top.value->cbegin()) out += ',';
    const nlohmann::json::const_iterator it = top.next++;
    if (top.value->is_object()) {
      out += nlohmann::json(it.key()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out += ':';
    }
    if (it->is_structured()) {
      open(*it);  // may reallocate `stack`: `top` is not used after this
    } else {
      scalar(*it);
    }
  }
  return out;
}

/// "string \"x\"", "array [1,2]", "null": what a message says a JSON operand
/// was; a long or deep value is quoted by its first 40 bytes.
inline std::string describe(const nlohmann::json& j) {
  using t = nlohmann::json::value_t;
  // replace: a string holding invalid UTF-8 must not make dump() throw here.
  const auto dumped = [&j] { return escape_for_message(bounded_dump(j, 64), 40); };
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
  for (filter_node& c : children) {
    n.depth = (std::max)(n.depth, c.depth + 1);
    n.children.push_back(std::move(c));
  }
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
                "Write {" + quote_for_message(key) + ": {\"$eq\": value}} or {" + quote_for_message(key) + ": value}");
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
  // nlohmann's parser itself is iterative, but the value it builds is copied
  // and dumped by recursion: deep nesting is refused before it is built.
  json_text parsed = parse_json_text_bounded(text, max_json_depth);
  if (parsed.too_deep) {
    throw_filter_error(what, "byte " + std::to_string(parsed.byte), parsed.why,
                       "Flatten the filter: $and/$or nest at most " + std::to_string(max_filter_depth) + " levels");
  }
  if (!parsed.ok()) {
    throw_filter_error(what, parsed.byte ? "byte " + std::to_string(parsed.byte) : std::string(),
                       "the text is not valid JSON: " + parsed.why, todo);
  }
  return std::move(parsed.value);
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
      for (const filter_node* c : n.children.items()) list.push_back(node_to_json(*c));
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

}  // namespace detail

// ---- The classes' JSON members (declared in include/vecstore/filter/ast.hpp) --

inline filter filter::from_json(const nlohmann::json& j) {
  if (j.is_object() && j.empty()) return filter{};
  return detail::filter_access::make<filter>(detail::parse_where(j, {}, 0));
}

inline filter filter::parse(std::string_view json_text) {
  return from_json(detail::parse_json_text(detail::where_what, json_text));
}

inline nlohmann::json filter::to_json() const {
  return root_ ? detail::node_to_json(*root_) : nlohmann::json::object();
}

inline document_filter document_filter::from_json(const nlohmann::json& j) {
  if (j.is_object() && j.empty()) return document_filter{};
  return detail::filter_access::make<document_filter>(detail::parse_document(j, {}, 0));
}

inline document_filter document_filter::parse(std::string_view json_text) {
  return from_json(detail::parse_json_text(detail::document_what, json_text));
}

inline nlohmann::json document_filter::to_json() const {
  return root_ ? detail::node_to_json(*root_) : nlohmann::json::object();
}

}  // namespace v0
}  // namespace vecstore
