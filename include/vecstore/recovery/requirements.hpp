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
/// Shipped: `strict_recovery`; restore-from-backup, salvage and reset follow.
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
