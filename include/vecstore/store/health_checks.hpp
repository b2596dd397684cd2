// SPDX-License-Identifier: MIT
// run_health_checks: what health() and verify() check, each check timed and
// catching its own failure, so a broken store yields an unhealthy report
// rather than an exception.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include <vecstore/detail/utf8.hpp>
#include <vecstore/health.hpp>
#include <vecstore/options.hpp>
#include <vecstore/store/connection.hpp>
#include <vecstore/store/index_keeper.hpp>
#include <vecstore/storage/backup.hpp>
#include <vecstore/storage/records.hpp>
#include <vecstore/storage/recovery_notice.hpp>
#include <vecstore/storage/row_checksums.hpp>
#include <vecstore/storage/schema.hpp>
#include <vecstore/storage/sqlite.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Runs `check(c)` on a fresh healthy check named `name`, timing it; an
/// exception makes it unhealthy with the message as its detail.
template <class Check>
health_check timed_check(const std::string& name, Check&& check) {
  const auto start = std::chrono::steady_clock::now();
  health_check c{name, health_status::healthy, {}, {}};
  try {
    check(c);
  } catch (const std::exception& e) {
    c.status = health_status::unhealthy;
    c.detail = e.what();
  }
  c.duration = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  return c;
}

/// Every check, in order: the writer lock, the connection, the schema, a
/// recovery not yet acknowledged, the pages (quick_check; integrity_check and every checksum when `deep`), the
/// index counts against SQLite's, the WAL's size, the newest backup, the
/// free disk space (docs/operations.md describes each).
template <class LockPolicy, class IndexPolicy>
health_report run_health_checks(bool deep, const store_options& options, LockPolicy& lock, store_connection& conn,
                                index_keeper<IndexPolicy>& keeper) {
  health_report report;
  report.path = options.path;
  report.checked_at = std::chrono::system_clock::now();
  // The writer lock first, without the connection mutex: the lock order is
  // writer lock, then connection.
  report.add(timed_check("writer_lock", [&](health_check& c) {
    const auto wait = (std::min)(options.lock_timeout, std::chrono::milliseconds(100));
    if (lock.try_lock_for(wait)) {
      lock.unlock();
      c.detail = "acquired";
      return;
    }
    const auto holder = lock.holder_pid();
    c.status = health_status::degraded;
    c.detail = "busy for more than " + std::to_string(wait.count()) + " ms" +
               (holder ? ", held by process " + std::to_string(*holder) : std::string());
  }));
  std::lock_guard<std::mutex> db_guard(conn.mutex());
  report.add(timed_check("open", [&](health_check& c) {
    keeper.refresh_locked();
    c.detail = "open in process " + std::to_string(conn.owner_pid());
  }));
  if (report.status == health_status::unhealthy) return report;
  report.add(timed_check("schema", [&](health_check& c) {
    const auto app = pragma_int(conn.get(), "PRAGMA application_id");
    const auto version = pragma_int(conn.get(), "PRAGMA user_version");
    c.detail = "schema version " + std::to_string(version);
    if (app != application_id || version != schema_version || read_schema(conn->db()) != expected_schema()) {
      c.status = health_status::unhealthy;
      c.detail += ", differs from the expected schema version " + std::to_string(schema_version);
    }
  }));
  report.add(timed_check("recovery", [&](health_check& c) {
    report.last_recovery = read_recovery_notice(conn.get());
    if (!report.last_recovery) {
      c.detail = "none recorded";
      return;
    }
    const recovery_report& r = *report.last_recovery;
    c.status = health_status::degraded;
    c.detail = r.policy + " " + r.action + " the store at " + utc_stamp(r.at, false) + ": " +
               std::to_string(r.rows_saved) + " records kept (" + std::to_string(r.rows_from_backup) +
               " from a backup), " + std::to_string(r.rows_lost) + " lost" +
               (r.quarantined.empty() ? std::string() : "; the damaged file is " + r.quarantined.string()) +
               ". Check the store, then clear this with acknowledge_recovery() "
               "(vecstore health --acknowledge-recovery)";
  }));
  // The pages are read through a connection of their own: this process's
  // connection keeps pages cached while no commit changes the file, so a page
  // damaged from outside SQLite would pass a check made through it.
  std::optional<connection> fresh;
  report.add(timed_check(deep ? "integrity_check" : "quick_check", [&](health_check& c) {
    store_options existing = options;
    existing.create_if_missing = false;
    fresh.emplace(options.path, existing);
    c.detail = page_check(*fresh, deep);
    if (c.detail != "ok") {
      c.status = health_status::unhealthy;
      conn.mark_damaged(c.name + " reports: " + c.detail);
    }
  }));
  if (deep && fresh) {
    report.add(timed_check("checksums", [&](health_check& c) {
      std::size_t verified = 0, records = 0;
      try {
        fresh->exec("BEGIN");
        record_tables t(*fresh);
        // Throws at the first mismatch.
        t.for_each_embedding(false, [&](const embedding_row&) { ++verified; });
        records = for_each_row_checksum(fresh->db(), [&](std::int64_t, std::int64_t collection_id,
                                                         std::string_view id, bool ok) {
          if (ok) return;
          throw_error<corruption_error>("a stored record is damaged", options.path,
                                        "the checksum of record " + quote_name(id) + " (collection " +
                                            std::to_string(collection_id) +
                                            ") does not match its id, document and metadata",
                                        repair_advice);
        });
        fresh->exec("COMMIT");
      } catch (const std::exception& e) {
        conn.mark_damaged(e.what());
        throw;
      }
      c.detail = std::to_string(verified) + " embeddings and " + std::to_string(records) +
                 " records (id, document, metadata) match their checksums";
    }));
  }
  report.add(timed_check("index_counts", [&](health_check& c) {
    std::size_t mismatched = 0;
    // One snapshot for catching up and counting, so commits made by other
    // processes meanwhile cannot show up as a mismatch.
    keeper.read_snapshot("cannot count records", [&](record_tables& t) {
      keeper.catch_up(t);
      auto state_guard = keeper.read_state();
      for (const auto& [id, state] : keeper.collections()) {
        collection_health h{state.row.name, t.count_records(id), t.count_embeddings(id), state.index.size()};
        if (h.embeddings != h.indexed) ++mismatched;
        report.collections.push_back(std::move(h));
      }
      return true;
    });
    c.detail = std::to_string(report.collections.size()) + " collections, " + std::to_string(mismatched) +
               " with index count != stored count";
    if (mismatched) c.status = health_status::unhealthy;
  }));
  report.add(timed_check("wal_size", [&](health_check& c) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(side_file(options.path, "-wal"), ec);
    const std::uintmax_t wal = ec ? 0 : bytes;
    c.detail = std::to_string(wal) + " bytes";
    // Past this, checkpoints are being starved by long readers (wal.html).
    if (wal > wal_size_warning) {
      c.status = health_status::degraded;
      c.detail += ", above " + std::to_string(wal_size_warning) +
                  ": a long-running reader may be blocking checkpoints";
    }
  }));
  report.add(timed_check("backup", [&](health_check& c) {
    // Backups are verified when they are made (and again before a restore),
    // so the newest completed one counts as valid here without rereading it.
    const auto all = list_backups(options.path, backup_dir_of(options.path, options));
    if (all.empty()) {
      c.detail = "no backup yet";
    } else {
      const auto age = std::chrono::duration_cast<std::chrono::seconds>(report.checked_at - all.front().created);
      c.detail = "newest backup " + std::to_string(age.count()) + " s old: " + all.front().path.string();
    }
    const auto limit = options.backup_max_age;
    if (limit.count() > 0 && (all.empty() || report.checked_at - all.front().created > limit)) {
      c.status = health_status::degraded;
      c.detail += ", older than backup_max_age (" + std::to_string(limit.count()) + " h)";
    }
  }));
  report.add(timed_check("disk_space", [&](health_check& c) {
    const auto space = std::filesystem::space(options.path.parent_path());
    c.detail = std::to_string(space.available) + " bytes available";
    if (space.available < disk_space_critical) {
      c.status = health_status::unhealthy;
    } else if (space.available < disk_space_low) {
      c.status = health_status::degraded;
    }
  }));
  return report;
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
