// SPDX-License-Identifier: MIT
// Must not compile: an IndexPolicy without search is named in the error.
// expect: vecstore: IndexPolicy lacks .*search
#include <vecstore/vecstore.hpp>

struct no_search_index {
  static constexpr bool exact = true;
  no_search_index(std::size_t, vecstore::metric) {}
  std::size_t dim() const { return 0; }
  vecstore::metric space() const { return vecstore::metric::l2; }
  std::size_t size() const { return 0; }
  void reserve(std::size_t) {}
  void upsert(std::int64_t, const float*) {}
  bool erase(std::int64_t) { return false; }
  bool contains(std::int64_t) const { return false; }
  void clear() {}
};

int main() { vecstore::basic_store<vecstore::file_lock, no_search_index, vecstore::strict_recovery>::open({}); }
