// SPDX-License-Identifier: MIT
// The search threads: the process-wide thread count (set_search_threads), the persistent pool and parallel_run.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <unistd.h>

namespace vecstore {
inline namespace v0 {

/// @name Search threads
///
/// A scan over many rows is split into row ranges scored on several threads
/// (each with its own top-k, merged at the end). How many threads one search
/// may use is a process-wide setting, read by every index at each search:
/// the store constructs its indexes itself, so a per-index knob would not be
/// reachable through it. An index may still override it (`flat_index::set_threads`,
/// `ivf_index::set_threads`).
///
/// The threads come from one persistent pool per process, created on first
/// use (spawning threads per query costs more than a small scan: see
/// docs/benchmarks.md), and the calling thread always works too. A search
/// that reads less than `detail::min_parallel_work` floats per thread stays on
/// the calling thread. After `fork()` the child builds its own pool on first
/// use (the parent's threads do not exist there).
/// @{

namespace detail {
/// 0 means "not set": use std::thread::hardware_concurrency().
inline std::atomic<std::size_t>& search_threads_setting() noexcept {
  static std::atomic<std::size_t> setting{0};
  return setting;
}
}  // namespace detail

/// Sets how many threads one search may use, the caller included; 0 restores
/// the default, `std::thread::hardware_concurrency()`. 1 keeps every search on
/// the calling thread. Safe to call at any time from any thread; searches
/// already running keep the count they started with.
inline void set_search_threads(std::size_t n) noexcept { detail::search_threads_setting().store(n); }

/// The thread count a search may use now (at least 1).
inline std::size_t search_threads() noexcept {
  const std::size_t n = detail::search_threads_setting().load();
  if (n != 0) return n;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<std::size_t>(hw);
}

/// @}

namespace detail {

/// Floats one task must read before a scan is split across threads. Waking a
/// pooled thread and merging its top-k costs about 5-20 us; 1 Mi floats
/// (4 MiB, ~0.3 ms on one core) is where two threads measured faster than
/// one for a single query on this machine (benchmarks/kernel_bench.cpp,
/// BM_flat_threads; docs/benchmarks.md).
inline constexpr std::size_t min_parallel_work = std::size_t{1} << 20;

/// How many tasks a scan of `work` floats (rows x dim x queries) is split
/// into: at most `threads`, and none smaller than `min_work`.
inline std::size_t tasks_for(std::size_t work, std::size_t threads,
                             std::size_t min_work = min_parallel_work) noexcept {
  const std::size_t by_work = work / min_work;
  return (std::max)(std::size_t{1}, (std::min)(threads, by_work));
}

/// How long an idle pool thread, and a caller waiting for the last task of
/// its job, poll before they sleep. Searches come in quick succession (an IVF
/// query is two jobs: probe, then scan), and waking a sleeping thread costs
/// tens of microseconds on a virtual machine, as much as a small scan.
inline constexpr std::chrono::microseconds pool_spin{100};

/// Polls `ready()` for up to `pool_spin`, yielding the core between polls.
template <class Ready>
void spin_until(Ready ready) {
  const auto until = std::chrono::steady_clock::now() + pool_spin;
  while (!ready() && std::chrono::steady_clock::now() < until) std::this_thread::yield();
}

/// A small persistent pool. `run(n, fn)` calls `fn(0..n-1)`, each once, on
/// the pool's threads and on the caller, and returns when all are done
/// (rethrowing the first exception). Any number of threads may call `run` at
/// once: each call is a job in a queue, and a caller always works through its
/// own job too, so a busy pool delays a search but never deadlocks it.
class thread_pool {
 public:
  explicit thread_pool(long owner_pid = 0) : owner_(owner_pid) {}
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  /// Grows the pool to at least `n` worker threads (it never shrinks).
  void ensure_workers(std::size_t n) {
    if (worker_count_.load(std::memory_order_acquire) >= n) return;
    std::lock_guard<std::mutex> guard(mutex_);
    while (workers_.size() < n) {
      workers_.emplace_back([this] { work(); });
      worker_count_.store(workers_.size(), std::memory_order_release);
    }
  }

  std::size_t workers() const noexcept { return worker_count_.load(std::memory_order_acquire); }
  /// The process that created the pool; its threads exist only there.
  long owner() const noexcept { return owner_; }

  void run(std::size_t tasks, const std::function<void(std::size_t)>& fn) {
    if (tasks == 0) return;
    if (tasks == 1 || workers() == 0) {
      for (std::size_t i = 0; i < tasks; ++i) fn(i);
      return;
    }
    auto j = std::make_shared<job>();
    j->fn = &fn;
    j->count = tasks;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      queue_.push_back(j);
      queued_.store(queue_.size(), std::memory_order_release);
    }
    // Wake as many workers as there are tasks besides the caller's.
    if (tasks - 1 >= workers()) {
      wake_.notify_all();
    } else {
      for (std::size_t i = 0; i + 1 < tasks; ++i) wake_.notify_one();
    }
    execute(*j);
    spin_until([&] { return j->finished.load(std::memory_order_acquire) == j->count; });
    {
      std::unique_lock<std::mutex> done(j->mutex);
      j->done.wait(done, [&] { return j->finished == j->count; });
    }
    retire(j);
    if (j->error) std::rethrow_exception(j->error);
  }

 private:
  struct job {
    const std::function<void(std::size_t)>* fn = nullptr;
    std::size_t count = 0;
    std::atomic<std::size_t> next{0};
    std::mutex mutex;                 // guards changes of finished, and error
    std::condition_variable done;
    std::atomic<std::size_t> finished{0};  // also read without the mutex, while spinning
    std::exception_ptr error;
  };

  // Claims and runs tasks of `j` until none is left.
  static void execute(job& j) {
    for (;;) {
      const std::size_t i = j.next.fetch_add(1, std::memory_order_relaxed);
      if (i >= j.count) return;
      std::exception_ptr failed;
      try {
        (*j.fn)(i);
      } catch (...) {
        failed = std::current_exception();
      }
      std::lock_guard<std::mutex> guard(j.mutex);
      if (failed && !j.error) j.error = failed;
      if (++j.finished == j.count) j.done.notify_all();
    }
  }

  void retire(const std::shared_ptr<job>& j) {
    std::lock_guard<std::mutex> guard(mutex_);
    const auto it = std::find(queue_.begin(), queue_.end(), j);
    if (it != queue_.end()) queue_.erase(it);
    queued_.store(queue_.size(), std::memory_order_release);
  }

  void work() {
    for (;;) {
      std::shared_ptr<job> j;
      spin_until([&] { return queued_.load(std::memory_order_acquire) != 0; });
      {
        std::unique_lock<std::mutex> guard(mutex_);
        wake_.wait(guard, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        j = queue_.front();
        // A job whose tasks are all claimed leaves the queue; its owner
        // still waits for the ones running.
        if (j->next.load(std::memory_order_relaxed) + 1 >= j->count) {
          queue_.pop_front();
          queued_.store(queue_.size(), std::memory_order_release);
        }
      }
      execute(*j);
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<job>> queue_;
  std::atomic<std::size_t> queued_{0};  // queue_.size(), for idle workers to poll without the mutex
  std::vector<std::thread> workers_;
  std::atomic<std::size_t> worker_count_{0};
  bool stop_ = false;
  long owner_;
};

/// The process's search pool, with at least `workers` threads. Created on
/// first use and never destroyed: at exit its idle threads simply end with
/// the process, and a child of fork() (where those threads do not exist)
/// builds a pool of its own instead of touching the parent's.
inline thread_pool& search_pool(std::size_t workers) {
  static std::atomic<thread_pool*> current{nullptr};
  const long pid = static_cast<long>(::getpid());
  thread_pool* p = current.load(std::memory_order_acquire);
  while (p == nullptr || p->owner() != pid) {
    // Intentionally leaked (see above); a thread that loses the race deletes its own.
    thread_pool* fresh = new thread_pool(pid);
    if (current.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) {
      p = fresh;
      break;
    }
    delete fresh;
  }
  p->ensure_workers(workers);
  return *p;
}

/// Runs `fn(0..tasks-1)` on the search pool (the caller included).
inline void parallel_run(std::size_t tasks, const std::function<void(std::size_t)>& fn) {
  if (tasks <= 1) {
    if (tasks == 1) fn(0);
    return;
  }
  search_pool(tasks - 1).run(tasks, fn);
}


/// Splits `count` items into `tasks` nearly equal ranges, each a multiple of
/// `grain` (but the last); range `t` is [cut(t), cut(t + 1)).
inline std::size_t range_cut(std::size_t count, std::size_t tasks, std::size_t t, std::size_t grain) noexcept {
  if (t >= tasks) return count;
  const std::size_t raw = count / tasks * t + (std::min)(t, count % tasks);
  return (std::min)(count, raw / grain * grain);
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
