// SPDX-License-Identifier: MIT
// Ingest and open speed of the default store (file_lock, flat_index, cosine), on disk, durability full,
// measured against what the machine itself can do in the same run:
//
//   ingest  collection.add() of batches of 1,000 ids + embeddings (and again with short documents) into
//           a fresh store; prints vectors/s.
//   open    vecstore::store::open + get_collection on a closed store of n x dim: loads and verifies every
//           embedding. Timed alternately with reading the same file from the page cache (read() in
//           1 MiB blocks, what `cat file > /dev/null` does, warm), so the ratio open / read compares
//           runs made under the same load.
//
// Every figure is the median of --repeat runs (the machine is shared and noisy). Stores go to a fresh
// folder under --dir (default: the temporary folder), removed at the end; with --keep they go into --dir
// itself and stay, and a later run opens them again instead of refilling them.
//
//   vecstore_ingest_open [--ingest] [--open] [--repeat R] [--dir D] [--keep]
//                        [--ingest-n N] [--open-sizes 100000x100,1000000x100,1000000x768]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <vecstore/vecstore.hpp>

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// Cheap deterministic values in [-1, 1): generating normals for a billion floats would take longer
/// than what is measured, and neither ingest nor open depends on the distribution.
struct xorshift {
  std::uint64_t s;
  float next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<float>(static_cast<std::int64_t>(s >> 40) - (1 << 23)) / static_cast<float>(1 << 23);
  }
};

std::vector<vecstore::record> make_batch(std::size_t first, std::size_t count, std::size_t dim, bool documents) {
  xorshift rng{0x9E3779B97F4A7C15ULL ^ (first + 1)};
  std::vector<vecstore::record> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    out[i].id = "id-" + std::to_string(first + i);
    out[i].embedding.resize(dim);
    for (float& x : out[i].embedding) x = rng.next();
    if (documents) out[i].document = "document " + std::to_string(first + i) + " about topic " + std::to_string(i % 97);
  }
  return out;
}

void remove_store(const fs::path& p) {
  for (const char* suffix : {"", "-wal", "-shm", ".lock", ".open", ".vectors"}) fs::remove(p.string() + suffix);
}

std::shared_ptr<vecstore::store> open_store(const fs::path& p, vecstore::durability sync, bool vectors_file = true) {
  vecstore::store_options o;
  o.path = p;
  o.sync = sync;
  if (!vectors_file) o.vectors_file_min_bytes = vecstore::store_options::no_vectors_file;
  return vecstore::store::open(o);
}

/// Seconds spent in add() for n vectors in batches of 1,000 into a fresh store (building the batches
/// is not counted).
double time_ingest(const fs::path& p, std::size_t n, std::size_t dim, bool documents, vecstore::durability sync) {
  remove_store(p);
  auto db = open_store(p, sync);
  auto c = db->create_collection("c", {dim, vecstore::metric::cosine});
  double spent = 0;
  for (std::size_t first = 0; first < n; first += 1000) {
    const auto batch = make_batch(first, std::min<std::size_t>(1000, n - first), dim, documents);
    const auto start = clock_type::now();
    c.add(batch);
    spent += seconds_since(start);
  }
  db->close();
  return spent;
}

/// Reads the whole file with read() in 1 MiB blocks, as `cat file > /dev/null` does.
double time_read(const fs::path& p) {
  const auto start = clock_type::now();
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::perror("open");
    std::exit(1);
  }
  std::vector<char> buffer(1 << 20);
  while (::read(fd, buffer.data(), buffer.size()) > 0) {
  }
  ::close(fd);
  return seconds_since(start);
}

struct open_times {
  double open, first_query, close;
};

/// Seconds until the opened store's collection is usable (every embedding loaded and verified,
/// from SQLite or from the vectors file), and then for its first query: mapped pages the open did
/// not touch would be paid for there.
open_times time_open(const fs::path& p, std::size_t expected, bool vectors_file) {
  const auto start = clock_type::now();
  auto db = open_store(p, vecstore::durability::full, vectors_file);
  auto c = db->get_collection("c");
  const double spent = seconds_since(start);
  if (c.count() != expected) {
    std::fprintf(stderr, "open: %zu records, expected %zu\n", c.count(), expected);
    std::exit(1);
  }
  const auto query_start = clock_type::now();
  vecstore::query_options q;
  q.fields = vecstore::include::none;
  const auto hits = c.query(make_batch(expected, 1, c.dim(), false)[0].embedding, q);
  const double query = seconds_since(query_start);
  if (hits.size() != 10) {
    std::fprintf(stderr, "open: the first query found %zu hits\n", hits.size());
    std::exit(1);
  }
  const auto close_start = clock_type::now();
  db->close();  // waits for the vectors file, when this open writes one
  return {spent, query, seconds_since(close_start)};
}

