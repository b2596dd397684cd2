// SPDX-License-Identifier: MIT
// The import of a ChromaDB persist directory into a vecstore store: its
// options, its report, and the write transactions with their name conflicts.
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <iterator>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <vecstore/import/chroma/common.hpp>
#include <vecstore/import/chroma/sqlite_reader.hpp>
#include <vecstore/vecstore.hpp>  // the whole library, as common.hpp explains

namespace vecstore {
inline namespace v0 {

/// What `import_chroma` does when the target store already has a collection
/// of the name it is about to create.
enum class chroma_conflict {
  refuse,   ///< throw invalid_argument before anything is written (the default)
  replace,  ///< delete the existing collection, then import
  merge,    ///< upsert into it (its dim and metric must match)
};

/// Options of `import_chroma`.
struct chroma_import_options {
  std::size_t batch_size = 1000;                   ///< records per write transaction
  std::string name_prefix;                         ///< prepended to every collection name
  chroma_conflict on_conflict = chroma_conflict::refuse;
  std::string tenant = "default_tenant";           ///< the ChromaDB tenant whose collections are read
  std::string database = "default_database";       ///< and its database
};

/// What `import_chroma` did.
struct chroma_import_report {
  struct collection {
    std::string name;         ///< in the target store (name_prefix + source_name)
    std::string source_name;  ///< in ChromaDB
    metric space = metric::l2;
    std::size_t dim = 0;
    std::size_t records = 0;            ///< records written
    std::size_t without_embedding = 0;  ///< of those, records with no vector anywhere in the directory
    std::size_t vectors_from_log = 0;   ///< vectors taken from embeddings_queue rather than the HNSW files
    std::size_t normalized = 0;         ///< cosine vectors imported as unit vectors (no usable norm)
    bool skipped = false;               ///< empty and without a dimension: nothing was created
  };
  std::vector<collection> collections;
  std::string chroma_version;  ///< e.g. "ChromaDB 1.0 (sysdb 9, metadb 5, embeddings_queue 2)"
};

/// Imports every collection of a ChromaDB persist directory into `target`
/// (a basic_store). Collections are written one after another, each in
/// transactions of `batch_size` records with `add` (`upsert` when merging).
///
/// Requires: ChromaDB's server is stopped. The directory is never modified.
/// Effects: before anything is written, all names are checked against the
/// target's collections (on_conflict). A collection that fails midway is
/// deleted again (unless merging), the ones before it stay; the exception
/// propagates.
/// Throws: schema_error (format not supported), corruption_error (damaged
/// files), io_error, invalid_argument (name conflict, a name or value vecstore
/// does not accept), and whatever the store throws.
template <class Store>
chroma_import_report import_chroma(const std::filesystem::path& persist_dir, Store& target,
                                   const chroma_import_options& options = {}) {
  if (options.batch_size == 0) {
    detail::throw_error<invalid_argument>("invalid import options", {}, "batch_size is 0",
                                          "Give the number of records per write, e.g. 1000");
  }
  chroma_reader reader(persist_dir);
  chroma_import_report report;
  report.chroma_version = reader.format();
  const auto sources = reader.collections(options.tenant, options.database);

  std::unordered_set<std::string> existing;
  for (const auto& info : target.list_collections()) existing.insert(info.name);
  if (options.on_conflict == chroma_conflict::refuse) {
    for (const auto& c : sources) {
      if (existing.count(options.name_prefix + c.name)) {
        detail::throw_error<invalid_argument>(
            "cannot import the ChromaDB directory", target.path(),
            "the store has a collection named \"" + options.name_prefix + c.name + "\" already",
            "Nothing was imported. Pass on_conflict = replace or merge, or a name_prefix");
      }
    }
  }

  for (const auto& source : sources) {
    chroma_collection_data data = reader.read(source);
    chroma_import_report::collection done;
    done.name = options.name_prefix + source.name;
    done.source_name = source.name;
    done.space = data.info.space;
    done.dim = data.info.dim;
    done.without_embedding = data.without_embedding;
    done.vectors_from_log = data.vectors_from_log;
    done.normalized = data.normalized;
    if (data.info.dim == 0) {
      if (!data.records.empty()) {
        detail::chroma::corrupt(persist_dir / "chroma.sqlite3",
                                "collection \"" + source.name + "\" has records but no dimension and no vectors");
      }
      done.skipped = true;
      report.collections.push_back(std::move(done));
      continue;
    }
    const bool merging = options.on_conflict == chroma_conflict::merge;
    if (existing.count(done.name) && !merging) target.delete_collection(done.name);
    const collection_options copts{data.info.dim, data.info.space};
    auto c = merging ? target.get_or_create_collection(done.name, copts) : target.create_collection(done.name, copts);
    try {
      std::vector<record> batch;
      for (std::size_t i = 0; i < data.records.size(); i += options.batch_size) {
        const std::size_t end = (std::min)(data.records.size(), i + options.batch_size);
        batch.assign(std::make_move_iterator(data.records.begin() + static_cast<std::ptrdiff_t>(i)),
                     std::make_move_iterator(data.records.begin() + static_cast<std::ptrdiff_t>(end)));
        if (merging) c.upsert(batch); else c.add(batch);
        done.records += batch.size();
      }
    } catch (...) {
      if (!merging) {
        try {
          target.delete_collection(done.name);
        } catch (...) {  // keep the first error
        }
      }
      throw;
    }
    report.collections.push_back(std::move(done));
  }
  return report;
}

}  // namespace v0
}  // namespace vecstore
