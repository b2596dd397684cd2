// SPDX-License-Identifier: MIT
// The parts basic_store is composed of (include/vecstore/store/), each driven on its own:
// the connection's life, the index keeper's catch-up, the write path.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/stat.h>

// Only headers from include/ (the single-header build also compiles this file).
#include <vecstore/index/flat_index.hpp>
#include <vecstore/lock/file_lock.hpp>
#include <vecstore/recovery/strict.hpp>
#include <vecstore/store.hpp>
#include <vecstore/store/connection.hpp>
#include <vecstore/store/index_keeper.hpp>
#include <vecstore/store/wal_syncer.hpp>
#include <vecstore/store/write_path.hpp>

#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::temp_dir;
namespace fs = std::filesystem;

namespace {

using plain_store = basic_store<file_lock, flat_index, strict_recovery>;

store_options options_for(const fs::path& file) {
  store_options o;
  o.path = file;
  return o;
}

std::vector<record> records(int from, int to) {
  std::vector<record> out;
  for (int i = from; i < to; ++i) {
    out.push_back(record{"r" + std::to_string(i), {float(i), 1.0f, 0.5f}, "doc " + std::to_string(i), {}});
  }
  return out;
}

}  // namespace

TEST_CASE("store_connection creates an owner-only file, notices others' commits and follows a replaced file",
          "[store][parts]") {
  temp_dir dir;
  const store_options o = options_for(dir / "s.db");
  detail::store_connection conn(o);
  std::lock_guard<std::mutex> guard(conn.mutex());
  conn.take_open_lock();
  CHECK_FALSE(conn.connect());  // a new file: nothing unclean
  conn.prepare_schema();
  struct stat st {};
  REQUIRE(::stat(o.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  CHECK_FALSE(conn.others_committed());
  {
    SQLite::Database other(o.path.string(), SQLite::OPEN_READWRITE);
    other.exec("CREATE TABLE elsewhere (x)");
  }
  CHECK(conn.others_committed());
  CHECK_FALSE(conn.others_committed());

  CHECK_FALSE(conn.follow_replaced_file());
  const auto before = conn->identity();
  fs::copy_file(o.path, dir / "copy.db");
  fs::rename(dir / "copy.db", o.path);
  CHECK(conn.follow_replaced_file());
  CHECK(conn->identity() != before);
  CHECK_FALSE(conn.follow_replaced_file());

  conn.close();
  CHECK_THROWS_AS(conn.check_usable(), closed_error);
}

TEST_CASE("index_keeper loads a store and catches up with another connection's writes and removals",
          "[store][parts]") {
  temp_dir dir;
  const store_options o = options_for(dir / "s.db");
  {
    auto store = plain_store::open(o);
    store->create_collection("c", {3, metric::l2}).add(records(0, 10));
  }
  detail::store_connection conn(o);
  detail::index_keeper<flat_index> keeper(o, conn);
  std::lock_guard<std::mutex> guard(conn.mutex());
  conn.connect();
  conn.prepare_schema();
  keeper.rebuild_locked();
  REQUIRE(keeper.collections().size() == 1);
  const std::int64_t id = keeper.collections().begin()->first;
  CHECK(keeper.find(id)->index.size() == 10);
  const std::int64_t seq_after_load = keeper.seen_seq();

  {
    auto store = plain_store::open(o);
    auto c = store->get_collection("c");
    c.add(records(10, 15));
    CHECK(c.remove({"r0", "r1"}) == 2);
    store->create_collection("d", {3, metric::cosine});
  }
  keeper.refresh_locked();
  CHECK(keeper.seen_seq() == seq_after_load + 3);
  REQUIRE(keeper.collections().size() == 2);
  const auto* state = keeper.find(id);
  REQUIRE(state != nullptr);
  CHECK(state->index.size() == 13);
  std::vector<std::string> ids;
  for (const std::int64_t key : state->index.keys()) ids.emplace_back(*state->ids.find(key));
  CHECK(std::find(ids.begin(), ids.end(), "r0") == ids.end());
  CHECK(std::find(ids.begin(), ids.end(), "r14") != ids.end());
  keeper.clear();
  conn.close();
}

TEST_CASE("write_path commits a batch and applies it to its own indexes without reading it back",
          "[store][parts]") {
  temp_dir dir;
  const store_options o = options_for(dir / "s.db");
  detail::store_connection conn(o);
  detail::index_keeper<flat_index> keeper(o, conn);
  detail::wal_syncer syncer(o, conn);
  detail::write_path<file_lock, flat_index> writes(o, conn, keeper, syncer);
  {
    std::lock_guard<std::mutex> guard(conn.mutex());
    conn.take_open_lock();
    conn.connect();
    conn.prepare_schema();
    keeper.rebuild_locked();
  }
  const detail::collection_row row = writes.create_collection("c", {3, metric::l2}, false);
  CHECK_THROWS_AS(writes.create_collection("c", {3, metric::l2}, false), invalid_argument);
  const detail::collection_ref ref{row.collection_id, row.name, {row.dim, row.space}};
  const auto batch = records(0, 20);
  writes.write(ref, batch, detail::write_kind::add);
  CHECK_THROWS_AS(writes.write(ref, records(5, 6), detail::write_kind::add), duplicate_id);
  CHECK(writes.remove(ref, {"r3", "absent"}) == 1);
  {
    auto state_guard = keeper.read_state();
    CHECK(keeper.find(row.collection_id)->index.size() == 19);
  }
  {
    std::lock_guard<std::mutex> guard(conn.mutex());
    keeper.clear();
    conn.close();
  }
  // What the write path committed is what a store opened afterwards reads.
  auto store = plain_store::open(o);
  auto c = store->get_collection("c");
  CHECK(c.count() == 19);
  CHECK(c.get({"r3"}).empty());
  CHECK(c.query({19.0f, 1.0f, 0.5f}, {}).front().id == "r19");
}
