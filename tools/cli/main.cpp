// SPDX-License-Identifier: MIT
// vecstore: the command-line tool over a vecstore store. See docs/cli.md.
//
//   vecstore [--json] <command> ...
//
// Exit codes: 0 ok, 1 degraded (health/verify), 2 unhealthy (health/verify),
// 3 usage error, 4 not found, 5 invalid input, 6 locked or timed out,
// 7 corruption, 8 I/O error, 9 schema error, 10 anything else.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>
#include <SQLiteCpp/Database.h>
#include <nlohmann/json.hpp>

#include <vecstore/import/chroma.hpp>
#include <vecstore/vecstore.hpp>

#include "formats.hpp"
#include "progress.hpp"

namespace vecstore_cli {

using json = nlohmann::ordered_json;
using store_t = vecstore::store;
using collection_t = store_t::collection;

// --- exit codes ----------------------------------------------------------------

enum exit_status : int {
  exit_ok = 0,
  exit_degraded = 1,
  exit_unhealthy = 2,
  exit_usage = 3,
  exit_not_found = 4,
  exit_invalid = 5,
  exit_locked = 6,
  exit_corruption = 7,
  exit_io = 8,
  exit_schema = 9,
  exit_other = 10,
};

inline int exit_code_for(vecstore::errc code) {
  switch (code) {
    case vecstore::errc::invalid_argument:
    case vecstore::errc::dimension_mismatch:
    case vecstore::errc::duplicate_id: return exit_invalid;
    case vecstore::errc::not_found: return exit_not_found;
    case vecstore::errc::store_locked:
    case vecstore::errc::lock_timeout: return exit_locked;
    case vecstore::errc::corruption: return exit_corruption;
    case vecstore::errc::io_error: return exit_io;
    case vecstore::errc::schema_error: return exit_schema;
    case vecstore::errc::closed: return exit_other;
  }
  return exit_other;
}

inline int exit_code_for(vecstore::health_status s) {
  switch (s) {
    case vecstore::health_status::healthy: return exit_ok;
    case vecstore::health_status::degraded: return exit_degraded;
    case vecstore::health_status::unhealthy: return exit_unhealthy;
  }
  return exit_unhealthy;
}

/// A command line that parsed but makes no sense (exit 3).
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --- small helpers ----------------------------------------------------------------

inline std::uintmax_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

inline fs::path side_file(const fs::path& store, const char* suffix) { return fs::path(store.string() + suffix); }

inline std::string utc_iso(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&tt, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

inline std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

inline std::string bytes_text(std::uintmax_t n) {
  char buf[48];
  if (n >= (std::uintmax_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(n) / (1 << 30));
  } else if (n >= (std::uintmax_t{1} << 20)) {
    std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(n) / (1 << 20));
  } else if (n >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%ju bytes", n);
  }
  return buf;
}

/// A document on one line: newlines and tabs shown as \n and \t.
inline std::string one_line(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

inline std::string dump(const json& j, int indent = 2) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

inline json metadata_json(const vecstore::metadata& meta) {
  json m = json::object();
  for (const auto& kv : meta) {
    std::visit([&](const auto& x) { m[kv.first] = x; }, kv.second);
  }
  return m;
}

inline json embedding_json(const std::vector<float>& v) {
  json e = json::array();
  for (const float f : v) e.push_back(json_float(f));
  return e;
}

inline vecstore::include parse_include(const std::vector<std::string>& items, vecstore::include fallback) {
  if (items.empty()) return fallback;
  auto fields = vecstore::include::none;
  for (const auto& s : items) {
    if (s == "documents") {
      fields = fields | vecstore::include::documents;
    } else if (s == "metadatas") {
      fields = fields | vecstore::include::metadatas;
    } else if (s == "embeddings") {
      fields = fields | vecstore::include::embeddings;
    } else if (s == "all") {
      fields = vecstore::include::all;
    } else if (s == "none" || s == "distances") {
      // ids (and distances, for query) are always returned
    } else {
      throw usage_error("--include: unknown field \"" + s + "\" (use documents, metadatas, embeddings, all, none)");
    }
  }
  return fields;
}

inline vecstore::metric parse_metric(const std::string& s) {
  if (auto m = vecstore::metric_from_string(s)) return *m;
  throw usage_error("--metric: unknown metric \"" + s + "\" (use cosine, l2 or ip)");
}

// --- the tool ------------------------------------------------------------------------

struct global_options {
  bool json = false;
  bool no_progress = false;
  bool no_recover = false;
  long lock_timeout_ms = -1;
};

/// How a command opens its store.
enum class open_as {
  existing,  ///< must exist; the RecoveryPolicy may repair damage found at open
  create,    ///< created if missing (create, import, import-chroma)
  inspect,   ///< must exist; damage is reported, never repaired (health, verify, stats)
};

class tool {
 public:
  explicit tool(global_options g) : g_(g) {}

  bool json_mode() const noexcept { return g_.json; }
  bool progress_on() const { return progress_wanted(g_.no_progress); }

  /// Opens a store. Unless `create`, a missing store is a not_found error
  /// (and no empty store is left behind). When the RecoveryPolicy repaired
  /// the store while opening it, says so in one line on stderr.
  std::shared_ptr<store_t> open(const fs::path& path, open_as how) const {
    std::error_code ec;
    if (how != open_as::create && !fs::exists(path, ec)) {
      vecstore::detail::throw_error<vecstore::not_found>(
          "cannot open the store", path, "the file does not exist",
          "Check the path; `vecstore create` and `vecstore import` make a new store");
    }
    vecstore::store_options o;
    o.path = path;
    o.create_if_missing = how == open_as::create;
    o.auto_recover = how != open_as::inspect && !g_.no_recover;
    if (g_.lock_timeout_ms >= 0) o.lock_timeout = std::chrono::milliseconds(g_.lock_timeout_ms);
    auto s = store_t::open(std::move(o));
    if (const auto r = s->last_recovery(); r && r->action != "none") report_recovery(*r);
    return s;
  }

  static void report_recovery(const vecstore::recovery_report& r) {
    std::string line = "vecstore: note: the store was damaged and " + r.policy + " " + r.action + " it";
    if (!r.backup_used.empty()) line += " from " + r.backup_used.string();
    line += " (" + std::to_string(r.rows_saved) + " records";
    if (r.rows_lost) line += ", " + std::to_string(r.rows_lost) + " lost";
    if (r.changes_after_backup) line += ", " + std::to_string(*r.changes_after_backup) + " changes newer than the backup lost";
    line += ")";
    if (!r.quarantined.empty()) line += "; the damaged file is kept as " + r.quarantined.string();
    if (!r.problem.empty()) line += ". Problem found: " + r.problem;
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::cerr << line << "\n";
  }

  /// The collection `name` if the store has it.
  static std::optional<vecstore::collection_info> find(store_t& s, const std::string& name) {
    for (auto& c : s.list_collections()) {
      if (c.name == name) return c;
    }
    return std::nullopt;
  }

  void print_json(const json& j) const { std::cout << dump(j) << "\n"; }

  // --- create ---------------------------------------------------------------------
  struct create_args {
    fs::path store;
    std::string collection;
    std::size_t dim = 0;
    std::string metric = "cosine";
    bool exist_ok = false;
  };
  int create(const create_args& a) {
    const vecstore::collection_options opts{a.dim, parse_metric(a.metric)};
    auto s = open(a.store, open_as::create);
    const auto found = find(*s, a.collection);
    const bool existed = found.has_value();
    if (existed && !a.exist_ok) {
      vecstore::detail::throw_error<vecstore::invalid_argument>(
          "cannot create the collection", s->path(),
          "collection \"" + a.collection + "\" exists already (dim " + std::to_string(found->dim) + ", metric " +
              vecstore::to_string(found->space) + ", " + std::to_string(found->count) + " records)",
          "Pass --exist-ok to accept it, or choose another name");
    }
    auto c = a.exist_ok ? s->get_or_create_collection(a.collection, opts) : s->create_collection(a.collection, opts);
    if (json_mode()) {
      print_json({{"store", s->path().string()},
                  {"collection", c.name()},
                  {"dim", c.dim()},
                  {"metric", vecstore::to_string(c.space())},
                  {"created", !existed}});
    } else {
      std::cout << (existed ? "collection \"" : "created collection \"") << c.name() << "\" (dim " << c.dim()
                << ", metric " << vecstore::to_string(c.space()) << ")" << (existed ? " exists already" : "") << " in "
                << s->path().string() << "\n";
    }
    return exit_ok;
  }

  // --- import ---------------------------------------------------------------------
  struct import_args {
    fs::path store;
    std::string collection;
    fs::path file;
    std::string format;
    std::optional<std::size_t> dim;
    std::optional<std::string> metric;
    std::size_t batch = 1000;
    std::string id_prefix;
    bool upsert = false;
  };

  int import(const import_args& a) {
    const auto started = std::chrono::steady_clock::now();
    const file_format format = resolve_format(a.file, a.format);
    if (format == file_format::jsonl && !a.id_prefix.empty()) {
      throw usage_error("--id-prefix applies to fvecs and npy files; JSON Lines records carry their own ids");
    }
    vecstore::detail::check_collection_name(a.collection);

    // 1. The target: an existing collection, or the options to create one.
    std::error_code ec;
    std::shared_ptr<store_t> s;
    std::optional<vecstore::collection_info> existing;
    if (fs::exists(a.store, ec)) {
      s = open(a.store, open_as::existing);
      existing = find(*s, a.collection);
    }
    vecstore::collection_options copts;
    if (existing) {
      copts = {existing->dim, existing->space};
      if ((a.dim && *a.dim != existing->dim) || (a.metric && parse_metric(*a.metric) != existing->space)) {
        vecstore::detail::throw_error<vecstore::invalid_argument>(
            "cannot import", a.store,
            "collection \"" + a.collection + "\" exists with dim " + std::to_string(existing->dim) + " and metric " +
                vecstore::to_string(existing->space) + ", not the --dim/--metric given",
            "Leave out --dim and --metric to import into it, or use another collection name");
      }
    } else if (a.dim) {
      copts = {*a.dim, a.metric ? parse_metric(*a.metric) : vecstore::metric::cosine};
      vecstore::detail::check_collection_options(copts);
    } else if (!s) {
      vecstore::detail::throw_error<vecstore::not_found>(
          "cannot import", a.store, "the store does not exist",
          "Pass --dim (and --metric) to create the store and the collection, or check the path");
    } else {
      vecstore::detail::throw_error<vecstore::not_found>(
          "cannot import", a.store, "there is no collection named \"" + a.collection + "\"",
          "Pass --dim (and --metric) to create it, or run `vecstore create` first");
    }
    std::optional<collection_t> target;
    if (existing) target = s->get_collection(a.collection);

    // 2. Check the whole file before writing anything: format, dimensions,
    // values, ids repeated within the file, and (without --upsert) ids the
    // collection already has. Errors name the row or line.
    const std::uint64_t total = validate_import(a, format, copts, target);

    // 3. Write, in transactions of --batch records.
    if (!s) s = open(a.store, open_as::create);
    const bool created = !existing;
    if (!target) target = s->get_or_create_collection(a.collection, copts);
    std::uint64_t written = 0;
    {
      progress bar("import", total, progress_on());
      auto source = open_source(a.file, format, a.id_prefix);
      std::vector<vecstore::record> batch;
      batch.reserve(std::min<std::size_t>(a.batch, 100000));
      vecstore::record r;
      const auto flush = [&] {
        if (batch.empty()) return;
        try {
          if (a.upsert) {
            target->upsert(batch);
          } else {
            target->add(batch);
          }
        } catch (const vecstore::error& e) {
          throw vecstore::error(e.code(),
                                std::string(e.what()) + " (" + std::to_string(written) + " of " +
                                    std::to_string(total) + " records were written before this batch; the batch "
                                                            "failed as a whole)",
                                e.path());
        }
        written += batch.size();
        bar.advance(batch.size());
        batch.clear();
      };
      while (source->next(r)) {
        batch.push_back(std::move(r));
        r = vecstore::record{};
        if (batch.size() >= a.batch) flush();
      }
      flush();
      bar.finish();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (json_mode()) {
      print_json({{"store", s->path().string()},
                  {"collection", a.collection},
                  {"file", a.file.string()},
                  {"format", to_string(format)},
                  {"records", written},
                  {"mode", a.upsert ? "upsert" : "add"},
                  {"created_collection", created},
                  {"dim", copts.dim},
                  {"metric", vecstore::to_string(copts.space)},
                  {"seconds", secs}});
    } else {
      std::cout << "imported " << written << " records into \"" << a.collection << "\" (" << s->path().string()
                << ") from " << a.file.string() << " (" << to_string(format) << ") in " << seconds_text(secs)
                << (created ? "; created the collection (dim " + std::to_string(copts.dim) + ", metric " +
                                  vecstore::to_string(copts.space) + ")"
                            : std::string())
                << "\n";
    }
    return exit_ok;
  }

  std::uint64_t validate_import(const import_args& a, file_format format, const vecstore::collection_options& copts,
                                std::optional<collection_t>& target) {
    progress bar("check", 0, progress_on());
    auto source = open_source(a.file, format, a.id_prefix);
    const bool check_existing = target && !a.upsert;
    const bool check_repeats = format == file_format::jsonl;  // fvecs/npy ids are row numbers
    std::vector<std::uint64_t> hashes;
    std::vector<std::pair<std::string, std::string>> pending;  // (id, where), checked against the store
    const auto check_pending = [&] {
      if (pending.empty()) return;
      std::vector<std::string> ids;
      ids.reserve(pending.size());
      for (const auto& p : pending) ids.push_back(p.first);
      const auto found = target->get(ids, vecstore::include::none);
      if (!found.empty()) {
        const auto at = std::find_if(pending.begin(), pending.end(), [&](const auto& p) { return p.first == found.front().id; });
        vecstore::detail::throw_error<vecstore::duplicate_id>(
            "cannot import", a.file,
            at->second + ": id \"" + at->first + "\" exists already in collection \"" + a.collection + "\"",
            "Pass --upsert to replace existing records (or --id-prefix for fvecs/npy); nothing was written");
      }
      pending.clear();
    };
    std::uint64_t n = 0;
    vecstore::record r;
    while (source->next(r)) {
      if (n == 0) bar.set_total(source->size_hint());
      const std::string where = source->where();
      vecstore::detail::check_id(r.id, where);
      if (!r.embedding.empty()) {
        vecstore::detail::check_embedding(r.embedding.data(), r.embedding.size(), copts.dim, copts.space, where);
      }
      if (r.document) vecstore::detail::check_utf8(*r.document, "invalid document", where + "'s document");
      vecstore::detail::check_metadata(r.meta, where);
      if (check_repeats) hashes.push_back(std::hash<std::string>{}(r.id));
      if (check_existing) {
        pending.emplace_back(r.id, where);
        if (pending.size() >= 1000) check_pending();
      }
      ++n;
      bar.advance(1);
    }
    check_pending();
    bar.finish();
    if (check_repeats) find_repeated_ids(a.file, hashes);
    return n;
  }

  /// Throws duplicate_id naming both lines if an id appears twice in a JSON
  /// Lines file. Only 8 bytes per record are kept; a hash collision is
  /// confirmed by reading the lines concerned again.
  static void find_repeated_ids(const fs::path& file, std::vector<std::uint64_t>& hashes) {
    std::sort(hashes.begin(), hashes.end());
    std::unordered_set<std::uint64_t> suspects;
    for (std::size_t i = 1; i < hashes.size(); ++i) {
      if (hashes[i] == hashes[i - 1]) suspects.insert(hashes[i]);
    }
    hashes.clear();
    hashes.shrink_to_fit();
    if (suspects.empty()) return;
    jsonl_source again(file);
    std::unordered_map<std::string, std::string> seen;  // id -> where, for suspects only
    vecstore::record r;
    while (again.next(r)) {
      if (!suspects.count(std::hash<std::string>{}(r.id))) continue;
      const auto [it, inserted] = seen.emplace(r.id, "line " + std::to_string(again.line()));
      if (!inserted) {
        vecstore::detail::throw_error<vecstore::duplicate_id>(
            "invalid input file", file, again.where() + " repeats the id \"" + r.id + "\" of " + it->second,
            "Give every record its own id; nothing was written");
      }
    }
  }

  // --- export ---------------------------------------------------------------------
  struct export_args {
    fs::path store;
    std::string collection;
    fs::path file;
    std::string format;
    bool force = false;
  };
  int export_(const export_args& a) {
    const auto started = std::chrono::steady_clock::now();
    file_format format = file_format::jsonl;
    if (!a.format.empty()) {
      format = resolve_format(a.file, a.format);
    } else if (a.file.extension() == ".npy") {
      format = file_format::npy;
    }
    if (format == file_format::fvecs) throw usage_error("export writes jsonl or npy, not fvecs");
    auto s = open(a.store, open_as::existing);
    auto c = s->get_collection(a.collection);
    // The ids in one snapshot, then the records in batches by id: a record
    // removed meanwhile is left out, one changed meanwhile is exported as it
    // is when its batch is read.
    std::vector<std::string> ids;
    {
      vecstore::get_options o;
      o.fields = vecstore::include::none;
      auto all = c.get(o);
      ids.reserve(all.size());
      for (auto& r : all) ids.push_back(std::move(r.id));
    }
    output_file out(a.file, a.force);
    std::optional<npy_writer> npy;
    if (format == file_format::npy) npy.emplace(out, c.dim());
    std::uint64_t written = 0, without_embedding = 0;
    {
      progress bar("export", ids.size(), progress_on());
      constexpr std::size_t batch = 1000;
      std::vector<std::string> chunk;
      std::string text;
      for (std::size_t i = 0; i < ids.size(); i += batch) {
        chunk.assign(ids.begin() + static_cast<std::ptrdiff_t>(i),
                     ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + batch)));
        const auto fields = npy ? vecstore::include::embeddings : vecstore::include::all;
        text.clear();
        for (const auto& r : c.get(chunk, fields)) {
          if (npy) {
            if (r.embedding.empty()) {
              ++without_embedding;
              continue;
            }
            npy->add(r.embedding);
          } else {
            text += jsonl_line(r);
            text += '\n';
          }
          ++written;
        }
        out.write(text);
        bar.advance(chunk.size());
      }
      if (npy) npy->finish();
      out.commit();
      bar.finish();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (json_mode()) {
      json j{{"store", s->path().string()},
             {"collection", a.collection},
             {"file", a.file.string()},
             {"format", to_string(format)},
             {"records", written},
             {"seconds", secs}};
      if (npy) {
        j["dim"] = c.dim();
        j["skipped_without_embedding"] = without_embedding;
      }
      print_json(j);
    } else {
      std::cout << "exported " << written << (npy ? " vectors" : " records") << " of \"" << a.collection << "\" to "
                << a.file.string() << " (" << to_string(format) << ") in " << seconds_text(secs) << "\n";
    }
    if (without_embedding) {
      std::cerr << "vecstore: note: " << without_embedding
                << " records have no embedding and are not in the .npy file; export jsonl to keep them\n";
    }
    return exit_ok;
  }

  // --- get --------------------------------------------------------------------------
  struct get_args {
    fs::path store;
    std::string collection;
    std::vector<std::string> ids;
    std::string where;
    std::string where_document;
    std::size_t limit = 0;
    std::size_t offset = 0;
    std::vector<std::string> include;
  };
  int get(const get_args& a) {
    vecstore::get_options o;
    o.ids = a.ids;
    if (!a.where.empty()) o.where = vecstore::filter::parse(a.where);
    if (!a.where_document.empty()) o.where_document = vecstore::document_filter::parse(a.where_document);
    o.limit = a.limit;
    o.offset = a.offset;
    o.fields = parse_include(a.include, vecstore::include::documents | vecstore::include::metadatas);
    auto s = open(a.store, open_as::existing);
    auto c = s->get_collection(a.collection);
    const auto records = c.get(o);
    if (json_mode()) {
      json list = json::array();
      for (const auto& r : records) list.push_back(record_json(r.id, nullptr, r.document, r.meta, r.embedding, o.fields));
      print_json({{"collection", a.collection}, {"count", records.size()}, {"records", std::move(list)}});
    } else {
      for (const auto& r : records) {
        std::cout << r.id << text_columns(r.document, r.meta, r.embedding, o.fields) << "\n";
      }
    }
    return exit_ok;
  }

  static json record_json(const std::string& id, const float* distance, const std::optional<std::string>& document,
                          const vecstore::metadata& meta, const std::vector<float>& embedding,
                          vecstore::include fields) {
    json j{{"id", id}};
    if (distance) j["distance"] = json_float(*distance);
    if (vecstore::has(fields, vecstore::include::documents)) j["document"] = document ? json(*document) : json(nullptr);
    if (vecstore::has(fields, vecstore::include::metadatas)) j["metadata"] = metadata_json(meta);
    if (vecstore::has(fields, vecstore::include::embeddings)) {
      j["embedding"] = embedding.empty() ? json(nullptr) : embedding_json(embedding);
    }
    return j;
  }

  static std::string text_columns(const std::optional<std::string>& document, const vecstore::metadata& meta,
                                  const std::vector<float>& embedding, vecstore::include fields) {
    std::string out;
    if (vecstore::has(fields, vecstore::include::documents)) out += "\t" + (document ? one_line(*document) : "-");
    if (vecstore::has(fields, vecstore::include::metadatas)) out += "\t" + dump(metadata_json(meta), -1);
    if (vecstore::has(fields, vecstore::include::embeddings)) {
      out += "\t" + (embedding.empty() ? std::string("-") : dump(embedding_json(embedding), -1));
    }
    return out;
  }

  // --- query ----------------------------------------------------------------------
  struct query_args {
    fs::path store;
    std::string collection;
    std::string embedding;
    fs::path from;
    std::string format;
    std::uint64_t row = 0;
    std::size_t k = 10;
    std::string where;
    std::string where_document;
    std::vector<std::string> include;
  };
  int query(const query_args& a) {
    std::vector<float> q;
    if (!a.embedding.empty()) {
      q = parse_embedding(a.embedding);
    } else if (!a.from.empty()) {
      q = read_row(a.from, resolve_format(a.from, a.format), a.row);
    } else {
      throw usage_error("query needs --embedding '[...]' or --from FILE [--row N]");
    }
    vecstore::query_options o;
    o.k = a.k;
    if (!a.where.empty()) o.where = vecstore::filter::parse(a.where);
    if (!a.where_document.empty()) o.where_document = vecstore::document_filter::parse(a.where_document);
    o.fields = parse_include(a.include, vecstore::include::documents | vecstore::include::metadatas);
    auto s = open(a.store, open_as::existing);
    auto c = s->get_collection(a.collection);
    const auto hits = c.query(q, o);
    if (json_mode()) {
      json list = json::array();
      for (const auto& h : hits) list.push_back(record_json(h.id, &h.distance, h.document, h.meta, h.embedding, o.fields));
      print_json({{"collection", a.collection},
                  {"metric", vecstore::to_string(c.space())},
                  {"k", a.k},
                  {"results", std::move(list)}});
    } else {
      std::size_t rank = 0;
      for (const auto& h : hits) {
        char distance[32];
        std::snprintf(distance, sizeof distance, "%.6g", static_cast<double>(h.distance));
        std::cout << ++rank << "\t" << distance << "\t" << h.id << text_columns(h.document, h.meta, h.embedding, o.fields)
                  << "\n";
      }
    }
    return exit_ok;
  }

  static std::vector<float> parse_embedding(const std::string& text) {
    const auto bad = [](const std::string& why) {
      vecstore::detail::throw_error<vecstore::invalid_argument>("invalid --embedding", {}, why,
                                                                "Give a JSON array of numbers, e.g. '[0.1, 0.2]'");
    };
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      std::string why = e.what();
      if (const auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
      bad("not valid JSON: " + why);
    }
    if (!j.is_array() || j.empty()) bad("expected a non-empty JSON array");
    std::vector<float> out;
    out.reserve(j.size());
    for (std::size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_number()) bad("element " + std::to_string(i) + " is " + j[i].type_name() + ", not a number");
      const double d = j[i].get<double>();
      if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
        bad("element " + std::to_string(i) + " is outside the float32 range");
      }
      out.push_back(static_cast<float>(d));
    }
    return out;
  }

