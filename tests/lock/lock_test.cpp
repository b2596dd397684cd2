// SPDX-License-Identifier: MIT
// The LockPolicies under threads, fork()ed processes, SIGKILLed holders and many waiters.
//
// Children are fork()ed without exec (no SQLite is involved), coordinate over
// pipes, never touch Catch2 and always leave through _exit(). Every wait is
// bounded; a test that fails kills and reaps its children on the way out.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <catch2/catch.hpp>

#include <vecstore/lock/file_lock.hpp>
#include <vecstore/lock/named_mutex.hpp>
#include <vecstore/lock/null_lock.hpp>
#include <vecstore/lock/requirements.hpp>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::dead_pid;
using vecstore_test::temp_dir;
using namespace std::chrono_literals;

namespace {

/// What a store would pass as store_options::lock_timeout in a test: generous,
/// so a loaded 2-core machine never fails a "within" check by being slow.
constexpr std::chrono::milliseconds test_lock_timeout = 5s;
/// No child outlives this; after it, it is SIGKILLed and the test fails.
constexpr std::chrono::milliseconds child_bound = 60s;

using steady = std::chrono::steady_clock;

double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

template <class L>
const char* policy_name() {
  if constexpr (std::is_same_v<L, file_lock>) return "file_lock";
  else if constexpr (std::is_same_v<L, named_mutex>) return "named_mutex";
  else return "null_lock";
}

std::string summary(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  char buf[128];
  std::snprintf(buf, sizeof buf, "min %.3f / median %.3f / max %.3f ms over %zu", v.front(), v[v.size() / 2], v.back(),
                v.size());
  return buf;
}

/// A one-way byte channel between a parent and a child.
class channel {
 public:
  channel() {
    if (::pipe2(fd_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;
  ~channel() {
    ::close(fd_[0]);
    ::close(fd_[1]);
  }
  bool send(char c) const { return ::write(fd_[1], &c, 1) == 1; }
  /// One byte, or '\0' after `timeout`, at end of file or on error.
  char receive(std::chrono::milliseconds timeout) const {
    const auto deadline = steady::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
      if (left < 0) return '\0';
      pollfd p{fd_[0], POLLIN, 0};
      const int n = ::poll(&p, 1, static_cast<int>(left) + 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return '\0';
      char c = '\0';
      return ::read(fd_[0], &c, 1) == 1 ? c : '\0';
    }
  }

 private:
  int fd_[2]{-1, -1};
};

/// fork()ed children of one test. Anything not reaped by the end is SIGKILLed
/// and reaped, so a failed REQUIRE never leaves a process behind.
class children {
 public:
  children() = default;
  children(const children&) = delete;
  children& operator=(const children&) = delete;
  ~children() {
    for (const pid_t pid : pending_) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
    }
  }

  /// Runs `body` in a child; its return value becomes the exit status
  /// (100: it threw). The child never returns into Catch2.
  template <class F>
  pid_t spawn(F&& body) {
    std::fflush(nullptr);  // or the child's _exit could not, but a buffer could be written twice
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      int code = 100;
      try {
        code = body();
      } catch (...) {
      }
      ::_exit(code);
    }
    pending_.push_back(pid);
    return pid;
  }

  /// The child's exit status; -1 when a signal ended it, or it was still
  /// running at `deadline` (it is then SIGKILLed).
  int wait(pid_t pid, steady::time_point deadline) {
    int status = 0;
    for (;;) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      if (done < 0 && errno != EINTR) return forget(pid), -2;
      if (steady::now() >= deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        forget(pid);
        return -1;
      }
      std::this_thread::sleep_for(1ms);
    }
    forget(pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  int wait(pid_t pid) { return wait(pid, steady::now() + child_bound); }

  /// SIGKILLs `pid` (reaped later by wait() or the destructor).
  void kill(pid_t pid) const { ::kill(pid, SIGKILL); }

 private:
  void forget(pid_t pid) { pending_.erase(std::remove(pending_.begin(), pending_.end(), pid), pending_.end()); }
  std::vector<pid_t> pending_;
};

/// Removes a test's shared memory object at the end of the test, after every
/// lock object and child is gone (declare it first). The library itself never
/// removes it (include/vecstore/lock/named_mutex.hpp says why); a test may,
/// because it knows nobody else uses its private path.
template <class L>
struct shm_guard {
  explicit shm_guard(const std::filesystem::path& /*lock_file*/) {}
};
template <>
struct shm_guard<named_mutex> {
  explicit shm_guard(const std::filesystem::path& lock_file) : name(named_mutex::name_for(lock_file)) {}
  shm_guard(const shm_guard&) = delete;
  shm_guard& operator=(const shm_guard&) = delete;
  ~shm_guard() { boost::interprocess::shared_memory_object::remove(name.c_str()); }
  std::string name;
};

std::filesystem::path shm_file(const std::string& name) { return std::filesystem::path("/dev/shm") / name.substr(1); }

/// Counters in a MAP_SHARED|MAP_ANONYMOUS page, created before fork(), so
/// every child updates the same memory. Touched only with __atomic builtins.
struct contention_record {
  int inside;             // processes between lock and unlock right now
  int max_inside;         // the most ever seen at once; 1 unless exclusion failed
  int overlaps;           // entries that found someone else inside
  int ready;              // children that constructed their lock
  int abandoned;          // acquisitions that reported EOWNERDEAD (named_mutex)
  int acquired[16];       // per child
  std::int64_t first_ns;  // CLOCK_MONOTONIC of the first acquisition after the kill
};

class shared_page {
 public:
  shared_page() {
    void* p = ::mmap(nullptr, sizeof(contention_record), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    record_ = static_cast<contention_record*>(p);  // zero-filled
  }
  shared_page(const shared_page&) = delete;
  shared_page& operator=(const shared_page&) = delete;
  ~shared_page() { ::munmap(record_, sizeof(contention_record)); }
  contention_record* operator->() const noexcept { return record_; }
  contention_record* get() const noexcept { return record_; }

 private:
  contention_record* record_;
};

std::int64_t monotonic_ns() {
  // steady_clock is CLOCK_MONOTONIC on Linux: one timeline for every process.
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count();
}

template <class L>
bool took_over(const L& lock) {
  if constexpr (std::is_same_v<L, named_mutex>) return lock.took_over_abandoned();
  else return (void)lock, false;
}

}  // namespace

// ---------------------------------------------------------------------------
// 1-4: the behaviour every cross-process policy must have.

TEMPLATE_TEST_CASE("a lock policy excludes the threads of one process", "[lock][threads]", file_lock, named_mutex) {
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<TestType> shm(path);
  TestType lock(path);

  SECTION("threads incrementing a plain counter under the lock lose no increment") {
    constexpr int threads = 4;
    constexpr int rounds = 10000;
    long counter = 0;  // deliberately not atomic: only the lock protects it
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (int i = 0; i < rounds; ++i) {
          std::lock_guard<TestType> hold(lock);
          ++counter;
        }
      });
    }
    for (auto& t : pool) t.join();
    CHECK(counter == long{threads} * rounds);
  }

