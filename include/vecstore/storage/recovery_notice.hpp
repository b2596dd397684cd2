// SPDX-License-Identifier: MIT
// The recovery notice: the report of the last recovery, kept in the store
// file itself (store_meta "last_recovery", as JSON) so that every process's
// health() shows that a recovery happened until an operator clears it.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <SQLiteCpp/Exception.h>

#include <vecstore/detail/json_text.hpp>
#include <vecstore/recovery/report.hpp>
#include <vecstore/storage/sqlite.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Writes `report` as the store's recovery notice, in its own transaction.
/// The caller holds the writer lock.
inline void write_recovery_notice(connection& c, const recovery_report& report) {
  try {
    write_transaction tx(c);
    auto st = c.statement("INSERT OR REPLACE INTO store_meta (key, value) VALUES ('last_recovery', ?)");
    st->bind(1, to_json(report).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    st->exec();
    tx.commit();
  } catch (const SQLite::Exception& e) {
    rethrow_sqlite(e, c.file(), "cannot record the recovery in the store");
  }
}

/// The store's recovery notice, if one is set. A notice that no longer
/// parses still says that a recovery happened.
inline std::optional<recovery_report> read_recovery_notice(connection& c) {
  auto st = c.statement("SELECT value FROM store_meta WHERE key = 'last_recovery'");
  if (!st->executeStep()) return std::nullopt;
  const std::string text = st->getColumn(0).getString();
  // The file may have been changed by anyone: read it as untrusted text.
  recovery_report report = recovery_report_from_json(parse_json_text_bounded(text, max_data_json_depth).value);
  if (report.policy.empty()) report.note = "the recorded report does not read: " + escape_for_message(text, 200);
  return report;
}

/// Clears the notice; true when there was one. The caller holds the writer lock.
inline bool clear_recovery_notice(connection& c) {
  try {
    write_transaction tx(c);
    auto st = c.statement("DELETE FROM store_meta WHERE key = 'last_recovery'");
    const bool had = st->exec() > 0;
    tx.commit();
    return had;
  } catch (const SQLite::Exception& e) {
    rethrow_sqlite(e, c.file(), "cannot clear the recovery notice");
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
