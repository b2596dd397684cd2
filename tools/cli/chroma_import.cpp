// SPDX-License-Identifier: MIT
// import-chroma without --dry-run (chroma_summary.hpp): checks the directory
// and the names, opens (or creates) the store, and imports (chroma_write.cpp).
#include <utility>
#include <vector>

#include <vecstore/import/chroma/import.hpp>
#include <vecstore/import/chroma/sqlite_reader.hpp>

#include "chroma_options.hpp"
#include "chroma_summary.hpp"
#include "chroma_target.hpp"
#include "chroma_write.hpp"
#include "progress.hpp"
#include "store_access.hpp"

namespace vecstore_cli {

chroma_summary chroma_import(const global_options& g, const chroma_args& a) {
  const vecstore::chroma_import_options o = chroma_options(a);
  // Refuse a directory that is not a ChromaDB 1.0 one, or a name conflict,
  // before the store is created or anything is written.
  std::vector<vecstore::chroma_collection_info> sources;
  {
    vecstore::chroma_reader check(a.persist_dir);
    sources = check.collections(o.tenant, o.database);
  }
  auto s = open_store(a.store, open_as::create, g);
  chroma_summary out;
  out.store = s->path();
  if (o.on_conflict == vecstore::chroma_conflict::refuse) {
    check_chroma_conflicts(collection_names(*s), sources, o.name_prefix, s->path());
  }
  vecstore::chroma_import_report report;
  {
    progress bar("import-chroma", 0, progress_wanted(g.no_progress));
    bar.start_ticker();
    chroma_target target(*s, bar);
    report = write_chroma(a.persist_dir, target, o);
    bar.finish();
  }
  out.chroma_version = report.chroma_version;
  for (const auto& r : report.collections) {
    chroma_collection_summary c;
    c.name = r.name;
    c.source_name = r.source_name;
    c.metric = vecstore::to_string(r.space);
    c.dim = r.dim;
    c.records = r.records;
    c.without_embedding = r.without_embedding;
    c.vectors_from_log = r.vectors_from_log;
    c.normalized = r.normalized;
    c.skipped = r.skipped;
    out.collections.push_back(std::move(c));
  }
  return out;
}

}  // namespace vecstore_cli
