// SPDX-License-Identifier: MIT
// "<store>.vectors": opening by mapping it, and every way it must be refused (damaged, foreign,
// from another history of a restored file, older than what SQLite still keeps, turned off).
#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vecstore/vecstore.hpp>

#include "support/file_bytes.hpp"
#include "support/process.hpp"
#include "support/random_vector.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::random_vector;
using vecstore_test::read_bytes;
using vecstore_test::repl_child;
using vecstore_test::temp_dir;
using vecstore_test::write_bytes;
namespace fs = std::filesystem;

namespace {

fs::path vectors_of(const fs::path& store) { return fs::path(store.string() + ".vectors"); }

/// Whether this process has `file` mapped: how a test sees that an open used the vectors file.
bool mapped(const fs::path& file) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(file, ec);
  if (ec) return false;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.size() >= canonical.string().size() &&
        line.compare(line.size() - canonical.string().size(), std::string::npos, canonical.string()) == 0)
      return true;
  }
  return false;
}

/// kB of this process's mappings of `file`, from /proc/self/smaps: `shared` counts pages that
/// another process maps too (Shared_Clean + Shared_Dirty: a freshly written file's pages are
/// dirty in the page cache until written back), `copied` the private copies (Anonymous).
struct mapping_kb {
  std::size_t shared = 0;
  std::size_t copied = 0;
};
mapping_kb mapped_kb(const fs::path& file) {
  const std::string canonical = fs::canonical(file).string();
  std::ifstream smaps("/proc/self/smaps");
  mapping_kb kb;
  bool in_file = false;
  for (std::string line; std::getline(smaps, line);) {
    const std::string first = line.substr(0, line.find(' '));
    if (first.empty() || first.back() != ':') {  // a mapping's line: "start-end perms offset dev inode path"
      in_file = line.size() >= canonical.size() &&
                line.compare(line.size() - canonical.size(), std::string::npos, canonical) == 0;
    } else if (in_file && (first == "Shared_Clean:" || first == "Shared_Dirty:")) {
      kb.shared += std::stoul(line.substr(first.size()));
    } else if (in_file && first == "Anonymous:") {
      kb.copied += std::stoul(line.substr(first.size()));
    }
  }
  return kb;
}

std::shared_ptr<store> open_with(const fs::path& path, std::size_t min_bytes = 0, std::size_t keep = 10000) {
  store_options o;
  o.path = path;
  o.vectors_file_min_bytes = min_bytes;
  o.tombstones_to_keep = keep;
  o.sync = durability::normal;
  return open(o);
}

std::shared_ptr<store> open_without_file(const fs::path& path) { return open_with(path, store_options::no_vectors_file); }

struct shape {
  const char* name;
  std::size_t dim;
  metric space;
};
const shape shapes[] = {{"cos", 8, metric::cosine}, {"l2", 3, metric::l2}, {"ip", 5, metric::inner_product}};

/// Three collections (one per metric) of `n` records with ids that are not plain ASCII.
void fill(store& db, std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  for (const shape& s : shapes) {
    auto c = db.create_collection(s.name, {s.dim, s.space});
    std::vector<record> batch;
    for (std::size_t i = 0; i < n; ++i) {
      record r;
      r.id = std::string("rec-") + std::to_string(i) + (i % 5 == 0 ? "-é中" : "");
      r.embedding = random_vector(rng, s.dim);
      r.meta["even"] = i % 2 == 0;
      batch.push_back(std::move(r));
    }
    c.add(batch);
  }
}

/// A new store at `path` holding fill(n, seed); closed.
void create_filled(const fs::path& path, std::size_t n, unsigned seed) {
  auto db = open_with(path);
  fill(*db, n, seed);
}

/// Every query answer of every collection, ids with their distances (exact floats): for
/// stores that must answer identically. Includes a filtered query, which needs the key map
/// that a mapped index builds on first use.
std::vector<std::pair<std::string, float>> answers(store& db, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::pair<std::string, float>> out;
  for (const shape& s : shapes) {
    auto c = db.get_collection(s.name);
    query_options q;
    q.k = c.count() + 1;
    q.fields = include::none;
    query_options filtered = q;
    filtered.where = where("even") == true;
    for (int i = 0; i < 4; ++i) {
      const auto v = random_vector(rng, s.dim);
      for (const auto* o : {&q, &filtered}) {
        for (const auto& h : c.query(v, *o)) out.emplace_back(h.id, h.distance);
        out.emplace_back("--", 0.0f);
      }
    }
  }
  return out;
}

