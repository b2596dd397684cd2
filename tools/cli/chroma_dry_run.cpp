// SPDX-License-Identifier: MIT
// import-chroma --dry-run (chroma_summary.hpp): reads and checks every
// collection with the import's own code, and says what the import would do.
#include <string>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include <vecstore/import/chroma/import.hpp>
#include <vecstore/import/chroma/sqlite_reader.hpp>

#include "chroma_options.hpp"
#include "chroma_summary.hpp"
#include "progress.hpp"
#include "store_access.hpp"

namespace vecstore_cli {

chroma_summary chroma_dry_run(const global_options& g, const chroma_args& a) {
  const vecstore::chroma_import_options o = chroma_options(a);
  chroma_summary out;
  out.store = a.store;
  std::vector<vecstore::collection_info> existing;
  std::error_code ec;
  if (fs::exists(a.store, ec)) {
    auto s = open_store(a.store, open_as::inspect, g);
    out.store = s->path();
    existing = s->list_collections();
  }
  if (o.on_conflict == vecstore::chroma_conflict::refuse) {
    std::unordered_set<std::string> names;
    for (const auto& c : existing) names.insert(c.name);
    check_chroma_conflicts(names, vecstore::chroma_reader(a.persist_dir).collections(o.tenant, o.database),
                           o.name_prefix, a.store);
  }
  // What the import runs before its one write: the same reads, the same checks.
  vecstore::chroma_import_plan plan;
  {
    progress bar("import-chroma (dry run)", 0, progress_wanted(g.no_progress));
    bar.start_ticker();
    plan = vecstore::plan_chroma_import(a.persist_dir, existing, o);
    bar.finish();
  }
  out.chroma_version = plan.report.chroma_version;
  out.collections = chroma_summaries(plan.report, true);
  return out;
}

}  // namespace vecstore_cli
