// SPDX-License-Identifier: MIT
// The store as vecstore::import_chroma sees it (its Store parameter), counting
// the records written for the progress line.
//
// The members are defined in chroma_target.cpp: there they instantiate the
// store's writes, while chroma_write.cpp, where import_chroma's template
// calls them, has no room for those next to the ChromaDB reader
// (CMakeLists.txt).
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "store_access.hpp"

namespace vecstore_cli {

class progress;  // progress.hpp; only the members, in chroma_target.cpp, draw

class chroma_target {
 public:
  struct collection {
    collection_t c;
    progress* bar;
    void add(const std::vector<vecstore::record>& b);
    void upsert(const std::vector<vecstore::record>& b);
  };

  chroma_target(store_t& s, progress& bar) : s_(s), bar_(bar) {}

  std::vector<vecstore::collection_info> list_collections();
  const fs::path& path() const noexcept;
  void delete_collection(std::string_view name);
  /// Both also name the collection on the progress line.
  collection create_collection(std::string name, vecstore::collection_options o);
  collection get_or_create_collection(std::string name, vecstore::collection_options o);

 private:
  store_t& s_;
  progress& bar_;
};

/// The names of the store's collections, which import-chroma's names must not
/// collide with (unless --on-conflict says otherwise).
std::unordered_set<std::string> collection_names(store_t& s);

}  // namespace vecstore_cli