  SECTION("try_lock fails while another thread holds it, and succeeds afterwards") {
    std::promise<void> held, release;
    auto held_f = held.get_future();
    auto release_f = release.get_future();
    std::thread holder([&] {
      lock.lock();
      held.set_value();
      release_f.wait_for(child_bound);
      lock.unlock();
    });
    const bool was_held = held_f.wait_for(test_lock_timeout) == std::future_status::ready;
    CHECK(was_held);
    if (was_held) {
      CHECK_FALSE(lock.try_lock());
      CHECK(lock.holder_pid() == long{::getpid()});
      CHECK_FALSE(lock.try_lock_for(50ms));
      CHECK(lock.holder_pid() == long{::getpid()});
    }
    release.set_value();
    holder.join();
    REQUIRE(lock.try_lock());
    lock.unlock();
  }
}

TEMPLATE_TEST_CASE("a lock held by another process fails try_lock, names that process, and is acquired once it unlocks",
                   "[lock][process]", file_lock, named_mutex) {
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<TestType> shm(path);
  children kids;
  channel to_child, to_parent;

  const pid_t child = kids.spawn([&] {
    TestType held(path);
    held.lock();
    to_parent.send('L');
    if (to_child.receive(child_bound) != 'U') return 2;
    held.unlock();
    to_parent.send('u');
    // Stay alive until the parent holds it: unlock(), not exit, released it.
    return to_child.receive(child_bound) == 'X' ? 0 : 3;
  });

  TestType lock(path);
  REQUIRE(to_parent.receive(test_lock_timeout) == 'L');
  CHECK_FALSE(lock.try_lock());
  CHECK(lock.holder_pid() == long{child});
  CHECK_FALSE(lock.try_lock_for(100ms));
  CHECK(lock.holder_pid() == long{child});

  REQUIRE(to_child.send('U'));
  REQUIRE(to_parent.receive(test_lock_timeout) == 'u');
  const auto t0 = steady::now();
  const bool acquired = lock.try_lock_for(test_lock_timeout);
  const double waited = ms_since(t0);
  CHECK(acquired);
  to_child.send('X');
  CHECK(kids.wait(child) == 0);
  if (acquired) lock.unlock();
  std::cout << "[" << policy_name<TestType>() << "] acquired " << waited << " ms after the other process unlocked\n";
}

