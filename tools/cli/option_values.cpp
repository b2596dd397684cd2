// SPDX-License-Identifier: MIT
// Option values turned into the library's types (option_values.hpp).
#include "option_values.hpp"

#include <cmath>
#include <cstddef>
#include <limits>

#include <nlohmann/json.hpp>

#include "exit_codes.hpp"

namespace vecstore_cli {

vecstore::include parse_include(const std::vector<std::string>& items, vecstore::include fallback) {
  if (items.empty()) return fallback;
  auto fields = vecstore::include::none;
  for (const auto& s : items) {
    if (s == "documents") {
      fields = fields | vecstore::include::documents;
    } else if (s == "metadatas") {
      fields = fields | vecstore::include::metadatas;
    } else if (s == "embeddings") {
      fields = fields | vecstore::include::embeddings;
    } else if (s == "all") {
      fields = vecstore::include::all;
    } else if (s == "none" || s == "distances") {
      // ids (and distances, for query) are always returned
    } else {
      throw usage_error("--include: unknown field " + vecstore::detail::quote_name(s) +
                        " (use documents, metadatas, embeddings, all, none)");
    }
  }
  return fields;
}

vecstore::metric parse_metric(const std::string& s) {
  if (auto m = vecstore::metric_from_string(s)) return *m;
  throw usage_error("--metric: unknown metric " + vecstore::detail::quote_name(s) + " (use cosine, l2 or ip)");
}

vecstore::filter parse_where(const std::string& text) {
  return text.empty() ? vecstore::filter{} : vecstore::filter::parse(text);
}

vecstore::document_filter parse_where_document(const std::string& text) {
  return text.empty() ? vecstore::document_filter{} : vecstore::document_filter::parse(text);
}

std::vector<float> parse_embedding(const std::string& text) {
  const auto bad = [](const std::string& why) {
    vecstore::detail::throw_error<vecstore::invalid_argument>("invalid --embedding", {}, why,
                                                              "Give a JSON array of numbers, e.g. '[0.1, 0.2]'");
  };
  const auto parsed = vecstore::detail::parse_json_text_bounded(text, vecstore::detail::max_data_json_depth);
  if (parsed.too_deep) bad(parsed.why);
  if (!parsed.ok()) bad("not valid JSON: " + parsed.why);
  const nlohmann::json& j = parsed.value;
  if (!j.is_array() || j.empty()) bad("expected a non-empty JSON array");
  std::vector<float> out;
  out.reserve(j.size());
  for (std::size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number()) bad("element " + std::to_string(i) + " is " + j[i].type_name() + ", not a number");
    const double d = j[i].get<double>();
    if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
      bad("element " + std::to_string(i) + " is outside the float32 range");
    }
    out.push_back(static_cast<float>(d));
  }
  return out;
}

}  // namespace vecstore_cli