/// The answers of the store at `path` loaded from SQLite alone: the reference.
std::vector<std::pair<std::string, float>> reference(const fs::path& path, unsigned seed) {
  auto db = open_without_file(path);
  auto out = answers(*db, seed);
  db->close();
  return out;
}

/// A store of `n` records per collection whose vectors file is current; closed.
void make_store(const fs::path& path, std::size_t n = 300, unsigned seed = 7) {
  create_filled(path, n, seed);
  open_with(path)->close();  // this open reads SQLite (the file is far behind) and rewrites the file
  REQUIRE(fs::exists(vectors_of(path)));
}

/// An open of `path` that must not use its vectors file: it answers as SQLite does, and
/// writes a file that the next open uses.
void check_refused_then_rewritten(const fs::path& path, unsigned seed) {
  const auto expected = reference(path, seed);
  {
    auto db = open_with(path);
    CHECK_FALSE(mapped(vectors_of(path)));
    CHECK(answers(*db, seed) == expected);
  }
  auto db = open_with(path);
  CHECK(mapped(vectors_of(path)));
  CHECK(answers(*db, seed) == expected);
}

std::int64_t count_rows(const fs::path& path, const char* sql) {
  sqlite3* raw = nullptr;
  sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(raw, sql, -1, &st, nullptr);
  std::int64_t value = -1;
  if (sqlite3_step(st) == SQLITE_ROW) value = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(raw);
  return value;
}

}  // namespace

TEST_CASE("a store opened from its vectors file answers exactly as one loaded from SQLite", "[vectors_file]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  make_store(path);
  const auto expected = reference(path, 1);
  const std::string file_before = read_bytes(vectors_of(path));

  auto db = open_with(path);
  CHECK(mapped(vectors_of(path)));
  CHECK(answers(*db, 1) == expected);
  CHECK(db->get_collection("cos").count() == 300);
  const auto got = db->get_collection("cos").get([] {
    get_options g;
    g.ids = {"rec-5-é中"};
    return g;
  }());
  REQUIRE(got.size() == 1);
  CHECK(got[0].id == "rec-5-é中");

  SECTION("writes after mapping change the indexes, never the shared file") {
    std::mt19937 rng(3);
    for (const shape& s : shapes) {
      auto c = db->get_collection(s.name);
      c.upsert({{"rec-1", random_vector(rng, s.dim), std::nullopt, {}}});  // a mapped row, replaced
      c.remove({"rec-2", "rec-299"});                                      // swap-delete across mapped rows
      std::vector<record> more;
      for (int i = 0; i < 700; ++i) more.push_back({"new-" + std::to_string(i), random_vector(rng, s.dim), std::nullopt, {}});
      c.add(more);  // past the mapped rows, into the reserved room and beyond it
    }
    const auto after = answers(*db, 2);
    CHECK(read_bytes(vectors_of(path)) == file_before);
    db->close();
    db.reset();
    CHECK(reference(path, 2) == after);
    // The next open finds the file well behind (2,100 changes on 900 rows) and rewrites it.
    open_with(path)->close();
    CHECK(read_bytes(vectors_of(path)) != file_before);
    auto again = open_with(path);
    CHECK(mapped(vectors_of(path)));
    CHECK(answers(*again, 2) == after);
  }
}

TEST_CASE("two processes that open a store map one copy of its vectors", "[vectors_file][multiprocess]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  make_store(path, 20000);  // 3 x 20,000 rows: about 1.2 MiB of vectors
  auto db = open_with(path);
  REQUIRE(mapped(vectors_of(path)));
  CHECK(mapped_kb(vectors_of(path)).shared == 0);  // nobody else maps it yet

  repl_child other;
  REQUIRE(nlohmann::json::parse(other.ask("open " + path.string() + " shared 10000 0"))["ok"] == true);
  REQUIRE(nlohmann::json::parse(other.ask("count cos"))["count"] == 20000);
  // Both verified every page of the file through their mappings: the rows alone (16 floats
  // per record over the three collections) are in pages both map, not in copies of their own.
  const std::size_t rows_kb = 20000 * (8 + 3 + 5) * sizeof(float) / 1024;
  const mapping_kb kb = mapped_kb(vectors_of(path));
  CHECK(kb.shared >= rows_kb);
  CHECK(kb.copied == 0);
}

