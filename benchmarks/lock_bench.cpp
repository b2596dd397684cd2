// SPDX-License-Identifier: MIT
// Micro-benchmarks of the lock policies: uncontended acquire + release, and the same while another process
// hammers the same lock (contended, across processes).
#include <benchmark/benchmark.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <vecstore/lock/file_lock.hpp>
#include <vecstore/lock/named_mutex.hpp>
#include <vecstore/lock/null_lock.hpp>

namespace {

std::filesystem::path lock_path(const char* name) {
  static const std::filesystem::path dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "vecstore-lockbench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return std::filesystem::path(pattern);
  }();
  return dir / name;
}

template <class Lock>
void BM_uncontended(benchmark::State& state) {
  Lock lock(lock_path("uncontended.lock"));
  for (auto _ : state) {
    lock.lock();
    lock.unlock();
  }
}
BENCHMARK_TEMPLATE(BM_uncontended, vecstore::null_lock);
BENCHMARK_TEMPLATE(BM_uncontended, vecstore::file_lock);
BENCHMARK_TEMPLATE(BM_uncontended, vecstore::named_mutex);

// A child process takes and releases the same lock in a loop (holding it ~10 us each time) while the
// benchmark acquires it: what a writer pays when another process writes too.
template <class Lock>
void BM_contended_across_processes(benchmark::State& state) {
  const std::filesystem::path path = lock_path("contended.lock");
  { Lock create(path); }
  const pid_t child = ::fork();
  if (child == 0) {
    Lock lock(path);
    for (;;) {
      lock.lock();
      ::usleep(10);
      lock.unlock();
    }
  }
  Lock lock(path);
  ::usleep(20000);  // let the child start
  for (auto _ : state) {
    lock.lock();
    lock.unlock();
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}
BENCHMARK_TEMPLATE(BM_contended_across_processes, vecstore::file_lock)->UseRealTime();
BENCHMARK_TEMPLATE(BM_contended_across_processes, vecstore::named_mutex)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
