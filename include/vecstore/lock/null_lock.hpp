// SPDX-License-Identifier: MIT
// null_lock: the LockPolicy for one process and one thread; every call compiles to nothing.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>

namespace vecstore {
inline namespace v0 {

/// No locking at all. Use it only when exactly one thread of one process
/// ever opens the store: a second writer would not be excluded.
class null_lock {
 public:
  static constexpr bool cross_process = false;
  static constexpr bool crash_safe = true;  // nothing to leave behind

  explicit null_lock(const std::filesystem::path& /*lock_file*/) noexcept {}
  void lock() noexcept {}
  bool try_lock() noexcept { return true; }
  bool try_lock_for(std::chrono::milliseconds /*timeout*/) noexcept { return true; }
  void unlock() noexcept {}
  /// Never anybody to name: the lock is always free.
  std::optional<long> holder_pid() const noexcept { return std::nullopt; }
};

}  // namespace v0
}  // namespace vecstore