TEST_CASE("a vectors file that is damaged, cut short or not one is ignored, and rewritten", "[vectors_file]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  make_store(path);
  const auto file = vectors_of(path);
  std::string bytes = read_bytes(file);
  REQUIRE(bytes.size() > (std::size_t{3} << 16));

  SECTION("a flipped bit in the header") {
    bytes[20] ^= 0x01;  // inside the seq
    write_bytes(file, bytes);
  }
  SECTION("a flipped bit in the rows") {
    bytes[(std::size_t{1} << 16) + 123] ^= 0x10;  // the first array starts at 64 KiB
    write_bytes(file, bytes);
  }
  SECTION("a flipped bit in the record ids") {
    const std::size_t at = bytes.rfind("rec-");
    REQUIRE(at != std::string::npos);
    bytes[at] = 'R';
    write_bytes(file, bytes);
  }
  SECTION("whole, with its checksums, but its record ids out of order") {
    auto read = detail::read_vectors_file(file, [](std::int64_t, std::int64_t) { return true; });
    REQUIRE(read);
    std::vector<detail::vectors_file_source> sources;
    for (const auto& c : read->collections) {
      detail::vectors_file_source src;
      src.collection_id = c.collection_id;
      src.space = c.space;
      src.rows = row_view{c.rows.data(), c.keys.size(), c.dim, c.dim};
      src.keys = c.keys.data();
      src.sq_norms = c.sq_norms.empty() ? nullptr : c.sq_norms.data();
      src.id_rids.assign(c.id_rids.begin(), c.id_rids.end());
      src.id_ends.assign(c.id_ends.begin(), c.id_ends.end());
      src.id_chars.assign(c.id_chars.begin(), c.id_chars.end());
      sources.push_back(std::move(src));
    }
    std::swap(sources.back().id_rids.front(), sources.back().id_rids.back());
    REQUIRE(detail::write_vectors_file(file, read->seq, read->token, sources, 0600));
  }
  SECTION("cut to half") { write_bytes(file, bytes.substr(0, bytes.size() / 2)); }
  SECTION("empty") { write_bytes(file, {}); }
  SECTION("random bytes of the same size") {
    std::mt19937 rng(5);
    for (char& c : bytes) c = static_cast<char>(rng());
    write_bytes(file, bytes);
  }
  SECTION("a symlink to the vectors file of another store") {
    const auto other = dir / "other.db";
    make_store(other, 300, 8);  // the same ids and shapes, other vectors
    fs::remove(file);
    fs::create_symlink(vectors_of(other), file);
  }
  SECTION("the vectors file of another store, copied") {
    const auto other = dir / "other.db";
    make_store(other, 300, 8);
    fs::copy_file(vectors_of(other), file, fs::copy_options::overwrite_existing);
  }

  check_refused_then_rewritten(path, 4);
  CHECK_FALSE(fs::is_symlink(file));  // replaced by a file of its own
}

TEST_CASE("a vectors file behind the store is used with the changes made since, by any process",
          "[vectors_file][multiprocess]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  make_store(path);
  const std::string file_before = read_bytes(vectors_of(path));

  repl_child writer;  // another process, the vectors file off
  REQUIRE(nlohmann::json::parse(writer.ask("open " + path.string() + " shared 10000 off"))["ok"] == true);
  for (const std::string command : {"add cos late-1 1,0,0,0,0,0,0,0", "add l2 late-2 0.5,0.5,0.5", "remove cos rec-7",
                                    "remove ip rec-1", "add ip late-3 1,2,3,4,5"}) {
    REQUIRE(nlohmann::json::parse(writer.ask(command))["ok"] == true);
  }
  REQUIRE(nlohmann::json::parse(writer.ask("close"))["ok"] == true);

  const auto expected = reference(path, 6);
  auto db = open_with(path);
  CHECK(mapped(vectors_of(path)));
  CHECK(answers(*db, 6) == expected);
  CHECK(db->get_collection("cos").count() == 300);
  CHECK(db->get_collection("ip").count() == 300);
  CHECK(read_bytes(vectors_of(path)) == file_before);  // 5 changes on 900 rows: not rewritten
}