  // --- count ---------------------------------------------------------------------------
  int count(const fs::path& store, const std::string& collection) {
    auto s = open(store, open_as::existing);
    if (!collection.empty()) {
      const std::size_t n = s->get_collection(collection).count();
      if (json_mode()) {
        print_json({{"collection", collection}, {"count", n}});
      } else {
        std::cout << n << "\n";
      }
      return exit_ok;
    }
    const auto all = s->list_collections();
    std::size_t total = 0;
    json per = json::object();
    for (const auto& c : all) {
      total += c.count;
      per[c.name] = c.count;
    }
    if (json_mode()) {
      print_json({{"collections", std::move(per)}, {"total", total}});
    } else {
      for (const auto& c : all) std::cout << c.name << "\t" << c.count << "\n";
      std::cout << "(total)\t" << total << "\n";
    }
    return exit_ok;
  }

  // --- stats ---------------------------------------------------------------------------
  int stats(const fs::path& store) {
    auto s = open(store, open_as::inspect);
    const auto all = s->list_collections();
    const fs::path& p = s->path();
    // The schema version as the file records it. A second read-only SQLite
    // connection is safe here: SQLite shares its POSIX locks between the
    // connections of one process (only foreign descriptors are a hazard).
    std::int64_t file_schema = -1;
    try {
      SQLite::Database db(p.string(), SQLite::OPEN_READONLY);
      file_schema = db.execAndGet("PRAGMA user_version").getInt64();
    } catch (const std::exception&) {  // reported as unknown (-1)
    }
    const std::uintmax_t db_bytes = file_size_or_zero(p), wal_bytes = file_size_or_zero(side_file(p, "-wal")),
                         shm_bytes = file_size_or_zero(side_file(p, "-shm"));
    std::size_t total = 0;
    for (const auto& c : all) total += c.count;
    if (json_mode()) {
      json cols = json::array();
      for (const auto& c : all) {
        cols.push_back({{"name", c.name}, {"dim", c.dim}, {"metric", vecstore::to_string(c.space)}, {"count", c.count}});
      }
      print_json({{"path", p.string()},
                  {"schema_version", file_schema},
                  {"library_schema_version", vecstore::schema_version},
                  {"library_version", vecstore::version_string},
                  {"files", {{"db", db_bytes}, {"wal", wal_bytes}, {"shm", shm_bytes}, {"total", db_bytes + wal_bytes + shm_bytes}}},
                  {"records", total},
                  {"collections", std::move(cols)}});
    } else {
      std::cout << "store           " << p.string() << "\n"
                << "schema version  " << file_schema << " (this build writes " << vecstore::schema_version << ")\n"
                << "database file   " << db_bytes << " bytes (" << bytes_text(db_bytes) << ")\n"
                << "-wal file       " << wal_bytes << " bytes (" << bytes_text(wal_bytes) << ")\n"
                << "collections     " << all.size() << ", " << total << " records\n";
      for (const auto& c : all) {
        std::cout << "  " << c.name << "\tdim " << c.dim << "\t" << vecstore::to_string(c.space) << "\t" << c.count
                  << " records\n";
      }
    }
    return exit_ok;
  }

