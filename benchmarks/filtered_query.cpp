// SPDX-License-Identifier: MIT
// Filtered queries, single queries on one search thread, on stores of n x dim (default 100,000 x 384,
// cosine) built from benchmarks/synthetic.hpp, whose records carry a key `sel` holding 0-99 (so `sel < 1`,
// `< 10`, `< 50` keep 1%, 10%, 50%) and two more keys (`cat`, a string of 20; `year`, an int):
//
//   flat   the store's query unfiltered, and filtered at each selectivity, side by side with the path
//          before issue 20: SQL selects the allowed row ids (record_tables::select, in a read
//          transaction of its own connection), then a flat_index holding the same rows searches them.
//          That index, unfiltered, is printed too: it tells the store's own overhead apart.
//   ivf    an ivf_index store of the same data: unfiltered, and filtered at 1% and 10%: latency,
//          its ratio to unfiltered, and recall@10 against the exact filtered top 10 (the flat store's).
//   memory the in-memory metadata (filter/metadata_columns.hpp) of the collection, per record.
//
// Every latency is the median over --repeat runs of the mean over --queries queries (the machine is shared
// and noisy). Stores go to a fresh folder under the temporary folder, removed at the end.
//
//   vecstore_filtered_query [--n N] [--dim D] [--queries Q] [--repeat R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <vecstore/vecstore.hpp>

#include "synthetic.hpp"

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using ivf_store = vecstore::basic_store<vecstore::file_lock, vecstore::ivf_index, vecstore::restore_backup_recovery>;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// The metadata of record i: `sel` spread evenly over 0-99 but not in id order.
vecstore::metadata metadata_of(std::size_t i) {
  static const char* cats[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j",
                               "k", "l", "m", "n", "o", "p", "q", "r", "s", "t"};
  return {{"sel", static_cast<std::int64_t>((i * 7919) % 100)},
          {"cat", std::string("cat-") + cats[(i * 31) % 20]},
          {"year", static_cast<std::int64_t>(1990 + i % 35)}};
}

template <class Store>
void fill(Store& db, const vecstore_bench::matrix& base) {
  auto c = db.create_collection("c", {base.dim, vecstore::metric::cosine});
  for (std::size_t first = 0; first < base.rows; first += 1000) {
    std::vector<vecstore::record> batch;
    for (std::size_t i = first; i < std::min(base.rows, first + 1000); ++i)
      batch.push_back({"id-" + std::to_string(i), std::vector<float>(base.row(i), base.row(i) + base.dim), std::nullopt,
                       metadata_of(i)});
    c.add(batch);
  }
}

