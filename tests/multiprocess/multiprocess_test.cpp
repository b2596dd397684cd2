// SPDX-License-Identifier: MIT
// Several processes on one store: visibility of commits, exclusive mode,
// tombstone compaction, fork(), and threads of one process.
#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <sys/wait.h>
#include <vecstore/vecstore.hpp>

#include "support/integrity.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::integrity;
using vecstore_test::repl_child;
using vecstore_test::temp_dir;

namespace {

nlohmann::json ask(repl_child& child, const std::string& command,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto answer = nlohmann::json::parse(child.ask(command, timeout));
  INFO(command << " -> " << answer.dump());
  return answer;
}

void ok(repl_child& child, const std::string& command) {
  const auto answer = ask(child, command);
  INFO(command << " -> " << answer.dump());
  REQUIRE(answer["ok"] == true);
}

std::set<std::string> ids_of(const nlohmann::json& answer) {
  std::set<std::string> out;
  for (const auto& id : answer["ids"]) out.insert(id.get<std::string>());
  return out;
}

std::shared_ptr<store> open_at(const std::filesystem::path& path, open_mode mode = open_mode::shared,
                               std::size_t keep = 10000) {
  store_options o;
  o.path = path;
  o.mode = mode;
  o.tombstones_to_keep = keep;
  return open(o);
}

std::int64_t meta_value(const std::filesystem::path& path, const char* key) {
  sqlite3* raw = nullptr;
  sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(raw, "SELECT value FROM store_meta WHERE key = ?", -1, &st, nullptr);
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  std::int64_t value = -1;
  if (sqlite3_step(st) == SQLITE_ROW) value = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(raw);
  return value;
}

}  // namespace

TEST_CASE("a commit in one process is returned by the next query in another", "[multiprocess][visibility]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  auto db = open_at(path);
  auto c = db->create_collection("c", {2, metric::l2});
  c.add({{"far", {100, 100}, std::nullopt, {}}});

  repl_child b;
  ok(b, "open " + path.string());
  CHECK(ids_of(ask(b, "query c 5 0,0")) == std::set<std::string>{"far"});

  // A commits; B's very next query sees it (no sleep: the add has returned).
  c.add({{"near", {1, 1}, std::nullopt, {}}});
  CHECK(ask(b, "query c 1 0,0")["ids"] == nlohmann::json::array({"near"}));

  // B commits; A sees it.
  ok(b, "add c nearest 0.5,0.5");
  query_options q;
  q.k = 1;
  q.fields = include::none;
  CHECK(c.query({0, 0}, q).front().id == "nearest");

  // An upsert moves a vector; a remove drops one.
  c.upsert({{"far", {0, 0}, std::nullopt, {}}});
  CHECK(ask(b, "query c 1 0,0")["ids"] == nlohmann::json::array({"far"}));
  c.remove({"far"});
  CHECK(ids_of(ask(b, "query c 10 0,0")) == std::set<std::string>{"near", "nearest"});
  ok(b, "remove c near");
  CHECK(c.query({0, 0}, q).front().id == "nearest");
  CHECK(c.count() == 1);

  // A collection created and deleted elsewhere appears and disappears.
  ok(b, "create other 3 cosine");
  CHECK(db->get_collection("other").dim() == 3);
  db->delete_collection("other");
  CHECK(ask(b, "count other")["code"] == "not_found");
}

