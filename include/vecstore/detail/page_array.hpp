// SPDX-License-Identifier: MIT
// page_array: a growable array that can start as a copy-on-write view of a file, and grows without unsharing it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// A contiguous, growable array of trivially copyable `T` (what flat_index
/// keeps its rows in) whose memory, from 1 MiB on, is a private mapping of
/// its own.
///
/// Why not std::vector: `map` starts the array as a copy-on-write view of a
/// region of a file. Opening a store then costs no copy, every process that
/// maps the same file shares one copy of its pages in the page cache, and only
/// the pages a process changes become its own. Growth past the mapped rows
/// goes into address space reserved behind them, so appending after opening
/// neither copies nor unshares what was mapped; only outgrowing that reserve
/// moves the array (a copy, as std::vector does).
///
/// A mapped file must not be truncated while mapped (reading a page past its
/// end raises SIGBUS): map only files that are replaced by rename, never
/// rewritten in place.
template <class T>
class page_array {
  static_assert(std::is_trivially_copyable_v<T>, "page_array copies its elements as bytes");

 public:
  page_array() noexcept = default;
  page_array(page_array&& other) noexcept
      : base_(std::exchange(other.base_, nullptr)),
        bytes_(std::exchange(other.bytes_, 0)),
        size_(std::exchange(other.size_, 0)),
        mapping_(other.mapping_) {}
  page_array& operator=(page_array&& other) noexcept {
    if (this != &other) {
      release();
      base_ = std::exchange(other.base_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
      size_ = std::exchange(other.size_, 0);
      mapping_ = other.mapping_;
    }
    return *this;
  }
  page_array(const page_array&) = delete;
  page_array& operator=(const page_array&) = delete;
  ~page_array() { release(); }

  /// `count` elements read from file `fd` at `offset` (a multiple of the page
  /// size), mapped privately, with room reserved for `room` (>= count) in all.
  /// The file must hold every page the elements touch. Throws std::bad_alloc
  /// when the address space or the mapping is refused (any reason: the
  /// caller falls back to reading the rows another way).
  static page_array map(int fd, std::uint64_t offset, std::size_t count, std::size_t room) {
    page_array a;
    if (room == 0 && count == 0) return a;
    a.move_to(true, (std::max)(room, count));
    if (count > 0) {
      const std::size_t mapped = round_to_pages(count * sizeof(T));
      // MAP_FIXED replaces the front of the reservation in one step: nobody
      // else can be handed that address range in between.
      void* p = ::mmap(a.base_, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
                       static_cast<off_t>(offset));
      if (p == MAP_FAILED) throw std::bad_alloc();
    }
    a.size_ = count;
    return a;
  }

  T* data() noexcept { return static_cast<T*>(base_); }
  const T* data() const noexcept { return static_cast<const T*>(base_); }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size_; }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size_; }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t capacity() const noexcept { return bytes_ / sizeof(T); }

  /// Room for `n` elements. Strong guarantee: throws std::bad_alloc with the
  /// array unchanged.
  void reserve(std::size_t n) {
    if (n <= capacity()) return;
    if (n > static_cast<std::size_t>(-1) / sizeof(T) - page_size()) throw std::bad_alloc();
    move_to(n * sizeof(T) >= min_mapping_bytes, n);
  }

  /// Appends [first, last), growing as reserve() does; strong guarantee.
  /// The range may not point into this array.
  void append(const T* first, const T* last) {
    const std::size_t n = static_cast<std::size_t>(last - first);
    reserve(size_ + n);
    if (n > 0) std::memcpy(data() + size_, first, n * sizeof(T));
    size_ += n;
  }
  void push_back(const T& value) { append(&value, &value + 1); }
  /// Grows size() to `n` (>= size()) as reserve() does; the new elements are
  /// indeterminate (zero in a fresh mapping). Strong guarantee.
  void extend(std::size_t n) {
    reserve(n);
    size_ = n;
  }
  void pop_back() noexcept { --size_; }

  /// Keeps the first `n` (<= size()) elements; the memory stays.
  void shrink(std::size_t n) noexcept { size_ = (std::min)(n, size_); }
  void clear() noexcept { size_ = 0; }

 private:
  static std::size_t page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
  }
  static std::size_t round_to_pages(std::size_t bytes) noexcept {
    const std::size_t page = page_size();
    return (bytes + page - 1) / page * page;
  }

  // Smaller arrays live on the heap: a mapping each would cost a system call
  // per growth, and one of the process's 65,530 mappings (vm.max_map_count)
  // per array of every collection.
  static constexpr std::size_t min_mapping_bytes = std::size_t{1} << 20;
  // Mappings from this size on ask for transparent huge pages: a scan then
  // walks the TLB once per 2 MiB instead of per 4 KiB, which read 42 vs
  // 34 GB/s on one core and 81 vs 67 on two here (docs/benchmarks.md). At most
  // the last, partly used, 2 MiB page is wasted: under 7% from 32 MiB on.
  static constexpr std::size_t min_huge_page_bytes = std::size_t{32} << 20;

  /// Moves the elements into new memory for `n` (> 0) elements: a private
  /// mapping (address space only; the kernel backs each page when it is first
  /// written) or the heap. Strong guarantee.
  void move_to(bool mapping, std::size_t n) {
    const std::size_t bytes = mapping ? round_to_pages(n * sizeof(T)) : n * sizeof(T);
    void* p = mapping ? ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                               -1, 0)
                      : std::malloc(bytes);
    if (p == (mapping ? MAP_FAILED : nullptr)) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    // Only a hint (the kernel may have transparent huge pages off); failure is harmless.
    if (mapping && bytes >= min_huge_page_bytes) ::madvise(p, bytes, MADV_HUGEPAGE);
#endif
    if (size_ > 0) std::memcpy(p, base_, size_ * sizeof(T));
    free_memory();
    base_ = p;
    bytes_ = bytes;
    mapping_ = mapping;
  }

  void free_memory() noexcept {
    if (base_ == nullptr) return;
    if (mapping_) {
      ::munmap(base_, bytes_);
    } else {
      std::free(base_);
    }
  }

  void release() noexcept {
    free_memory();
    base_ = nullptr;
    bytes_ = 0;
    size_ = 0;
  }

  void* base_ = nullptr;
  std::size_t bytes_ = 0;  // capacity() elements
  std::size_t size_ = 0;
  bool mapping_ = false;  // base_ is a mapping (else the heap)
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
