// SPDX-License-Identifier: MIT
// SIGKILL at the worst moments, on real files and real processes:
// - in the middle of one large batch (20,000 records of dim 64 in one add), at
//   random delays: after reopening, the batch is entirely there or entirely
//   absent, and there whenever it was acknowledged;
// - while holding the writer lock mid-transaction: a process waiting to write
//   gets the lock and commits within lock_timeout (latency printed).
// Children are fork()ed (not exec'd) before this process opens the store,
// and _exit() without returning into Catch2.
//
// 20 kills by default; VECSTORE_FAULT_CASES / 15 when larger.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <vecstore/vecstore.hpp>

#include "support/forked_child.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::temp_dir;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

using strict_store = basic_store<file_lock, flat_index, strict_recovery>;

constexpr std::size_t batch_size = 20000;
constexpr std::size_t dim = 64;

std::size_t kills() {
  const char* s = std::getenv("VECSTORE_FAULT_CASES");
  const long n = s ? std::atol(s) / 15 : 0;
  return static_cast<std::size_t>(std::max(20L, n));
}

using child = vecstore_test::forked_child;

std::vector<record> big_batch(const std::string& prefix) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<record> out(batch_size);
  for (std::size_t i = 0; i < batch_size; ++i) {
    out[i].id = prefix + std::to_string(i);
    out[i].embedding.resize(dim);
    for (auto& x : out[i].embedding) x = dist(rng);
    out[i].document = "document " + std::to_string(i);
    out[i].meta["i"] = static_cast<std::int64_t>(i);
    out[i].meta["even"] = i % 2 == 0;
  }
  return out;
}

store_options options_for(const fs::path& path) {
  store_options o;
  o.path = path;
  o.lock_timeout = milliseconds(5000);
  o.max_retries = 0;
  return o;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

/// The process holding a whole-file write lock on `lock_file`, from F_GETLK
/// (-1 for an open-file-description lock, 0 when nobody holds it). This
/// process holds no lock on the file, so closing the descriptor loses nothing.
long write_lock_holder(const fs::path& lock_file) {
  const int fd = ::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  long holder = 0;
  if (::fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) holder = fl.l_pid > 0 ? fl.l_pid : -1;
  ::close(fd);
  return holder;
}

/// The child of the batch test: creates the store, prepares the batch,
/// says "ready", adds it in one call, says "acked <ms>".
int add_big_batch(const fs::path& path, int, int up) {
  const auto batch = big_batch("r");
  auto db = strict_store::open(options_for(path));
  auto c = db->get_or_create_collection("big", {dim, metric::l2});
  child::send_line(up, "ready");
  const auto start = steady_clock::now();
  c.add(batch);
  const auto ms = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start).count();
  child::send_line(up, "acked " + std::to_string(ms));
  db->close();
  return 0;
}

}  // namespace

TEST_CASE("a large batch killed by SIGKILL at a random moment is entirely present or entirely absent after reopening",
          "[fault][kill]") {
  // A run without a kill: how long the add takes.
  long add_ms = 0;
  {
    temp_dir dir;
    child writer([&](int down, int up) { return add_big_batch(dir / "store.db", down, up); });
    REQUIRE(writer.read_line(milliseconds(60000)) == "ready");
    const std::string acked = writer.read_line(milliseconds(120000));
    INFO(acked);
    REQUIRE(acked.rfind("acked ", 0) == 0);
    add_ms = std::stol(acked.substr(6));
    REQUIRE(writer.wait(milliseconds(30000)) == 0);
  }
  const auto expected = big_batch("r");
  std::mt19937 rng(20240607);
  std::size_t present = 0, absent = 0, acknowledged = 0;
  std::vector<long> open_ms;
  const std::size_t n = kills();
  for (std::size_t k = 0; k < n; ++k) {
    temp_dir dir;
    const fs::path path = dir / "store.db";
    // Delays over the whole add and a little past it, so some kills land after the commit.
    const long delay_ms = static_cast<long>(rng() % static_cast<unsigned long>(add_ms * 11 / 10 + 1));
    bool acked = false;
    {
      child writer([&](int down, int up) { return add_big_batch(path, down, up); });
      REQUIRE(writer.read_line(milliseconds(60000)) == "ready");
      acked = !writer.read_line(milliseconds(delay_ms)).empty();  // an early "acked" ends the wait
      writer.kill();
      const int code = writer.wait(milliseconds(10000));
      CHECK((code == -SIGKILL || code == 0));
      acked = acked || writer.rest(milliseconds(0)).find("acked") != std::string::npos;
    }
    INFO("kill " << k << " after " << delay_ms << " ms of a " << add_ms << " ms add; acknowledged: " << acked);
    const auto started = steady_clock::now();
    auto db = strict_store::open(options_for(path));  // the parent opens only now: the writer is dead
    open_ms.push_back(static_cast<long>(
        std::chrono::duration_cast<milliseconds>(steady_clock::now() - started).count()));
    auto c = db->get_collection("big");
    const std::size_t count = c.count();
    CHECK((count == 0 || count == batch_size));
    if (acked) CHECK(count == batch_size);
    if (count == batch_size) {
      get_options all;
      all.fields = include::all;
      const auto got = c.get(all);
      REQUIRE(got.size() == batch_size);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < batch_size; ++i) {
        wrong += got[i].id != expected[i].id ||
                 std::memcmp(got[i].embedding.data(), expected[i].embedding.data(), dim * sizeof(float)) != 0 ||
                 got[i].document != expected[i].document || got[i].meta != expected[i].meta;
      }
      CHECK(wrong == 0);
      query_options nearest;
      nearest.k = 1;
      CHECK(c.query(expected[123].embedding, nearest).front().id == expected[123].id);
      ++present;
    } else if (count == 0) {
      ++absent;
    }
    acknowledged += acked;
    CHECK(db->verify().status == health_status::healthy);
    // And the store takes writes again.
    c.add({{"after", std::vector<float>(dim, 0.5f), std::nullopt, {}}});
    CHECK(c.count() == count + 1);
    db->close();
  }
  std::sort(open_ms.begin(), open_ms.end());
  std::cout << "SIGKILL mid-batch (" << batch_size << " x " << dim << ", add takes " << add_ms << " ms): " << n
            << " kills, " << present << " entirely present (" << acknowledged << " acknowledged), " << absent
            << " entirely absent, " << (n - present - absent) << " partial; reopen after the kill: median "
            << open_ms[open_ms.size() / 2] << " ms, max " << open_ms.back() << " ms\n";
  CHECK(present + absent == n);
}

