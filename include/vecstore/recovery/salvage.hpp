// SPDX-License-Identifier: MIT
// salvage_recovery: the RecoveryPolicy that copies every record that still
// reads, and whose checksum matches, from a damaged store into a fresh one.
#pragma once

#include <chrono>
#include <string>

#include <vecstore/detail/quarantine.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/options.hpp>
#include <vecstore/recovery/report.hpp>
#include <vecstore/recovery/salvage/salvager.hpp>
#include <vecstore/storage/backup.hpp>

// The policy's parts, each in a header of its own under recovery/salvage/:
// range_reader.hpp (reading rows around the damage), rebuilt_header.hpp (a
// readable copy of a file whose header alone is damaged), salvager.hpp
// (writing what verifies into the fresh store) and backup_fill.hpp (what
// restore_backup_recovery adds from a backup). This header is the policy and
// salvage_in_place: the fresh store, its verification, and the swap that puts
// it in place.

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Salvages the damaged `ctx.file` into a fresh store beside it, lets
/// `fill(fresh_connection, salvager)` add to it and complete the report,
/// verifies the result (it must hold exactly report.rows_saved records),
/// then moves the damaged file aside (quarantine) and the fresh one into its
/// place. A failure before the swap leaves the damaged store where it was.
/// Shared by salvage_recovery and restore_backup_recovery.
template <class Fill>
inline void salvage_in_place(const recovery_context& ctx, const store_options& options, recovery_report& report,
                             Fill&& fill) {
  temporary_file fresh(temporary_name(ctx.file.parent_path(), ctx.file.filename().string()));
  {
    auto out = open_fresh_store(fresh.path(), options);
    salvager s(ctx.file, *out);
    s.run(report);
    fill(*out, s);
    finish_fresh_store(out);
  }
  const verify_result check = verify_store_file(fresh.path(), false);
  if (!check.ok || check.records != report.rows_saved) {
    throw_error<io_error>("the salvaged store does not verify", fresh.path(),
                          check.ok ? "it holds " + std::to_string(check.records) + " records, not " +
                                         std::to_string(report.rows_saved)
                                   : check.problem,
                          "Nothing was changed; report this as a vecstore bug");
  }
  report.quarantined = quarantine(ctx.file);
  install_store_file(fresh.path(), ctx.file, report.quarantined);
  fresh.release();
}

}  // namespace detail

/// Copies what still reads from a damaged store into a fresh one, then moves
/// the damaged file to "<file>.corrupt-<UTC timestamp>" (with its -wal and
/// -shm) and the fresh one into its place. Debian's SQLite has no .recover,
/// so tables are read by row id ranges, bisecting around the ranges that
/// fail. A record is kept only when its embedding's checksum (over
/// collection, id and bytes) matches and its metadata reads and is well
/// typed; its document comes with it. Collection ids and row ids are kept,
/// so every checksum still matches. The report counts saved and lost
/// records and names the lost ones. When not even the collections table
/// reads, the result is an empty store and the report says so.
struct salvage_recovery {
  static constexpr bool replaces_file = true;

  static recovery_report recover(const recovery_context& ctx) {
    const auto started = std::chrono::steady_clock::now();
    const store_options defaults;
    const store_options& options = ctx.options ? *ctx.options : defaults;

    recovery_report report;
    report.policy = "salvage_recovery";
    report.action = "salvaged";
    report.problem = ctx.problem;
    detail::salvage_in_place(ctx, options, report, [&](detail::connection&, const detail::salvager& s) {
      report.lost_records = detail::salvager::names(s.lost());
    });
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return report;
  }
};

}  // namespace v0
}  // namespace vecstore