TEST_CASE("open_mode::exclusive refuses other processes at once, naming the holder", "[multiprocess][exclusive]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  {
    auto db = open_at(path, open_mode::exclusive);
    db->create_collection("c", {2, metric::l2});
    repl_child b;
    // A bounded answer time proves "at once": the child's lock_timeout is 5 s.
    const auto answer = ask(b, "open " + path.string(), std::chrono::seconds(4));
    CHECK(answer["ok"] == false);
    CHECK(answer["code"] == "store_locked");
    CHECK(answer["error"] == "vecstore: cannot open the store (" + path.string() + "): process " +
                                 std::to_string(::getpid()) +
                                 " holds it exclusively. Wait until that process closes it");
    // The holder keeps working.
    db->get_collection("c").add({{"a", {1, 2}, std::nullopt, {}}});
    db->close();
    ok(b, "open " + path.string());  // free again
    CHECK(ask(b, "count c")["count"] == 1);

    // And the other way round: an exclusive open while another process has it open.
    store_options o;
    o.path = path;
    o.mode = open_mode::exclusive;
    CHECK_THROWS_AS(open(o), store_locked);
    CHECK_THROWS_WITH(open(o), "vecstore: cannot open the store exclusively (" + path.string() + "): process " +
                                   std::to_string(b.pid()) +
                                   " has it open. Close it there first, or open it in open_mode::shared");
    ok(b, "close");
    CHECK(open(o)->get_collection("c").count() == 1);
  }
}

TEST_CASE("a process that fell behind a tombstone compaction rebuilds and stays exact",
          "[multiprocess][compaction]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  auto db = open_at(path, open_mode::shared, 5);
  auto c = db->create_collection("c", {2, metric::l2});
  std::vector<record> records;
  for (int i = 0; i < 60; ++i) records.push_back({"r" + std::to_string(i), {float(i), 0}, std::nullopt, {}});
  c.add(records);

  repl_child b;
  ok(b, "open " + path.string() + " shared 5");
  REQUIRE(ask(b, "query c 100 0,0")["ids"].size() == 60);  // B has caught up to here

  // One transaction per remove, so tombstones pile up past 2 x 5 and are compacted.
  for (int i = 0; i < 40; ++i) c.remove({"r" + std::to_string(i)});
  const auto compacted = meta_value(path, "compacted_seq");
  CHECK(compacted > 0);
  CHECK(compacted > 2);  // beyond what B has seen (the create and the add)

  std::set<std::string> expected;
  for (int i = 40; i < 60; ++i) expected.insert("r" + std::to_string(i));
  CHECK(ids_of(ask(b, "query c 100 0,0")) == expected);
  CHECK(ask(b, "count c")["count"] == 20);
  // A's own index is exact too.
  query_options q;
  q.k = 100;
  q.fields = include::none;
  std::set<std::string> mine;
  for (const auto& h : c.query({0, 0}, q)) mine.insert(h.id);
  CHECK(mine == expected);
}

