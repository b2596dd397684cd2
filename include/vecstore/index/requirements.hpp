// SPDX-License-Identifier: MIT
// The IndexPolicy contract: its prose, the neighbor type, the is_index_policy trait and its readable checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include <vecstore/detail/detect.hpp>
#include <vecstore/detail/page_array.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {

/// @name IndexPolicy
///
/// An IndexPolicy is the in-memory search structure over one collection. It is
/// a cache: SQLite holds every vector, and the store rebuilds or patches the
/// index from it. The index therefore never validates, persists or throws for
/// bad input; the store has checked every vector before it arrives.
///
/// Keys are the SQLite integer row ids of records (any `std::int64_t`,
/// negative ones included). Vectors arrive as `dim()` contiguous floats, all
/// finite, and for `metric::cosine` not all zero.
///
/// Threads: the store serializes every non-const call behind its writer lock
/// and its own reader/writer mutex; `search` (and every other const member)
/// must be safe to call from many threads at once, so it may keep no mutable
/// scratch shared across calls.
///
/// An IndexPolicy `I` offers:
///
///  - `I(std::size_t dim, metric space)`
///      An empty index of vectors of `dim` floats compared under `space`.
///  - `std::size_t dim() const`, `metric space() const`
///      What it was constructed with.
///  - `std::size_t size() const`
///      The number of keys it holds.
///  - `void reserve(std::size_t n)`
///      Room for `n` vectors, so that loading a collection does not reallocate.
///  - `void upsert(std::int64_t key, const float* vector)`
///      Inserts `key`, or replaces the vector of an existing `key`. Reads
///      `dim()` floats; the pointer is not kept.
///  - `bool erase(std::int64_t key)`
///      Removes `key` in O(1) (swap-delete); false when it is absent.
///  - `bool contains(std::int64_t key) const`
///  - `void clear()`
///      Removes every key; `dim()` and `space()` stay.
///  - `std::vector<std::vector<neighbor>> search(const float* queries, std::size_t nq,
///                                               std::size_t k,
///                                               const std::vector<std::int64_t>* allowed) const`
///      `queries` holds `nq` rows of `dim()` floats, row-major. Returns `nq`
///      lists; list `i` holds the `k` keys nearest to query `i` (fewer when
///      fewer are eligible), sorted by distance ascending, ties broken by the
///      smaller key. Distances follow ChromaDB: cosine `1 - cos`, l2 the
///      squared Euclidean distance, inner_product `1 - dot`.
///      `allowed == nullptr` makes every key eligible; otherwise only the keys
///      listed in `*allowed` (in any order, with repeats, and possibly naming
///      keys the index lacks, which are ignored). An empty `*allowed` yields
///      empty lists. `k == 0` is rejected by callers earlier, but must not
///      crash: it yields `nq` empty lists.
///  - `static constexpr bool exact`
///      True when `search` returns the exact top-k (flat_index); false for an
///      approximate index (ivf_index), whose recall the store reports.
///
/// Shipped policies: `flat_index` (index/flat_index.hpp, the default, exact)
/// and `ivf_index` (index/ivf_index.hpp, approximate, persistent).
/// `tests/support/index_archetype.hpp` is the smallest type that qualifies.
/// @{

/// One search result: the key of a record and its distance to the query.
struct neighbor {
  std::int64_t key;
  float distance;
};

namespace detail {

// One alias per member: each asks "can this exact call be made?", so a
// member taking `std::int64_t` by const reference still qualifies.
template <class I>
using index_dim_t = decltype(std::declval<const I&>().dim());
template <class I>
using index_space_t = decltype(std::declval<const I&>().space());
template <class I>
using index_size_t = decltype(std::declval<const I&>().size());
template <class I>
using index_reserve_t = decltype(std::declval<I&>().reserve(std::declval<std::size_t>()));
template <class I>
using index_upsert_t =
    decltype(std::declval<I&>().upsert(std::declval<std::int64_t>(), std::declval<const float*>()));
template <class I>
using index_erase_t = decltype(std::declval<I&>().erase(std::declval<std::int64_t>()));
template <class I>
using index_contains_t = decltype(std::declval<const I&>().contains(std::declval<std::int64_t>()));
template <class I>
using index_clear_t = decltype(std::declval<I&>().clear());
template <class I>
using index_search_t = decltype(std::declval<const I&>().search(
    std::declval<const float*>(), std::declval<std::size_t>(), std::declval<std::size_t>(),
    std::declval<const std::vector<std::int64_t>*>()));
// Detected only for a `static constexpr bool`: a non-static or non-constant
// `exact` cannot tell the store at compile time whether to report recall.
// `&I::exact` is `const bool*` only for a static member (a non-static one
// gives `bool I::*`), and `*&I::exact` rather than `I::exact` keeps a
// non-static member a substitution failure instead of a hard error.
template <class I>
using index_exact_t = std::enable_if_t<std::is_same<decltype(&I::exact), const bool*>::value,
                                       std::bool_constant<*&I::exact>>;

using search_result_t = std::vector<std::vector<neighbor>>;

}  // namespace detail

