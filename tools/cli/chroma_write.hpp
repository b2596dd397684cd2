// SPDX-License-Identifier: MIT
// The library's import_chroma over the store (chroma_target.hpp), in a
// translation unit of its own (chroma_write.cpp): that one instantiation,
// with the ChromaDB reader it runs, needs close to the 700 MB of compiler
// memory CMakeLists.txt allows, and leaves room for nothing else.
#pragma once

#include <vecstore/import/chroma/import.hpp>

#include "chroma_target.hpp"

namespace vecstore_cli {

vecstore::chroma_import_report write_chroma(const fs::path& persist_dir, chroma_target& target,
                                            const vecstore::chroma_import_options& o);

}  // namespace vecstore_cli
