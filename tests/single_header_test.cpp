// SPDX-License-Identifier: MIT
// Built against single_include/ only: the drop-in header alone stores, reopens and searches.
#include <vecstore/vecstore.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <unistd.h>

int main() {
  char dir_template[] = "/tmp/vecstore-single-XXXXXX";
  if (!::mkdtemp(dir_template)) return 2;
  const std::filesystem::path dir = dir_template;
  int failures = 0;
  const auto expect = [&](bool ok, const char* what) {
    if (!ok) {
      std::cerr << "FAILED: " << what << "\n";
      ++failures;
    }
  };
  try {
    vecstore::store_options o;
    o.path = dir / "store.db";
    {
      auto db = vecstore::open(o);
      auto c = db->create_collection("c", {3, vecstore::metric::cosine});
      c.add({{"x", {1, 0, 0}, "doc x", {{"year", std::int64_t{2024}}}},
             {"y", {0, 1, 0}, "doc y", {{"year", std::int64_t{2019}}}}});
      db->close();
    }
    auto db = vecstore::open(o);
    auto c = db->get_collection("c");
    vecstore::query_options q;
    q.where = vecstore::where("year") >= 2020;
    const auto hits = c.query({0, 1, 0}, q);
    expect(hits.size() == 1 && hits[0].id == "x", "filtered query after reopen");
    expect(hits.size() == 1 && hits[0].document == "doc x", "document included");
    expect(db->health(true).status == vecstore::health_status::healthy, "healthy");
  } catch (const std::exception& e) {
    std::cerr << "FAILED: " << e.what() << "\n";
    ++failures;
  }
  std::filesystem::remove_all(dir);
  std::cout << (failures == 0 ? "single header: ok" : "single header: FAILED") << "\n";
  return failures == 0 ? 0 : 1;
}