/// True when `I` offers every member of the IndexPolicy contract.
template <class I>
struct is_index_policy
    : std::bool_constant<std::is_constructible<I, std::size_t, metric>::value &&
                         detail::is_detected_exact_v<std::size_t, detail::index_dim_t, I> &&
                         detail::is_detected_exact_v<metric, detail::index_space_t, I> &&
                         detail::is_detected_exact_v<std::size_t, detail::index_size_t, I> &&
                         detail::is_detected_exact_v<void, detail::index_reserve_t, I> &&
                         detail::is_detected_exact_v<void, detail::index_upsert_t, I> &&
                         detail::is_detected_exact_v<bool, detail::index_erase_t, I> &&
                         detail::is_detected_exact_v<bool, detail::index_contains_t, I> &&
                         detail::is_detected_exact_v<void, detail::index_clear_t, I> &&
                         detail::is_detected_exact_v<detail::search_result_t, detail::index_search_t, I> &&
                         detail::is_detected_v<detail::index_exact_t, I>> {};

template <class I>
inline constexpr bool is_index_policy_v = is_index_policy<I>::value;

/// Instantiate (e.g. `static_assert(detail::checked<index_requirements<I>>)`)
/// to learn which member `I` lacks, one message per member, instead of an
/// error deep inside the store.
template <class I>
struct index_requirements {
  static_assert(std::is_constructible<I, std::size_t, metric>::value,
                "vecstore: IndexPolicy must be constructible as I(std::size_t dim, metric space)");
  static_assert(detail::is_detected_exact_v<std::size_t, detail::index_dim_t, I>,
                "vecstore: IndexPolicy lacks std::size_t dim() const");
  static_assert(detail::is_detected_exact_v<metric, detail::index_space_t, I>,
                "vecstore: IndexPolicy lacks metric space() const");
  static_assert(detail::is_detected_exact_v<std::size_t, detail::index_size_t, I>,
                "vecstore: IndexPolicy lacks std::size_t size() const");
  static_assert(detail::is_detected_exact_v<void, detail::index_reserve_t, I>,
                "vecstore: IndexPolicy lacks void reserve(std::size_t n)");
  static_assert(detail::is_detected_exact_v<void, detail::index_upsert_t, I>,
                "vecstore: IndexPolicy lacks void upsert(std::int64_t key, const float* vector)");
  static_assert(detail::is_detected_exact_v<bool, detail::index_erase_t, I>,
                "vecstore: IndexPolicy lacks bool erase(std::int64_t key)");
  static_assert(detail::is_detected_exact_v<bool, detail::index_contains_t, I>,
                "vecstore: IndexPolicy lacks bool contains(std::int64_t key) const");
  static_assert(detail::is_detected_exact_v<void, detail::index_clear_t, I>,
                "vecstore: IndexPolicy lacks void clear()");
  static_assert(detail::is_detected_exact_v<detail::search_result_t, detail::index_search_t, I>,
                "vecstore: IndexPolicy lacks std::vector<std::vector<neighbor>> search(const float* "
                "queries, std::size_t nq, std::size_t k, const std::vector<std::int64_t>* allowed) "
                "const");
  static_assert(detail::is_detected_v<detail::index_exact_t, I>,
                "vecstore: IndexPolicy lacks static constexpr bool exact");
};

#if defined(__cpp_concepts)
/// The same trait as a concept, for users' own templates in C++20.
template <class I>
concept index_policy = is_index_policy<I>::value;
#endif

/// @}

/// @name Persistent index (optional extension of IndexPolicy)
///
/// An index whose derived state is too costly to rebuild in every process (the
/// k-means quantizer of `ivf_index`) shares it through SQLite: one writer
/// trains it and stores it, every process loads it, so nobody retrains at
/// open and every process assigns a vector to the same list. The store
/// detects the extension with `detail::is_persistent_index<I>` and uses it
/// only when every member below exists with exactly this signature and
/// `persistent` is true; `flat_index` has none of them.
///
///  - `static constexpr bool persistent = true`
///  - `std::int32_t assign(const float* vector) const`
///      The list `vector` (raw, as the user gave it; the index normalizes it
///      itself for cosine) belongs to under the current state; -1 while the
///      index is untrained. Deterministic for a given state, in any process
///      and whatever else the index holds: the writer calls it, inside its
///      transaction, for every stored embedding and stores the result.
///  - `void upsert(std::int64_t key, const float* vector, std::int32_t list)`
///      Inserts or replaces `key` into list `list` as some process's
///      `assign()` computed it under the current state (-1: the untrained
///      flat fallback). The store calls this instead of `upsert(key, vector)`
///      when loading or catching up. The index trusts `list`: it does not
///      recompute it (a list it does not have, from a damaged row, must not
///      crash it; `ivf_index` keeps such a vector in its always-scanned
///      fallback list).
///  - `bool wants_training(std::size_t stored) const`
///      Asked by the writer after each committed write, with the number of
///      embeddings the collection stores: true when `train()` should run now
///      (untrained and large enough, or grown well past its training size).
///  - `std::vector<std::uint8_t> train()`
///      Trains from the vectors the index holds, installs the result,
///      re-buckets every key, and returns the state serialized (versioned,
///      checksummed, naming dim and metric) for `load_state` in other
///      processes. Deterministic given the index's seed and contents. The
///      writer stores the blob and every key's new `assign()` in the same
///      transaction.
///  - `void load_state(const std::uint8_t* data, std::size_t size)`
///      Installs a state serialized by `train()`, possibly in another
///      process. Throws `vecstore::corruption_error` when the blob does not
///      parse, fails its checksum, or names another dim or metric; the index
///      is unchanged then. May drop the keys it holds: the store re-adds every
///      row with `upsert(key, vector, list)` afterwards.
/// @{

