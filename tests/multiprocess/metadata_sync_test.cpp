// SPDX-License-Identifier: MIT
// The metadata a process holds in memory for filters follows what another
// process commits: adds, metadata updates, upserts, deletes, and a batch
// large enough to be read again whole.
#include <set>
#include <string>

#include <catch2/catch.hpp>
#include <vecstore/vecstore.hpp>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;

namespace {

std::set<std::string> filtered(store::collection& c, const filter& where) {
  query_options q;
  q.k = 10000;
  q.where = where;
  q.fields = include::none;
  std::set<std::string> out;
  for (const auto& h : c.query({0, 0}, q)) out.insert(h.id);
  return out;
}

void tell(vecstore_test::repl_child& child, const std::string& command) {
  const auto answer = nlohmann::json::parse(child.ask(command));
  INFO(command << " -> " << answer.dump());
  REQUIRE(answer["ok"] == true);
}

}  // namespace

TEST_CASE("filtered queries see another process's metadata changes at once", "[multiprocess][filter][memory]") {
  vecstore_test::temp_dir dir;
  store_options o;
  o.path = dir / "store.db";
  auto db = open(o);
  auto c = db->create_collection("c", {2, metric::l2});
  c.add({{"a", {0, 0}, std::nullopt, {{"n", std::int64_t{1}}}}, {"b", {1, 1}, std::nullopt, {{"n", std::int64_t{2}}}}});
  CHECK(filtered(c, where("n") == 1) == std::set<std::string>{"a"});  // built here

  vecstore_test::repl_child b;
  tell(b, "open " + o.path.string());
  tell(b, R"(write c add x 2,2 {"n":1,"s":"new"})");
  CHECK(filtered(c, where("n") == 1) == std::set<std::string>{"a", "x"});
  tell(b, R"(write c update a - {"n":3})");  // metadata only, the embedding stays
  CHECK(filtered(c, where("n") == 1) == std::set<std::string>{"x"});
  CHECK(filtered(c, where("n") == 3) == std::set<std::string>{"a"});
  tell(b, R"(write c upsert x 2,2 {"n":1.0})");  // "s" is gone, 1.0 equals 1
  CHECK(filtered(c, where("s") == "new").empty());
  CHECK(filtered(c, where("n") == 1) == std::set<std::string>{"x"});
  tell(b, "remove c x");
  CHECK(filtered(c, where("n") == 1).empty());
  CHECK(filtered(c, where("n") != 1) == std::set<std::string>{"a", "b"});

  // Many rows changed at once: read again in one scan rather than row by row.
  for (int i = 0; i < 1100; ++i) tell(b, "write c add m" + std::to_string(i) + " 3,3 {\"n\":" + std::to_string(i % 2) + "}");
  CHECK(filtered(c, where("n") == 1).size() == 550);
  CHECK(filtered(c, where("n") == 0).size() == 550);

  // This process's own writes after that, and the other process seeing them too.
  c.update({{"a", {}, std::nullopt, {{"n", std::int64_t{0}}}}});
  CHECK(filtered(c, where("n") == 0).size() == 551);
  const auto answer = nlohmann::json::parse(b.ask("count c"));
  CHECK(answer["count"] == 1102);
}
