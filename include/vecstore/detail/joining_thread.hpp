// SPDX-License-Identifier: MIT
// joining_thread: one background thread that is always joined, never left running.
#pragma once

#include <thread>
#include <utility>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// At most one thread at a time: start() joins the previous one first, and
/// the destructor joins the last, so an owner that throws or is destroyed
/// never leaves a thread behind that reads it (std::thread would terminate
/// the process instead). Not synchronized: its owner calls it under a lock.
class joining_thread {
 public:
  joining_thread() = default;
  joining_thread(const joining_thread&) = delete;
  joining_thread& operator=(const joining_thread&) = delete;
  ~joining_thread() { join(); }

  template <class Fn>
  void start(Fn&& fn) {
    join();
    thread_ = std::thread(std::forward<Fn>(fn));
  }

  /// Waits for the thread, if one runs.
  void join() noexcept {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
