// SPDX-License-Identifier: MIT
// ThreadSanitizer's annotation entry points, declared weak: null unless the
// program runs under TSan, so calling them costs a null check otherwise.
#pragma once

// The signatures of <sanitizer/tsan_interface.h>, which is not always installed.
extern "C" {
void __tsan_mutex_pre_lock(void* addr, unsigned flags) __attribute__((weak));
void __tsan_mutex_post_lock(void* addr, unsigned flags, int recursion) __attribute__((weak));
int __tsan_mutex_pre_unlock(void* addr, unsigned flags) __attribute__((weak));
void __tsan_mutex_post_unlock(void* addr, unsigned flags) __attribute__((weak));
}

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Tells TSan that the lock at `addr` was released by means it cannot see.
inline void tsan_released(void* addr) noexcept {
  if (__tsan_mutex_pre_unlock && __tsan_mutex_post_unlock) {
    __tsan_mutex_pre_unlock(addr, 0);
    __tsan_mutex_post_unlock(addr, 0);
  }
}

/// Tells TSan that the lock at `addr` is now held, taken by means it cannot see.
inline void tsan_acquired(void* addr) noexcept {
  if (__tsan_mutex_pre_lock && __tsan_mutex_post_lock) {
    constexpr unsigned try_lock = 1u << 4;  // __tsan_mutex_try_lock: no deadlock bookkeeping
    __tsan_mutex_pre_lock(addr, try_lock);
    __tsan_mutex_post_lock(addr, try_lock, 0);
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
