// SPDX-License-Identifier: MIT
// libFuzzer target: the ChromaDB importer on a damaged copy of the fixture
// (tests/fixtures/chroma-1.0/persist). An input is a patch: one byte picks
// the file (chroma.sqlite3 or one of a segment's HNSW files), four bytes an
// offset in it, the rest is written there. The plan (what a dry run runs)
// must give a typed vecstore::error or a plan whose import leaves a store
// that verifies healthy; never a crash, a leak or a hang.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <vecstore/import/chroma.hpp>
#include <vecstore/vecstore.hpp>

#ifndef VECSTORE_FIXTURES
#error "VECSTORE_FIXTURES must name tests/fixtures"
#endif

namespace {

namespace fs = std::filesystem;

const fs::path& fixture() {
  static const fs::path dir = fs::path(VECSTORE_FIXTURES) / "chroma-1.0" / "persist";
  return dir;
}

/// The files a patch can land in: chroma.sqlite3, then every segment file.
const std::vector<fs::path>& patchable() {
  static const std::vector<fs::path> files = [] {
    std::vector<fs::path> out{"chroma.sqlite3"};
    for (const auto& e : fs::recursive_directory_iterator(fixture())) {
      if (e.is_regular_file() && e.path().filename() != "chroma.sqlite3") {
        out.push_back(fs::relative(e.path(), fixture()));
      }
    }
    return out;
  }();
  return files;
}

fs::path work_dir() {
  static const fs::path dir = [] {
    char pattern[] = "/tmp/vecstore-chroma-fuzz-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    if (!made) std::abort();
    return fs::path(made);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  const fs::path dir = work_dir() / "persist";
  const fs::path store = work_dir() / "store.db";
  fs::remove_all(dir);
  for (const char* suffix : {"", "-wal", "-shm", ".lock", ".open"}) fs::remove(store.string() + suffix);
  fs::copy(fixture(), dir, fs::copy_options::recursive);

  const fs::path target = dir / patchable()[data[0] % patchable().size()];
  std::uint32_t offset = 0;
  std::memcpy(&offset, data + 1, sizeof offset);
  const auto file_size = fs::file_size(target);
  {
    std::fstream f(target, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(file_size ? offset % file_size : 0));
    f.write(reinterpret_cast<const char*>(data + 5), static_cast<std::streamsize>(size - 5));
  }
  try {
    vecstore::store_options o;
    o.path = store;
    auto db = vecstore::open(o);
    vecstore::import_chroma(dir, *db);
    if (db->verify().status != vecstore::health_status::healthy) {
      std::fprintf(stderr, "an accepted import left a store that does not verify\n");
      std::abort();
    }
    db->close();
  } catch (const vecstore::error&) {  // a typed refusal is a correct answer
  }
  return 0;
}
