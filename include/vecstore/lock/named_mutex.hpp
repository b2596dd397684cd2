// SPDX-License-Identifier: MIT
// named_mutex: a LockPolicy whose lock is a robust process-shared pthread mutex in POSIX shared memory.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <vecstore/detail/tsan.hpp>
#include <vecstore/errors.hpp>


namespace vecstore {
inline namespace v0 {

/// Writer exclusion across processes and threads through a lock that lives in
/// shared memory instead of a file (Linux; POSIX robust mutexes).
///
/// How it works
/// - The lock is a `pthread_mutex_t` with PTHREAD_PROCESS_SHARED,
///   PTHREAD_MUTEX_ROBUST and PTHREAD_MUTEX_ERRORCHECK, placed in a tiny POSIX
///   shared memory object (`boost::interprocess::shared_memory_object` +
///   `mapped_region`) named "/vecstore-<uid>-<16 hex digits>": the euid and a
///   64-bit FNV-1a hash of the lock file's canonical path. No file is created
///   or opened; the path only names the lock. The object is created 0600 and,
///   before it is mapped, checked to be owned by this user and closed to
///   everyone else, so another user can neither hold, open nor plant it.
/// - Threads: it is a real mutex, so the threads of one process exclude each
///   other through it directly; a thread locking it again while it holds it
///   gets std::logic_error instead of a silent deadlock (`try_lock` returns
///   false, like file_lock).
/// - Crashes: when a holder dies, even by SIGKILL, the kernel walks its robust
///   list, marks the mutex owner-dead and wakes one waiter; exactly one
///   acquirer gets EOWNERDEAD, calls `pthread_mutex_consistent` and holds the
///   lock (`took_over_abandoned()` then says so). The writes it protects are
///   SQLite transactions, all-or-nothing, so nothing is left to repair.
/// - Creation race: the first word of the segment is zero in a fresh object,
///   the pid of the process initializing the mutex while it does, and
///   `ready` afterwards. One process wins the compare-and-swap 0 -> pid and
///   initializes; the others wait. A creator killed mid-initialization leaves
///   its (dead) pid there: a waiter that finds `kill(pid, 0) == ESRCH` takes
///   over with one compare-and-swap pid -> own pid, so exactly one
///   re-initializes. State and pid share one word so no process ever sees
///   "initializing" without knowing by whom. A creator that stays alive but
///   never finishes (stopped, or a reused pid) makes the constructor throw
///   lock_error after `init_timeout` rather than wait for ever.
/// - `holder_pid()`: the holder writes its pid into the segment after it
///   acquires and clears it before it unlocks; a failed try_lock* reads it.
///
/// Trade-offs against file_lock
/// - No file beside the store, so it works where the store's folder is
///   read-only; but the lock lives only until reboot (tmpfs), and shared memory
///   names are per host (strictly, per IPC/mount namespace: containers that
///   share a store file but not /dev/shm do not exclude each other; pids are
///   compared within one pid namespace).
/// - Taking over an abandoned lock is done by the kernel at the holder's exit
///   (well under a millisecond, no polling), but every takeover is visible and
///   this lock cannot tell a stopped (SIGSTOP) holder from a slow one; neither
///   can file_lock.
/// - Uncontended lock/unlock are futex operations without a syscall, cheaper
///   than file_lock's two fcntl calls plus a mutex.
/// - The name is predictable: another user cannot use it, but could occupy it
///   first; the constructor then refuses with io_error naming the object.
///
/// Why not `boost::interprocess::named_mutex`: in Boost 1.74 on Linux it is a
/// POSIX named semaphore, with no owner: it stays locked for ever when its
/// holder is killed, and any process can unlock it (so two holders; also in
/// docs/policies.md, "Lock"). Boost's `interprocess_mutex` is not robust in
/// 1.74, and from 1.78 on EOWNERDEAD poisons it instead of recovering.
///
/// The segment is never removed, by design: removing a name that a process
/// still has mapped lets the next opener create a fresh mutex of the same name
/// while the old one is held, i.e. two holders. It is tiny (56 bytes on
/// x86-64, one page of tmpfs), so it is left in /dev/shm until reboot; delete
/// /dev/shm/vecstore-* by hand only when no process can be using the store.
///
/// After fork(), the child does not hold a lock its parent holds (the owner is
/// a thread id); a child that needs the lock constructs its own object.
class named_mutex {
 public:
  static constexpr bool cross_process = true;
  static constexpr bool crash_safe = true;

  /// Opens (creating on first use) the shared lock named after `lock_file`.
  /// Waits at most `init_timeout` for another process to finish creating it.
  /// Throws io_error when the shared memory object cannot be created, opened,
  /// sized or mapped, or belongs to someone else; lock_error when it stays
  /// "being initialized" by a live process past `init_timeout`.
  explicit named_mutex(const std::filesystem::path& lock_file,
                       std::chrono::milliseconds init_timeout = std::chrono::seconds(5))
      : path_(lock_file), name_(name_for(lock_file)) {
    open_segment();
    wait_until_ready(init_timeout);
  }
  named_mutex(const named_mutex&) = delete;
  named_mutex& operator=(const named_mutex&) = delete;

  /// Releases the lock if the destroying thread still holds it: unmapping a
  /// held robust mutex would leave it locked for ever (the kernel can no
  /// longer reach it to mark it owner-dead).
  ~named_mutex() {
    if (owner_tid_.load() == ::gettid()) release();
  }

  void lock() {
    refuse_relock();
    acquired(::pthread_mutex_lock(&segment()->mutex));
  }

  /// False when held, by another process or thread or by this very thread
  /// (glibc reports the last as EDEADLK for an error-checking mutex).
  bool try_lock() {
    const int rc = ::pthread_mutex_trylock(&segment()->mutex);
    return acquired(rc == EDEADLK ? EBUSY : rc);
  }

  /// Waits up to `timeout` (pthread_mutex_timedlock on an absolute
  /// CLOCK_REALTIME deadline, retried on the steady clock when the wall clock
  /// jumps forward).
  bool try_lock_for(std::chrono::milliseconds timeout) {
    refuse_relock();
    // Cap absurd timeouts so the deadline arithmetic cannot overflow.
    timeout = (std::min)(timeout, std::chrono::milliseconds(std::chrono::hours(24 * 365)));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left =
          (std::max)(deadline - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration::zero());
      const auto left_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timespec at{};
      ::clock_gettime(CLOCK_REALTIME, &at);
      at.tv_sec += static_cast<std::time_t>(left_ns / 1000000000);
      at.tv_nsec += static_cast<long>(left_ns % 1000000000);
      if (at.tv_nsec >= 1000000000L) {
        at.tv_sec += 1;
        at.tv_nsec -= 1000000000L;
      }
      const int rc = ::pthread_mutex_timedlock(&segment()->mutex, &at);
      if (rc == ETIMEDOUT && std::chrono::steady_clock::now() < deadline) continue;
      // TSan's timedlock interceptor (GCC 12, LLVM 14) does not register a lock
      // returned with EOWNERDEAD as held.
      if (rc == EOWNERDEAD) detail::tsan_acquired(&segment()->mutex);
      return acquired(rc);
    }
  }

  /// Requires: the calling thread holds the lock through this object.
  void unlock() {
    if (owner_tid_.load() != ::gettid()) {
      throw std::logic_error(detail::message("named_mutex::unlock by a thread that does not hold it", path_,
                                             "only the thread that locked may unlock",
                                             "Pair each lock() with one unlock() on the same thread"));
    }
    release();
  }

  /// The process that held the lock when the last try_lock* failed (this
  /// process when another of its threads held it); nullopt when unknown.
  std::optional<long> holder_pid() const noexcept {
    const long pid = last_holder_.load();
    if (pid <= 0) return std::nullopt;
    return pid;
  }

  /// True when the last acquisition through this object found the previous
  /// holder dead (EOWNERDEAD) and took the lock over.
  bool took_over_abandoned() const noexcept { return took_over_.load(); }

  const std::filesystem::path& path() const noexcept { return path_; }

  /// The shared memory object's name, e.g. "/vecstore-1000-0123456789abcdef";
  /// on Linux it is the file /dev/shm/vecstore-1000-0123456789abcdef.
  const std::string& name() const noexcept { return name_; }

  /// The name used for `lock_file`: derived from its canonical path (symlinks
  /// in the existing part resolved; the file itself need not exist) and the
  /// effective user id.
  static std::string name_for(const std::filesystem::path& lock_file) {
    std::error_code ec;
    std::filesystem::path p = std::filesystem::absolute(lock_file, ec);
    if (ec) p = lock_file;
    std::filesystem::path canonical = std::filesystem::weakly_canonical(p, ec);
    if (ec) canonical = p.lexically_normal();
    // FNV-1a, 64 bits: stable across builds and platforms. A collision only
    // makes two stores share one lock (slower, never unsafe).
    std::uint64_t h = 14695981039346656037ull;
    for (const unsigned char c : canonical.native()) {
      h ^= c;
      h *= 1099511628211ull;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return "/vecstore-" + std::to_string(static_cast<unsigned long>(::geteuid())) + "-" + hex;
  }

  /// The layout of the shared memory object; public for tests and tools.
  struct segment_layout {
    /// init_empty in a fresh object, the initializer's pid while it
    /// initializes, init_ready afterwards.
    std::uint32_t init;
    /// Pid of the process holding the lock, 0 when free (or not yet written).
    std::int32_t holder;
    /// layout_magic once initialized; anything else is another format.
    std::uint32_t magic;
    std::uint32_t reserved;
    pthread_mutex_t mutex;
  };
  static constexpr std::uint32_t init_empty = 0;
  static constexpr std::uint32_t init_ready = 0xFFFFFFFFu;
  static constexpr std::uint32_t layout_magic = 0x7663'6D31u;  // "vcm1"

 private:
  // The segment's words are shared with other processes, so they are touched
  // only through GCC/Clang __atomic builtins on plain integers (no object
  // lifetime questions), which must be lock-free to work across processes.
  static_assert(__atomic_always_lock_free(sizeof(std::uint32_t), nullptr),
                "vecstore: named_mutex needs lock-free 32-bit atomics");
  static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
                "vecstore: named_mutex needs lock-free 32-bit atomics");

  segment_layout* segment() const noexcept { return static_cast<segment_layout*>(region_.get_address()); }

  std::filesystem::path shm_file() const { return std::filesystem::path("/dev/shm") / name_.substr(1); }

  [[noreturn]] void fail_io(const std::string& what, const std::string& why) const {
    detail::throw_error<io_error>(what, shm_file(), why,
                                  "Check /dev/shm (mounted, writable, not full) and that no other user "
                                  "owns this name; remove it only when no process uses the store");
  }

  void open_segment() {
    namespace bip = boost::interprocess;
    try {
      bip::shared_memory_object shm(bip::open_or_create, name_.c_str(), bip::read_write, bip::permissions(0600));
      const int fd = shm.get_mapping_handle().handle;
      struct stat st {};
      if (::fstat(fd, &st) != 0) fail_io("cannot inspect the shared memory lock", std::strerror(errno));
      if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        fail_io("refusing the shared memory lock", "it is owned by uid " +
                                                       std::to_string(static_cast<unsigned long>(st.st_uid)) +
                                                       " with mode " + mode + ", not by this user with mode 0600");
      }
      // Grow only: every opener truncates to the same size, which leaves an
      // existing segment's content alone and zero-fills a fresh one.
      if (static_cast<std::size_t>(st.st_size) < sizeof(segment_layout)) shm.truncate(sizeof(segment_layout));
      region_ = bip::mapped_region(shm, bip::read_write, 0, sizeof(segment_layout));
    } catch (const bip::interprocess_exception& e) {
      fail_io("cannot create or map the shared memory lock", e.what());
    }
  }