TEST_CASE("children forked after open use the parent's store transparently while the parent writes",
          "[multiprocess][fork]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  auto db = open_at(path);
  auto c = db->create_collection("c", {2, metric::l2});
  for (int i = 0; i < 50; ++i) c.add({{"p" + std::to_string(i), {float(i), 1}, std::nullopt, {}}});

  constexpr int children = 3;
  std::vector<pid_t> pids;
  for (int k = 0; k < children; ++k) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // The child: no Catch2 here; report through the exit status.
      int status = 0;
      try {
        query_options q;
        q.k = 1;
        q.fields = include::none;
        if (c.query({0, 1}, q).front().id != "p0") status = 10;
        const std::string mine = "child" + std::to_string(k);
        for (int i = 0; i < 20 && status == 0; ++i) {
          c.add({{mine + "-" + std::to_string(i), {-1000.0f - float(k * 100 + i), 0}, std::nullopt, {}}});
          if (c.query({-1000.0f - float(k * 100 + i), 0}, q).front().id != mine + "-" + std::to_string(i)) status = 11;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", k, e.what());
        status = 12;
      }
      ::_exit(status);
    }
    pids.push_back(pid);
  }
  // The parent keeps writing while the children work.
  for (int i = 50; i < 100; ++i) c.add({{"p" + std::to_string(i), {float(i), 1}, std::nullopt, {}}});

  for (const pid_t pid : pids) {
    int status = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (::waitpid(pid, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (std::chrono::steady_clock::now() >= deadline) ::kill(pid, SIGKILL);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(c.count() == 100 + children * 20);
  query_options q;
  q.k = 1;
  q.fields = include::none;
  CHECK(c.query({-1000.0f - 219.0f, 0}, q).front().id == "child2-19");
  CHECK(c.query({99, 1}, q).front().id == "p99");
  CHECK(db->health(true).status == health_status::healthy);
  db->close();
  CHECK(integrity(path) == "ok");
}

TEST_CASE("durability::normal: the WAL sync thread stops before fork() and starts again on both sides",
          "[multiprocess][fork]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  store_options o;
  o.path = path;
  o.sync = durability::normal;
  o.sync_interval = std::chrono::milliseconds(20);
  auto db = open(o);
  auto c = db->create_collection("c", {2, metric::l2});
  const auto add = [&](const std::string& id, float x) { c.add({{id, {x, 1}, std::nullopt, {}}}); };
  for (int i = 0; i < 10; ++i) add("p" + std::to_string(i), float(i));
  // The thread has started at the first commit; it is waiting or syncing when the fork comes.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));

  constexpr int children = 2;
  std::vector<pid_t> pids;
  for (int k = 0; k < children; ++k) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int status = 0;
      try {
        // Commits with pauses longer than the interval: the child's own thread syncs them.
        for (int i = 0; i < 6; ++i) {
          add("child" + std::to_string(k) + "-" + std::to_string(i), -1000.0f - float(k * 100 + i));
          if (i % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(30));
        }
        if (c.count() < 16) status = 10;
        db->close();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", k, e.what());
        status = 12;
      }
      ::_exit(status);
    }
    pids.push_back(pid);
    add("after-fork" + std::to_string(k), 500.0f + float(k));  // and the parent's starts again
  }
  for (int i = 10; i < 20; ++i) add("p" + std::to_string(i), float(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));

  for (const pid_t pid : pids) {
    int status = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (::waitpid(pid, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (std::chrono::steady_clock::now() >= deadline) ::kill(pid, SIGKILL);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(c.count() == 20 + children + children * 6);
  db->close();  // joins a thread that may be waiting for the next commit
  CHECK(integrity(path) == "ok");
}

TEST_CASE("threads query in parallel while other threads write", "[concurrency][threads]") {
  temp_dir dir;
  auto db = open_at(dir / "store.db");
  auto c = db->create_collection("c", {4, metric::l2});
  c.add({{"anchor", {0, 0, 0, 0}, "anchor", {{"w", std::int64_t{-1}}}}});

  constexpr int writers = 2, readers = 4, per_writer = 60;
  std::atomic<bool> failed{false};
  std::atomic<int> queries{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      try {
        for (int i = 0; i < per_writer; ++i) {
          const float x = 1.0f + float(w * per_writer + i);
          c.upsert({{"w" + std::to_string(w) + "-" + std::to_string(i), {x, x, x, x}, std::nullopt,
                     {{"w", std::int64_t{w}}}}});
          if (i % 10 == 9) c.remove({"w" + std::to_string(w) + "-" + std::to_string(i - 5)});
        }
      } catch (...) {
        failed = true;
      }
    });
  }
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      try {
        query_options q;
        q.k = 3;
        if (r % 2) q.where = where("w") >= 0;
        for (int i = 0; i < 80; ++i) {
          const auto hits = c.query({0, 0, 0, 0}, q);
          for (std::size_t h = 1; h < hits.size(); ++h) {
            if (hits[h - 1].distance > hits[h].distance) failed = true;
          }
          if (!(r % 2) && (hits.empty() || hits.front().id != "anchor")) failed = true;
          ++queries;
        }
      } catch (...) {
        failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK_FALSE(failed);
  CHECK(queries == readers * 80);
  CHECK(c.count() == 1 + writers * (per_writer - per_writer / 10));
  CHECK(db->health(true).status == health_status::healthy);
}