TEST_CASE("a writer killed while holding the writer lock mid-transaction is replaced by a waiting writer within "
          "lock_timeout",
          "[fault][kill][lock]") {
  constexpr int rounds = 5;
  std::vector<double> latencies_ms;
  for (int round = 0; round < rounds; ++round) {
    temp_dir dir;
    const fs::path path = dir / "store.db";
    {
      child setup([&](int, int) {
        auto db = strict_store::open(options_for(path));
        db->create_collection("big", {dim, metric::l2});
        db->close();
        return 0;
      });
      REQUIRE(setup.wait(milliseconds(30000)) == 0);
    }
    // The waiter: opens the store, then on "go" adds one record and reports when it committed.
    child waiter([&](int down, int up) {
      auto db = strict_store::open(options_for(path));
      auto c = db->get_collection("big");
      child::send_line(up, "ready");
      if (child::receive_line(down) != "go") return 2;
      c.add({{"waiter", std::vector<float>(dim, 0.25f), std::nullopt, {}}});
      child::send_line(up, "done " + std::to_string(now_ns()));
      db->close();
      return 0;
    });
    REQUIRE(waiter.read_line(milliseconds(30000)) == "ready");
    child holder([&](int down, int up) { return add_big_batch(path, down, up); });
    REQUIRE(holder.read_line(milliseconds(60000)) == "ready");
    // Until the holder is inside its transaction, holding the writer lock.
    const fs::path lock_file = path.string() + ".lock";
    const auto deadline = steady_clock::now() + milliseconds(10000);
    long holder_pid = 0;
    while ((holder_pid = write_lock_holder(lock_file)) == 0 && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    REQUIRE((holder_pid == holder.pid() || holder_pid == -1));
    waiter.send("go");
    // The waiter is now blocked on the lock; it must not have written.
    CHECK(waiter.read_line(milliseconds(50)).empty());
    CHECK(write_lock_holder(lock_file) == holder_pid);
    const std::int64_t killed_at = now_ns();
    holder.kill();
    CHECK(holder.wait(milliseconds(10000)) == -SIGKILL);
    const std::string done = waiter.read_line(milliseconds(15000));
    INFO(done);
    REQUIRE(done.rfind("done ", 0) == 0);
    const double latency_ms = double(std::stoll(done.substr(5)) - killed_at) / 1e6;
    latencies_ms.push_back(latency_ms);
    CHECK(waiter.wait(milliseconds(10000)) == 0);
    CHECK(latency_ms < 5000.0);  // options_for(): lock_timeout = 5 s

    // The killed transaction left nothing; the waiter's record is there.
    auto db = strict_store::open(options_for(path));
    auto c = db->get_collection("big");
    CHECK(c.count() == 1);
    CHECK(c.get({"waiter"}).size() == 1);
    CHECK(db->verify().status == health_status::healthy);
    db->close();
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::cout << "writer lock taken over after SIGKILL of its holder mid-transaction (" << rounds
            << " rounds), kill -> waiter committed: min " << latencies_ms.front() << " ms, median "
            << latencies_ms[latencies_ms.size() / 2] << " ms, max " << latencies_ms.back() << " ms\n";
}
