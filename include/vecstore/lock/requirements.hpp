// SPDX-License-Identifier: MIT
// The LockPolicy contract, its trait and its compile-time check.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <type_traits>
#include <utility>

#include <vecstore/detail/detect.hpp>

namespace vecstore {
inline namespace v0 {

/// A LockPolicy excludes writers of one store from each other, across the
/// threads of a process and, where it says so, across processes. The store
/// takes it around every write transaction (and for its lifetime in
/// `open_mode::exclusive`). Members, named as the standard's Lockable so
/// `std::unique_lock` works with them:
///
///  - `explicit L(const std::filesystem::path& lock_file)`
///      Prepares the lock for the store whose lock file is `lock_file`
///      ("<store>.lock"). May create that file; must never open the database.
///  - `void lock()` / `bool try_lock()` / `void unlock()`
///      Exclusive ownership. `unlock` only by the thread that locked.
///  - `bool try_lock_for(std::chrono::milliseconds timeout)`
///      Waits at most `timeout`; false when it timed out.
///  - `std::optional<long> holder_pid() const`
///      After a failed try_lock*, the process that held the lock, if known;
///      used in lock_timeout and store_locked messages.
///  - `static constexpr bool cross_process`
///      True when other processes are excluded too.
///  - `static constexpr bool crash_safe`
///      True when a holder that dies (even by SIGKILL) releases the lock.
///
/// Shipped: `file_lock` (default), `named_mutex`, `null_lock`.
template <class L>
struct is_lock_policy;

namespace detail {
template <class L> using lock_lock_t = decltype(std::declval<L&>().lock());
template <class L> using lock_try_lock_t = decltype(std::declval<L&>().try_lock());
template <class L> using lock_unlock_t = decltype(std::declval<L&>().unlock());
template <class L>
using lock_try_lock_for_t = decltype(std::declval<L&>().try_lock_for(std::declval<std::chrono::milliseconds>()));
template <class L> using lock_holder_pid_t = decltype(std::declval<const L&>().holder_pid());
template <class L> using lock_cross_process_t = decltype(L::cross_process);
template <class L> using lock_crash_safe_t = decltype(L::crash_safe);
}  // namespace detail

template <class L>
struct is_lock_policy
    : std::bool_constant<std::is_constructible<L, const std::filesystem::path&>::value &&
                         detail::is_detected_exact_v<void, detail::lock_lock_t, L> &&
                         detail::is_detected_exact_v<bool, detail::lock_try_lock_t, L> &&
                         detail::is_detected_exact_v<void, detail::lock_unlock_t, L> &&
                         detail::is_detected_exact_v<bool, detail::lock_try_lock_for_t, L> &&
                         detail::is_detected_exact_v<std::optional<long>, detail::lock_holder_pid_t, L> &&
                         detail::is_detected_exact_v<const bool, detail::lock_cross_process_t, L> &&
                         detail::is_detected_exact_v<const bool, detail::lock_crash_safe_t, L>> {};

template <class L>
inline constexpr bool is_lock_policy_v = is_lock_policy<L>::value;

/// One readable message per missing member; instantiated by basic_store.
template <class L>
struct lock_requirements {
  static_assert(std::is_constructible<L, const std::filesystem::path&>::value,
                "vecstore: LockPolicy must be constructible from the path of the .lock file");
  static_assert(detail::is_detected_exact_v<void, detail::lock_lock_t, L>, "vecstore: LockPolicy lacks void lock()");
  static_assert(detail::is_detected_exact_v<bool, detail::lock_try_lock_t, L>,
                "vecstore: LockPolicy lacks bool try_lock()");
  static_assert(detail::is_detected_exact_v<void, detail::lock_unlock_t, L>, "vecstore: LockPolicy lacks void unlock()");
  static_assert(detail::is_detected_exact_v<bool, detail::lock_try_lock_for_t, L>,
                "vecstore: LockPolicy lacks bool try_lock_for(std::chrono::milliseconds)");
  static_assert(detail::is_detected_exact_v<std::optional<long>, detail::lock_holder_pid_t, L>,
                "vecstore: LockPolicy lacks std::optional<long> holder_pid() const");
  static_assert(detail::is_detected_exact_v<const bool, detail::lock_cross_process_t, L>,
                "vecstore: LockPolicy lacks static constexpr bool cross_process");
  static_assert(detail::is_detected_exact_v<const bool, detail::lock_crash_safe_t, L>,
                "vecstore: LockPolicy lacks static constexpr bool crash_safe");
};

#if defined(__cpp_concepts)
/// The same requirements as a concept, for users' own templates.
template <class L>
concept lock_policy = is_lock_policy<L>::value;
#endif

}  // namespace v0
}  // namespace vecstore
