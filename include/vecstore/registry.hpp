// SPDX-License-Identifier: MIT
// The process-wide registry that makes `open` return one instance per store file.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <typeindex>
#include <utility>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// One open store per canonical path per process. Two instances of one file
/// in a process would hold two lock objects, and closing either one's
/// descriptor drops the fcntl locks of both (RELIABILITY.md §1.2).
class registry {
 public:
  static registry& instance() {
    static registry r;
    return r;
  }

  /// Returns the live instance for `path` if one of type `Store` exists,
  /// otherwise builds one with `make()` and records it. Holding the registry
  /// mutex while building makes concurrent first opens of one path build once.
  /// Throws via `on_type_clash` when the path is open as another composition.
  template <class Store, class Make, class Clash>
  std::shared_ptr<Store> find_or_open(const std::filesystem::path& path, Make&& make, Clash&& on_type_clash) {
    std::lock_guard<std::mutex> guard(mutex_);
    auto it = open_.find(path);
    if (it != open_.end()) {
      if (std::shared_ptr<void> live = it->second.instance.lock()) {
        if (it->second.type != std::type_index(typeid(Store))) on_type_clash();
        return std::static_pointer_cast<Store>(live);
      }
    }
    std::shared_ptr<Store> made = make();
    open_.insert_or_assign(path, entry{made, std::type_index(typeid(Store))});
    return made;
  }

  /// Runs `teardown` (closing the connection and the lock file) and forgets
  /// `path`, under the registry mutex: a concurrent open of the same path
  /// waits, so the old instance's descriptors are closed before the new
  /// instance opens and locks its own.
  template <class Teardown>
  void close(const std::filesystem::path& path, const void* instance, Teardown&& teardown) {
    std::lock_guard<std::mutex> guard(mutex_);
    teardown();
    auto it = open_.find(path);
    if (it == open_.end()) return;
    const std::shared_ptr<void> live = it->second.instance.lock();
    if (!live || live.get() == instance) open_.erase(it);
  }

 private:
  struct entry {
    std::weak_ptr<void> instance;
    std::type_index type;
  };
  std::mutex mutex_;
  std::map<std::filesystem::path, entry> open_;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