TEMPLATE_TEST_CASE("a lock whose holder is killed with SIGKILL is taken over by another process within lock_timeout",
                   "[lock][crash]", file_lock, named_mutex) {
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<TestType> shm(path);
  children kids;
  std::vector<double> latencies;

  for (int round = 0; round < 5; ++round) {
    channel from_holder, from_waiter;
    const pid_t holder = kids.spawn([&] {
      TestType held(path);
      held.lock();
      from_holder.send('L');
      std::this_thread::sleep_for(child_bound);  // until SIGKILL
      return 4;
    });
    REQUIRE(from_holder.receive(test_lock_timeout) == 'L');

    const pid_t waiter = kids.spawn([&] {
      TestType lock(path);
      from_waiter.send('W');
      if (!lock.try_lock_for(test_lock_timeout)) return 2;
      from_waiter.send('A');
      const bool expected_takeover = std::is_same_v<TestType, named_mutex>;
      const bool ok = took_over(lock) == expected_takeover;
      lock.unlock();
      return ok ? 0 : 3;
    });
    REQUIRE(from_waiter.receive(test_lock_timeout) == 'W');
    std::this_thread::sleep_for(20ms);  // let it block in try_lock_for (if not, it still must acquire)

    const auto t0 = steady::now();
    kids.kill(holder);
    const char got = from_waiter.receive(test_lock_timeout + 1s);
    const double latency = ms_since(t0);
    REQUIRE(got == 'A');
    CHECK(latency < std::chrono::duration<double, std::milli>(test_lock_timeout).count());
    CHECK(kids.wait(waiter) == 0);  // 3: took_over_abandoned() was wrong
    CHECK(kids.wait(holder) == -1);  // ended by the signal
    latencies.push_back(latency);
  }
  std::cout << "[" << policy_name<TestType>() << "] takeover latency after SIGKILL of the holder: "
            << summary(latencies) << "\n";
}

