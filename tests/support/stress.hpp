// SPDX-License-Identifier: MIT
// The stress workload shared by the worker (in the child program) and the
// checker (in the tests): what a worker does, how it logs what it did, and how
// the expected final state is derived from the logs.
//
// Every worker owns its ids ("<worker>-<n>"), so the final state of an id is
// decided by its owner's last operation. A worker writes an intent line before
// each write and an ack line after the write returned. A worker killed with
// SIGKILL has at most one write with an intent and no ack: that batch may be
// committed or not, but must be all there or all absent.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <vecstore/vecstore.hpp>

namespace vecstore_test {

inline constexpr std::size_t stress_dim = 8;

/// The vector a worker writes for (id, version): deterministic, so logs only
/// carry the version number.
inline std::vector<float> stress_vector(const std::string& id, std::uint32_t version) {
  std::seed_seq seed(id.begin(), id.end());
  std::mt19937 rng(seed);
  rng.discard(version * 16u);
  std::uniform_real_distribution<float> dist(-10.0f, 10.0f);
  std::vector<float> v(stress_dim);
  for (auto& x : v) x = dist(rng);
  return v;
}

/// One logged write: "I|A <seq> <collection> <op> <id>:<version> ..." with op
/// add, upsert or remove (version 0 for remove).
struct stress_write {
  std::uint64_t seq = 0;
  std::string collection;
  std::string op;
  std::vector<std::pair<std::string, std::uint32_t>> items;
};

inline std::string format_write(char kind, const stress_write& w) {
  std::string line = std::string(1, kind) + " " + std::to_string(w.seq) + " " + w.collection + " " + w.op;
  for (const auto& [id, version] : w.items) line += " " + id + ":" + std::to_string(version);
  return line + "\n";
}

/// Appends log lines with write(2) on an O_APPEND descriptor: once write
/// returns, the line survives a SIGKILL of this process.
class stress_log {
 public:
  explicit stress_log(const std::string& path) : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) {}
  stress_log(const stress_log&) = delete;
  stress_log& operator=(const stress_log&) = delete;
  ~stress_log() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const noexcept { return fd_ >= 0; }
  void append(const std::string& line) {
    const ssize_t n = ::write(fd_, line.data(), line.size());
    (void)n;
  }

 private:
  int fd_;
};

/// The state an id must end in: present with this version, or absent (nullopt).
using stress_state = std::map<std::string, std::map<std::string, std::optional<std::uint32_t>>>;  // collection -> id -> version

struct stress_expectation {
  stress_state acknowledged;                   // after every acknowledged write
  std::vector<stress_write> pending;           // intents without an ack (killed workers): may or may not be applied
  std::size_t acknowledged_writes = 0;
  std::size_t acknowledged_records = 0;
};

inline void apply_write(stress_state& state, const stress_write& w) {
  for (const auto& [id, version] : w.items) {
    if (w.op == "remove")
      state[w.collection][id] = std::nullopt;
    else
      state[w.collection][id] = version;
  }
}

inline std::optional<stress_write> parse_write(const std::string& line, char& kind) {
  std::istringstream in(line);
  stress_write w;
  std::string k;
  if (!(in >> k >> w.seq >> w.collection >> w.op) || k.size() != 1) return std::nullopt;
  kind = k[0];
  for (std::string item; in >> item;) {
    const auto colon = item.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    w.items.emplace_back(item.substr(0, colon), static_cast<std::uint32_t>(std::stoul(item.substr(colon + 1))));
  }
  return w;
}

/// Reads every worker's log. Lines are in order per worker; the last intent
/// without an ack is the pending write of a killed worker.
inline stress_expectation read_logs(const std::vector<std::string>& paths) {
  stress_expectation e;
  for (const auto& path : paths) {
    std::ifstream in(path);
    std::optional<stress_write> open_intent;
    for (std::string line; std::getline(in, line);) {
      char kind = 0;
      const auto w = parse_write(line, kind);
      if (!w) continue;  // a line torn by SIGKILL mid-write: its write was not acknowledged
      if (kind == 'I') {
        open_intent = w;
      } else if (kind == 'A' && open_intent && open_intent->seq == w->seq) {
        apply_write(e.acknowledged, *w);
        ++e.acknowledged_writes;
        e.acknowledged_records += w->items.size();
        open_intent.reset();
      }
    }
    if (open_intent) e.pending.push_back(*open_intent);
  }
  return e;
}

