// SPDX-License-Identifier: MIT
// The import-chroma command (chroma.hpp): runs the dry run or the import and
// prints what it did (chroma_summary.hpp says why these are apart).
#include "chroma.hpp"

#include <chrono>
#include <cstddef>
#include <iostream>
#include <string>
#include <utility>

#include "chroma_summary.hpp"
#include "exit_codes.hpp"
#include "output.hpp"

namespace vecstore_cli {

namespace {

json_doc collection_json(const chroma_collection_summary& c) {
  json_doc j = json_doc::object({{"name", c.name},
                                 {"source_name", c.source_name},
                                 {"metric", c.metric},
                                 {"dim", c.dim},
                                 {"records", c.records},
                                 {"vectors_from_log", c.vectors_from_log},
                                 {"normalized", c.normalized},
                                 {"skipped", c.skipped}});
  if (c.action) j.set("action", *c.action);
  return j;
}

}  // namespace

int run_import_chroma(const global_options& g, const chroma_args& a) {
  const auto started = std::chrono::steady_clock::now();
  const chroma_summary done = a.dry_run ? chroma_dry_run(g, a) : chroma_import(g, a);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::size_t total = 0, skipped = 0;
  for (const auto& c : done.collections) {
    total += c.records;
    skipped += c.skipped ? 1 : 0;
  }
  if (g.json) {
    json_doc cols = json_doc::array();
    for (const auto& c : done.collections) cols.push_back(collection_json(c));
    print_json(json_doc::object({{"source", a.persist_dir.string()},
                                 {"store", done.store.string()},
                                 {"chroma_version", done.chroma_version},
                                 {"dry_run", a.dry_run},
                                 {"records", total},
                                 {"collections", std::move(cols)},
                                 {"seconds", secs}}));
  } else {
    // Skipped collections are listed, but not counted as imported.
    std::cout << (a.dry_run ? "dry run: would import " : "imported ") << total << " records in "
              << done.collections.size() - skipped << " collections"
              << (skipped ? " (" + std::to_string(skipped) + " skipped)" : std::string()) << " from "
              << a.persist_dir.string() << " (" << done.chroma_version << ") into " << done.store.string()
              << (a.dry_run ? "" : " in " + seconds_text(secs)) << "\n";
    for (const auto& c : done.collections) {
      std::cout << "  " << c.name << "\t" << c.metric << "\tdim " << c.dim << "\t" << c.records << " records";
      if (c.skipped) std::cout << " (skipped: it never got an embedding, so it has no dimension)";
      if (c.action && !c.skipped) std::cout << " (" << *c.action << ")";
      std::cout << "\n";
    }
  }
  return exit_ok;
}

}  // namespace vecstore_cli
