// SPDX-License-Identifier: MIT
// What the dry run and the import of import-chroma share: the importer's
// options, the names the store has already (checked before a collection is
// read), and the summary of the importer's report.
#pragma once

#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <vecstore/import/chroma/import.hpp>
#include <vecstore/import/chroma/sqlite_reader.hpp>

#include "chroma.hpp"
#include "chroma_summary.hpp"
#include "exit_codes.hpp"

namespace vecstore_cli {

/// The importer's options from the command line; a usage_error for an
/// unknown --on-conflict (the command-line grammar refuses it first).
inline vecstore::chroma_import_options chroma_options(const chroma_args& a) {
  vecstore::chroma_import_options o;
  o.name_prefix = a.prefix;
  o.batch_size = a.batch;
  o.skip_empty = a.skip_empty;
  if (a.on_conflict == "refuse") {
    o.on_conflict = vecstore::chroma_conflict::refuse;
  } else if (a.on_conflict == "replace") {
    o.on_conflict = vecstore::chroma_conflict::replace;
  } else if (a.on_conflict == "merge") {
    o.on_conflict = vecstore::chroma_conflict::merge;
  } else {
    throw usage_error("--on-conflict: use refuse, replace or merge");
  }
  return o;
}

/// What the import did, or the dry run found it would do, per collection.
/// `with_action`: the dry run says what it would do with each.
inline std::vector<chroma_collection_summary> chroma_summaries(const vecstore::chroma_import_report& report,
                                                               bool with_action) {
  std::vector<chroma_collection_summary> out;
  for (const auto& r : report.collections) {
    chroma_collection_summary c;
    c.name = r.name;
    c.source_name = r.source_name;
    c.metric = vecstore::to_string(r.space);
    c.dim = r.dim;
    c.records = r.records;
    c.vectors_from_log = r.vectors_from_log;
    c.normalized = r.normalized;
    c.skipped = r.skipped;
    if (with_action) c.action = r.action;
    out.push_back(std::move(c));
  }
  return out;
}

/// Refuses, before anything is written, a collection whose name (with the
/// prefix) the store has already. For --on-conflict refuse.
inline void check_chroma_conflicts(const std::unordered_set<std::string>& existing,
                                   const std::vector<vecstore::chroma_collection_info>& sources,
                                   const std::string& prefix, const fs::path& store) {
  for (const auto& c : sources) {
    if (existing.count(prefix + c.name)) {
      vecstore::detail::throw_error<vecstore::invalid_argument>(
          "cannot import the ChromaDB directory", store,
          "the store has a collection named " + vecstore::detail::quote_name(prefix + c.name) + " already",
          "Nothing was imported. Pass --on-conflict replace or merge, or a --prefix");
    }
  }
}

}  // namespace vecstore_cli
