// SPDX-License-Identifier: MIT
// Opening a store, and finding a collection in it (store_access.hpp).
#include "store_access.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <system_error>
#include <utility>

namespace vecstore_cli {

namespace {

/// The one line on stderr that says the RecoveryPolicy repaired the store at
/// open: the command still succeeds, but what was lost must not go unnoticed.
void report_recovery(const vecstore::recovery_report& r) {
  std::string line = "vecstore: note: the store was damaged and " + r.policy + " " + r.action + " it";
  if (!r.backup_used.empty()) line += " from " + r.backup_used.string();
  line += " (" + std::to_string(r.rows_saved) + " records";
  if (r.rows_from_backup) line += ", " + std::to_string(r.rows_from_backup) + " of them from the backup";
  if (r.rows_lost) line += ", " + std::to_string(r.rows_lost) + " lost";
  line += ")";
  if (!r.quarantined.empty()) line += "; the damaged file is kept as " + r.quarantined.string();
  if (!r.problem.empty()) line += ". Problem found: " + r.problem;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::cerr << line << "\n";
}

}  // namespace

std::shared_ptr<store_t> open_store(const fs::path& path, open_as how, const global_options& g) {
  std::error_code ec;
  if (how != open_as::create && !fs::exists(path, ec)) {
    vecstore::detail::throw_error<vecstore::not_found>(
        "cannot open the store", path, "the file does not exist",
        "Check the path; `vecstore create` and `vecstore import` make a new store");
  }
  vecstore::store_options o;
  o.path = path;
  o.create_if_missing = how == open_as::create;
  o.auto_recover = how != open_as::inspect && !g.no_recover;
  if (g.lock_timeout_ms >= 0) o.lock_timeout = std::chrono::milliseconds(g.lock_timeout_ms);
  auto s = store_t::open(std::move(o));
  if (const auto r = s->last_recovery(); r && r->action != "none") report_recovery(*r);
  return s;
}

std::optional<vecstore::collection_info> find_collection(store_t& s, const std::string& name) {
  for (auto& c : s.list_collections()) {
    if (c.name == name) return c;
  }
  return std::nullopt;
}

}  // namespace vecstore_cli
