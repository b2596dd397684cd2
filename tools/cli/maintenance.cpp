// SPDX-License-Identifier: MIT
// backup, restore and compact (maintenance.hpp).
#include "maintenance.hpp"

#include <chrono>
#include <cstdint>
#include <iostream>
#include <system_error>
#include <utility>

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

int run_restore(const global_options& g, const restore_args& a) {
  auto s = open_store(a.store, open_as::existing, g);
  std::error_code ec;
  if (!fs::exists(a.backup_file, ec)) {
    vecstore::detail::throw_error<vecstore::not_found>("cannot restore", a.backup_file, "the backup file does not exist",
                                                       "List the store's backups folder (<store>.backups)");
  }
  const vecstore::recovery_report r = s->restore(a.backup_file);
  if (g.json) {
    print_json(json_doc::object(
        {{"store", s->path().string()},
         {"policy", r.policy},
         {"action", r.action},
         {"problem", r.problem},
         {"quarantined", r.quarantined.string()},
         {"backup_used", r.backup_used.string()},
         {"rows_saved", r.rows_saved},
         {"rows_lost", r.rows_lost},
         {"rows_from_backup", r.rows_from_backup},
         {"backups_skipped", r.backups_skipped},
         {"note", r.note},
         {"duration_ms", r.duration.count()}}));
  } else {
    std::cout << "restored " << s->path().string() << " from " << r.backup_used.string() << ": " << r.rows_saved
              << " records";
    if (!r.quarantined.empty()) std::cout << "; the previous file was moved to " << r.quarantined.string();
    std::cout << "\n";
    if (!r.note.empty()) std::cout << r.note << "\n";
  }
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
