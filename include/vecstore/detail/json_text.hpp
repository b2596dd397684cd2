// SPDX-License-Identifier: MIT
// Untrusted JSON text in, a value or a reason out: the one place where
// vecstore parses JSON it did not write (filters, records, ChromaDB's files,
// a store's own notes that a damaged file may have changed).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <vecstore/detail/utf8.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Deepest nesting of arrays and objects accepted in JSON text that carries
/// records, metadata or settings: they nest a few levels, and every walk of a
/// value that deep (copy, dump, compare) recurses once per level.
inline constexpr std::size_t max_data_json_depth = 64;

/// The byte offset of the first bracket that nests `text` deeper than
/// `max_depth`, or npos. Brackets inside strings do not count; malformed text
/// is left to the parser.
inline std::size_t json_too_deep_at(std::string_view text, std::size_t max_depth) noexcept {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

/// What parse_json_text_bounded found.
struct json_text {
  nlohmann::json value;  ///< null unless ok()
  std::string why;       ///< empty when the text parsed; else what is wrong, escaped for a message
  std::size_t byte = 0;  ///< where, counted from 1; 0 when unknown
  bool too_deep = false;

  bool ok() const noexcept { return why.empty(); }
};

/// Parses `text`, refusing nesting deeper than `max_depth` before any value
/// is built. Never throws nlohmann's exceptions: invalid text, a number too
/// large for a double ("1e400") and too deep nesting all come back in `why`.
inline json_text parse_json_text_bounded(std::string_view text, std::size_t max_depth) {
  json_text out;
  if (const std::size_t at = json_too_deep_at(text, max_depth); at != std::string_view::npos) {
    out.why = "arrays and objects are nested deeper than " + std::to_string(max_depth) + " levels";
    out.byte = at + 1;
    out.too_deep = true;
    return out;
  }
  try {
    out.value = nlohmann::json::parse(text.data(), text.data() + text.size());
  } catch (const nlohmann::json::exception& e) {
    // nlohmann's words without its "[json.exception.parse_error.101] " tag.
    std::string_view why = e.what();
    if (const std::size_t close = why.find("] "); !why.empty() && why.front() == '[' && close != why.npos) {
      why.remove_prefix(close + 2);
    }
    out.why = why.empty() ? std::string("not valid JSON") : escape_for_message(why);
    if (const auto* p = dynamic_cast<const nlohmann::json::parse_error*>(&e)) out.byte = p->byte;
  }
  return out;
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
