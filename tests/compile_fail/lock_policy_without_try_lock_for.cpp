// SPDX-License-Identifier: MIT
// Must not compile: a LockPolicy without try_lock_for is named in the error.
// expect: vecstore: LockPolicy lacks bool try_lock_for\(std::chrono::milliseconds\)
#include <vecstore/vecstore.hpp>

struct half_lock {
  static constexpr bool cross_process = false;
  static constexpr bool crash_safe = true;
  explicit half_lock(const std::filesystem::path&) {}
  void lock() {}
  bool try_lock() { return true; }
  void unlock() {}
  std::optional<long> holder_pid() const { return std::nullopt; }
};

int main() { vecstore::basic_store<half_lock, vecstore::flat_index, vecstore::strict_recovery>::open({}); }
