// SPDX-License-Identifier: MIT
// backup, restore, recover and compact (maintenance.hpp).
#include "maintenance.hpp"

#include <chrono>
#include <string>
#include <cstdint>
#include <iostream>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "exit_codes.hpp"
#include "output.hpp"
#include "progress.hpp"
#include "store_access.hpp"
#include "store_files.hpp"

namespace vecstore_cli {

int run_backup(const global_options& g, const backup_args& a) {
  auto s = open_store(a.store, open_as::existing, g);
  progress bar("backup", 0, progress_wanted(g.no_progress));
  bar.start_ticker();
  const vecstore::backup_info info = s->backup();
  bar.finish();
  if (g.json) {
    print_json(json_doc::object({{"store", s->path().string()},
                                 {"path", info.path.string()},
                                 {"bytes", info.bytes},
                                 {"created", utc_iso(info.created)},
                                 {"duration_ms", info.duration.count()},
                                 {"seq", info.seq},
                                 {"records", info.records}}));
  } else {
    std::cout << "backup " << info.path.string() << ": " << info.records << " records, " << bytes_text(info.bytes)
              << ", change " << info.seq << ", made " << utc_iso(info.created) << " in " << info.duration.count()
              << " ms\n";
  }
  return exit_ok;
}

namespace {

/// The report of a restore or recovery: JSON (recovery/report.hpp's shape,
/// plus the store) or a few lines of text.
void print_recovery(const global_options& g, const fs::path& store, const vecstore::recovery_report& r) {
  if (g.json) {
    nlohmann::json j = vecstore::to_json(r);
    j["store"] = store.string();
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  std::cout << r.action << " " << store.string();
  if (!r.backup_used.empty()) std::cout << " with " << r.backup_used.string();
  std::cout << ": " << r.rows_saved << " records (" << r.rows_from_backup << " from the backup), " << r.rows_lost
            << " lost";
  if (!r.quarantined.empty()) std::cout << "; the previous file was moved to " << r.quarantined.string();
  std::cout << "\n";
  for (const auto& id : r.lost_records) std::cout << "lost: " << id << "\n";
  if (!r.note.empty()) std::cout << r.note << "\n";
}

vecstore::store_options maintenance_options(const fs::path& store, const global_options& g) {
  vecstore::store_options o;
  o.path = store;
  if (g.lock_timeout_ms >= 0) o.lock_timeout = std::chrono::milliseconds(g.lock_timeout_ms);
  return o;
}

}  // namespace

int run_restore(const global_options& g, const restore_args& a) {
  // Without opening the store: it works on a store that no longer opens.
  const auto r = vecstore::restore(a.store, a.backup_file, maintenance_options(a.store, g));
  print_recovery(g, a.store, r);
  return exit_ok;
}

int run_recover(const global_options& g, const recover_args& a) {
  const auto o = maintenance_options(a.store, g);
  const std::string why = "recovery asked for with vecstore recover";
  vecstore::recovery_report r;
  if (a.policy == "salvage") {
    r = vecstore::recover<vecstore::salvage_recovery>(o, why);
  } else if (a.policy == "reset") {
    r = vecstore::recover<vecstore::reset_recovery>(o, why);
  } else {
    r = vecstore::recover<vecstore::restore_backup_recovery>(o, why);
  }
  print_recovery(g, a.store, r);
  return exit_ok;
}

int run_compact(const global_options& g, const compact_args& a) {
  auto s = open_store(a.store, open_as::existing, g);
  const fs::path& p = s->path();
  const auto sizes = [&] {
    return std::pair<std::uintmax_t, std::uintmax_t>{file_size_or_zero(p), file_size_or_zero(side_file(p, "-wal"))};
  };
  const auto before = sizes();
  const auto started = std::chrono::steady_clock::now();
  s->compact();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto after = sizes();
  if (g.json) {
    const auto sizes_json = [](const std::pair<std::uintmax_t, std::uintmax_t>& n) {
      return json_doc::object({{"db", n.first}, {"wal", n.second}, {"total", n.first + n.second}});
    };
    print_json(json_doc::object(
        {{"path", p.string()}, {"before", sizes_json(before)}, {"after", sizes_json(after)}, {"seconds", secs}}));
  } else {
    std::cout << "compacted " << p.string() << ": " << bytes_text(before.first + before.second) << " -> "
              << bytes_text(after.first + after.second) << " (database + wal; " << before.first + before.second
              << " -> " << after.first + after.second << " bytes) in " << seconds_text(secs) << "\n";
  }
  return exit_ok;
}

}  // namespace vecstore_cli
