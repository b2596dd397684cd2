// SPDX-License-Identifier: MIT
// The search of an ivf_index: probe (rank the centroids, keep each query's
// nprobe nearest lists), group the (query, list) pairs by list, and scan each
// list once for all the queries that probe it, with the shared kernel, into
// per-query top-k (under a filter, probing more lists the fewer rows it
// allows); or, for a filter that allows fewer rows than the probed lists
// hold, score exactly the rows it allows, and before training scan the
// fallback list exactly. It reads the lists (ivf/lists.hpp) and the centroids
// (ivf/quantizer.hpp) and changes neither, so it is what the const,
// concurrent `ivf_index::search` runs.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <vecstore/index/ivf/lists.hpp>
#include <vecstore/index/ivf/quantizer.hpp>
#include <vecstore/index/kernel.hpp>
#include <vecstore/index/row_source.hpp>
#include <vecstore/index/search_pool.hpp>
#include <vecstore/index/topk.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {
namespace ivf {

/// Floats one task of a query's centroid probe or list scan must read
/// before it is split across threads: an eighth of a flat scan's
/// (detail::min_parallel_work), since a query's two hand-overs are cheap
/// while the pool's threads poll between queries (detail::pool_spin). At
/// 1M x 100 with 2 threads this split the probe of the 4,000 centroids too:
/// nprobe 16 gained 30% single-query QPS (docs/benchmarks.md).
inline constexpr std::size_t min_parallel_list_work = detail::min_parallel_work / 8;

/// A list to scan and the queries that scan it.
struct work_item {
  std::size_t slot;
  std::size_t begin;  // into members
  std::size_t end;
};

/// The `n` nearest centroids of each prepared query (l2 to the centroids),
/// on up to `threads` threads.
inline std::vector<std::vector<detail::scored_row>> probe_lists(const quantizer& centroids, const detail::query_set& qs,
                                                                std::size_t n, std::size_t threads) {
  const detail::row_source src{centroids.centroids(), metric::l2, centroids.sq_norms(), nullptr};
  return detail::search(src, qs.query(0), qs.count(), n, threads, min_parallel_list_work);
}

/// One search over the lists of an ivf_index, on up to `threads` threads.
class searcher {
 public:
  searcher(const inverted_lists& lists, const quantizer& centroids, std::size_t threads) noexcept
      : lists_(lists), centroids_(centroids), threads_(threads), dim_(lists.dim()) {}

  /// `ivf_index::search`, `nprobe` lists per query: see the IndexPolicy
  /// contract in index/requirements.hpp.
  std::vector<std::vector<neighbor>> search(const float* queries, std::size_t nq, std::size_t k,
                                            const std::vector<std::int64_t>* allowed, std::size_t nprobe) const {
    std::vector<std::vector<neighbor>> out(nq);
    if (nq == 0 || k == 0 || lists_.empty()) return out;
    const std::size_t nlist = centroids_.nlist();
    if (nlist == 0) return search_fallback(queries, nq, k, allowed);

    const detail::query_set qs(queries, nq, dim_, lists_.space());
    std::vector<std::vector<std::size_t>> subsets;  // per slot: allowed positions, ascending
    std::size_t allowed_count = 0;
    if (allowed != nullptr) {
      subsets.resize(lists_.slots());
      for (std::int64_t key : *allowed) {
        if (const location* at = lists_.find(key)) subsets[at->slot].push_back(at->pos);
      }
      for (auto& s : subsets) {
        std::sort(s.begin(), s.end());
        s.erase(std::unique(s.begin(), s.end()), s.end());
        allowed_count += s.size();
      }
      if (allowed_count == 0) return out;
    }

    // Work items: (slot, the queries that scan it).
    std::vector<work_item> items;
    std::vector<std::uint32_t> members;  // items' query ids, item by item
    const std::size_t probes = (std::min)(nprobe, nlist);
    const std::size_t probed_rows = probes * (lists_.size() / (std::max)(nlist, std::size_t{1}) + 1);
    if (allowed != nullptr && allowed_count <= probed_rows) {
      // Few allowed rows: score them all, exactly; cheaper than probing.
      for (std::size_t slot = 0; slot < lists_.slots(); ++slot) {
        if (subsets[slot].empty()) continue;
        items.push_back(work_item{slot, members.size(), members.size() + nq});
        for (std::size_t q = 0; q < nq; ++q) members.push_back(static_cast<std::uint32_t>(q));
      }
    } else {
      // A filter that keeps a share of the rows keeps about that share of
      // each list: probe as many times more lists, so that about as many
      // allowed rows are scanned as an unfiltered search scans (and recall
      // holds), each list read only at its allowed rows.
      const std::size_t filtered_probes =
          allowed == nullptr ? probes : (probes * lists_.size() + allowed_count - 1) / allowed_count;
      group_probes(qs, (std::min)(nlist, filtered_probes), items, members);
    }
    return scan_items(qs, k, items, members, allowed != nullptr ? &subsets : nullptr);
  }

