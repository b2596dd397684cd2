// SPDX-License-Identifier: MIT
// The JSON Lines reader of import and query --from: one object per line with
// the keys id (required), embedding, document and metadata. Its writer,
// jsonl_line, is in formats.cpp.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <system_error>

#include <nlohmann/json.hpp>

#include "formats.hpp"

namespace vecstore_cli {

/// Converts one parsed JSON Lines object into a record; `where` names the line.
inline void record_from_json(const nlohmann::json& j, record& out, const fs::path& file, const std::string& where) {
  const auto fail = [&](const std::string& why) {
    bad_input(file, where + ": " + why,
              "Each line must be {\"id\": \"...\", \"embedding\": [...], \"document\": \"...\", \"metadata\": {...}} "
              "(only id is required)");
  };
  if (!j.is_object()) fail("expected a JSON object, found " + std::string(j.type_name()));
  out.id.clear();
  out.embedding.clear();
  out.document.reset();
  out.meta.clear();
  bool has_id = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "id") {
      if (!v.is_string()) fail("\"id\" must be a string, found " + std::string(v.type_name()));
      out.id = v.get<std::string>();
      has_id = true;
    } else if (key == "embedding") {
      if (v.is_null()) continue;
      if (!v.is_array()) fail("\"embedding\" must be an array of numbers, found " + std::string(v.type_name()));
      if (v.size() > vecstore::limits::max_dim) {
        fail("\"embedding\" has " + std::to_string(v.size()) + " values, the limit is " +
             std::to_string(vecstore::limits::max_dim));
      }
      out.embedding.reserve(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) {
        const auto& x = v[i];
        if (!x.is_number()) fail("\"embedding\"[" + std::to_string(i) + "] is " + std::string(x.type_name()) + ", not a number");
        const double d = x.get<double>();
        if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
          fail("\"embedding\"[" + std::to_string(i) + "] = " + x.dump() + " is outside the float32 range");
        }
        out.embedding.push_back(static_cast<float>(d));
      }
    } else if (key == "document") {
      if (v.is_null()) continue;
      if (!v.is_string()) fail("\"document\" must be a string, found " + std::string(v.type_name()));
      out.document = v.get<std::string>();
    } else if (key == "metadata") {
      if (v.is_null()) continue;
      if (!v.is_object()) fail("\"metadata\" must be an object, found " + std::string(v.type_name()));
      for (auto m = v.begin(); m != v.end(); ++m) {
        const auto& mv = m.value();
        const std::string name = "metadata " + vecstore::detail::quote_name(m.key());
        if (mv.is_boolean()) {
          out.meta.emplace(m.key(), mv.get<bool>());
        } else if (mv.is_number_unsigned()) {
          const auto u = mv.get<std::uint64_t>();
          if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            fail(name + " = " + mv.dump() + " is larger than a 64-bit signed integer");
          }
          out.meta.emplace(m.key(), static_cast<std::int64_t>(u));
        } else if (mv.is_number_integer()) {
          out.meta.emplace(m.key(), mv.get<std::int64_t>());
        } else if (mv.is_number_float()) {
          out.meta.emplace(m.key(), mv.get<double>());
        } else if (mv.is_string()) {
          out.meta.emplace(m.key(), mv.get<std::string>());
        } else {
          fail(name + " is " + std::string(mv.type_name()) + "; values must be strings, integers, floats or booleans");
        }
      }
    } else {
      fail("unknown key " + vecstore::detail::quote_name(key) + " (expected id, embedding, document, metadata)");
    }
  }
  if (!has_id) fail("no \"id\"");
}

/// JSON Lines: one object per line; blank lines are skipped; lines counted from 1.
class jsonl_source final : public record_source {
 public:
  explicit jsonl_source(const fs::path& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) io_failure("cannot open the input file", path_, errno);
    std::error_code ec;
    if (!fs::is_regular_file(path_, ec)) bad_input(path_, "not a regular file");
  }

  bool next(record& out) override {
    std::string text;
    while (std::getline(in_, text)) {
      ++line_;
      if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
      const auto j = vecstore::detail::parse_json_text_bounded(text, vecstore::detail::max_data_json_depth);
      if (j.too_deep) bad_input(path_, where() + " is refused: " + j.why);
      if (!j.ok()) bad_input(path_, where() + " is not valid JSON: " + j.why);
      record_from_json(j.value, out, path_, where());
      return true;
    }
    if (in_.bad()) io_failure("cannot read the input file", path_, errno);
    return false;
  }

  std::string where() const override { return "line " + std::to_string(line_) + " of " + path_.string(); }
  std::uint64_t line() const noexcept { return line_; }
  std::size_t dim() const override { return 0; }
  std::uint64_t size_hint() const override { return 0; }

 private:
  fs::path path_;
  std::ifstream in_;
  std::uint64_t line_ = 0;
};

}  // namespace vecstore_cli