  // --- health and verify ------------------------------------------------------------
  int health(const fs::path& store, bool force, bool deep) {
    vecstore::health_report report;
    try {
      auto s = open(store, open_as::inspect);
      if (deep) {
        progress bar("verify", 0, progress_on());
        bar.start_ticker();
        report = s->verify();
        bar.finish();
      } else {
        report = s->health(force);
      }
    } catch (const vecstore::error& e) {
      // A store too damaged to open is an unhealthy store, not a crash of
      // the check: print a report, so health checks see exit status 2.
      if (e.code() != vecstore::errc::corruption && e.code() != vecstore::errc::schema_error) throw;
      report = vecstore::health_report{};
      report.path = fs::absolute(store);
      report.checked_at = std::chrono::system_clock::now();
      report.add(vecstore::health_check{"open", vecstore::health_status::unhealthy, e.what(), {}});
    }
    std::cout << report.to_json().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return exit_code_for(report.status);
  }

  // --- compact ---------------------------------------------------------------------------
  int compact(const fs::path& store) {
    auto s = open(store, open_as::existing);
    const fs::path& p = s->path();
    const auto sizes = [&] {
      return std::pair<std::uintmax_t, std::uintmax_t>{file_size_or_zero(p), file_size_or_zero(side_file(p, "-wal"))};
    };
    const auto before = sizes();
    const auto started = std::chrono::steady_clock::now();
    s->compact();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const auto after = sizes();
    if (json_mode()) {
      print_json({{"path", p.string()},
                  {"before", {{"db", before.first}, {"wal", before.second}, {"total", before.first + before.second}}},
                  {"after", {{"db", after.first}, {"wal", after.second}, {"total", after.first + after.second}}},
                  {"seconds", secs}});
    } else {
      std::cout << "compacted " << p.string() << ": " << bytes_text(before.first + before.second) << " -> "
                << bytes_text(after.first + after.second) << " (database + wal; " << before.first + before.second
                << " -> " << after.first + after.second << " bytes) in " << seconds_text(secs) << "\n";
    }
    return exit_ok;
  }

