// SPDX-License-Identifier: MIT
// Progress display of the vecstore tool: a bar with count, rate and ETA for
// work of known size, a counter with rate for work of unknown size, and a
// ticking elapsed-time line for calls that report nothing until they return
// (backup, verify). Drawn on stderr only when stderr is a terminal; otherwise
// every member is a no-op, so scripts and logs stay clean.
//
// Defined in progress.cpp: the drawing and the ticker thread are compiled
// once, not in every command that shows progress (CMakeLists.txt says why
// that matters).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace vecstore_cli {

/// Whether progress may be drawn: stderr is a terminal and nobody said no.
bool progress_wanted(bool disabled);

/// A progress line on stderr. `total` 0 means unknown (no bar, no ETA).
/// Thread-safe: `advance` may be called from one thread while a ticker
/// thread redraws.
class progress {
 public:
  progress(std::string label, std::uint64_t total, bool enabled, std::string unit = "records");

  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;

  /// Interrupted (an exception): ends the line so the error starts on its own.
  ~progress();

  bool enabled() const noexcept { return enabled_; }

  void set_total(std::uint64_t total);
  void set_label(std::string label);

  void advance(std::uint64_t n);
  void set(std::uint64_t done);

  /// Redraws every 200 ms from a background thread, for calls that do not
  /// report progress (the line then shows the elapsed time).
  void start_ticker();

  /// Draws the final state and ends the line.
  void finish();

 private:
  void stop_ticker();
  void maybe_draw();
  void draw(bool final);

  std::string label_;
  std::string unit_;
  std::uint64_t total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::int64_t> last_draw_{0};
  std::mutex mutex_;  // the drawing and the fields it reads
  bool drawn_ = false;
  bool finished_ = false;
  unsigned spins_ = 0;
  std::thread ticker_;
  std::mutex tick_mutex_;
  std::condition_variable tick_cv_;
  bool stop_ = false;
};

}  // namespace vecstore_cli