 private:
  // Exact search over the fallback list (the whole index while untrained).
  std::vector<std::vector<neighbor>> search_fallback(const float* queries, std::size_t nq, std::size_t k,
                                                     const std::vector<std::int64_t>* allowed) const {
    const detail::row_source src = lists_.source(0);
    std::vector<std::vector<detail::scored_row>> found;
    if (allowed == nullptr) {
      found = detail::search(src, queries, nq, k, threads_);
    } else {
      std::vector<std::size_t> rows;
      rows.reserve((std::min)(allowed->size(), lists_.size()));
      for (std::int64_t key : *allowed) {
        if (const location* at = lists_.find(key)) rows.push_back(at->pos);
      }
      found = detail::search(src, queries, nq, k, std::move(rows), threads_);
    }
    std::vector<std::vector<neighbor>> out(nq);
    for (std::size_t q = 0; q < found.size(); ++q) {
      out[q].reserve(found[q].size());
      for (const detail::scored_row& s : found[q]) out[q].push_back(neighbor{lists_.key_at(0, s.row), s.distance});
    }
    return out;
  }

  // Groups the (query, probed list) pairs by list; the fallback list, when
  // not empty, is scanned by every query.
  void group_probes(const detail::query_set& qs, std::size_t probes, std::vector<work_item>& items,
                    std::vector<std::uint32_t>& members) const {
    const std::size_t nq = qs.count();
    const std::size_t slots = lists_.slots();
    const auto probed = probe_lists(centroids_, qs, probes, threads_);
    // (slot << 32 | query), grouped by slot. One query's lists already are
    // (each once), and stay nearest first (scan_items). Several queries' are
    // ordered by slot, then query: sorted when fewer than the lists (a pass
    // over all 4,000 lists cost a single query 7 us), else counted into place.
    std::vector<std::uint64_t> pairs;
    pairs.reserve(nq * probes);
    for (std::size_t q = 0; q < nq; ++q)
      for (const detail::scored_row& s : probed[q]) pairs.push_back((std::uint64_t{s.row} + 1) << 32 | q);
    if (nq > 1 && pairs.size() < slots) {
      std::sort(pairs.begin(), pairs.end());
    } else if (nq > 1) {
      std::vector<std::size_t> next(slots + 1, 0);  // next[slot]: where its next pair goes
      for (std::uint64_t p : pairs) ++next[(p >> 32) + 1];
      for (std::size_t s = 1; s < next.size(); ++s) next[s] += next[s - 1];
      std::vector<std::uint64_t> sorted(pairs.size());
      for (std::uint64_t p : pairs) sorted[next[p >> 32]++] = p;  // stable: queries stay ascending
      pairs.swap(sorted);
    }
    items.reserve((std::min)(pairs.size() + 1, slots));  // the fallback, then one item per list probed
    members.clear();
    members.reserve(pairs.size() + nq);
    if (lists_.rows_in(0) != 0) {
      items.push_back(work_item{0, 0, nq});
      for (std::size_t q = 0; q < nq; ++q) members.push_back(static_cast<std::uint32_t>(q));
    }
    for (std::size_t i = 0, end = 0; i < pairs.size(); i = end) {
      const std::size_t slot = static_cast<std::size_t>(pairs[i] >> 32);
      for (end = i + 1; end < pairs.size() && pairs[end] >> 32 == slot;) ++end;
      if (lists_.rows_in(slot) == 0) continue;
      items.push_back(work_item{slot, members.size(), members.size() + (end - i)});
      for (std::size_t j = i; j < end; ++j) members.push_back(static_cast<std::uint32_t>(pairs[j]));
    }
  }

