// SPDX-License-Identifier: MIT
// The import of a ChromaDB persist directory into a vecstore store: its
// options, its report, the plan that reads and checks everything, and the one
// write transaction that imports it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <unordered_map>
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
  replace,  ///< delete the existing collection and import it anew (in the one transaction)
  merge,    ///< upsert into it (its dim and metric must match)
};

/// Options of `import_chroma` and `plan_chroma_import`.
struct chroma_import_options {
  /// Not used any more: the import is one transaction. Kept so that code
  /// setting it compiles; 0 is still refused.
  std::size_t batch_size = 1000;
  std::string name_prefix;                         ///< prepended to every collection name
  chroma_conflict on_conflict = chroma_conflict::refuse;
  /// A collection that never got an embedding has no dimension, which a
  /// vecstore collection needs: refused (invalid_argument), unless this is
  /// set; then it is left out and reported as skipped.
  bool skip_empty = false;
  std::string tenant = "default_tenant";           ///< the ChromaDB tenant whose collections are read
  std::string database = "default_database";       ///< and its database
};

/// What `import_chroma` did, or `plan_chroma_import` found it would do.
struct chroma_import_report {
  struct collection {
    std::string name;         ///< in the target store (name_prefix + source_name)
    std::string source_name;  ///< in ChromaDB
    metric space = metric::l2;
    std::size_t dim = 0;
    std::size_t records = 0;            ///< records written (0 when skipped)
    std::size_t vectors_from_log = 0;   ///< vectors taken from embeddings_queue rather than the HNSW files
    std::size_t normalized = 0;         ///< cosine vectors imported as unit vectors (no usable norm)
    bool skipped = false;               ///< never got an embedding, skipped on request (skip_empty)
    std::string action;                 ///< "create", "replace", "merge" or "skip"
  };
  std::vector<collection> collections;
  std::string chroma_version;  ///< e.g. "ChromaDB 1.0 (sysdb 9, metadb 5, embeddings_queue 2)"
};

/// Everything an import writes, read and checked: `plan_chroma_import`'s result.
struct chroma_import_plan {
  std::vector<collection_import> imports;  ///< for basic_store::import_collections
  chroma_import_report report;
};

namespace detail {
namespace chroma {

/// Rethrows a refusal of the store's checks (add's, create_collection's) as
/// the same type, saying which collection it is about and that nothing was written.
[[noreturn]] inline void refused_by_store(const std::filesystem::path& dir, const std::string& collection,
                                          const invalid_argument& e, const std::string& todo) {
  std::string why = e.what();
  if (why.rfind("vecstore: ", 0) == 0) why.erase(0, 10);
  const std::string m = message("cannot import the ChromaDB directory", dir,
                                "collection " + quote_name(collection) + ": " + why, "Nothing was imported. " + todo);
  switch (e.code()) {
    case errc::dimension_mismatch: throw dimension_mismatch(m, dir);
    case errc::duplicate_id: throw duplicate_id(m, dir);
    default: throw invalid_argument(m, dir);
  }
}

}  // namespace chroma
}  // namespace detail

