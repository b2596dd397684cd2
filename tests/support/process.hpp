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
#include <poll.h>
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

namespace vecstore_test {

/// A child process running `vecstore_test_child repl`: one command line in,
/// one JSON line out. Killed (SIGKILL) on destruction if still running.
class repl_child {
 public:
  repl_child() {
    int in_pipe[2], out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(in_pipe[0], 0);
      ::dup2(out_pipe[1], 1);
      char* argv[] = {const_cast<char*>(VECSTORE_TEST_CHILD), const_cast<char*>("repl"), nullptr};
      ::execv(argv[0], argv);
      ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    to_child_ = in_pipe[1];
    from_child_ = out_pipe[0];
  }
  repl_child(const repl_child&) = delete;
  repl_child& operator=(const repl_child&) = delete;
  ~repl_child() { kill(); }

  pid_t pid() const noexcept { return pid_; }

  /// Sends one command and returns the child's answer line, or throws after `timeout`.
  std::string ask(const std::string& command, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    send(command);
    return receive(timeout, command);
  }

  /// Sends one command without waiting for its answer (so several children can work at once).
  void send(const std::string& command) {
    const std::string line = command + "\n";
    if (::write(to_child_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      throw std::runtime_error("the child is gone (write failed)");
    }
  }

  /// The next answer line, or throws after `timeout`.
  std::string receive(std::chrono::milliseconds timeout, const std::string& what = "a command") {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string answer = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return answer;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw std::runtime_error("the child did not answer " + what + " in time");
      struct pollfd p {from_child_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(from_child_, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error("the child is gone (read failed)");
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }

  void kill() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ::close(to_child_);
    ::close(from_child_);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffer_;
};

/// A pid that certainly belonged to a process that has exited (and been reaped).
inline pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

}  // namespace vecstore_test