struct options {
  bool ingest = false, open = false, keep = false;
  int repeat = 3;
  fs::path dir = fs::temp_directory_path();
  std::size_t ingest_n = 100000;
  std::vector<std::pair<std::size_t, std::size_t>> open_sizes{{100000, 100}, {1000000, 100}, {1000000, 768}};
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--ingest") {
      o.ingest = true;
    } else if (a == "--open") {
      o.open = true;
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a == "--repeat") {
      o.repeat = std::max(1, std::stoi(value()));
    } else if (a == "--dir") {
      o.dir = value();
    } else if (a == "--ingest-n") {
      o.ingest_n = std::stoul(value());
    } else if (a == "--open-sizes") {
      o.open_sizes.clear();
      const std::string list = value();
      for (std::size_t at = 0; at < list.size();) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        const std::string item = list.substr(at, comma - at);
        const std::size_t x = item.find('x');
        o.open_sizes.emplace_back(std::stoul(item.substr(0, x)), std::stoul(item.substr(x + 1)));
        at = comma + 1;
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--ingest] [--open] [--repeat R] [--dir D] [--keep] [--ingest-n N] "
                   "[--open-sizes NxDIM,...]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  if (!o.ingest && !o.open) o.ingest = o.open = true;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  std::string pattern = (o.dir / "vecstore-ingest-open-XXXXXX").string();
  if (!o.keep && ::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path dir = o.keep ? o.dir : fs::path(pattern);
  std::printf("stores in %s; medians of %d runs; durability full, batches of 1,000, cosine\n", dir.c_str(), o.repeat);

  if (o.ingest) {
    std::printf("\ningest (%zu vectors into a fresh store)\n%-6s %-10s %14s\n", o.ingest_n, "dim", "documents",
                "vectors/s");
    for (const std::size_t dim : {std::size_t{100}, std::size_t{768}}) {
      for (const bool documents : {false, true}) {
        std::vector<double> rates;
        for (int r = 0; r < o.repeat; ++r) {
          rates.push_back(static_cast<double>(o.ingest_n) /
                          time_ingest(dir / "ingest.db", o.ingest_n, dim, documents, vecstore::durability::full));
        }
        std::printf("%-6zu %-10s %14.0f\n", dim, documents ? "short" : "none", median(rates));
        std::fflush(stdout);
      }
    }
    remove_store(dir / "ingest.db");
  }

  if (o.open) {
    std::printf("\nopen (load + verify every embedding) vs reading the store file from the page cache;\n"
                "'sqlite': every embedding read from SQLite (vectors file off); 'mapped': from <store>.vectors;\n"
                "'writing': an open that reads SQLite and then writes the vectors file on a thread, and the\n"
                "close that waits for it; query ms: the first query after the open\n"
                "%-14s %8s %8s %9s %7s %9s %7s %11s %9s %9s\n",
                "n x dim", "file MiB", "read ms", "sqlite ms", "ratio", "mapped ms", "ratio", "writing ms",
                "query sq", "query map");
    for (const auto& [n, dim] : o.open_sizes) {
      const fs::path p = dir / ("open-" + std::to_string(n) + "x" + std::to_string(dim) + ".db");
      if (!fs::exists(p)) {
        // Filled with durability normal: only the open is measured here.
        auto db = open_store(p, vecstore::durability::normal);
        auto c = db->create_collection("c", {dim, vecstore::metric::cosine});
        for (std::size_t first = 0; first < n; first += 1000)
          c.add(make_batch(first, std::min<std::size_t>(1000, n - first), dim, false));
        db->close();
      }
      time_read(p);  // warm the page cache
      fs::remove(p.string() + ".vectors");
      const open_times writing = time_open(p, n, true);
      std::vector<double> reads, sqlite, sqlite_ratios, mapped, mapped_ratios, query_sqlite, query_mapped;
      for (int r = 0; r < o.repeat; ++r) {
        reads.push_back(time_read(p));
        const open_times a = time_open(p, n, false);
        const open_times b = time_open(p, n, true);
        sqlite.push_back(a.open);
        sqlite_ratios.push_back(a.open / reads.back());
        mapped.push_back(b.open);
        mapped_ratios.push_back(b.open / reads.back());
        query_sqlite.push_back(a.first_query);
        query_mapped.push_back(b.first_query);
      }
      const std::string writing_ms = std::to_string(static_cast<long>(writing.open * 1e3)) + "+" +
                                     std::to_string(static_cast<long>(writing.close * 1e3));
      std::printf("%-14s %8.0f %8.1f %9.1f %7.2f %9.1f %7.2f %11s %9.1f %9.1f\n",
                  (std::to_string(n) + " x " + std::to_string(dim)).c_str(),
                  static_cast<double>(fs::file_size(p)) / (1 << 20), median(reads) * 1e3, median(sqlite) * 1e3,
                  median(sqlite_ratios), median(mapped) * 1e3, median(mapped_ratios), writing_ms.c_str(),
                  median(query_sqlite) * 1e3, median(query_mapped) * 1e3);
      std::fflush(stdout);
      if (!o.keep) remove_store(p);
    }
  }
  if (!o.keep) fs::remove_all(dir);
  return 0;
}