TEST_CASE("a store restored from an older copy and written again does not use the other history's vectors file",
          "[vectors_file][recovery]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  create_filled(path, 200, 9);
  fs::copy_file(path, dir / "older.db");  // closed: the WAL is checkpointed into the file
  const auto restore_older = [&] {
    for (const char* side : {"-wal", "-shm"}) fs::remove(path.string() + side);
    fs::copy_file(dir / "older.db", path, fs::copy_options::overwrite_existing);
  };

  // History A: ten more transactions, then a vectors file at their seq.
  std::mt19937 rng_a(10);
  {
    auto db = open_without_file(path);
    auto c = db->get_collection("cos");
    for (int i = 0; i < 10; ++i) c.upsert({{"rec-" + std::to_string(i), random_vector(rng_a, 8), std::nullopt, {}}});
  }
  open_with(path)->close();
  const std::string file_a = read_bytes(vectors_of(path));

  // History B: the older copy back in place, and ten other transactions: the same seq, other vectors.
  restore_older();
  std::mt19937 rng_b(11);
  {
    auto db = open_without_file(path);
    auto c = db->get_collection("cos");
    for (int i = 0; i < 10; ++i) c.upsert({{"rec-" + std::to_string(i), random_vector(rng_b, 8), std::nullopt, {}}});
  }
  REQUIRE(read_bytes(vectors_of(path)) == file_a);

  check_refused_then_rewritten(path, 12);
}

TEST_CASE("a vectors file older than a tombstone compaction, or than the kept transaction tokens, is not used",
          "[vectors_file]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  make_store(path, 100);

  SECTION("compaction") {
    auto db = open_with(path, store_options::no_vectors_file, 2);
    auto c = db->get_collection("l2");
    for (int i = 0; i < 10; ++i) c.remove({"rec-" + std::to_string(i)});  // one transaction each
  }
  SECTION("tokens") {
    auto db = open_without_file(path);
    auto c = db->get_collection("l2");
    std::mt19937 rng(13);
    // One past the kept tokens, all on one row: a small change the file could otherwise catch up with.
    for (int i = 0; i <= 1000; ++i) c.upsert({{"rec-1", random_vector(rng, 3), std::nullopt, {}}});
    db->close();
    CHECK(count_rows(path, "SELECT count(*) FROM seq_tokens") == 1000);
  }
  check_refused_then_rewritten(path, 14);
}

TEST_CASE("vectors_file_min_bytes: small stores write no vectors file; no_vectors_file neither writes nor reads one",
          "[vectors_file][options]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  {
    store_options o;
    o.path = path;  // the default threshold, 64 MiB
    auto db = open(o);
    fill(*db, 100, 15);
  }
  {
    store_options o;
    o.path = path;
    open(o)->close();
  }
  CHECK_FALSE(fs::exists(vectors_of(path)));

  make_store(dir / "big.db", 100);
  fs::remove(vectors_of(dir / "big.db"));
  auto db = open_without_file(dir / "big.db");
  db->close();
  db.reset();
  CHECK_FALSE(fs::exists(vectors_of(dir / "big.db")));

  make_store(dir / "other.db", 100);
  db = open_without_file(dir / "other.db");
  CHECK_FALSE(mapped(vectors_of(dir / "other.db")));
}

TEST_CASE("threads searching a mapped index at once build its key map once and answer exactly",
          "[vectors_file][concurrency][threads]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  make_store(path, 400);
  const auto expected = reference(path, 16);
  auto db = open_with(path);
  REQUIRE(mapped(vectors_of(path)));
  // The filtered queries need the key -> row map that the mapped index has not built yet.
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      if (answers(*db, 16) != expected) ++wrong;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}

