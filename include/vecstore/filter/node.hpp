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

/// The children of an $and/$or, in order. A persistent list (cells shared and
/// never changed once made) with two ends: children appended are kept newest
/// first in one chain, children prepended in another. So `f && c` and `c && f`
/// share f's children instead of copying them, and building a filter by
/// either loop is O(n), not O(n^2). Copies are O(1); destruction is
/// iterative, whatever the length (a chain of shared_ptr would otherwise
/// recurse once per child).
class child_list {
 public:
  child_list() = default;
  child_list(const child_list&) = default;
  child_list(child_list&& o) noexcept { swap(o); }
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
  ~child_list() {
    release(front_);
    release(back_);
  }

  std::size_t size() const noexcept { return front_size_ + back_size_; }
  bool empty() const noexcept { return size() == 0; }
  /// Adds a last child in O(1); lists sharing cells with this one are unchanged.
  inline void push_back(filter_node n);
  /// Adds a first child in O(1), likewise.
  inline void push_front(filter_node n);
  /// The children in order (O(size)).
  inline std::vector<const filter_node*> items() const;

  void swap(child_list& o) noexcept {
    front_.swap(o.front_);
    back_.swap(o.back_);
    std::swap(front_size_, o.front_size_);
    std::swap(back_size_, o.back_size_);
  }

  friend inline bool operator==(const child_list& a, const child_list& b);

 private:
  struct cell;
  static inline void release(std::shared_ptr<cell>& chain) noexcept;

  std::shared_ptr<cell> front_;  // the first child; each cell links to the one after
  std::shared_ptr<cell> back_;   // the last child; each cell links to the one before
  std::size_t front_size_ = 0;
  std::size_t back_size_ = 0;
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
  std::shared_ptr<cell> link;  // toward the middle of the list
};

inline void child_list::push_back(filter_node n) {
  back_ = std::make_shared<cell>(cell{std::move(n), std::move(back_)});
  ++back_size_;
}

inline void child_list::push_front(filter_node n) {
  front_ = std::make_shared<cell>(cell{std::move(n), std::move(front_)});
  ++front_size_;
}

inline std::vector<const filter_node*> child_list::items() const {
  std::vector<const filter_node*> out(size());
  std::size_t i = 0;
  for (const cell* c = front_.get(); c != nullptr && i < front_size_; c = c->link.get()) out[i++] = &c->node;
  std::size_t j = out.size();
  for (const cell* c = back_.get(); c != nullptr && j > front_size_; c = c->link.get()) out[--j] = &c->node;
  return out;
}

inline bool operator==(const child_list& a, const child_list& b) {
  if (a.size() != b.size()) return false;
  if (a.front_ == b.front_ && a.back_ == b.back_ && a.front_size_ == b.front_size_) return true;
  const std::vector<const filter_node*> x = a.items();
  const std::vector<const filter_node*> y = b.items();
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!(*x[i] == *y[i])) return false;
  }
  return true;
}

inline void child_list::release(std::shared_ptr<cell>& chain) noexcept {
  // Unlinks cells this list owns alone one at a time, so none is destroyed
  // while holding the rest of the chain. A cell still shared with another
  // list is left to that list. (If two threads drop the last two owners of
  // one chain at the same moment, the last one may still recurse.)
  std::shared_ptr<cell> h = std::move(chain);
  while (h && h.use_count() == 1) {
    // Copy, not move: the cell is only read here, so no other owner's last
    // read can race with a write. The cell itself is freed by the shared_ptr
    // decrement below (which orders it after those reads); its own link then
    // drops to a count of at least one, so nothing recurses.
    std::shared_ptr<cell> next = h->link;
    h = std::move(next);  // frees the cell, whose own children are at most 64 deep
  }
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
