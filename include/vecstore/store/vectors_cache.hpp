// SPDX-License-Identifier: MIT
// vectors_cache: the indexes' vectors kept in "<store>.vectors", a file
// derived from the store that opening maps instead of reading SQLite, and the
// thread that writes it.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>

#include <vecstore/detail/joining_thread.hpp>
#include <vecstore/options.hpp>
#include <vecstore/store/connection.hpp>
#include <vecstore/storage/records.hpp>
#include <vecstore/storage/vectors_file.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// The vectors file of one store: reading it back, checked against the
/// store, and writing it on a thread of its own. Only index policies with
/// `adopt` (index/requirements.hpp, the mappable extension) use it; for the
/// others every member does nothing.
///
/// A write in progress holds the indexes' state shared for seconds. Whoever
/// changes the indexes sets `stop()` first, and the write gives up within one
/// piece (write_vectors_file): a writer of the indexes may hold the writer
/// lock that other processes wait for.
template <class IndexPolicy>
class vectors_cache {
 public:
  static constexpr bool enabled_for_policy = is_mappable_index_v<IndexPolicy>;

  explicit vectors_cache(const store_options& options)
      : options_(options), file_(side_file(options.path, ".vectors")) {}

  bool enabled() const noexcept {
    return enabled_for_policy && options_.vectors_file_min_bytes != store_options::no_vectors_file;
  }

  /// The vectors file, when there is one and it describes this store as of a
  /// change that SQLite still keeps (its token matches); nullopt when it is
  /// missing, damaged, foreign, from a restored older copy written again
  /// since, or older than the kept changes.
  std::optional<vectors_file> read(record_tables& t) const {
    if (!enabled()) return std::nullopt;
    return read_vectors_file(file_, [&](std::int64_t seq, std::int64_t token) {
      return seq <= t.current_seq() && seq >= t.compacted_seq() && t.seq_token(seq) == token;
    });
  }

  /// Whether the vectors file is worth writing again after an open: it was
  /// not usable, or catching up from it read many changes from SQLite again,
  /// or it is about to fall out of the changes SQLite keeps.
  static bool stale(std::optional<std::int64_t> file_seq, std::size_t changes, std::int64_t seen_seq,
                    std::size_t indexed_rows) noexcept {
    return !file_seq || *file_seq + seq_tokens_kept / 2 < seen_seq || changes > indexed_rows / 8;
  }

  /// Runs `save` on the writer thread, after the previous write finished.
  template <class Save>
  void start(Save&& save) {
    if (!enabled()) return;
    finish();
    stop_.store(false, std::memory_order_relaxed);
    writer_.start(std::forward<Save>(save));
  }

  /// Asks a write in progress to give up.
  void stop() noexcept { stop_.store(true, std::memory_order_relaxed); }

  /// Waits for the write in progress, if any: before closing, and before
  /// fork() (a child would not have the thread).
  void finish() noexcept { writer_.join(); }

  /// Writes the indexes of `collections` (a map from collection id to a
  /// state with `row` and `index`, ids in `ids`) as the store at `seq`, whose
  /// token is `token`, if they hold at least vectors_file_min_bytes of
  /// vectors. The caller holds the state shared. Failing to write is not an
  /// error: the next open reads SQLite again.
  template <class Collections>
  void write(std::int64_t seq, std::int64_t token, const Collections& collections) noexcept {
    if constexpr (enabled_for_policy) {
      try {
        std::size_t bytes = 0;
        for (const auto& [id, state] : collections) bytes += state.index.size() * state.row.dim * sizeof(float);
        if (bytes < options_.vectors_file_min_bytes) return;
        std::vector<vectors_file_source> sources;
        for (const auto& [id, state] : collections) {
          vectors_file_source s;
          s.collection_id = id;
          s.space = state.row.space;
          s.rows = state.index.rows();
          s.keys = state.index.keys().data();
          s.sq_norms = state.row.space == metric::l2 ? state.index.squared_norms().data() : nullptr;
          s.id_rids.assign(state.index.keys().begin(), state.index.keys().end());
          std::sort(s.id_rids.begin(), s.id_rids.end());
          s.id_ends.reserve(s.id_rids.size());
          for (const std::int64_t rid : s.id_rids) {
            const std::optional<std::string_view> id_of = state.ids.find(rid);
            if (!id_of) return;  // cannot happen: every key has its id; but never write a wrong one
            s.id_chars += *id_of;
            s.id_ends.push_back(s.id_chars.size());
          }
          sources.push_back(std::move(s));
        }
        struct stat st {};
        const int mode = ::stat(options_.path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : 0600;
        write_vectors_file(file_, seq, token, sources, mode, &stop_);
      } catch (...) {
        // Out of memory for the id arrays: no vectors file this time.
      }
    } else {
      (void)seq;
      (void)token;
      (void)collections;
    }
  }

 private:
  const store_options& options_;
  std::filesystem::path file_;
  std::atomic<bool> stop_{false};
  // Last, so that it is joined before the rest is destroyed, also when an
  // owner's constructor throws after starting it.
  joining_thread writer_;
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
