// SPDX-License-Identifier: MIT
// Runs the test child program in a real process (fork + exec) with a timeout.
#pragma once

#include <chrono>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vecstore_test {

struct process_result {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string out;
  std::string err;
};

/// Runs `VECSTORE_TEST_CHILD args...`, waits at most `timeout`, and kills it
/// if it runs longer (the result then has exit_code -1).
inline process_result run_child(const std::vector<std::string>& args,
                                std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> argv_storage{VECSTORE_TEST_CHILD};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  process_result result;
  // Read both pipes on threads so a chatty child never blocks on a full pipe.
  auto drain = [](int fd, std::string& into) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) into.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
  };
  std::thread out_reader(drain, out_pipe[0], std::ref(result.out));
  std::thread err_reader(drain, err_pipe[0], std::ref(result.err));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      out_reader.join();
      err_reader.join();
      result.exit_code = -1;
      result.err += "\n[timed out]";
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  out_reader.join();
  err_reader.join();
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace vecstore_test
