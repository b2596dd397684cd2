// SPDX-License-Identifier: MIT
// strict_recovery: the RecoveryPolicy that touches nothing and reports damage as corruption_error.
#pragma once

#include <vecstore/errors.hpp>
#include <vecstore/recovery/report.hpp>

namespace vecstore {
inline namespace v0 {

/// Leaves a damaged store exactly as it is and throws `corruption_error`
/// naming what was found. For deployments where a person decides what to
/// restore, or where another system owns the backups.
struct strict_recovery {
  /// True when the policy may move the store file aside and create another.
  static constexpr bool replaces_file = false;

  [[noreturn]] static recovery_report recover(const recovery_context& ctx) {
    throw corruption_error(ctx.problem + " [strict_recovery: nothing was changed]", ctx.file);
  }
};

}  // namespace v0
}  // namespace vecstore
