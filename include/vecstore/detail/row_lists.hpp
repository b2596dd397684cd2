// SPDX-License-Identifier: MIT
// row_lists: the float rows of many growable lists, each contiguous, all in one array.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <vector>

#include <vecstore/detail/page_array.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// The rows (`dim` floats each) of growable lists, such as an IVF
/// index's inverted lists, each list contiguous, all of them in one
/// `page_array`.
///
/// Why one array and not a std::vector per list: a query scans a few dozen
/// lists of ~100 KiB each, and separately allocated lists on 4 KiB pages cost
/// a TLB walk every few rows (prefetching across lists did not help). In one
/// large array they sit on transparent huge pages (page_array asks for them),
/// which scanned 31-34 GB/s on one core of this machine against 25-26 GB/s
/// for separate lists (32 random lists of 20-180 KiB out of 400 MB;
/// benchmarks/kernel_bench.cpp, BM_list_scan_*; docs/benchmarks.md).
///
/// Each list owns a range of `room` rows, the first `size` of them in use. A
/// list that outgrows its range moves to the end of the array with twice the
/// room, leaving the old range dead; when dead rows outnumber half the live
/// ones, every list is packed again. Growth is therefore amortized O(1) per
/// row, like std::vector's, and the rows held (`held_rows`) stay within 2.5x
/// the rows in use in the worst case (1x after `reset` with exact sizes);
/// capacity reserved past them is address space until written.
class row_lists {
 public:
  explicit row_lists(std::size_t dim = 0) noexcept : dim_(dim) {}

  std::size_t size(std::size_t list) const noexcept { return extents_[list].size; }
  /// The list's rows, contiguous, `size(list) * dim()` floats; valid until
  /// the next change of any list.
  const float* rows(std::size_t list) const noexcept { return data_.data() + extents_[list].offset * dim_; }
  float* row(std::size_t list, std::size_t pos) noexcept { return data_.data() + (extents_[list].offset + pos) * dim_; }
  const float* row(std::size_t list, std::size_t pos) const noexcept {
    return data_.data() + (extents_[list].offset + pos) * dim_;
  }

  /// Rows the array holds for all lists: in use, spare, or dead.
  std::size_t held_rows() const noexcept { return dim_ == 0 ? 0 : data_.size() / dim_; }

  /// Empties everything and makes `room.size()` lists, list `l` with space for
  /// `room[l]` rows. Throws std::bad_alloc with nothing changed.
  void reset(const std::vector<std::size_t>& room) {
    std::vector<extent> extents(room.size());
    std::size_t total = 0;
    for (std::size_t l = 0; l < room.size(); ++l) {
      extents[l] = extent{total, 0, room[l]};
      total += room[l];
    }
    page_array<float> data;
    data.extend(total * dim_);
    data_ = std::move(data);
    extents_ = std::move(extents);
    live_ = 0;
    dead_ = 0;
  }

  /// Makes room for `n` rows in `list` (never shrinks). Strong guarantee.
  void reserve(std::size_t list, std::size_t n) {
    if (n > extents_[list].room) relocate(list, n);
  }

  /// Makes room for one more row in `list`, doubling its room when it is
  /// full. Strong guarantee.
  void reserve_next(std::size_t list) {
    const extent& e = extents_[list];
    if (e.size == e.room) relocate(list, (std::max)(std::size_t{2} * e.room, min_room));
  }

  /// Appends a row (`dim()` floats, which may not point into these lists).
  /// Strong guarantee: throws std::bad_alloc with nothing changed; never
  /// throws after `reserve_next(list)`.
  void push_back(std::size_t list, const float* v) {
    reserve_next(list);
    extent& grown = extents_[list];
    std::memcpy(data_.data() + (grown.offset + grown.size) * dim_, v, dim_ * sizeof(float));
    ++grown.size;
    ++live_;
  }

  /// Drops the list's last row; its room stays.
  void pop_back(std::size_t list) noexcept {
    --extents_[list].size;
    --live_;
  }

  /// Empties every list; their rooms stay.
  void clear() noexcept {
    for (extent& e : extents_) e.size = 0;
    live_ = 0;
  }

 private:
  struct extent {
    std::size_t offset;  // first row in data_
    std::size_t size;    // rows in use
    std::size_t room;    // rows owned
  };

  // A list that fills its room gets at least this many rows.
  static constexpr std::size_t min_room = 8;

  // Gives `list` a range of `room` (> its size) rows: at the end of the
  // array, or by packing every list anew once the dead rows would outnumber
  // half the live ones. Strong guarantee.
  void relocate(std::size_t list, std::size_t room) {
    const extent old = extents_[list];
    if (2 * (dead_ + old.room) > live_) {
      compact(list, room);
      return;
    }
    const std::size_t end = data_.size() / dim_;
    const std::size_t needed = (end + room) * dim_;
    // Geometric, like std::vector: a relocation must not copy the whole array each time.
    if (needed > data_.capacity()) data_.reserve((std::max)(needed, 2 * data_.capacity()));
    data_.extend(needed);  // cannot throw now; the rows may have moved, their offsets stay
    std::memcpy(data_.data() + end * dim_, data_.data() + old.offset * dim_, old.size * dim_ * sizeof(float));
    extents_[list] = extent{end, old.size, room};
    dead_ += old.room;
  }

  // Packs every list into a new array, each with room for its size and a
  // half again (`list` with `room`). Strong guarantee.
  void compact(std::size_t list, std::size_t room) {
    std::vector<extent> extents(extents_.size());
    std::size_t total = 0;
    for (std::size_t l = 0; l < extents_.size(); ++l) {
      const std::size_t size = extents_[l].size;
      extents[l] = extent{total, size, l == list ? room : size + size / 2};
      total += extents[l].room;
    }
    page_array<float> data;
    data.extend(total * dim_);
    for (std::size_t l = 0; l < extents_.size(); ++l)
      std::memcpy(data.data() + extents[l].offset * dim_, rows(l), extents_[l].size * dim_ * sizeof(float));
    data_ = std::move(data);
    extents_ = std::move(extents);
    dead_ = 0;
  }

  std::size_t dim_;
  std::vector<extent> extents_;
  page_array<float> data_;  // every list's range, in use or dead, end to end
  std::size_t live_ = 0;    // rows in use, all lists
  std::size_t dead_ = 0;    // rows in ranges that lists left
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
