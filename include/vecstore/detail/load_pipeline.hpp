// SPDX-License-Identifier: MIT
// Loading a store on two threads: one steps SQLite and verifies checksums,
// the other inserts the verified rows into the indexes.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <vecstore/storage/records.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Applies rows, in the order pushed, on a second thread while the caller
/// reads the next ones. Opening a large store is about half SQLite stepping
/// and checksums, half index inserts (mostly the kernel's first touch of the
/// index's fresh memory), so the two halves overlap.
///
/// Rows are copied into chunks reused in rotation (nothing is allocated per
/// row once they have grown); a load smaller than one chunk never starts the
/// thread. Failures keep their order: `finish()` applies every row pushed
/// before it returns or throws, and a failure of `apply` (an earlier row)
/// wins over the caller's. The caller holds whatever `apply` touches for the
/// pipeline's lifetime, so the two threads never share state otherwise.
template <class Apply>
class load_pipeline {
 public:
  explicit load_pipeline(Apply apply) : apply_(std::move(apply)) {}
  load_pipeline(const load_pipeline&) = delete;
  load_pipeline& operator=(const load_pipeline&) = delete;
  ~load_pipeline() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      queue_.clear();  // unwinding from a failure: what is left is not wanted
      stopping_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }

  /// Copies `row` into the current chunk; hands the chunk over when full.
  /// Throws what `apply` threw on an earlier row, as soon as it is known.
  void push(const embedding_row& row) {
    chunk& c = chunks_[filling_];
    c.rows.push_back(stored_row{row.rid, row.collection_id, row.list, row.dim, c.ids.size(), row.id.size(),
                                row.vector != nullptr});
    c.ids.append(row.id);
    if (row.vector) c.floats.insert(c.floats.end(), row.vector, row.vector + row.dim);
    if (c.floats.size() >= chunk_floats || c.rows.size() >= chunk_rows) hand_over();
  }

  /// Applies what is still buffered and waits for the worker; rethrows its failure.
  void finish() {
    if (!worker_.joinable()) {
      apply_chunk(chunks_[filling_]);  // small enough for one chunk: no thread
      chunks_[filling_].clear();
      return;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (!chunks_[filling_].rows.empty() && !failure_) queue_.push_back(filling_);
    stopping_ = true;
    changed_.notify_all();
    lock.unlock();
    worker_.join();
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  // A chunk holds about 1 MiB of floats: large enough that handing it over
  // costs nothing next to filling it, small enough to stay in cache.
  static constexpr std::size_t chunk_floats = std::size_t{1} << 18;
  static constexpr std::size_t chunk_rows = 4096;
  static constexpr std::size_t chunk_count = 3;

  struct stored_row {
    std::int64_t rid;
    std::int64_t collection_id;
    std::int32_t list;
    std::size_t dim;
    std::size_t id_at, id_size;
    bool has_vector;
  };

  struct chunk {
    std::vector<stored_row> rows;
    std::string ids;
    std::vector<float> floats;
    void clear() noexcept {
      rows.clear();
      ids.clear();
      floats.clear();
    }
  };

  void apply_chunk(const chunk& c) {
    const float* next = c.floats.data();
    for (const stored_row& s : c.rows) {
      embedding_row row;
      row.rid = s.rid;
      row.collection_id = s.collection_id;
      row.id = std::string_view(c.ids).substr(s.id_at, s.id_size);
      row.list = s.list;
      if (s.has_vector) {
        row.vector = next;
        row.dim = s.dim;
        next += s.dim;
      }
      apply_(row);
    }
  }

  /// Queues the full chunk and takes a free one, starting the worker at the first.
  void hand_over() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!worker_.joinable()) {
      free_.clear();
      for (std::size_t i = 0; i < chunk_count; ++i)
        if (i != filling_) free_.push_back(i);
      worker_ = std::thread([this] { work(); });
    }
    queue_.push_back(filling_);
    changed_.notify_all();
    changed_.wait(lock, [&] { return failure_ || !free_.empty(); });
    if (failure_) std::rethrow_exception(failure_);
    filling_ = free_.back();
    free_.pop_back();
  }

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything handed over is applied
      const std::size_t at = queue_.front();
      queue_.erase(queue_.begin());
      lock.unlock();
      try {
        apply_chunk(chunks_[at]);
      } catch (...) {
        lock.lock();
        failure_ = std::current_exception();
        queue_.clear();
        changed_.notify_all();
        return;
      }
      chunks_[at].clear();
      lock.lock();
      free_.push_back(at);
      changed_.notify_all();
    }
  }

  Apply apply_;
  chunk chunks_[chunk_count];
  std::size_t filling_ = 0;  // the chunk push() fills; only the caller's thread touches it
  std::mutex mutex_;         // the fields below
  std::condition_variable changed_;
  std::vector<std::size_t> queue_;  // full chunks, oldest first
  std::vector<std::size_t> free_;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::thread worker_;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
