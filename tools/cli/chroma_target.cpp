// SPDX-License-Identifier: MIT
// The store side of import-chroma (chroma_target.hpp).
#include "chroma_target.hpp"

#include <utility>

#include "progress.hpp"

namespace vecstore_cli {

void chroma_target::collection::add(const std::vector<vecstore::record>& b) {
  c.add(b);
  bar->advance(b.size());
}

void chroma_target::collection::upsert(const std::vector<vecstore::record>& b) {
  c.upsert(b);
  bar->advance(b.size());
}

std::vector<vecstore::collection_info> chroma_target::list_collections() { return s_.list_collections(); }

const fs::path& chroma_target::path() const noexcept { return s_.path(); }

void chroma_target::delete_collection(std::string_view name) { s_.delete_collection(name); }

chroma_target::collection chroma_target::create_collection(std::string name, vecstore::collection_options o) {
  bar_.set_label("import-chroma " + name);
  return {s_.create_collection(std::move(name), o), &bar_};
}

chroma_target::collection chroma_target::get_or_create_collection(std::string name, vecstore::collection_options o) {
  bar_.set_label("import-chroma " + name);
  return {s_.get_or_create_collection(std::move(name), o), &bar_};
}

std::unordered_set<std::string> collection_names(store_t& s) {
  std::unordered_set<std::string> names;
  for (const auto& c : s.list_collections()) names.insert(c.name);
  return names;
}

}  // namespace vecstore_cli