  // --- backup and restore ----------------------------------------------------------------
  int backup(const fs::path& store) {
    auto s = open(store, open_as::existing);
    {
      progress bar("backup", 0, progress_on());
      bar.start_ticker();
      const vecstore::backup_info info = s->backup();
      bar.finish();
      if (json_mode()) {
        print_json({{"store", s->path().string()},
                    {"path", info.path.string()},
                    {"bytes", info.bytes},
                    {"created", utc_iso(info.created)},
                    {"duration_ms", info.duration.count()},
                    {"seq", info.seq},
                    {"records", info.records}});
      } else {
        std::cout << "backup " << info.path.string() << ": " << info.records << " records, " << bytes_text(info.bytes)
                  << ", change " << info.seq << ", made " << utc_iso(info.created) << " in " << info.duration.count()
                  << " ms\n";
      }
      return exit_ok;
    }
  }

  int restore(const fs::path& store, const fs::path& backup_file) {
    auto s = open(store, open_as::existing);
    std::error_code ec;
    if (!fs::exists(backup_file, ec)) {
      vecstore::detail::throw_error<vecstore::not_found>("cannot restore", backup_file, "the backup file does not exist",
                                                         "List the store's backups folder (<store>.backups)");
    }
    {
      const vecstore::recovery_report r = s->restore(backup_file);
      json j{{"store", s->path().string()},
             {"policy", r.policy},
             {"action", r.action},
             {"problem", r.problem},
             {"quarantined", r.quarantined.string()},
             {"backup_used", r.backup_used.string()},
             {"rows_saved", r.rows_saved},
             {"rows_lost", r.rows_lost},
             {"changes_after_backup", r.changes_after_backup ? json(*r.changes_after_backup) : json(nullptr)},
             {"backups_skipped", r.backups_skipped},
             {"note", r.note},
             {"duration_ms", r.duration.count()}};
      if (json_mode()) {
        print_json(j);
      } else {
        std::cout << "restored " << s->path().string() << " from " << r.backup_used.string() << ": " << r.rows_saved
                  << " records";
        if (!r.quarantined.empty()) std::cout << "; the previous file was moved to " << r.quarantined.string();
        std::cout << "\n";
        if (!r.note.empty()) std::cout << r.note << "\n";
      }
      return exit_ok;
    }
  }

