// SPDX-License-Identifier: MIT
// The process-wide registry that makes `open` return one instance per store file.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <typeindex>
#include <utility>
#include <vector>

#include <pthread.h>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// What the registry calls around fork() on every open store. SQLite state
/// must not cross fork() (howtocorrupt.html §2.6): before it, each store
/// closes its connection with all its mutexes held; after it, parent and
/// child release the mutexes and reconnect on next use.
class fork_aware {
 public:
  virtual void before_fork() noexcept = 0;
  virtual void after_fork(bool in_child) noexcept = 0;

 protected:
  ~fork_aware() = default;
};

/// One open store per canonical path per process. Two instances of one file
/// in a process would hold two lock objects, and closing either one's
/// descriptor drops the fcntl locks of both (POSIX fcntl semantics; see
/// docs/architecture.md, "Files of a store").
class registry {
 public:
  /// Created on first use and never destroyed: a store held by a
  /// namespace-scope or static shared_ptr, or by a thread still running at
  /// exit, closes through the registry whatever the order of static
  /// destruction, so the registry must outlive them all.
  static registry& instance() {
    static registry* const r = new registry();
    return *r;
  }

  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  /// Returns the live instance for `path` if one of type `Store` exists,
  /// otherwise builds one with `make()` and records it. Holding the registry
  /// mutex while building makes concurrent first opens of one path build once.
  /// Throws via `on_type_clash` when the path is open as another composition.
  /// `Store` must derive from fork_aware.
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
    open_.insert_or_assign(path, entry{made, std::type_index(typeid(Store)), static_cast<fork_aware*>(made.get())});
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
  registry() { ::pthread_atfork(&registry::prepare, &registry::parent, &registry::child); }

  // pthread_atfork handlers: the registry mutex and every store's mutexes are
  // held across fork() so no other thread is inside a store when it happens.
  static void prepare() {
    registry& r = instance();
    r.mutex_.lock();
    for (auto& [path, e] : r.open_) {
      if (std::shared_ptr<void> live = e.instance.lock()) {
        e.hooks->before_fork();
        r.forking_.emplace_back(std::move(live), e.hooks);
      }
    }
  }
  static void parent() { instance().finish_fork(false); }
  static void child() { instance().finish_fork(true); }

  void finish_fork(bool in_child) {
    for (auto& [live, hooks] : forking_) hooks->after_fork(in_child);
    std::vector<std::pair<std::shared_ptr<void>, fork_aware*>> release;
    release.swap(forking_);
    mutex_.unlock();
    // Dropping the references may run a destructor, which takes mutex_.
    release.clear();
  }

  struct entry {
    entry(std::weak_ptr<void> i, std::type_index t, fork_aware* h) : instance(std::move(i)), type(t), hooks(h) {}
    std::weak_ptr<void> instance;
    std::type_index type;
    fork_aware* hooks;
  };
  std::mutex mutex_;
  std::map<std::filesystem::path, entry> open_;
  std::vector<std::pair<std::shared_ptr<void>, fork_aware*>> forking_;  // stores kept alive across a fork
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