  // Scans every item (a list and its queries) into per-query top-k. Threads
  // claim items one at a time, in order, each into accumulators of its own:
  // lists differ in size and threads in speed, and a single query's lists
  // come nearest first, so every thread tightens its threshold early.
  std::vector<std::vector<neighbor>> scan_items(const detail::query_set& qs, std::size_t k,
                                                const std::vector<work_item>& items,
                                                const std::vector<std::uint32_t>& members,
                                                const std::vector<std::vector<std::size_t>>* subsets) const {
    const std::size_t nq = qs.count();
    std::size_t total = 0;  // rows x queries
    for (const work_item& it : items)
      total += (subsets != nullptr ? (*subsets)[it.slot].size() : lists_.rows_in(it.slot)) * (it.end - it.begin);
    const std::size_t tasks =
        (std::min)(items.size(), detail::tasks_for(total * dim_, threads_, min_parallel_list_work));

    std::vector<std::vector<detail::topk_accumulator>> acc(tasks);
    std::atomic<std::size_t> next_item{0};
    detail::parallel_run(tasks, [&](std::size_t t) {
      acc[t] = detail::make_accumulators(nq, k, k);
      detail::scan_scratch scratch;
      std::vector<detail::topk_accumulator*> refs;
      std::vector<std::uint64_t> bits;
      for (std::size_t i; (i = next_item.fetch_add(1, std::memory_order_relaxed)) < items.size();) {
        const work_item& it = items[i];
        const std::size_t group = it.end - it.begin;
        refs.clear();
        for (std::size_t j = it.begin; j < it.end; ++j) refs.push_back(&acc[t][members[j]]);
        const detail::accumulator_refs into{refs.data()};
        std::optional<detail::query_set> gathered;
        if (group != nq) gathered.emplace(qs, members.data() + it.begin, group);
        const detail::query_set& queries = gathered ? *gathered : qs;
        const detail::row_source src = lists_.source(it.slot);
        if (subsets == nullptr) {
          detail::scan_rows(src, queries, 0, src.rows.rows, nullptr, into, scratch);
          continue;
        }
        const std::vector<std::size_t>& subset = (*subsets)[it.slot];
        if (subset.empty()) continue;
        if (subset.size() == src.rows.rows) {
          detail::scan_rows(src, queries, 0, src.rows.rows, nullptr, into, scratch);
        } else if (subset.size() * detail::gather_divisor <= src.rows.rows) {
          detail::scan_subset(src, queries, subset.data(), subset.size(), into, scratch);
        } else {
          bits.assign((src.rows.rows + 63) / 64, 0);
          for (std::size_t r : subset) bits[r / 64] |= std::uint64_t{1} << (r % 64);
          detail::scan_rows(src, queries, 0, src.rows.rows, bits.data(), into, scratch);
        }
      }
    });
    std::vector<std::vector<neighbor>> out(nq);
    if (tasks == 0) return out;
    for (std::size_t t = 1; t < tasks; ++t)
      for (std::size_t q = 0; q < nq; ++q) acc[0][q].merge(acc[t][q]);
    for (std::size_t q = 0; q < nq; ++q) out[q] = acc[0][q].take_sorted_keys();
    return out;
  }

  const inverted_lists& lists_;
  const quantizer& centroids_;
  std::size_t threads_;
  std::size_t dim_;
};

}  // namespace ivf
}  // namespace detail
}  // namespace v0
}  // namespace vecstore
