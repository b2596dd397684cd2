// SPDX-License-Identifier: MIT
// libFuzzer target: the vecstore tool's input readers (tools/cli: fvecs,
// npy, JSON Lines) on arbitrary bytes. The first byte picks the reader, the
// rest is the file. Every input file is untrusted (tools/cli/formats.hpp):
// a typed vecstore::error or records, never a crash, a leak or an
// allocation sized by the file's claims.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <unistd.h>

#include "fvecs.hpp"
#include "jsonl.hpp"
#include "npy_source.hpp"

namespace {

std::filesystem::path work_dir() {
  static const std::filesystem::path dir = [] {
    char pattern[] = "/tmp/vecstore-readers-fuzz-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    if (!made) std::abort();
    return std::filesystem::path(made);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::filesystem::path path = work_dir() / "input";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  try {
    std::unique_ptr<vecstore_cli::record_source> source;
    switch (data[0] % 3) {
      case 0: source = std::make_unique<vecstore_cli::fvecs_source>(path, "row-"); break;
      case 1: source = std::make_unique<vecstore_cli::npy_source>(path, "row-"); break;
      default: source = std::make_unique<vecstore_cli::jsonl_source>(path); break;
    }
    vecstore::record r;
    for (int n = 0; n < 100000 && source->next(r); ++n) {
    }
  } catch (const vecstore::error&) {  // a typed refusal is a correct answer
  }
  return 0;
}