  // --- import-chroma ---------------------------------------------------------------------
  struct chroma_args {
    fs::path persist_dir;
    fs::path store;
    std::string prefix;
    std::string on_conflict = "refuse";
    std::size_t batch = 1000;
    bool dry_run = false;
  };

  /// The store as import_chroma sees it, counting the records written for the progress line.
  class counting_store {
   public:
    struct collection {
      collection_t c;
      progress* bar;
      void add(const std::vector<vecstore::record>& b) {
        c.add(b);
        bar->advance(b.size());
      }
      void upsert(const std::vector<vecstore::record>& b) {
        c.upsert(b);
        bar->advance(b.size());
      }
    };
    counting_store(store_t& s, progress& bar) : s_(s), bar_(bar) {}
    std::vector<vecstore::collection_info> list_collections() { return s_.list_collections(); }
    const fs::path& path() const noexcept { return s_.path(); }
    void delete_collection(std::string_view name) { s_.delete_collection(name); }
    collection create_collection(std::string name, vecstore::collection_options o) {
      bar_.set_label("import-chroma " + name);
      return {s_.create_collection(std::move(name), o), &bar_};
    }
    collection get_or_create_collection(std::string name, vecstore::collection_options o) {
      bar_.set_label("import-chroma " + name);
      return {s_.get_or_create_collection(std::move(name), o), &bar_};
    }

