// SPDX-License-Identifier: MIT
// The store side of import-chroma (chroma_target.hpp).
#include "chroma_target.hpp"

#include <system_error>

#include "progress.hpp"

namespace vecstore_cli {

std::vector<vecstore::collection_info> chroma_target::list_collections() {
  std::error_code ec;
  if (!s_ && fs::exists(path_, ec)) {
    s_ = open_store(path_, open_as::create, g_);
    path_ = s_->path();
  }
  return s_ ? s_->list_collections() : std::vector<vecstore::collection_info>{};
}

void chroma_target::import_collections(const std::vector<vecstore::collection_import>& imports) {
  if (!s_) {
    // Checked before the store is opened, which creates it: bad input must
    // not leave a new empty store behind. The library checks all this again.
    for (const auto& im : imports) {
      vecstore::detail::check_collection_name(im.name);
      vecstore::detail::check_collection_options(im.options);
      vecstore::detail::check_batch(im.records, im.options);
    }
    s_ = open_store(path_, open_as::create, g_);
    path_ = s_->path();
  }
  s_->import_collections(imports);
  for (const auto& im : imports) bar_.advance(im.records.size());
}

const fs::path& chroma_target::path() const noexcept { return path_; }

}  // namespace vecstore_cli