TEST_CASE("changes made while the vectors file is written are kept, and never written under another seq",
          "[vectors_file][concurrency][threads]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  create_filled(path, 300, 17);
  std::mt19937 rng(18);
  for (int round = 0; round < 6; ++round) {
    fs::remove(vectors_of(path));
    {
      auto db = open_with(path);  // reads SQLite and starts writing the vectors file
      auto c = db->get_collection("cos");
      c.upsert({{"rec-" + std::to_string(round + 1), random_vector(rng, 8), std::nullopt, {}}});
      c.add({{"round-" + std::to_string(round), random_vector(rng, 8), std::nullopt, {}}});
    }
    const auto expected = reference(path, 19);
    auto db = open_with(path);
    CHECK(answers(*db, 19) == expected);
  }
}

TEST_CASE("a process forked right after an open that writes the vectors file uses the store normally",
          "[vectors_file][multiprocess][fork]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  create_filled(path, 300, 20);
  const auto expected = reference(path, 21);
  fs::remove(vectors_of(path));
  auto db = open_with(path);  // the writer thread runs; fork() waits for it
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 1;
    try {
      code = answers(*db, 21) == expected ? 0 : 2;
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(answers(*db, 21) == expected);
  CHECK(fs::exists(vectors_of(path)));
}

TEST_CASE("page_array: a mapped region grows in place, past its room by a copy, and never writes the file",
          "[vectors_file][unit]") {
  temp_dir dir;
  const auto file = dir / "floats";
  std::vector<float> values(5000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.5f;
  std::string bytes(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  bytes.resize((bytes.size() / 65536 + 2) * 65536);
  write_bytes(file, bytes);

  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto a = detail::page_array<float>::map(fd, 0, values.size(), 2 * values.size());
  ::close(fd);  // the mapping stays
  REQUIRE(a.size() == values.size());
  CHECK(std::equal(a.begin(), a.end(), values.begin()));
  const float* before = a.data();

  a[7] = -1.0f;  // copy-on-write
  const std::size_t room = a.capacity();
  REQUIRE(room >= 2 * values.size());
  for (std::size_t i = values.size(); i < room; ++i) a.push_back(-static_cast<float>(i));  // in place
  CHECK(a.data() == before);
  a.push_back(42.0f);  // past the room: moved, contents kept
  CHECK(a.data() != before);
  CHECK(a.size() == room + 1);
  CHECK(a[7] == -1.0f);
  CHECK(a[6] == 3.0f);
  CHECK(a[room - 1] == -static_cast<float>(room - 1));
  CHECK(a[room] == 42.0f);
  a.shrink(3);
  CHECK(a.size() == 3);
  CHECK(read_bytes(file) == bytes);
}

TEST_CASE("page_array: a large array asks for transparent huge pages, a small one does not", "[vectors_file][unit]") {
  // VmFlags shows "hg" on a mapping madvise(MADV_HUGEPAGE) was called on,
  // whatever the system's transparent huge page mode.
  const auto advised = [](const void* p) {
    std::ifstream smaps("/proc/self/smaps");
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    bool inside = false;
    for (std::string line; std::getline(smaps, line);) {
      std::uintptr_t lo = 0, hi = 0;
      if (line.find(':') > line.find(' ') && std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2) {
        inside = lo <= at && at < hi;  // a mapping's first line: "lo-hi perms offset dev inode path"
      } else if (inside && line.rfind("VmFlags:", 0) == 0) {
        return (line + " ").find(" hg ") != std::string::npos;
      }
    }
    FAIL("no mapping holds " << p);
    return false;
  };
  detail::page_array<float> large;
  large.extend(std::size_t{16} << 20);  // 64 MiB
  std::fill(large.begin(), large.end(), 1.0f);
  detail::page_array<float> small;
  small.extend(std::size_t{1} << 20);  // 4 MiB: a mapping, but not worth huge pages
  CHECK(advised(large.data()));
  CHECK_FALSE(advised(small.data()));
  CHECK(large[(std::size_t{16} << 20) - 1] == 1.0f);
}

TEST_CASE("write_vectors_file: what it writes reads back, and a stopped write leaves nothing behind",
          "[vectors_file][unit]") {
  temp_dir dir;
  const auto file = dir / "x.vectors";
  const std::vector<float> rows{1, 2, 3, 4, 5, 6};
  const std::vector<std::int64_t> keys{30, 10};
  const std::vector<float> norms{14, 77};
  detail::vectors_file_source src;
  src.collection_id = 7;
  src.space = metric::l2;
  src.rows = row_view{rows.data(), 2, 3, 3};
  src.keys = keys.data();
  src.sq_norms = norms.data();
  src.id_rids = {10, 30};
  src.id_ends = {2, 5};
  src.id_chars = "abcde";
  const std::vector<detail::vectors_file_source> sources{src};

  std::atomic<bool> stop{true};
  CHECK_FALSE(detail::write_vectors_file(file, 5, -9, sources, 0600, &stop));
  CHECK_FALSE(detail::write_vectors_file(dir / "missing" / "x.vectors", 5, -9, sources, 0600));  // a refused folder
  CHECK(fs::is_empty(dir.path()));

  stop = false;
  REQUIRE(detail::write_vectors_file(file, 5, -9, sources, 0600, &stop));
  CHECK((fs::status(file).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  std::vector<std::pair<std::int64_t, std::int64_t>> asked;
  CHECK_FALSE(detail::read_vectors_file(file, [&](std::int64_t seq, std::int64_t token) {
    asked.emplace_back(seq, token);
    return false;  // not this store's
  }));
  CHECK(asked == std::vector<std::pair<std::int64_t, std::int64_t>>{{5, -9}});
  const auto read = detail::read_vectors_file(file, [](std::int64_t, std::int64_t) { return true; });
  REQUIRE(read);
  CHECK(read->seq == 5);
  CHECK(read->token == -9);
  REQUIRE(read->collections.size() == 1);
  const auto& c = read->collections[0];
  CHECK(c.collection_id == 7);
  CHECK(c.dim == 3);
  CHECK(c.space == metric::l2);
  CHECK(std::vector<float>(c.rows.begin(), c.rows.end()) == rows);
  CHECK(std::vector<std::int64_t>(c.keys.begin(), c.keys.end()) == keys);
  CHECK(std::vector<float>(c.sq_norms.begin(), c.sq_norms.end()) == norms);
  CHECK(std::vector<std::int64_t>(c.id_rids.begin(), c.id_rids.end()) == src.id_rids);
  CHECK(std::vector<std::uint64_t>(c.id_ends.begin(), c.id_ends.end()) == src.id_ends);
  CHECK(std::string(c.id_chars.begin(), c.id_chars.end()) == "abcde");
  CHECK(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()) == 1);  // no temporary left
}

TEST_CASE("id_table: the mapped base and later ids, and a base that does not fit refused", "[vectors_file][unit]") {
  const auto array_of = [](auto values) {
    detail::page_array<typename decltype(values)::value_type> a;
    a.append(values.data(), values.data() + values.size());
    return a;
  };
  detail::id_table t;
  t.adopt(array_of(std::vector<std::int64_t>{3, 8, 20}), array_of(std::vector<std::uint64_t>{1, 1, 4}),
          array_of(std::string("abcd")));
  CHECK(t.find(3) == std::optional<std::string_view>("a"));
  CHECK(t.find(8) == std::optional<std::string_view>(""));
  CHECK(t.find(20) == std::optional<std::string_view>("bcd"));
  CHECK_FALSE(t.find(4));
  t.assign(21, "later");
  t.assign(20, "bcd");
  CHECK(t.find(21) == std::optional<std::string_view>("later"));
  t.erase(21);
  CHECK_FALSE(t.find(21));

  CHECK_THROWS_AS(t.adopt(array_of(std::vector<std::int64_t>{3, 3}), array_of(std::vector<std::uint64_t>{1, 2}),
                          array_of(std::string("ab"))),
                  invalid_argument);
  CHECK_THROWS_AS(t.adopt(array_of(std::vector<std::int64_t>{1, 2}), array_of(std::vector<std::uint64_t>{1, 3}),
                          array_of(std::string("ab"))),
                  invalid_argument);
  CHECK(t.find(20) == std::optional<std::string_view>("bcd"));  // unchanged by the refusals
}
