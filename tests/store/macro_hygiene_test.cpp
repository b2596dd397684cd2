// SPDX-License-Identifier: MIT
// vecstore must survive what <windows.h> does to user code: function-like
// min and max macros defined before it is included (STYLE.md §3.4).
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#include <vecstore/vecstore.hpp>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"

TEST_CASE("vecstore compiles and works after function-like min and max macros", "[store][macros]") {
  vecstore_test::temp_dir dir;
  vecstore::store_options o;
  o.path = dir / "store.db";
  auto db = vecstore::open(o);
  auto c = db->create_collection("c", {2, vecstore::metric::l2});
  c.add({{"a", {1, 2}, std::nullopt, {}}});
  CHECK(c.query({1, 2}).at(0).id == "a");
  CHECK(max(1, 2) == 2);  // the user's macro still works
}
