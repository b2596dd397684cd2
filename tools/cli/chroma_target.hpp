// SPDX-License-Identifier: MIT
// The store as vecstore::import_chroma sees it (its Store parameter): opened
// when the import asks for its collections if it exists, created only when
// the import writes, so that a refused import leaves no new store behind; the
// records written are counted on the progress line.
//
// The members are defined in chroma_target.cpp: there they instantiate the
// store's writes, while chroma_write.cpp, where import_chroma's template
// calls them, has no room for those next to the ChromaDB reader
// (CMakeLists.txt).
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "store_access.hpp"

namespace vecstore_cli {

class progress;  // progress.hpp; only the members, in chroma_target.cpp, draw

class chroma_target {
 public:
  chroma_target(fs::path store, const global_options& g, progress& bar) : path_(std::move(store)), g_(g), bar_(bar) {}

  /// The store's collections; none when there is no store yet (none is created for this).
  std::vector<vecstore::collection_info> list_collections();
  /// Opens the store (creating it if missing) and writes all of `imports` in
  /// one transaction (basic_store::import_collections).
  void import_collections(const std::vector<vecstore::collection_import>& imports);
  /// The store's path: as given, or as the store resolved it once opened.
  const fs::path& path() const noexcept;

 private:
  fs::path path_;
  const global_options& g_;
  progress& bar_;
  std::shared_ptr<store_t> s_;
};

}  // namespace vecstore_cli
