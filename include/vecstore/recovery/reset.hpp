// SPDX-License-Identifier: MIT
// reset_recovery: the RecoveryPolicy that moves a damaged store aside and
// starts an empty one (the "reset on corruption" users wrote by hand).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <vecstore/detail/quarantine.hpp>
#include <vecstore/options.hpp>
#include <vecstore/recovery/report.hpp>
#include <vecstore/storage/backup.hpp>

namespace vecstore {
inline namespace v0 {

/// Moves the damaged store to "<file>.corrupt-<UTC timestamp>" (with its -wal
/// and -shm) and puts an empty store in its place. Nothing is deleted: the
/// old data stays in the quarantined file for a person (or salvage_recovery
/// run on a copy) to look at. The report counts the records left behind
/// when the damaged file still says how many it held.
struct reset_recovery {
  static constexpr bool replaces_file = true;

  static recovery_report recover(const recovery_context& ctx) {
    const auto started = std::chrono::steady_clock::now();
    const store_options defaults;
    const store_options& options = ctx.options ? *ctx.options : defaults;

    recovery_report report;
    report.policy = "reset_recovery";
    report.action = "reset";
    report.problem = ctx.problem;

    const auto held = detail::read_record_count(ctx.file);
    // The empty store is made first, so a failure leaves the damaged one in place.
    detail::temporary_file fresh(detail::temporary_name(ctx.file.parent_path(), ctx.file.filename().string()));
    auto c = detail::open_fresh_store(fresh.path(), options);
    detail::finish_fresh_store(c);
    report.quarantined = detail::quarantine(ctx.file);
    detail::install_store_file(fresh.path(), ctx.file, report.quarantined);
    fresh.release();

    report.rows_lost = held.value_or(0);
    report.note = (held ? "the damaged store held " + std::to_string(*held) + " records"
                        : std::string("the damaged store no longer says how many records it held")) +
                  "; they remain in " + report.quarantined.string() + " and the store is now empty";
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return report;
  }
};

}  // namespace v0
}  // namespace vecstore