/// Milliseconds per call of `run(q)` over every query, median of `repeat` runs.
double time_ms(std::size_t queries, std::size_t repeat, const std::function<void(std::size_t)>& run) {
  run(0);  // warm: builds what a first filtered query builds
  std::vector<double> runs;
  for (std::size_t r = 0; r < repeat; ++r) {
    const auto start = clock_type::now();
    for (std::size_t q = 0; q < queries; ++q) run(q);
    runs.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - start).count() / double(queries));
  }
  return median(runs);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 100000, dim = 384, nq = 100, repeat = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const std::size_t v = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--n") n = v;
    else if (a == "--dim") dim = v;
    else if (a == "--queries") nq = v;
    else if (a == "--repeat") repeat = v;
  }
  vecstore::set_search_threads(1);
  std::string pattern = (fs::temp_directory_path() / "vecstore-filterbench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) return 1;
  const fs::path dir = pattern;

  vecstore_bench::matrix base, queries;
  vecstore_bench::make_embeddings(n, nq, dim, 20, base, queries);
  vecstore::store_options o;
  o.path = dir / "flat.db";
  auto flat = vecstore::open(o);
  fill(*flat, base);
  auto fc = flat->get_collection("c");
  o.path = dir / "ivf.db";
  auto ivf = ivf_store::open(o);
  fill(*ivf, base);
  auto ic = ivf->get_collection("c");

  // The path before issue 20: its own connection for SQL, an index of the same rows by row id.
  vecstore::detail::connection conn(dir / "flat.db", o);
  vecstore::detail::record_tables tables(conn);
  const std::int64_t collection_id = tables.find_collection("c")->collection_id;
  vecstore::flat_index index(dim, vecstore::metric::cosine);
  vecstore::detail::metadata_columns columns;
  {
    SQLite::Statement st(conn.db(), "SELECT rid, id FROM records WHERE collection_id = ?");
    st.bind(1, collection_id);
    while (st.executeStep()) {
      const std::size_t i = std::stoull(st.getColumn(1).getString().substr(3));
      index.upsert(st.getColumn(0).getInt64(), base.row(i));
      columns.assign(st.getColumn(0).getInt64(), metadata_of(i));
    }
  }
  index.set_threads(1);

  vecstore::query_options unfiltered;
  unfiltered.k = 10;
  unfiltered.fields = vecstore::include::none;
  const auto query = [&](auto& c, std::size_t q, const vecstore::query_options& options) {
    return c.query(std::vector<float>(queries.row(q), queries.row(q) + dim), options);
  };

  std::printf("%zu x %zu, cosine, %zu single queries, k = 10, 1 search thread, median of %zu runs (ms per query)\n\n",
              n, dim, nq, repeat);
  const double flat_base = time_ms(nq, repeat, [&](std::size_t q) { query(fc, q, unfiltered); });
  const double index_base = time_ms(nq, repeat, [&](std::size_t q) { index.search(queries.row(q), 1, 10, nullptr); });
  std::printf("flat       %-9s  %8s  %8s  %8s  %9s  %9s\n", "filter", "store", "x unfilt", "SQL path", "x unfilt",
              "SQL/store");
  std::printf("flat       %-9s  %8.2f  %8s  %8.2f  %9s  %9s   (the SQL path's row: the bare flat_index)\n", "none",
              flat_base, "1.00", index_base, "", "");
  for (const int percent : {1, 10, 50}) {
    vecstore::query_options filtered = unfiltered;
    filtered.where = vecstore::where("sel") < percent;
    const double store_ms = time_ms(nq, repeat, [&](std::size_t q) { query(fc, q, filtered); });
    const double sql_ms = time_ms(nq, repeat, [&](std::size_t q) {
      conn.exec("BEGIN");
      const auto allowed = tables.select(collection_id, filtered.where, {}, true);
      conn.exec("COMMIT");
      index.search(queries.row(q), 1, 10, &allowed);
    });
    std::printf("flat       sel < %-3d  %8.2f  %8.2f  %8.2f  %9.2f  %9.1f\n", percent, store_ms, store_ms / flat_base,
                sql_ms, sql_ms / flat_base, sql_ms / store_ms);
  }

  std::printf("\nivf        %-9s  %8s  %8s  %9s\n", "filter", "store", "x unfilt", "recall@10");
  const double ivf_base = time_ms(nq, repeat, [&](std::size_t q) { query(ic, q, unfiltered); });
  std::printf("ivf        %-9s  %8.2f  %8s\n", "none", ivf_base, "1.00");
  for (const int percent : {1, 10}) {
    vecstore::query_options filtered = unfiltered;
    filtered.where = vecstore::where("sel") < percent;
    const double ms = time_ms(nq, repeat, [&](std::size_t q) { query(ic, q, filtered); });
    std::size_t found = 0, wanted = 0;
    for (std::size_t q = 0; q < nq; ++q) {
      std::set<std::string> exact;
      for (const auto& h : query(fc, q, filtered)) exact.insert(h.id);
      for (const auto& h : query(ic, q, filtered)) found += exact.count(h.id);
      wanted += exact.size();
    }
    std::printf("ivf        sel < %-3d  %8.2f  %8.2f  %9.3f\n", percent, ms, ms / ivf_base,
                double(found) / double(std::max<std::size_t>(wanted, 1)));
  }

  std::printf("\nin-memory metadata: %zu records, 3 keys each: %.1f bytes per record\n", columns.size(),
              double(columns.memory_bytes()) / double(columns.size()));
  flat->close();
  ivf->close();
  fs::remove_all(dir);
  return 0;
}
