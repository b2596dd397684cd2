// SPDX-License-Identifier: MIT
// stats, health and verify (inspect.hpp).
#include "inspect.hpp"

#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <utility>

#include <SQLiteCpp/Database.h>

#include "exit_codes.hpp"
#include "output.hpp"
#include "progress.hpp"
#include "store_access.hpp"
#include "store_files.hpp"

namespace vecstore_cli {

namespace {

int exit_code_for(vecstore::health_status s) {
  switch (s) {
    case vecstore::health_status::healthy: return exit_ok;
    case vecstore::health_status::degraded: return exit_degraded;
    case vecstore::health_status::unhealthy: return exit_unhealthy;
  }
  return exit_unhealthy;
}

}  // namespace

int run_stats(const global_options& g, const stats_args& a) {
  auto s = open_store(a.store, open_as::inspect, g);
  const auto all = s->list_collections();
  const fs::path& p = s->path();
  // The schema version as the file records it. A second read-only SQLite
  // connection is safe here: SQLite shares its POSIX locks between the
  // connections of one process (only foreign descriptors are a hazard).
  std::int64_t file_schema = -1;
  try {
    SQLite::Database db(p.string(), SQLite::OPEN_READONLY);
    file_schema = db.execAndGet("PRAGMA user_version").getInt64();
  } catch (const std::exception&) {  // reported as unknown (-1)
  }
  const std::uintmax_t db_bytes = file_size_or_zero(p), wal_bytes = file_size_or_zero(side_file(p, "-wal")),
                       shm_bytes = file_size_or_zero(side_file(p, "-shm"));
  std::size_t total = 0;
  for (const auto& c : all) total += c.count;
  if (g.json) {
    json_doc cols = json_doc::array();
    for (const auto& c : all) {
      cols.push_back(json_doc::object(
          {{"name", c.name}, {"dim", c.dim}, {"metric", vecstore::to_string(c.space)}, {"count", c.count}}));
    }
    print_json(json_doc::object(
        {{"path", p.string()},
         {"schema_version", file_schema},
         {"library_schema_version", vecstore::schema_version},
         {"library_version", vecstore::version_string},
         {"files", json_doc::object({{"db", db_bytes},
                                     {"wal", wal_bytes},
                                     {"shm", shm_bytes},
                                     {"total", db_bytes + wal_bytes + shm_bytes}})},
         {"records", total},
         {"collections", std::move(cols)}}));
  } else {
    std::cout << "store           " << p.string() << "\n"
              << "schema version  " << file_schema << " (this build writes " << vecstore::schema_version << ")\n"
              << "database file   " << db_bytes << " bytes (" << bytes_text(db_bytes) << ")\n"
              << "-wal file       " << wal_bytes << " bytes (" << bytes_text(wal_bytes) << ")\n"
              << "collections     " << all.size() << ", " << total << " records\n";
    for (const auto& c : all) {
      std::cout << "  " << c.name << "\tdim " << c.dim << "\t" << vecstore::to_string(c.space) << "\t" << c.count
                << " records\n";
    }
  }
  return exit_ok;
}

int run_health(const global_options& g, const health_args& a) {
  vecstore::health_report report;
  try {
    auto s = open_store(a.store, open_as::inspect, g);
    if (a.deep) {
      progress bar("verify", 0, progress_wanted(g.no_progress));
      bar.start_ticker();
      report = s->verify();
      bar.finish();
    } else {
      report = s->health(a.force || a.acknowledge_recovery);
    }
    if (a.acknowledge_recovery) s->acknowledge_recovery();
  } catch (const vecstore::error& e) {
    // A store too damaged to open is an unhealthy store, not a crash of
    // the check: print a report, so health checks see exit status 2.
    if (e.code() != vecstore::errc::corruption && e.code() != vecstore::errc::schema_error) throw;
    report = vecstore::health_report{};
    report.path = fs::absolute(a.store);
    report.checked_at = std::chrono::system_clock::now();
    report.add(vecstore::health_check{"open", vecstore::health_status::unhealthy, e.what(), {}});
  }
  // The report is JSON with or without --json: health checks parse it.
  std::cout << report.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return exit_code_for(report.status);
}

}  // namespace vecstore_cli
