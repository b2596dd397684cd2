// SPDX-License-Identifier: MIT
// import-chroma without --dry-run (chroma_summary.hpp): checks the directory
// and the names, then imports (chroma_write.cpp) into the store, which is
// created only for the write (chroma_target.hpp).
#include <string>
#include <unordered_set>
#include <vector>

#include <vecstore/import/chroma/import.hpp>
#include <vecstore/import/chroma/sqlite_reader.hpp>

#include "chroma_options.hpp"
#include "chroma_summary.hpp"
#include "chroma_target.hpp"
#include "chroma_write.hpp"
#include "progress.hpp"

namespace vecstore_cli {

chroma_summary chroma_import(const global_options& g, const chroma_args& a) {
  const vecstore::chroma_import_options o = chroma_options(a);
  // Refuse a directory that is not a ChromaDB 1.0 one, or a name conflict,
  // before a collection is read.
  std::vector<vecstore::chroma_collection_info> sources;
  {
    vecstore::chroma_reader check(a.persist_dir);
    sources = check.collections(o.tenant, o.database);
  }
  chroma_summary out;
  vecstore::chroma_import_report report;
  {
    progress bar("import-chroma", 0, progress_wanted(g.no_progress));
    bar.start_ticker();
    chroma_target target(a.store, g, bar);
    if (o.on_conflict == vecstore::chroma_conflict::refuse) {
      std::unordered_set<std::string> names;
      for (const auto& c : target.list_collections()) names.insert(c.name);
      check_chroma_conflicts(names, sources, o.name_prefix, target.path());
    }
    report = write_chroma(a.persist_dir, target, o);
    out.store = target.path();
    bar.finish();
  }
  out.chroma_version = report.chroma_version;
  out.collections = chroma_summaries(report, false);
  return out;
}

}  // namespace vecstore_cli
