// SPDX-License-Identifier: MIT
// The consumer program that examples/consumers/* build in four ways (and ctest via pkg-config):
// it stores, reopens and searches through vecstore as a user would.
#include <vecstore/vecstore.hpp>

#include <cstdlib>
#include <iostream>

#include <unistd.h>

int main() {
  char dir[] = "/tmp/vecstore-consumer-XXXXXX";
  if (!::mkdtemp(dir)) return 2;
  int status = 1;
  try {
    vecstore::store_options options;
    options.path = std::filesystem::path(dir) / "store.db";
    auto db = vecstore::open(options);
    auto c = db->create_collection("c", {2, vecstore::metric::l2});
    c.add({{"near", {0, 1}, "the near one", {}}, {"far", {9, 9}, std::nullopt, {}}});
    db->close();
    db = vecstore::open(options);
    const auto hits = db->get_collection("c").query({0, 0});
    if (hits.size() == 2 && hits[0].id == "near") status = 0;
    std::cout << "consumer: " << (status == 0 ? "ok" : "wrong answer") << "\n";
  } catch (const vecstore::error& e) {
    std::cerr << e.what() << "\n";
  }
  std::filesystem::remove_all(dir);
  return status;
}