namespace detail {

template <class I>
using index_persistent_t = std::enable_if_t<std::is_same<decltype(&I::persistent), const bool*>::value,
                                            std::bool_constant<*&I::persistent>>;
template <class I>
using index_assign_t = decltype(std::declval<const I&>().assign(std::declval<const float*>()));
template <class I>
using index_upsert_listed_t = decltype(std::declval<I&>().upsert(
    std::declval<std::int64_t>(), std::declval<const float*>(), std::declval<std::int32_t>()));
template <class I>
using index_wants_training_t = decltype(std::declval<const I&>().wants_training(std::declval<std::size_t>()));
template <class I>
using index_train_t = decltype(std::declval<I&>().train());
template <class I>
using index_load_state_t =
    decltype(std::declval<I&>().load_state(std::declval<const std::uint8_t*>(), std::declval<std::size_t>()));

template <class I, class = void>
struct persistent_flag : std::false_type {};
template <class I>
struct persistent_flag<I, std::void_t<index_persistent_t<I>>> : index_persistent_t<I> {};

/// True when `I` offers the whole persistent-index extension (above) with
/// these exact signatures and `I::persistent` is a static constexpr true.
template <class I>
struct is_persistent_index
    : std::bool_constant<persistent_flag<I>::value &&
                         is_detected_exact_v<std::int32_t, index_assign_t, I> &&
                         is_detected_exact_v<void, index_upsert_listed_t, I> &&
                         is_detected_exact_v<bool, index_wants_training_t, I> &&
                         is_detected_exact_v<std::vector<std::uint8_t>, index_train_t, I> &&
                         is_detected_exact_v<void, index_load_state_t, I>> {};

template <class I>
inline constexpr bool is_persistent_index_v = is_persistent_index<I>::value;

}  // namespace detail

/// @}

/// @name Mappable index (optional extension of IndexPolicy)
///
/// An index whose whole content is a few flat arrays can be opened from the
/// store's vectors file (store_options::vectors_file_min_bytes) instead of
/// being rebuilt from every embedding: the store writes what the index
/// returns below and later hands the same arrays back, mapped from the file.
/// The store uses the extension only when all of these exist as written;
/// `flat_index` has them, `ivf_index` does not.
///
///  - `row_view rows() const`
///      Every vector as stored, one row per key, `stride == dim()`.
///  - `const detail::page_array<std::int64_t>& keys() const`
///      The key of each row, in row order.
///  - `const detail::page_array<float>& squared_norms() const`
///      Whatever per-row float the index keeps (`flat_index`: ||x||^2 for
///      l2, nothing otherwise); the store saves and restores it unread.
///  - `void adopt(detail::page_array<float> rows, detail::page_array<std::int64_t> keys,
///                detail::page_array<float> squared_norms)`
///      Replaces the content with arrays as the three above returned them.
///      The arrays may be copy-on-write views of a file: writing into them
///      is fine, truncating the file is not the index's concern.
/// @{

namespace detail {

template <class I>
using index_adopt_t = decltype(std::declval<I&>().adopt(std::declval<page_array<float>>(),
                                                        std::declval<page_array<std::int64_t>>(),
                                                        std::declval<page_array<float>>()));
template <class I>
using index_keys_t = decltype(std::declval<const I&>().keys());
template <class I>
using index_squared_norms_t = decltype(std::declval<const I&>().squared_norms());
template <class I>
using index_rows_t = decltype(std::declval<const I&>().rows());

/// True when `I` offers the mappable extension (above) with these exact signatures.
template <class I>
struct is_mappable_index
    : std::bool_constant<is_detected_exact_v<void, index_adopt_t, I> &&
                         is_detected_exact_v<const page_array<std::int64_t>&, index_keys_t, I> &&
                         is_detected_exact_v<const page_array<float>&, index_squared_norms_t, I> &&
                         is_detected_v<index_rows_t, I>> {};

template <class I>
inline constexpr bool is_mappable_index_v = is_mappable_index<I>::value;

}  // namespace detail

/// @}

}  // namespace v0
}  // namespace vecstore
