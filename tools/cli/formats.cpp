// SPDX-License-Identifier: MIT
// The compiled part of the file formats (formats.hpp): the readers behind
// open_source and read_row, the check for ids a JSON Lines file repeats, and
// the JSON Lines writer.
#include "formats.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fvecs.hpp"
#include "jsonl.hpp"
#include "npy_source.hpp"
#include "output.hpp"
#include "record_output.hpp"

namespace vecstore_cli {

std::unique_ptr<record_source> open_source(const fs::path& file, file_format format, const std::string& prefix) {
  switch (format) {
    case file_format::fvecs: return std::make_unique<fvecs_source>(file, prefix);
    case file_format::npy: return std::make_unique<npy_source>(file, prefix);
    case file_format::jsonl: break;
  }
  return std::make_unique<jsonl_source>(file);
}

std::vector<float> read_row(const fs::path& file, file_format format, std::uint64_t row) {
  record r;
  if (format == file_format::fvecs) {
    fvecs_source s(file, {});
    s.skip_to(row);
    if (!s.next(r)) bad_input(file, "there is no row " + std::to_string(row));
  } else if (format == file_format::npy) {
    npy_source s(file, {});
    s.skip_to(row);
    if (!s.next(r)) bad_input(file, "there is no row " + std::to_string(row));
  } else {
    jsonl_source s(file);
    for (std::uint64_t i = 0;; ++i) {
      if (!s.next(r)) bad_input(file, "there is no record " + std::to_string(row) + " (counted from 0)");
      if (i == row) break;
    }
    if (r.embedding.empty()) bad_input(file, s.where() + " has no embedding");
  }
  return std::move(r.embedding);
}

void find_repeated_ids(const fs::path& file, std::vector<std::uint64_t>& hashes) {
  std::sort(hashes.begin(), hashes.end());
  std::unordered_set<std::uint64_t> suspects;
  for (std::size_t i = 1; i < hashes.size(); ++i) {
    if (hashes[i] == hashes[i - 1]) suspects.insert(hashes[i]);
  }
  hashes.clear();
  hashes.shrink_to_fit();
  if (suspects.empty()) return;
  jsonl_source again(file);
  std::unordered_map<std::string, std::string> seen;  // id -> where, for suspects only
  record r;
  while (again.next(r)) {
    if (!suspects.count(std::hash<std::string>{}(r.id))) continue;
    const auto [it, inserted] = seen.emplace(r.id, "line " + std::to_string(again.line()));
    if (!inserted) {
      vecstore::detail::throw_error<vecstore::duplicate_id>(
          "invalid input file", file, again.where() + " repeats the id " + vecstore::detail::quote_name(r.id) + " of " +
              it->second,
          "Give every record its own id; nothing was written");
    }
  }
}

std::string jsonl_line(const record& r) {
  json_doc j = json_doc::object({{"id", r.id}});
  if (!r.embedding.empty()) j.set("embedding", embedding_json(r.embedding));
  if (r.document) j.set("document", *r.document);
  if (!r.meta.empty()) j.set("metadata", metadata_json(r.meta));
  return j.dump(-1, json_doc::bad_utf8::fail);
}

}  // namespace vecstore_cli