struct stress_stats {
  std::size_t writes = 0, queries = 0, health_checks = 0, errors = 0, self_check_failures = 0;
};

/// The worker loop: random batches of add / upsert / remove on its own ids in
/// the shared collections, and queries (including read-your-writes checks),
/// for `seconds`.
template <class Store>
stress_stats run_stress_worker(Store& db, const std::string& name, double seconds, unsigned seed,
                               const std::string& log_path, const std::vector<std::string>& collections) {
  stress_stats stats;
  stress_log log(log_path);
  std::mt19937 rng(seed);
  std::map<std::string, std::map<std::string, std::uint32_t>> live;  // what this worker believes is stored
  std::uint64_t seq = 0;
  std::uint32_t next_id = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string& cname = collections[rng() % collections.size()];
    auto c = db.get_collection(cname);
    auto& mine = live[cname];
    const unsigned dice = rng() % 10;
    try {
      if (dice < 6 || mine.empty()) {
        stress_write w{++seq, cname, dice < 3 || mine.empty() ? "add" : "upsert", {}};
        std::vector<vecstore::record> batch;
        const std::size_t n = 1 + rng() % 8;
        for (std::size_t i = 0; i < n; ++i) {
          std::string id;
          std::uint32_t version = 1;
          if (w.op == "upsert" && !mine.empty() && rng() % 2) {
            auto it = mine.begin();
            std::advance(it, static_cast<long>(rng() % mine.size()));
            id = it->first;
            version = it->second + 1;
          } else {
            id = name + "-" + std::to_string(next_id++);
          }
          bool repeated = false;
          for (const auto& [seen, v] : w.items) repeated = repeated || seen == id;
          if (repeated) continue;
          w.items.emplace_back(id, version);
          batch.push_back({id, stress_vector(id, version), "doc " + id, {{"version", std::int64_t{version}}}});
        }
        log.append(format_write('I', w));
        if (w.op == "add")
          c.add(batch);
        else
          c.upsert(batch);
        log.append(format_write('A', w));
        for (const auto& [id, version] : w.items) mine[id] = version;
        ++stats.writes;
        // Read your own write: the exact vector finds its id at distance 0.
        const auto& [id, version] = w.items.front();
        vecstore::query_options q;
        q.k = 1;
        q.fields = vecstore::include::none;
        const auto hits = c.query(stress_vector(id, version), q);
        if (hits.empty() || hits.front().id != id) ++stats.self_check_failures;
        ++stats.queries;
      } else if (dice < 8) {
        stress_write w{++seq, cname, "remove", {}};
        std::vector<std::string> ids;
        const std::size_t n = 1 + rng() % 3;
        for (std::size_t i = 0; i < n && !mine.empty(); ++i) {
          auto it = mine.begin();
          std::advance(it, static_cast<long>(rng() % mine.size()));
          w.items.emplace_back(it->first, 0);
          ids.push_back(it->first);
          mine.erase(it);
        }
        log.append(format_write('I', w));
        c.remove(ids);
        log.append(format_write('A', w));
        ++stats.writes;
      } else {
        vecstore::query_options q;
        q.k = 10;
        q.where = vecstore::where("version") >= 1;
        const auto hits = c.query(stress_vector(name, static_cast<std::uint32_t>(rng() % 1000)), q);
        for (std::size_t i = 1; i < hits.size(); ++i) {
          if (hits[i - 1].distance > hits[i].distance) ++stats.self_check_failures;
        }
        ++stats.queries;
        if (rng() % 4 == 0) {
          if (db.health(true).status == vecstore::health_status::unhealthy) ++stats.self_check_failures;
          ++stats.health_checks;
        }
      }
    } catch (const vecstore::error& e) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
      ++stats.errors;
    }
  }
  return stats;
}

/// The fixed queries every process answers at the end; equal answers mean
/// equal indexes.
template <class Store>
std::vector<std::vector<std::string>> run_query_set(Store& db, const std::vector<std::string>& collections) {
  std::vector<std::vector<std::string>> out;
  for (const auto& cname : collections) {
    auto c = db.get_collection(cname);
    for (std::uint32_t i = 0; i < 20; ++i) {
      vecstore::query_options q;
      q.k = 10;
      q.fields = vecstore::include::none;
      std::vector<std::string> ids;
      for (const auto& h : c.query(stress_vector("probe", i), q)) ids.push_back(h.id);
      out.push_back(std::move(ids));
    }
  }
  return out;
}

}  // namespace vecstore_test