  void wait_until_ready(std::chrono::milliseconds init_timeout) {
    segment_layout* s = segment();
    const pid_t self = ::getpid();
    const auto deadline = std::chrono::steady_clock::now() + init_timeout;
    auto pause = std::chrono::microseconds(50);
    for (;;) {
      std::uint32_t seen = __atomic_load_n(&s->init, __ATOMIC_ACQUIRE);
      if (seen == init_ready) break;
      if (seen > 0x7FFFFFFFu) fail_io("refusing the shared memory lock", "its state word is not one this build writes");
      if (seen == init_empty || (::kill(static_cast<pid_t>(seen), 0) == -1 && errno == ESRCH)) {
        // Fresh, or its initializer died: exactly one compare-and-swap wins.
        if (__atomic_compare_exchange_n(&s->init, &seen, static_cast<std::uint32_t>(self), false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
          initialize(s);
          break;
        }
        continue;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        throw lock_timeout(detail::message("the shared memory lock was never initialized", shm_file(),
                                           "process " + std::to_string(seen) + " started creating it " +
                                               "and is alive but has not finished",
                                           "Check that process; if it is stuck, stop it"),
                           path_);
      }
      std::this_thread::sleep_for(pause);
      pause = (std::min)(pause * 2, std::chrono::microseconds(2000));
    }
    if (__atomic_load_n(&s->magic, __ATOMIC_ACQUIRE) != layout_magic) {
      fail_io("refusing the shared memory lock", "it was created by an incompatible version of vecstore");
    }
  }

  /// Runs in the one process that won the compare-and-swap; nobody uses the
  /// mutex before `init` reads init_ready.
  void initialize(segment_layout* s) {
    pthread_mutexattr_t attr;
    int rc = ::pthread_mutexattr_init(&attr);
    if (rc == 0) rc = ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0) rc = ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0) rc = ::pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    if (rc == 0) rc = ::pthread_mutex_init(&s->mutex, &attr);
    ::pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
      // Hand the creation back so another process may try again.
      __atomic_store_n(&s->init, init_empty, __ATOMIC_RELEASE);
      fail_io("cannot initialize the shared memory lock", std::strerror(rc));
    }
    __atomic_store_n(&s->holder, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->magic, layout_magic, __ATOMIC_RELAXED);
    __atomic_store_n(&s->init, init_ready, __ATOMIC_RELEASE);
  }

  void refuse_relock() const {
    if (owner_tid_.load() == ::gettid()) {
      throw std::logic_error(detail::message("named_mutex locked again by the thread that holds it", path_,
                                             "it is not recursive and would deadlock",
                                             "Unlock it before locking it again"));
    }
  }

  /// Turns a pthread result into "acquired" (true), "busy" (false) or an exception.
  bool acquired(int rc) {
    segment_layout* s = segment();
    bool abandoned = false;
    switch (rc) {
      case 0: break;
      case EOWNERDEAD:
        // We hold it; the holder died. Mark it usable again for everyone.
        if (const int c = ::pthread_mutex_consistent(&s->mutex); c != 0) {
          ::pthread_mutex_unlock(&s->mutex);
          throw lock_timeout(detail::message("cannot recover the shared memory lock", shm_file(), std::strerror(c),
                                             "Remove it once no process uses the store"),
                             path_);
        }
        abandoned = true;
        break;
      case EBUSY:
      case ETIMEDOUT:
        last_holder_.store(__atomic_load_n(&s->holder, __ATOMIC_ACQUIRE));
        return false;
      case EDEADLK:
        throw std::logic_error(detail::message("named_mutex locked again by the thread that holds it", path_,
                                               "it is not recursive and would deadlock",
                                               "Unlock it before locking it again"));
      case ENOTRECOVERABLE:
        throw lock_timeout(detail::message("the shared memory lock is not recoverable", shm_file(),
                                           "a holder released it without marking it consistent",
                                           "Remove it once no process uses the store"),
                           path_);
      default:
        throw lock_timeout(detail::message("cannot lock the shared memory lock", shm_file(), std::strerror(rc)),
                           path_);
    }
    __atomic_store_n(&s->holder, static_cast<std::int32_t>(::getpid()), __ATOMIC_RELEASE);
    owner_tid_.store(::gettid());
    took_over_.store(abandoned);
    return true;
  }

  void release() noexcept {
    owner_tid_.store(0);
    __atomic_store_n(&segment()->holder, 0, __ATOMIC_RELEASE);
    ::pthread_mutex_unlock(&segment()->mutex);
  }

  std::filesystem::path path_;
  std::string name_;
  boost::interprocess::mapped_region region_;
  std::atomic<long> last_holder_{0};
  std::atomic<pid_t> owner_tid_{0};
  std::atomic<bool> took_over_{false};
};

}  // namespace v0
}  // namespace vecstore
