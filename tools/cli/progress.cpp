// SPDX-License-Identifier: MIT
// The progress display (progress.hpp).
#include "progress.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include <sys/ioctl.h>
#include <unistd.h>

namespace vecstore_cli {

namespace {

int terminal_width() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 80;
}

/// 1234567 -> "1.23M", 12345 -> "12.3k", 999 -> "999".
std::string short_count(double v) {
  char buf[32];
  if (v >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  } else if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

/// Seconds as "m:ss" or "h:mm:ss".
std::string clock_time(double seconds) {
  if (!(seconds >= 0) || seconds > 359999) return "--:--";
  const auto s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool progress_wanted(bool disabled) { return !disabled && ::isatty(STDERR_FILENO) == 1; }

progress::progress(std::string label, std::uint64_t total, bool enabled, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      start_(std::chrono::steady_clock::now()) {}

progress::~progress() {
  stop_ticker();
  std::lock_guard<std::mutex> guard(mutex_);
  if (drawn_ && !finished_) std::fputs("\n", stderr);
}

void progress::set_total(std::uint64_t total) {
  std::lock_guard<std::mutex> guard(mutex_);
  total_ = total;
}

void progress::set_label(std::string label) {
  std::lock_guard<std::mutex> guard(mutex_);
  label_ = std::move(label);
}

void progress::advance(std::uint64_t n) {
  done_ += n;
  maybe_draw();
}

void progress::set(std::uint64_t done) {
  done_ = done;
  maybe_draw();
}

void progress::start_ticker() {
  if (!enabled_ || ticker_.joinable()) return;
  ticker_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(tick_mutex_);
    while (!stop_) {
      lock.unlock();
      draw(false);
      lock.lock();
      tick_cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; });
    }
  });
}

void progress::finish() {
  stop_ticker();
  if (!enabled_) return;
  draw(true);
}

void progress::stop_ticker() {
  if (!ticker_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(tick_mutex_);
    stop_ = true;
  }
  tick_cv_.notify_all();
  ticker_.join();
}

void progress::maybe_draw() {
  if (!enabled_) return;
  const auto last = last_draw_.load();
  if (last != 0 && now_ns() - last < 100'000'000) return;  // at most 10 redraws a second
  draw(false);
}

void progress::draw(bool final) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (finished_) return;
  const auto now = std::chrono::steady_clock::now();
  last_draw_ = now_ns();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const std::uint64_t done = done_.load();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;

  std::string right;
  if (total_ > 0) {
    right = short_count(static_cast<double>(done)) + "/" + short_count(static_cast<double>(total_)) + " " + unit_ +
            "  " + short_count(rate) + " " + unit_ + "/s  ";
    if (final) {
      right += "in " + clock_time(elapsed);
    } else {
      const double left = rate > 0 && total_ > done ? static_cast<double>(total_ - done) / rate : -1;
      right += "ETA " + clock_time(done >= total_ ? 0 : left);
    }
  } else if (done > 0) {
    right = short_count(static_cast<double>(done)) + " " + unit_ + "  " + short_count(rate) + " " + unit_ + "/s  " +
            clock_time(elapsed);
  } else {
    right = (final ? "done in " : "working ") + clock_time(elapsed);
  }

  const int width = terminal_width() - 1;
  std::string line = label_ + " ";
  if (total_ > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3d%% ", static_cast<int>(fraction * 100));
    const int bar = std::max(10, width - static_cast<int>(line.size() + right.size() + 8));
    const int filled = static_cast<int>(fraction * bar);
    line += "[" + std::string(static_cast<std::size_t>(filled), '#') +
            std::string(static_cast<std::size_t>(bar - filled), '-') + "] " + pct;
  } else if (!final) {
    static const char spin[] = "|/-\\";
    line += std::string(1, spin[spins_++ % 4]) + " ";
  }
  line += right;
  if (static_cast<int>(line.size()) > width) line.resize(static_cast<std::size_t>(width));
  std::fprintf(stderr, "\r%s\x1b[K%s", line.c_str(), final ? "\n" : "");
  std::fflush(stderr);
  drawn_ = true;
  if (final) finished_ = true;
}

}  // namespace vecstore_cli
