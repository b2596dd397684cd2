// SPDX-License-Identifier: MIT
// import_chroma over the store (chroma_write.hpp).
#include "chroma_write.hpp"

namespace vecstore_cli {

vecstore::chroma_import_report write_chroma(const fs::path& persist_dir, chroma_target& target,
                                            const vecstore::chroma_import_options& o) {
  return vecstore::import_chroma(persist_dir, target, o);
}

}  // namespace vecstore_cli
