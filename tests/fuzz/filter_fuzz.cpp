// SPDX-License-Identifier: MIT
// libFuzzer target: the ChromaDB-JSON filter and document-filter parsers, then
// the parsed filters run against a small real store (tools/fuzz.sh builds and runs it).
//
// Any input may be refused with vecstore::invalid_argument; every other
// exception, a crash, a leak, a sanitizer report or a filter whose canonical
// JSON does not parse back to it is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vecstore/vecstore.hpp>
#include <vector>

namespace {

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "filter_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

/// A store in a temporary directory with a few records of every value type,
/// made once per process and removed at exit.
class fuzz_store {
 public:
  fuzz_store() {
    std::string pattern = (std::filesystem::temp_directory_path() / "vecstore-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) finding("setup", "mkdtemp failed");
    dir_ = pattern;
    vecstore::store_options o;
    o.path = dir_ / "fuzz.db";
    store_ = vecstore::store_st::open(o);
    vecstore::collection_options c;
    c.dim = 2;
    auto col = store_->create_collection("fuzz", c);
    using vecstore::metadata;
    col.add({{"a", {1, 0}, "the quick brown fox", metadata{{"year", std::int64_t{2019}}, {"genre", std::string("news")}}},
             {"b", {0, 1}, "jumps over", metadata{{"year", 2020.0}, {"score", 1.5}, {"ok", true}}},
             {"c", {1, 1}, std::nullopt, metadata{{"year", std::int64_t{2021}}, {"genre", std::string("blog")}}},
             {"d", {-1, 0}, "the lazy dog", metadata{{"ok", false}, {"k0", std::int64_t{0}}, {"a", std::string("x")}}},
             {"e", {0, -1}, "", metadata{}}});
  }
  ~fuzz_store() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  vecstore::store_st::collection collection() { return store_->get_collection("fuzz"); }

 private:
  std::filesystem::path dir_;
  std::shared_ptr<vecstore::store_st> store_;
};

fuzz_store& the_store() {
  static fuzz_store s;
  return s;
}

/// Runs `get` and `query` with the filters; only invalid_argument (the
/// parameter limit) may come back.
void run(const vecstore::filter& where, const vecstore::document_filter& where_document) {
  auto c = the_store().collection();
  try {
    vecstore::get_options g;
    g.where = where;
    g.where_document = where_document;
    (void)c.get(g);
    vecstore::query_options q;
    q.k = 3;
    q.where = where;
    q.where_document = where_document;
    (void)c.query({1.0f, 0.5f}, q);
  } catch (const vecstore::invalid_argument&) {
  }
}

template <class F>
std::optional<F> parse(std::string_view text) {
  try {
    F f = F::parse(text);
    // The canonical JSON parses back to the same tree.
    if (!(F::from_json(f.to_json()) == f)) finding("round trip", f.to_json().dump());
    // Combining with itself exercises the builder's flattening.
    (void)(f && f);
    (void)(f || f);
    return f;
  } catch (const vecstore::invalid_argument& e) {
    if (std::string_view(e.what()).size() > 4096) finding("unbounded message", e.what());
    return std::nullopt;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto where = parse<vecstore::filter>(text);
    const auto document = parse<vecstore::document_filter>(text);
    if (where) run(*where, {});
    if (document) run({}, *document);
    if (where && document) run(*where, *document);
  } catch (const std::exception& e) {
    finding("unexpected exception", e.what());
  }
  return 0;
}
