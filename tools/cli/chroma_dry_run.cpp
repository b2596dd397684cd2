// SPDX-License-Identifier: MIT
// import-chroma --dry-run (chroma_summary.hpp): reads every collection as the
// import would, and says what the import would do with it.
#include <string>
#include <system_error>
#include <unordered_set>
#include <utility>

#include <vecstore/import/chroma/import.hpp>
#include <vecstore/import/chroma/sqlite_reader.hpp>

#include "chroma_options.hpp"
#include "chroma_summary.hpp"
#include "chroma_target.hpp"
#include "progress.hpp"
#include "store_access.hpp"

namespace vecstore_cli {

chroma_summary chroma_dry_run(const global_options& g, const chroma_args& a) {
  const vecstore::chroma_import_options o = chroma_options(a);
  chroma_summary out;
  out.store = a.store;
  vecstore::chroma_reader reader(a.persist_dir);
  out.chroma_version = reader.format();
  std::unordered_set<std::string> existing;
  std::error_code ec;
  if (fs::exists(a.store, ec)) {
    auto s = open_store(a.store, open_as::inspect, g);
    out.store = s->path();
    existing = collection_names(*s);
  }
  const auto sources = reader.collections(o.tenant, o.database);
  if (o.on_conflict == vecstore::chroma_conflict::refuse) {
    check_chroma_conflicts(existing, sources, o.name_prefix, a.store);
  }
  progress bar("import-chroma (dry run)", sources.size(), progress_wanted(g.no_progress), "collections");
  for (const auto& src : sources) {
    const auto data = reader.read(src);
    chroma_collection_summary c;
    c.name = o.name_prefix + src.name;
    c.source_name = src.name;
    c.metric = vecstore::to_string(data.info.space);
    c.dim = data.info.dim;
    c.skipped = data.info.dim == 0;
    c.records = c.skipped ? 0 : data.records.size();
    c.without_embedding = data.without_embedding;
    c.vectors_from_log = data.vectors_from_log;
    c.normalized = data.normalized;
    c.action = c.skipped ? "skip" : "create";
    if (!c.skipped && existing.count(c.name)) c.action = a.on_conflict == "merge" ? "merge" : "replace";
    out.collections.push_back(std::move(c));
    bar.advance(1);
  }
  bar.finish();
  return out;
}

}  // namespace vecstore_cli
