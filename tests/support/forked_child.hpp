// SPDX-License-Identifier: MIT
// A child process made by fork() alone (no exec) that runs a lambda and talks
// to the parent through two pipes: for tests whose children must not exec,
// with every wait bounded. Fork before this process opens any store.
#pragma once

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace vecstore_test {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

/// A forked child running `body(from_parent_fd, to_parent_fd)`; it _exit()s
/// with body's result (3 on an exception, its message sent to the parent).
class forked_child {
 public:
  template <class Body>
  explicit forked_child(Body&& body) {
    int down[2], up[2];
    REQUIRE(::pipe2(down, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(up, O_CLOEXEC) == 0);
    std::cout.flush();
    std::fflush(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(down[1]);
      ::close(up[0]);
      int code = 0;
      try {
        code = body(down[0], up[1]);
      } catch (const std::exception& e) {
        send_line(up[1], std::string("exception ") + e.what());
        code = 3;
      } catch (...) {
        code = 4;
      }
      ::_exit(code);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
  }
  forked_child(const forked_child&) = delete;
  forked_child& operator=(const forked_child&) = delete;
  ~forked_child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait(milliseconds(10000));
    }
    ::close(to_child_);
    ::close(from_child_);
  }

  pid_t pid() const noexcept { return pid_; }

  /// In the child: blocks until the parent sends a line.
  static std::string receive_line(int fd) {
    std::string line;
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }

  /// From the parent: one line to the child.
  void send(const std::string& line) { send_line(to_child_, line); }

  static void send_line(int fd, const std::string& line) {
    std::string l = line;
    std::replace(l.begin(), l.end(), '\n', ' ');
    l += "\n";
    (void)!::write(fd, l.data(), l.size());
  }

  /// The child's next line; empty after `timeout` or when the child is gone.
  std::string read_line(milliseconds timeout) {
    const auto deadline = steady_clock::now() + timeout;
    for (;;) {
      const auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
      if (left <= 0 || eof_) return {};
      struct pollfd p {from_child_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(from_child_, buf, sizeof buf);
      if (n <= 0) {
        eof_ = true;
        continue;
      }
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }

  /// Every line until the child closes its end (bounded by `timeout`).
  std::vector<std::string> lines(milliseconds timeout) {
    const auto deadline = steady_clock::now() + timeout;
    std::vector<std::string> out;
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
      if (left.count() <= 0) break;
      std::string line = read_line(left);
      if (line.empty() && (eof_ || steady_clock::now() >= deadline)) break;
      out.push_back(std::move(line));
    }
    return out;
  }

  /// Everything the child still writes until it is gone (bounded).
  std::string rest(milliseconds timeout) {
    std::string all;
    for (std::string line; !(line = read_line(timeout)).empty();) all += line + "\n";
    return all;
  }

  void kill() { ::kill(pid_, SIGKILL); }

  /// Waits for the child; its exit code, -signal, or -1000 after `timeout` (then killed).
  int wait(milliseconds timeout) {
    if (pid_ <= 0) return exit_;
    const auto deadline = steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) break;
      if (steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return exit_ = -1000;
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
    pid_ = -1;
    exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return exit_;
  }

 private:
  pid_t pid_ = -1;
  int exit_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  bool eof_ = false;
  std::string buffer_;
};

}  // namespace vecstore_test
