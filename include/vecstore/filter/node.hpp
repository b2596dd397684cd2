// SPDX-License-Identifier: MIT
// The nodes of the filter AST shared by `filter` and `document_filter`
// (filter/ast.hpp builds and checks them), and the list that holds an
// $and/$or's children.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Deepest allowed nesting of $and/$or; deeper input is refused before it can
/// exhaust the stack or SQLite's expression depth (1000).
inline constexpr std::size_t max_filter_depth = 64;

/// Node kinds of the filter AST shared by `filter` and `document_filter`.
enum class node_kind { all_of, any_of, compare, contains, not_contains };
enum class compare_op { eq, ne, gt, gte, lt, lte, in, nin };

struct filter_node;

/// The children of an $and/$or, in order. A persistent list (newest child
/// first, cells shared and never changed once made), so that `f && c` shares
/// f's children instead of copying them: `f = f && c` repeated n times is
/// O(n), not O(n^2). Copies are O(1); destruction is iterative, whatever the
/// length (a chain of shared_ptr would otherwise recurse once per child).
class child_list {
 public:
  child_list() = default;
  child_list(const child_list&) = default;
  child_list(child_list&& o) noexcept : head_(std::move(o.head_)), size_(o.size_) { o.size_ = 0; }
  child_list& operator=(const child_list& o) {
    child_list copy(o);
    swap(copy);
    return *this;
  }
  child_list& operator=(child_list&& o) noexcept {
    child_list moved(std::move(o));
    swap(moved);
    return *this;
  }
  ~child_list() { release(); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// Appends in O(1); lists sharing cells with this one are unchanged.
  inline void push_back(filter_node n);
  /// The children in order (O(size)).
  inline std::vector<const filter_node*> items() const;

  void swap(child_list& o) noexcept {
    head_.swap(o.head_);
    std::swap(size_, o.size_);
  }

  friend inline bool operator==(const child_list& a, const child_list& b);

 private:
  struct cell;
  inline void release() noexcept;

  std::shared_ptr<cell> head_;  // the last child; each cell points to the one before
  std::size_t size_ = 0;
};

/// One node: all_of/any_of have `children`; compare has `key`, `op` and
/// `values` (one value, or the list of $in/$nin); contains/not_contains have
/// `text`. `depth` is the $and/$or nesting below and including this node.
struct filter_node {
  node_kind kind = node_kind::all_of;
  compare_op op = compare_op::eq;
  std::string key;
  std::vector<metadata_value> values;
  std::string text;
  child_list children;
  std::size_t depth = 0;

  friend bool operator==(const filter_node& a, const filter_node& b) {
    return a.kind == b.kind && a.op == b.op && a.key == b.key && a.values == b.values &&
           a.text == b.text && a.children == b.children;
  }
  friend bool operator!=(const filter_node& a, const filter_node& b) { return !(a == b); }
};

struct child_list::cell {
  filter_node node;
  std::shared_ptr<cell> before;
};

inline void child_list::push_back(filter_node n) {
  head_ = std::make_shared<cell>(cell{std::move(n), std::move(head_)});
  ++size_;
}

inline std::vector<const filter_node*> child_list::items() const {
  std::vector<const filter_node*> out(size_);
  std::size_t i = size_;
  for (const cell* c = head_.get(); c != nullptr && i > 0; c = c->before.get()) out[--i] = &c->node;
  return out;
}

inline bool operator==(const child_list& a, const child_list& b) {
  if (a.size_ != b.size_) return false;
  if (a.head_ == b.head_) return true;
  const std::vector<const filter_node*> x = a.items();
  const std::vector<const filter_node*> y = b.items();
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!(*x[i] == *y[i])) return false;
  }
  return true;
}

inline void child_list::release() noexcept {
  // Unlinks cells this list owns alone one at a time, so none is destroyed
  // while holding the rest of the chain. A cell still shared with another
  // list is left to that list. (If two threads drop the last two owners of
  // one chain at the same moment, the last one may still recurse.)
  std::shared_ptr<cell> h = std::move(head_);
  size_ = 0;
  while (h && h.use_count() == 1) {
    // Copy, not move: the cell is only read here, so no other owner's last
    // read can race with a write. The cell itself is freed by the shared_ptr
    // decrement below (which orders it after those reads); its own link then
    // drops to a count of at least one, so nothing recurses.
    std::shared_ptr<cell> before = h->before;
    h = std::move(before);  // frees the cell, whose own children are at most 64 deep
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