   private:
    store_t& s_;
    progress& bar_;
  };

  static void check_chroma_conflicts(const std::unordered_set<std::string>& existing,
                                     const std::vector<vecstore::chroma_collection_info>& sources,
                                     const std::string& prefix, const fs::path& store) {
    for (const auto& c : sources) {
      if (existing.count(prefix + c.name)) {
        vecstore::detail::throw_error<vecstore::invalid_argument>(
            "cannot import the ChromaDB directory", store,
            "the store has a collection named \"" + prefix + c.name + "\" already",
            "Nothing was imported. Pass --on-conflict replace or merge, or a --prefix");
      }
    }
  }
  static void check_chroma_conflicts(store_t& s, const std::vector<vecstore::chroma_collection_info>& sources,
                                     const std::string& prefix) {
    std::unordered_set<std::string> existing;
    for (const auto& c : s.list_collections()) existing.insert(c.name);
    check_chroma_conflicts(existing, sources, prefix, s.path());
  }

  int import_chroma(const chroma_args& a) {
    const auto started = std::chrono::steady_clock::now();
    vecstore::chroma_import_options o;
    o.name_prefix = a.prefix;
    o.batch_size = a.batch;
    if (a.on_conflict == "refuse") {
      o.on_conflict = vecstore::chroma_conflict::refuse;
    } else if (a.on_conflict == "replace") {
      o.on_conflict = vecstore::chroma_conflict::replace;
    } else if (a.on_conflict == "merge") {
      o.on_conflict = vecstore::chroma_conflict::merge;
    } else {
      throw usage_error("--on-conflict: use refuse, replace or merge");
    }

    json cols = json::array();
    std::string format;
    fs::path store_path = a.store;
    if (a.dry_run) {
      // Read everything, write nothing (not even an empty store).
      vecstore::chroma_reader reader(a.persist_dir);
      format = reader.format();
      std::unordered_set<std::string> existing;
      std::error_code ec;
      if (fs::exists(a.store, ec)) {
        auto s = open(a.store, open_as::inspect);
        store_path = s->path();
        for (const auto& c : s->list_collections()) existing.insert(c.name);
      }
      const auto sources = reader.collections(o.tenant, o.database);
      if (o.on_conflict == vecstore::chroma_conflict::refuse) check_chroma_conflicts(existing, sources, o.name_prefix, a.store);
      progress bar("import-chroma (dry run)", sources.size(), progress_on(), "collections");
      for (const auto& src : sources) {
        const auto data = reader.read(src);
        const std::string name = o.name_prefix + src.name;
        const bool skipped = data.info.dim == 0;
        std::string action = skipped ? "skip" : "create";
        if (!skipped && existing.count(name)) action = a.on_conflict == "merge" ? "merge" : "replace";
        cols.push_back({{"name", name},
                        {"source_name", src.name},
                        {"metric", vecstore::to_string(data.info.space)},
                        {"dim", data.info.dim},
                        {"records", skipped ? 0 : data.records.size()},
                        {"without_embedding", data.without_embedding},
                        {"vectors_from_log", data.vectors_from_log},
                        {"normalized", data.normalized},
                        {"skipped", skipped},
                        {"action", action}});
        bar.advance(1);
      }
      bar.finish();
    } else {
      // Refuse a directory that is not a ChromaDB 1.0 one, or a name
      // conflict, before the store is created or anything is written.
      std::vector<vecstore::chroma_collection_info> sources;
      {
        vecstore::chroma_reader check(a.persist_dir);
        sources = check.collections(o.tenant, o.database);
      }
      auto s = open(a.store, open_as::create);
      store_path = s->path();
      if (o.on_conflict == vecstore::chroma_conflict::refuse) check_chroma_conflicts(*s, sources, o.name_prefix);
      vecstore::chroma_import_report report;
      {
        progress bar("import-chroma", 0, progress_on());
        bar.start_ticker();
        counting_store target(*s, bar);
        report = vecstore::import_chroma(a.persist_dir, target, o);
        bar.finish();
      }
      format = report.chroma_version;
      for (const auto& c : report.collections) {
        cols.push_back({{"name", c.name},
                        {"source_name", c.source_name},
                        {"metric", vecstore::to_string(c.space)},
                        {"dim", c.dim},
                        {"records", c.records},
                        {"without_embedding", c.without_embedding},
                        {"vectors_from_log", c.vectors_from_log},
                        {"normalized", c.normalized},
                        {"skipped", c.skipped}});
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::size_t total = 0;
    for (const auto& c : cols) total += c["records"].get<std::size_t>();
    if (json_mode()) {
      print_json({{"source", a.persist_dir.string()},
                  {"store", store_path.string()},
                  {"chroma_version", format},
                  {"dry_run", a.dry_run},
                  {"records", total},
                  {"collections", std::move(cols)},
                  {"seconds", secs}});
    } else {
      std::cout << (a.dry_run ? "dry run: would import " : "imported ") << total << " records in " << cols.size()
                << " collections from " << a.persist_dir.string() << " (" << format << ") into "
                << store_path.string() << (a.dry_run ? "" : " in " + seconds_text(secs)) << "\n";
      for (const auto& c : cols) {
        std::cout << "  " << c["name"].get<std::string>() << "\t" << c["metric"].get<std::string>() << "\tdim "
                  << c["dim"].get<std::size_t>() << "\t" << c["records"].get<std::size_t>() << " records";
        if (c["skipped"].get<bool>()) std::cout << " (skipped: empty, no dimension)";
        if (c.contains("action") && !c["skipped"].get<bool>()) std::cout << " (" << c["action"].get<std::string>() << ")";
        if (c["without_embedding"].get<std::size_t>()) {
          std::cout << ", " << c["without_embedding"].get<std::size_t>() << " without embedding";
        }
        std::cout << "\n";
      }
    }
    return exit_ok;
  }

 private:
  global_options g_;
};

// --- command line ------------------------------------------------------------------------

/// Reports an error: one line on stderr, and with --json an error document on stdout.
inline int report_error(bool json_mode, int code, const std::string& message) {
  std::string line = message;
  if (line.rfind("vecstore: ", 0) != 0) line = "vecstore: " + line;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::cout.flush();
  std::cerr << line << "\n";
  if (json_mode) {
    static const char* names[] = {"ok",        "degraded",   "unhealthy", "usage",  "not_found", "invalid_input",
                                  "locked",    "corruption", "io_error",  "schema", "other"};
    json j{{"error", {{"code", names[code]}, {"exit_code", code}, {"message", line}}}};
    std::cout << dump(j) << "\n";
  }
  return code;
}

inline int run(int argc, char** argv) {
  bool json_mode = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--json") json_mode = true;
  }

  CLI::App app{"vecstore: an embedded vector store many processes share safely.\n"
               "Exit codes: 0 ok, 1 degraded, 2 unhealthy (health/verify), 3 usage, 4 not found, 5 invalid input,\n"
               "6 locked/timeout, 7 corruption, 8 I/O error, 9 schema error, 10 other. See docs/cli.md.",
               "vecstore"};
  app.fallthrough();  // global options after the command too
  app.require_subcommand(1, 1);
  global_options g;
  app.add_flag("--json", g.json, "Machine-readable output: one JSON document on stdout");
  app.add_flag("--no-progress", g.no_progress, "Never draw progress bars (they are drawn only on a terminal anyway)");
  app.add_flag("--no-recover", g.no_recover,
               "Report damage found at open (exit 7) instead of letting the store restore its newest backup");
  app.add_option("--lock-timeout", g.lock_timeout_ms, "Milliseconds to wait for the writer lock per attempt (default 10000)")
      ->check(CLI::Range(0L, 24L * 3600 * 1000));
  app.set_version_flag("--version", std::string("vecstore ") + vecstore::version_string);

  const auto dim_check = CLI::Range(std::size_t{1}, vecstore::limits::max_dim);
  const auto metrics = CLI::IsMember({"cosine", "l2", "ip"});
  const auto includes = CLI::IsMember({"documents", "metadatas", "embeddings", "all", "none", "distances"});

  tool::create_args create;
  auto* c_create = app.add_subcommand("create", "Create a collection (and the store if it does not exist)");
  c_create->add_option("store", create.store, "Store file")->required();
  c_create->add_option("collection", create.collection, "Collection name")->required();
  c_create->add_option("--dim", create.dim, "Embedding dimension")->required()->check(dim_check);
  c_create->add_option("--metric", create.metric, "cosine (default), l2 or ip")->check(metrics);
  c_create->add_flag("--exist-ok", create.exist_ok, "Succeed if the collection exists with this dim and metric");

  tool::import_args imp;
  std::size_t imp_dim = 0;
  std::string imp_metric;
  auto* c_import = app.add_subcommand("import", "Import records from an fvecs, npy or JSON Lines file");
  c_import->add_option("store", imp.store, "Store file (created with --dim if missing)")->required();
  c_import->add_option("collection", imp.collection, "Collection name")->required();
  c_import->add_option("file", imp.file, "Input file")->required();
  c_import->add_option("--format", imp.format, "fvecs, npy or jsonl (default: from the extension)")
      ->check(CLI::IsMember({"fvecs", "npy", "jsonl"}));
  auto* o_imp_dim = c_import->add_option("--dim", imp_dim, "Create the collection with this dimension if missing")->check(dim_check);
  auto* o_imp_metric = c_import->add_option("--metric", imp_metric, "Metric of a created collection (default cosine)")->check(metrics);
  c_import->add_option("--batch", imp.batch, "Records per write transaction (default 1000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  c_import->add_option("--id-prefix", imp.id_prefix, "fvecs/npy: ids are <prefix><row>, rows from 0");
  c_import->add_flag("--upsert", imp.upsert, "Replace records whose id exists (default: refuse them)");

  tool::export_args exp;
  auto* c_export = app.add_subcommand("export", "Export a collection to JSON Lines or npy");
  c_export->add_option("store", exp.store, "Store file")->required();
  c_export->add_option("collection", exp.collection, "Collection name")->required();
  c_export->add_option("file", exp.file, "Output file")->required();
  c_export->add_option("--format", exp.format, "jsonl (default) or npy; .npy files default to npy")
      ->check(CLI::IsMember({"jsonl", "npy"}));
  c_export->add_flag("--force", exp.force, "Replace the output file if it exists");

  tool::get_args get;
  auto* c_get = app.add_subcommand("get", "Read records by id and/or filter");
  c_get->add_option("store", get.store, "Store file")->required();
  c_get->add_option("collection", get.collection, "Collection name")->required();
  c_get->add_option("--ids", get.ids, "Ids, comma-separated (repeatable)")->delimiter(',');
  c_get->add_option("--where", get.where, "Metadata filter, ChromaDB JSON (e.g. '{\"year\": {\"$gte\": 2020}}')");
  c_get->add_option("--where-document", get.where_document, "Document filter, ChromaDB JSON ('{\"$contains\": \"x\"}')");
  c_get->add_option("--limit", get.limit, "At most this many records (default: all)");
  c_get->add_option("--offset", get.offset, "Skip this many records first");
  c_get->add_option("--include", get.include, "documents,metadatas,embeddings (default documents,metadatas)")
      ->delimiter(',')
      ->check(includes);

  tool::query_args qry;
  auto* c_query = app.add_subcommand("query", "Nearest neighbours of an embedding");
  c_query->add_option("store", qry.store, "Store file")->required();
  c_query->add_option("collection", qry.collection, "Collection name")->required();
  auto* o_emb = c_query->add_option("--embedding", qry.embedding, "The query as a JSON array, e.g. '[0.1, 0.2]'");
  auto* o_from = c_query->add_option("--from", qry.from, "Read the query from this fvecs, npy or JSON Lines file");
  c_query->add_option("--format", qry.format, "Format of --from (default: from the extension)")
      ->check(CLI::IsMember({"fvecs", "npy", "jsonl"}));
  c_query->add_option("--row", qry.row, "Row of --from, counted from 0 (default 0)")->needs(o_from);
  o_emb->excludes(o_from);
  c_query->add_option("-k,--k", qry.k, "Neighbours to return (default 10)")
      ->check(CLI::Range(std::size_t{1}, vecstore::limits::max_k));
  c_query->add_option("--where", qry.where, "Metadata filter, ChromaDB JSON");
  c_query->add_option("--where-document", qry.where_document, "Document filter, ChromaDB JSON");
  c_query->add_option("--include", qry.include, "documents,metadatas,embeddings (default documents,metadatas)")
      ->delimiter(',')
      ->check(includes);

  fs::path count_store;
  std::string count_collection;
  auto* c_count = app.add_subcommand("count", "Count the records of one collection, or of every collection");
  c_count->add_option("store", count_store, "Store file")->required();
  c_count->add_option("collection", count_collection, "Collection name (default: all)");

  fs::path stats_store;
  auto* c_stats = app.add_subcommand("stats", "Collections, file sizes and schema version");
  c_stats->add_option("store", stats_store, "Store file")->required();

  fs::path health_store;
  bool health_force = false;
  auto* c_health = app.add_subcommand("health", "Health report as JSON; exit 0 healthy, 1 degraded, 2 unhealthy");
  c_health->add_option("store", health_store, "Store file")->required();
  c_health->add_flag("--force", health_force, "Run the checks even if a cached report is recent");

  fs::path verify_store;
  auto* c_verify = app.add_subcommand("verify", "Deep check (integrity_check and every checksum); exit as health");
  c_verify->add_option("store", verify_store, "Store file")->required();

  fs::path backup_store;
  auto* c_backup = app.add_subcommand("backup", "Make an online, verified backup of the store");
  c_backup->add_option("store", backup_store, "Store file")->required();

  fs::path restore_store, restore_file;
  auto* c_restore = app.add_subcommand("restore", "Replace the store's contents with a backup");
  c_restore->add_option("store", restore_store, "Store file")->required();
  c_restore->add_option("backup-file", restore_file, "Backup file")->required();

  fs::path compact_store;
  auto* c_compact = app.add_subcommand("compact", "Rewrite the store without free pages; prints the size before and after");
  c_compact->add_option("store", compact_store, "Store file")->required();

  tool::chroma_args chroma;
  auto* c_chroma = app.add_subcommand("import-chroma", "Import every collection of a ChromaDB 1.0 persist directory");
  c_chroma->add_option("persist_dir", chroma.persist_dir, "ChromaDB persist directory (server stopped)")->required();
  c_chroma->add_option("store", chroma.store, "Store file (created if missing)")->required();
  c_chroma->add_option("--prefix", chroma.prefix, "Prepended to every collection name");
  c_chroma->add_option("--on-conflict", chroma.on_conflict, "refuse (default), replace or merge")
      ->check(CLI::IsMember({"refuse", "replace", "merge"}));
  c_chroma->add_option("--batch", chroma.batch, "Records per write transaction (default 1000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  c_chroma->add_flag("--dry-run", chroma.dry_run, "Read and check everything, write nothing");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string why = e.what();
    if (app.get_subcommands().empty() && argc > 1) {
      // The first word that is not a global option names the command.
      for (int i = 1; i < argc; ++i) {
        const std::string_view w = argv[i];
        if (w == "--json" || w == "--no-progress" || w == "--no-recover") continue;
        if (w == "--lock-timeout") {
          ++i;
          continue;
        }
        if (!w.empty() && w[0] != '-') why = "unknown command \"" + std::string(w) + "\"";
        break;
      }
    }
    const auto parsed = app.get_subcommands();
    const std::string help = parsed.empty() ? std::string("vecstore --help") : "vecstore " + parsed.front()->get_name() + " --help";
    return report_error(json_mode, exit_usage, why + ". Run '" + help + "' for the usage");
  }
  json_mode = g.json;

  tool t(g);
  try {
    if (*c_create) return t.create(create);
    if (*c_import) {
      if (o_imp_dim->count()) imp.dim = imp_dim;
      if (o_imp_metric->count()) imp.metric = imp_metric;
      return t.import(imp);
    }
    if (*c_export) return t.export_(exp);
    if (*c_get) return t.get(get);
    if (*c_query) return t.query(qry);
    if (*c_count) return t.count(count_store, count_collection);
    if (*c_stats) return t.stats(stats_store);
    if (*c_health) return t.health(health_store, health_force, false);
    if (*c_verify) return t.health(verify_store, true, true);
    if (*c_backup) return t.backup(backup_store);
    if (*c_restore) return t.restore(restore_store, restore_file);
    if (*c_compact) return t.compact(compact_store);
    if (*c_chroma) return t.import_chroma(chroma);
    return report_error(json_mode, exit_usage, "no command given. Run 'vecstore --help'");
  } catch (const usage_error& e) {
    return report_error(json_mode, exit_usage, std::string(e.what()) + ". Run 'vecstore <command> --help'");
  } catch (const vecstore::error& e) {
    return report_error(json_mode, exit_code_for(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return report_error(json_mode, exit_other, "out of memory");
  } catch (const std::exception& e) {
    return report_error(json_mode, exit_other, std::string("unexpected error: ") + e.what());
  }
}

}  // namespace vecstore_cli

int main(int argc, char** argv) { return vecstore_cli::run(argc, argv); }
