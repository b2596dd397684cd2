// SPDX-License-Identifier: MIT
// The RecoveryPolicy contract, its trait and its compile-time check.
#pragma once

#include <type_traits>
#include <utility>

#include <vecstore/detail/detect.hpp>
#include <vecstore/recovery/report.hpp>

namespace vecstore {
inline namespace v0 {

/// A RecoveryPolicy decides what happens when a store is found damaged (at
/// open, by a health check, or by a failing read) and `auto_recover` is on.
/// It is stateless: an empty struct with static members.
///
///  - `static recovery_report recover(const recovery_context& ctx)`
///      Called with the store's connection closed and its writer lock held.
///      Either repairs (and reports what it did) or throws corruption_error.
///      Must never delete a file: a replaced store is moved to
///      "<file>.corrupt-<UTC timestamp>" together with its -wal and -shm.
///  - `static constexpr bool replaces_file`
///      True when `recover` may move the store file aside. Such a policy needs
///      a cross-process LockPolicy, since another process could otherwise
///      keep writing into the moved file.
///
/// Shipped, one per file: `strict_recovery` (strict.hpp: touch nothing, throw),
/// `restore_backup_recovery` (restore_backup.hpp: the newest backup that
/// verifies), `salvage_recovery` (salvage.hpp: every record that still reads
/// and whose checksum matches, into a fresh file), `reset_recovery`
/// (reset.hpp: an empty store). The three that replace the file quarantine
/// the damaged one first (detail/quarantine.hpp) and build the replacement
/// under a temporary name beside it, so a failure part-way leaves the
/// damaged store where it was.
namespace detail {
template <class R>
using recovery_recover_t = decltype(R::recover(std::declval<const recovery_context&>()));
template <class R> using recovery_replaces_file_t = decltype(R::replaces_file);
}  // namespace detail

template <class R>
struct is_recovery_policy
    : std::bool_constant<detail::is_detected_exact_v<recovery_report, detail::recovery_recover_t, R> &&
                         detail::is_detected_exact_v<const bool, detail::recovery_replaces_file_t, R>> {};

template <class R>
inline constexpr bool is_recovery_policy_v = is_recovery_policy<R>::value;

template <class R>
struct recovery_requirements {
  static_assert(detail::is_detected_exact_v<recovery_report, detail::recovery_recover_t, R>,
                "vecstore: RecoveryPolicy lacks static recovery_report recover(const recovery_context&)");
  static_assert(detail::is_detected_exact_v<const bool, detail::recovery_replaces_file_t, R>,
                "vecstore: RecoveryPolicy lacks static constexpr bool replaces_file");
};

#if defined(__cpp_concepts)
template <class R>
concept recovery_policy = is_recovery_policy<R>::value;
#endif

}  // namespace v0
}  // namespace vecstore
