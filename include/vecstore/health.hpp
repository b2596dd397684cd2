// SPDX-License-Identifier: MIT
// health_report: what a store's health check found, and its JSON shape.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <vecstore/recovery/report.hpp>

namespace vecstore {
inline namespace v0 {

namespace detail {
/// A WAL this large means checkpoints are being starved (wal.html §"Avoiding Excessively Large WAL Files").
inline constexpr std::uintmax_t wal_size_warning = std::uintmax_t{256} << 20;
/// Free space in the store's folder below which health is degraded / unhealthy.
inline constexpr std::uintmax_t disk_space_low = std::uintmax_t{256} << 20;
inline constexpr std::uintmax_t disk_space_critical = std::uintmax_t{16} << 20;
}  // namespace detail

/// healthy: every check passed. degraded: the store works but needs care
/// (say, no recent backup). unhealthy: damage or an unusable store.
enum class health_status { healthy, degraded, unhealthy };

inline const char* to_string(health_status s) noexcept {
  switch (s) {
    case health_status::healthy: return "healthy";
    case health_status::degraded: return "degraded";
    case health_status::unhealthy: return "unhealthy";
  }
  return "unknown";
}

/// One check: its name, verdict, a human-readable detail and how long it took.
struct health_check {
  std::string name;
  health_status status = health_status::healthy;
  std::string detail;
  std::chrono::microseconds duration{0};
};

/// Per collection: records stored in SQLite and vectors held by this process's index.
struct collection_health {
  std::string name;
  std::size_t records = 0;
  std::size_t embeddings = 0;
  std::size_t indexed = 0;
};

struct health_report {
  health_status status = health_status::healthy;
  std::filesystem::path path;
  std::chrono::system_clock::time_point checked_at{};
  std::vector<health_check> checks;
  std::vector<collection_health> collections;
  /// The last recovery of the store file, by any process, until an operator
  /// clears it with acknowledge_recovery(); the "recovery" check is degraded meanwhile.
  std::optional<recovery_report> last_recovery;

  /// Adds a check and lowers the overall status to the worst seen.
  void add(health_check c) {
    if (static_cast<int>(c.status) > static_cast<int>(status)) status = c.status;
    checks.push_back(std::move(c));
  }

  /// The stable JSON shape (documented in docs/operations.md):
  /// {"status": "healthy"|"degraded"|"unhealthy", "path": "...",
  ///  "checked_at": "YYYY-MM-DDThh:mm:ssZ",
  ///  "checks": [{"name": "...", "status": "...", "detail": "...", "duration_ms": 0.12}],
  ///  "collections": [{"name": "...", "records": 0, "embeddings": 0, "indexed": 0}],
  ///  "last_recovery": null or a recovery report (recovery/report.hpp's to_json)}
  nlohmann::json to_json() const {
    nlohmann::json j;
    j["status"] = to_string(status);
    j["path"] = path.string();
    const std::time_t t = std::chrono::system_clock::to_time_t(checked_at);
    std::tm utc{};
    gmtime_r(&t, &utc);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
    j["checked_at"] = stamp;
    j["checks"] = nlohmann::json::array();
    for (const auto& c : checks) {
      j["checks"].push_back({{"name", c.name},
                             {"status", to_string(c.status)},
                             {"detail", c.detail},
                             {"duration_ms", static_cast<double>(c.duration.count()) / 1000.0}});
    }
    j["collections"] = nlohmann::json::array();
    for (const auto& c : collections) {
      j["collections"].push_back(
          {{"name", c.name}, {"records", c.records}, {"embeddings", c.embeddings}, {"indexed", c.indexed}});
    }
    j["last_recovery"] = last_recovery ? vecstore::to_json(*last_recovery) : nlohmann::json(nullptr);
    return j;
  }
};

}  // namespace v0
}  // namespace vecstore