TEMPLATE_TEST_CASE("many waiters racing for an abandoned lock and then contending never hold it two at a time",
                   "[lock][crash][contention]", file_lock, named_mutex) {
  constexpr int waiters = 6;
  constexpr int acquisitions = 200;
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<TestType> shm(path);
  shared_page page;
  contention_record* rec = page.get();
  children kids;

  channel from_holder;
  const pid_t holder = kids.spawn([&] {
    TestType held(path);
    held.lock();
    from_holder.send('L');
    std::this_thread::sleep_for(child_bound);  // until SIGKILL
    return 4;
  });
  REQUIRE(from_holder.receive(test_lock_timeout) == 'L');

  std::vector<pid_t> pids;
  for (int w = 0; w < waiters; ++w) {
    pids.push_back(kids.spawn([&, w] {
      TestType lock(path);
      __atomic_add_fetch(&rec->ready, 1, __ATOMIC_SEQ_CST);
      int mine = 0;
      for (int attempt = 0; mine < acquisitions; ++attempt) {
        // Mostly blocking lock(); every fourth attempt a try_lock(), which may fail.
        if (attempt % 4 == 3) {
          if (!lock.try_lock()) continue;
        } else {
          lock.lock();
        }
        std::int64_t none = 0;
        __atomic_compare_exchange_n(&rec->first_ns, &none, monotonic_ns(), false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST);
        if (took_over(lock)) __atomic_add_fetch(&rec->abandoned, 1, __ATOMIC_SEQ_CST);
        const int now_inside = __atomic_add_fetch(&rec->inside, 1, __ATOMIC_SEQ_CST);
        if (now_inside > 1) __atomic_add_fetch(&rec->overlaps, 1, __ATOMIC_SEQ_CST);
        int seen = __atomic_load_n(&rec->max_inside, __ATOMIC_SEQ_CST);
        while (now_inside > seen &&
               !__atomic_compare_exchange_n(&rec->max_inside, &seen, now_inside, false, __ATOMIC_SEQ_CST,
                                            __ATOMIC_SEQ_CST)) {
        }
        // Stay inside a little (about 10 us, and yield once) so that broken
        // exclusion would let another process in.
        for (const auto until = steady::now() + 10us; steady::now() < until;) {
        }
        ::sched_yield();
        __atomic_sub_fetch(&rec->inside, 1, __ATOMIC_SEQ_CST);
        ++mine;
        __atomic_store_n(&rec->acquired[w], mine, __ATOMIC_SEQ_CST);
        lock.unlock();
      }
      return 0;
    }));
  }

  // Every waiter has its lock object and is (about to be) blocked on the holder.
  const auto ready_by = steady::now() + test_lock_timeout;
  while (__atomic_load_n(&rec->ready, __ATOMIC_SEQ_CST) < waiters && steady::now() < ready_by) {
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(__atomic_load_n(&rec->ready, __ATOMIC_SEQ_CST) == waiters);
  std::this_thread::sleep_for(100ms);

  const auto t0 = steady::now();
  const std::int64_t killed_ns = monotonic_ns();
  kids.kill(holder);
  const auto deadline = t0 + child_bound;
  std::vector<int> status;
  for (const pid_t pid : pids) status.push_back(kids.wait(pid, deadline));
  const double total = ms_since(t0);
  CHECK(kids.wait(holder) == -1);

  for (int w = 0; w < waiters; ++w) {
    INFO("waiter " << w);
    CHECK(status[static_cast<std::size_t>(w)] == 0);
    CHECK(rec->acquired[w] == acquisitions);
  }
  CHECK(rec->overlaps == 0);
  CHECK(rec->max_inside == 1);
  if constexpr (std::is_same_v<TestType, named_mutex>) {
    CHECK(rec->abandoned == 1);  // exactly one waiter got EOWNERDEAD
  }
  const double first = rec->first_ns > 0 ? double(rec->first_ns - killed_ns) / 1e6 : -1.0;
  std::cout << "[" << policy_name<TestType>() << "] " << waiters << " waiters x " << acquisitions
            << " acquisitions: first acquired " << first << " ms after SIGKILL, all done in " << total
            << " ms, max holders at once " << rec->max_inside << "\n";
}

// ---------------------------------------------------------------------------
// 5: null_lock, and the trait for every shipped policy.

TEST_CASE("every shipped lock policy meets the LockPolicy trait", "[lock]") {
  static_assert(is_lock_policy_v<file_lock>);
  static_assert(is_lock_policy_v<named_mutex>);
  static_assert(is_lock_policy_v<null_lock>);
  static_assert(sizeof(lock_requirements<file_lock>) > 0);
  static_assert(sizeof(lock_requirements<named_mutex>) > 0);
  static_assert(sizeof(lock_requirements<null_lock>) > 0);
  static_assert(file_lock::cross_process && file_lock::crash_safe);
  static_assert(named_mutex::cross_process && named_mutex::crash_safe);
  static_assert(!is_lock_policy_v<int>);
  SUCCEED("checked at compile time");
}

TEST_CASE("null_lock does nothing observable", "[lock][null_lock]") {
  static_assert(!null_lock::cross_process);
  static_assert(null_lock::crash_safe);
  static_assert(std::is_empty_v<null_lock>);
  temp_dir dir;
  null_lock lock(dir / "store.lock");
  const std::chrono::milliseconds some_time{1};
  static_assert(noexcept(lock.lock()) && noexcept(lock.try_lock()) && noexcept(lock.unlock()) &&
                noexcept(lock.try_lock_for(some_time)) && noexcept(lock.holder_pid()));
  lock.lock();
  CHECK(lock.try_lock());  // even while "held": there is nothing to hold
  CHECK(lock.try_lock_for(0ms));
  CHECK_FALSE(lock.holder_pid().has_value());
  lock.unlock();
  { std::lock_guard<null_lock> hold(lock); }
  CHECK_FALSE(std::filesystem::exists(dir / "store.lock"));  // it creates nothing
}

// ---------------------------------------------------------------------------
// 6: named_mutex specifics.

TEST_CASE("named_mutex creates an owner-only shared memory object named from the path and the user, and no file",
          "[lock][named_mutex]") {
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<named_mutex> shm(path);
  named_mutex lock(path);

  const std::regex pattern("/vecstore-" + std::to_string(::geteuid()) + "-[0-9a-f]{16}");
  CHECK(std::regex_match(lock.name(), pattern));
  CHECK(lock.name() == named_mutex::name_for(path));
  CHECK(lock.name() == shm.name);

  struct stat st {};
  REQUIRE(::stat(shm_file(lock.name()).c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == ::geteuid());
  CHECK(static_cast<std::size_t>(st.st_size) == sizeof(named_mutex::segment_layout));
  CHECK_FALSE(std::filesystem::exists(path));  // no file beside the store

  // The same store reached through a symlinked folder or a relative path gets the same lock.
  std::filesystem::create_directory(dir / "real");
  std::filesystem::create_directory_symlink(dir / "real", dir / "alias");
  CHECK(named_mutex::name_for(dir / "alias" / "s.lock") == named_mutex::name_for(dir / "real" / "s.lock"));
  CHECK(named_mutex::name_for(dir / "real" / ".." / "store.lock") == lock.name());
  CHECK(named_mutex::name_for(dir / "other.lock") != lock.name());
}

TEST_CASE("named_mutex cannot be opened by another user", "[lock][named_mutex]") {
  if (::geteuid() != 0) {
    WARN("not root: cannot switch to another user; the 0600 mode is checked by the previous test");
    return;
  }
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<named_mutex> shm(path);
  named_mutex lock(path);
  children kids;
  const std::string name = lock.name();
  const pid_t child = kids.spawn([&] {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 2;  // nobody
    const int rw = ::shm_open(name.c_str(), O_RDWR, 0);
    const int rw_errno = errno;
    const int ro = ::shm_open(name.c_str(), O_RDONLY, 0);
    const int ro_errno = errno;
    return rw == -1 && rw_errno == EACCES && ro == -1 && ro_errno == EACCES ? 0 : 3;
  });
  CHECK(kids.wait(child) == 0);
}

TEST_CASE("named_mutex locks of different paths are independent, and two objects for one path exclude each other",
          "[lock][named_mutex]") {
  temp_dir dir;
  shm_guard<named_mutex> shm_a(dir / "a.lock"), shm_b(dir / "b.lock");
  named_mutex a(dir / "a.lock");
  named_mutex b(dir / "b.lock");
  named_mutex a_again(dir / "a.lock");
  REQUIRE(a.name() != b.name());
  REQUIRE(a.name() == a_again.name());

  a.lock();
  CHECK(b.try_lock());
  CHECK_FALSE(a_again.try_lock());
  CHECK(a_again.holder_pid() == long{::getpid()});
  b.unlock();
  a.unlock();
  CHECK(a_again.try_lock());
  CHECK_FALSE(a.try_lock());
  a_again.unlock();
}

TEST_CASE("named_mutex refuses to be locked again by the thread that holds it instead of deadlocking",
          "[lock][named_mutex]") {
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<named_mutex> shm(path);
  named_mutex lock(path);
  named_mutex same_lock(path);

  lock.lock();
  CHECK_THROWS_AS(lock.lock(), std::logic_error);
  CHECK_THROWS_AS(lock.try_lock_for(10ms), std::logic_error);
  CHECK_THROWS_AS(same_lock.lock(), std::logic_error);  // the pthread mutex's own EDEADLK
  CHECK_FALSE(lock.try_lock());
  lock.unlock();
  CHECK_THROWS_AS(lock.unlock(), std::logic_error);
  CHECK(same_lock.try_lock());
  CHECK_THROWS_AS(lock.unlock(), std::logic_error);  // held, but through the other object
  same_lock.unlock();
}

TEST_CASE("named_mutex releases the lock when the object holding it is destroyed", "[lock][named_mutex]") {
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<named_mutex> shm(path);
  named_mutex other(path);
  {
    named_mutex lock(path);
    lock.lock();
    CHECK_FALSE(other.try_lock());
  }
  CHECK(other.try_lock());
  other.unlock();
}

TEST_CASE("named_mutex is created once when many processes open it for the first time at the same moment",
          "[lock][named_mutex][contention]") {
  constexpr int openers = 8;
  constexpr int rounds = 5;
  constexpr int acquisitions = 50;
  temp_dir dir;
  for (int round = 0; round < rounds; ++round) {
    const auto path = dir / ("store" + std::to_string(round) + ".lock");
    shm_guard<named_mutex> shm(path);
    shared_page page;
    contention_record* rec = page.get();
    children kids;
    channel go;
    std::vector<pid_t> pids;
    for (int w = 0; w < openers; ++w) {
      pids.push_back(kids.spawn([&, w] {
        if (go.receive(child_bound) != 'G') return 2;
        named_mutex lock(path);  // all at once, on a name nobody created yet
        for (int i = 0; i < acquisitions; ++i) {
          lock.lock();
          if (__atomic_add_fetch(&rec->inside, 1, __ATOMIC_SEQ_CST) > 1) {
            __atomic_add_fetch(&rec->overlaps, 1, __ATOMIC_SEQ_CST);
          }
          ::sched_yield();
          __atomic_sub_fetch(&rec->inside, 1, __ATOMIC_SEQ_CST);
          __atomic_store_n(&rec->acquired[w], i + 1, __ATOMIC_SEQ_CST);
          lock.unlock();
        }
        return 0;
      }));
    }
    REQUIRE_FALSE(std::filesystem::exists(shm_file(shm.name)));
    for (int w = 0; w < openers; ++w) REQUIRE(go.send('G'));
    const auto deadline = steady::now() + child_bound;
    for (int w = 0; w < openers; ++w) {
      INFO("round " << round << ", opener " << w);
      CHECK(kids.wait(pids[static_cast<std::size_t>(w)], deadline) == 0);
      CHECK(rec->acquired[w] == acquisitions);
    }
    CHECK(rec->overlaps == 0);
  }
}

namespace {

/// Creates the segment of `path` by hand, as a creator that stopped early
/// would leave it, with its state word set to `init`.
void plant_segment(const std::filesystem::path& path, std::uint32_t init, unsigned mode = 0600) {
  namespace bip = boost::interprocess;
  bip::shared_memory_object segment(bip::create_only, named_mutex::name_for(path).c_str(), bip::read_write,
                                    bip::permissions(mode));
  segment.truncate(sizeof(named_mutex::segment_layout));
  bip::mapped_region region(segment, bip::read_write);
  auto* s = static_cast<named_mutex::segment_layout*>(region.get_address());
  __atomic_store_n(&s->init, init, __ATOMIC_SEQ_CST);
}

}  // namespace

TEST_CASE("named_mutex takes over a segment left half-initialized by a process that died", "[lock][named_mutex]") {
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<named_mutex> shm(path);
  const pid_t gone = dead_pid();
  plant_segment(path, static_cast<std::uint32_t>(gone));

  const auto t0 = steady::now();
  named_mutex lock(path);
  const double opened = ms_since(t0);
  CHECK(opened < std::chrono::duration<double, std::milli>(test_lock_timeout).count());
  REQUIRE(lock.try_lock_for(test_lock_timeout));
  CHECK_FALSE(lock.took_over_abandoned());
  lock.unlock();

  // And it now works across processes like any other.
  children kids;
  const pid_t child = kids.spawn([&] {
    named_mutex l(path);
    if (!l.try_lock_for(test_lock_timeout)) return 2;
    l.unlock();
    return 0;
  });
  CHECK(kids.wait(child) == 0);
  std::cout << "[named_mutex] opened a segment abandoned mid-initialization (pid " << gone << ") in " << opened
            << " ms\n";
}

TEST_CASE("named_mutex reports a segment stuck initializing by a live process instead of waiting for ever",
          "[lock][named_mutex]") {
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<named_mutex> shm(path);
  plant_segment(path, static_cast<std::uint32_t>(::getpid()));  // alive: this very process
  const std::string expected = "vecstore: the shared memory lock was never initialized (" +
                               shm_file(named_mutex::name_for(path)).string() + "): process " +
                               std::to_string(::getpid()) +
                               " started creating it and is alive but has not finished. Check that process; if it "
                               "is stuck, stop it";
  const auto t0 = steady::now();
  CHECK_THROWS_MATCHES(named_mutex(path, 200ms), vecstore::lock_timeout, Catch::Matchers::Message(expected));
  const double waited = ms_since(t0);
  CHECK(waited >= 200.0);
  CHECK(waited < 200.0 + std::chrono::duration<double, std::milli>(test_lock_timeout).count());
}

TEST_CASE("named_mutex refuses a shared memory object that other users could open", "[lock][named_mutex]") {
  temp_dir dir;
  const auto path = dir / "store.lock";
  shm_guard<named_mutex> shm(path);
  plant_segment(path, named_mutex::init_empty, 0644);
  const std::string expected = "vecstore: refusing the shared memory lock (" +
                               shm_file(named_mutex::name_for(path)).string() + "): it is owned by uid " +
                               std::to_string(::geteuid()) +
                               " with mode 0644, not by this user with mode 0600. Check /dev/shm (mounted, "
                               "writable, not full) and that no other user owns this name; remove it only when no "
                               "process uses the store";
  CHECK_THROWS_MATCHES(named_mutex(path), io_error, Catch::Matchers::Message(expected));
  try {
    named_mutex refused(path);
  } catch (const io_error& e) {
    CHECK(e.code() == errc::io_error);
    CHECK(e.path() == shm_file(named_mutex::name_for(path)));
  }
}

// ---------------------------------------------------------------------------
// 7: file_lock specifics.

TEST_CASE("file_lock creates its lock file owner-only", "[lock][file_lock]") {
  temp_dir dir;
  const auto path = dir / "store.lock";
  file_lock lock(path);
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == ::geteuid());
}

TEST_CASE("file_lock refuses a symlink planted at the lock path", "[lock][file_lock]") {
  temp_dir dir;
  const auto path = dir / "store.lock";
  const auto target = dir / "target";
  const std::string expected = "vecstore: cannot create the lock file (" + path.string() +
                               "): Too many levels of symbolic links. Check that the folder exists and is writable "
                               "by this user";

  SECTION("pointing at nothing: the target is not created") {
    std::filesystem::create_symlink(target, path);
    CHECK_THROWS_MATCHES(file_lock(path), io_error, Catch::Matchers::Message(expected));
    CHECK_FALSE(std::filesystem::exists(target));
  }
  SECTION("pointing at an existing file: it is not locked or changed") {
    {
      std::FILE* f = std::fopen(target.c_str(), "w");
      REQUIRE(f != nullptr);
      std::fputs("keep", f);
      std::fclose(f);
    }
    std::filesystem::create_symlink(target, path);
    CHECK_THROWS_MATCHES(file_lock(path), io_error, Catch::Matchers::Message(expected));
    CHECK(std::filesystem::file_size(target) == 4);
  }
}