/// Reads every collection of a ChromaDB persist directory into memory and
/// checks all of it, writing nothing: what `import_chroma` then writes, and
/// what a dry run reports. `existing` is the target store's collections
/// (none for a store yet to be created).
///
/// Checked, before the first write: the format; the names against `existing`
/// (on_conflict); every collection's files (the HNSW files agree with the
/// records, chroma_reader::read); a dimension for every collection
/// (skip_empty); every record as `add` checks it; for merge, the dim and
/// metric of the collection merged into.
/// Throws: schema_error (format not supported), corruption_error (damaged
/// files), io_error, invalid_argument and its subclasses (a name conflict,
/// a collection without a dimension, a name or record vecstore refuses).
inline chroma_import_plan plan_chroma_import(const std::filesystem::path& persist_dir,
                                             const std::vector<collection_info>& existing,
                                             const chroma_import_options& options = {}) {
  namespace ch = detail::chroma;
  if (options.batch_size == 0) {
    detail::throw_error<invalid_argument>("invalid import options", {}, "batch_size is 0",
                                          "Leave batch_size at its default: the import is one transaction");
  }
  chroma_reader reader(persist_dir);
  chroma_import_plan plan;
  plan.report.chroma_version = reader.format();
  const auto sources = reader.collections(options.tenant, options.database);

  std::unordered_map<std::string, const collection_info*> in_store;
  for (const auto& info : existing) in_store.emplace(info.name, &info);
  // The names first: a conflict is refused before any collection is read.
  for (const auto& c : sources) {
    const std::string name = options.name_prefix + c.name;
    try {
      detail::check_collection_name(name);
    } catch (const invalid_argument& e) {
      ch::refused_by_store(persist_dir, c.name, e, "Import it under another name_prefix");
    }
    if (options.on_conflict == chroma_conflict::refuse && in_store.count(name)) {
      detail::throw_error<invalid_argument>(
          "cannot import the ChromaDB directory", persist_dir,
          "the store has a collection named " + detail::quote_name(name) + " already",
          "Nothing was imported. Pass on_conflict = replace or merge, or a name_prefix");
    }
  }

  const on_existing if_exists = options.on_conflict == chroma_conflict::replace ? on_existing::replace
                                : options.on_conflict == chroma_conflict::merge ? on_existing::merge
                                                                                : on_existing::refuse;
  for (const auto& source : sources) {
    chroma_collection_data data = reader.read(source);
    chroma_import_report::collection done;
    done.name = options.name_prefix + source.name;
    done.source_name = source.name;
    done.space = data.info.space;
    done.dim = data.info.dim;
    done.vectors_from_log = data.vectors_from_log;
    done.normalized = data.normalized;
    if (data.info.dim == 0) {
      // chroma_reader::read refuses records without vectors, so this one is empty.
      if (!options.skip_empty) {
        detail::throw_error<invalid_argument>(
            "cannot import the ChromaDB directory", persist_dir,
            "collection " + detail::quote_name(source.name) +
                " has no dimension: ChromaDB never received an embedding for it, "
                "and a vecstore collection needs one",
            "Nothing was imported. Add an embedding to it in ChromaDB or delete it there, or pass skip_empty "
            "(vecstore import-chroma --skip-empty) to import the other collections without it");
      }
      done.skipped = true;
      done.action = "skip";
      plan.report.collections.push_back(std::move(done));
      continue;
    }
    const collection_options copts{data.info.dim, data.info.space};
    const auto found = in_store.find(done.name);
    done.action = found == in_store.end()                         ? "create"
                  : options.on_conflict == chroma_conflict::merge ? "merge"
                                                                  : "replace";
    if (done.action == "merge" && (found->second->dim != copts.dim || found->second->space != copts.space)) {
      detail::throw_error<invalid_argument>(
          "cannot import the ChromaDB directory", persist_dir,
          "collection " + detail::quote_name(source.name) + " has dim " + std::to_string(copts.dim) +
              " and metric " +
              to_string(copts.space) + ", the store's " + detail::quote_name(done.name) + " has dim " +
              std::to_string(found->second->dim) + " and metric " + to_string(found->second->space),
          "Nothing was imported. Merge only into a collection of the same dim and metric, or pass a name_prefix");
    }
    try {
      detail::check_batch(data.records, copts);  // what add checks, over the whole collection
    } catch (const invalid_argument& e) {
      ch::refused_by_store(persist_dir, source.name, e,
                           "Correct or delete the record in ChromaDB, then import again");
    }
    done.records = data.records.size();
    plan.imports.push_back(collection_import{done.name, copts, if_exists, std::move(data.records)});
    plan.report.collections.push_back(std::move(done));
  }
  return plan;
}

/// Imports every collection of a ChromaDB persist directory into `target`
/// (a basic_store, or anything with its list_collections and
/// import_collections): all of them or none.
///
/// Requires: ChromaDB's server is stopped. The directory is never modified.
/// Effects: reads and checks everything first (plan_chroma_import, which a
/// dry run calls alone), then writes every collection, with the deletes of
/// on_conflict = replace, in one transaction (basic_store::import_collections).
/// On any error the target is as it was.
/// Throws: what plan_chroma_import throws, and whatever the store throws.
template <class Store>
chroma_import_report import_chroma(const std::filesystem::path& persist_dir, Store& target,
                                   const chroma_import_options& options = {}) {
  chroma_import_plan plan = plan_chroma_import(persist_dir, target.list_collections(), options);
  target.import_collections(plan.imports);
  return std::move(plan.report);
}

}  // namespace v0
}  // namespace vecstore
