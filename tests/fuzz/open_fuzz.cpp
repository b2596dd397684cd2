// SPDX-License-Identifier: MIT
// libFuzzer target: arbitrary bytes opened as a store file under strict
// recovery (auto_recover off, so nothing is repaired), then everything read
// back. Either a typed vecstore::error, or only what was stored: every
// embedding, document and metadata served must be the one the seed store
// was built with for that (collection, id). The seed corpus is such a store
// (corpus/open/seed.db), written by this program when VECSTORE_FUZZ_WRITE_SEED
// names a path (tools/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <vecstore/vecstore.hpp>

namespace {

namespace fs = std::filesystem;
using namespace vecstore;
using strict_store = basic_store<file_lock, flat_index, strict_recovery>;

constexpr std::size_t dim = 8;

/// What the seed store holds for `id`: derived from the id alone, so the
/// check needs no table.
record expected(const std::string& collection, const std::string& id) {
  record r;
  r.id = id;
  std::uint64_t h = std::hash<std::string>{}(collection + "/" + id);
  for (std::size_t i = 0; i < dim; ++i) {
    h = h * 6364136223846793005ULL + 1442695040888963407ULL;
    r.embedding.push_back(static_cast<float>(static_cast<std::int64_t>(h >> 40) - (1 << 23)) / float(1 << 23));
  }
  r.document = "document of " + id;
  r.meta["n"] = static_cast<std::int64_t>(id.size());
  r.meta["name"] = id;
  return r;
}

void write_seed(const fs::path& path) {
  store_options o;
  o.path = path;
  auto db = strict_store::open(o);
  for (const char* name : {"alpha", "beta"}) {
    auto c = db->create_collection(name, {dim, metric::cosine});
    std::vector<record> batch;
    for (int i = 0; i < 20; ++i) batch.push_back(expected(name, std::string(name) + "-" + std::to_string(i)));
    c.add(batch);
  }
  db->close();
  for (const char* suffix : {"-wal", "-shm", ".lock", ".open"}) fs::remove(path.string() + suffix);
}

fs::path work_dir() {
  static const fs::path dir = [] {
    char pattern[] = "/tmp/vecstore-open-fuzz-XXXXXX";
    const char* made = ::mkdtemp(pattern);
    if (!made) std::abort();
    return fs::path(made);
  }();
  return dir;
}

void check_served(const std::string& collection, const record& r) {
  const record want = expected(collection, r.id);
  const bool ok = (r.embedding.empty() || r.embedding == want.embedding) && (!r.document || r.document == want.document) &&
                  (r.meta.empty() || r.meta == want.meta);
  if (!ok) {
    std::fprintf(stderr, "served a record that was never stored: %s/%s\n", collection.c_str(), r.id.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seed = std::getenv("VECSTORE_FUZZ_WRITE_SEED")) {
    write_seed(seed);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path path = work_dir() / "store.db";
  for (const char* suffix : {"", "-wal", "-shm", "-journal", ".vectors"}) fs::remove(path.string() + suffix);
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  store_options o;
  o.path = path;
  o.create_if_missing = false;
  o.auto_recover = false;
  o.vectors_file_min_bytes = store_options::no_vectors_file;
  o.lock_timeout = std::chrono::milliseconds(0);
  o.max_retries = 0;
  try {
    auto db = strict_store::open(o);
    for (const auto& info : db->list_collections()) {
      auto c = db->get_collection(info.name);
      get_options everything;
      everything.fields = include::embeddings | include::documents | include::metadatas;
      for (const record& r : c.get(everything)) check_served(info.name, r);
      query_options q;
      q.k = 5;
      q.fields = include::embeddings | include::documents | include::metadatas;
      const std::vector<float> probe(c.dim(), 0.5f);
      for (const auto& h : c.query(probe, q)) check_served(info.name, record{h.id, h.embedding, h.document, h.meta});
    }
    db->close();
  } catch (const vecstore::error&) {  // a typed refusal is a correct answer
  }
  return 0;
}
