// SPDX-License-Identifier: MIT
// The reader of a ChromaDB 1.0 persist directory: chroma.sqlite3 (its migrations,
// collections, segments, records and metadata), joined with the HNSW segment
// files and the replayed write-ahead log into whole collections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sqlite3.h>
#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <nlohmann/json.hpp>

#include <vecstore/import/chroma/common.hpp>
#include <vecstore/import/chroma/queue_replay.hpp>
#include <vecstore/import/chroma/segment_files.hpp>
#include <vecstore/vecstore.hpp>  // the whole library, as common.hpp explains

namespace vecstore {
inline namespace v0 {

/// One collection of a persist directory, as listed by `chroma_reader`.
struct chroma_collection_info {
  std::string id;    ///< the collection's UUID
  std::string name;
  std::size_t dim = 0;  ///< 0: no embedding was ever given
  metric space = metric::l2;
  std::string metadata_segment;  ///< segment UUIDs
  std::string vector_segment;
};

/// One collection read in full.
struct chroma_collection_data {
  chroma_collection_info info;
  std::vector<record> records;  ///< in ChromaDB's insertion order, each with its vector
  std::size_t vectors_from_log = 0;
  std::size_t normalized = 0;
};

namespace detail {
namespace chroma {

/// The migrations this reader knows: ChromaDB 1.0's (docs/migrating-from-chroma.md).
struct known_migration {
  const char* dir;
  std::int64_t version;
};
inline constexpr known_migration supported_migrations[] = {{"embeddings_queue", 2}, {"metadb", 5}, {"sysdb", 9}};

/// A UUID in its text form: 8-4-4-4-12 hex digits. Segment ids come from an
/// untrusted file and name folders: each must be a UUID before it is joined
/// into a path, so that none can reach outside the persist directory.
inline bool is_uuid(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

/// "file:" URI of a path, every byte outside the unreserved set percent-encoded
/// (https://www.sqlite.org/uri.html: '?', '#' and '%' would otherwise be read as URI syntax).
inline std::string file_uri(const std::filesystem::path& p) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "file:";
  for (const unsigned char c : p.string()) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '.' || c == '_' || c == '~' || c == '/';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// max_seq_id.seq_id: an INTEGER since metadb migration 5, an 8-byte big-endian BLOB before.
inline std::int64_t seq_value(const SQLite::Column& c, const std::filesystem::path& file, const std::string& where) {
  if (c.isNull()) return 0;
  if (c.isInteger()) return c.getInt64();
  if (c.isBlob() && c.getBytes() == 8) {
    const auto* p = static_cast<const unsigned char*>(c.getBlob());
    std::uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u = u << 8 | p[i];
    if (u > static_cast<std::uint64_t>((std::numeric_limits<std::int64_t>::max)())) corrupt(file, where + " is out of range");
    return static_cast<std::int64_t>(u);
  }
  corrupt(file, where + " is not a sequence number");
}

}  // namespace chroma
}  // namespace detail

/// Reads a ChromaDB 1.0 persist directory without changing it. Opening checks
/// the format; `collections()` lists, `read()` loads one collection in full.
/// Not thread-safe; cheap to create.
class chroma_reader {
 public:
  /// Opens `persist_dir/chroma.sqlite3` read-only and checks its migrations.
  /// Throws schema_error for an unknown format, io_error when unreadable,
  /// corruption_error when damaged.
  explicit chroma_reader(std::filesystem::path persist_dir) : dir_(std::move(persist_dir)), db_file_(dir_ / "chroma.sqlite3") {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir_, ec)) {
      detail::throw_error<io_error>("cannot import the ChromaDB directory", dir_, "it is not a directory",
                                    "Give the folder ChromaDB was started with (--path / persist_directory)");
    }
    if (!std::filesystem::exists(db_file_, ec)) {
      detail::throw_error<schema_error>("cannot import the ChromaDB directory", db_file_,
                                        "there is no chroma.sqlite3, so this is not a ChromaDB persist directory",
                                        "Give the folder ChromaDB was started with (--path / persist_directory)");
    }
    for (const char* side : {"-journal", "-wal"}) {
      const std::filesystem::path p = db_file_.string() + side;
      if (std::filesystem::exists(p, ec) && std::filesystem::file_size(p, ec) > 0 && !ec) {
        detail::throw_error<io_error>("cannot import the ChromaDB directory", p,
                                      "a write of ChromaDB is unfinished (its server is running or crashed)",
                                      "Stop the ChromaDB server, or start it once so that it completes or rolls back "
                                      "the write, then import again");
      }
    }
    sqlite([&] {
      // immutable=1: SQLite takes no lock and writes nothing (no journal, no -shm),
      // so the import cannot change the user's ChromaDB directory.
      db_ = std::make_unique<SQLite::Database>(detail::chroma::file_uri(std::filesystem::absolute(db_file_)) +
                                                   "?mode=ro&immutable=1",
                                               SQLite::OPEN_READONLY | SQLite::OPEN_URI);
      check_format();
    });
  }

  /// The format found, e.g. "ChromaDB 1.0 (sysdb 9, metadb 5, embeddings_queue 2)".
  const std::string& format() const noexcept { return format_; }
  const std::filesystem::path& path() const noexcept { return dir_; }

  /// The collections of one tenant's database, by name.
  std::vector<chroma_collection_info> collections(const std::string& tenant = "default_tenant",
                                                  const std::string& database = "default_database") const {
    return sqlite([&] {
      std::vector<chroma_collection_info> out;
      SQLite::Statement st(*db_,
                           "SELECT c.id, c.name, c.dimension, c.config_json_str FROM collections c "
                           "JOIN databases d ON d.id = c.database_id WHERE d.tenant_id = ? AND d.name = ? "
                           "ORDER BY c.name");
      st.bind(1, tenant);
      st.bind(2, database);
      while (st.executeStep()) {
        chroma_collection_info c;
        c.id = st.getColumn(0).getString();
        c.name = st.getColumn(1).getString();
        if (!detail::chroma::is_uuid(c.id)) {
          bad_db("collection " + detail::quote_name(c.name) + " has an id that is not a UUID");
        }
        const SQLite::Column dim = st.getColumn(2);
        if (!dim.isNull()) {
          const std::int64_t d = dim.getInt64();
          if (d <= 0 || static_cast<std::uint64_t>(d) > limits::max_dim) {
            bad_db("collection " + detail::quote_name(c.name) + " has dimension " + std::to_string(d) +
                   ", outside 1 to " + std::to_string(limits::max_dim));
          }
          c.dim = static_cast<std::size_t>(d);
        }
        c.space = space_of(c, st.getColumn(3));
        out.push_back(std::move(c));
      }
      for (auto& c : out) find_segments(c);
      return out;
    });
  }

  /// Every record of one collection: documents and metadata from the METADATA
  /// segment, vectors from the HNSW files, the log tail replayed over both.
  /// Throws corruption_error when the two disagree: a record without a vector
  /// anywhere, a vector without a record, a label of the HNSW id map that is
  /// in no live slot of data_level0.bin.
  chroma_collection_data read(const chroma_collection_info& info) const {
    namespace ch = detail::chroma;
    chroma_collection_data out;
    out.info = info;

    // 1. The METADATA segment: ids in insertion order, documents, typed metadata.
    ch::collection_state state;
    std::vector<record>& records = state.records;
    std::unordered_map<std::string, std::size_t>& index = state.index;  // id -> position in records
    std::vector<bool>& alive = state.alive;
    std::int64_t metadata_seq = 0, vector_seq = 0;
    sqlite([&] {
      metadata_seq = max_seq(info.metadata_segment);
      vector_seq = max_seq(info.vector_segment);
      SQLite::Statement st(*db_,
                           "SELECT e.id, e.embedding_id, m.key, m.string_value, m.int_value, m.float_value, "
                           "m.bool_value FROM embeddings e LEFT JOIN embedding_metadata m ON m.id = e.id "
                           "WHERE e.segment_id = ? ORDER BY e.id");
      st.bind(1, info.metadata_segment);
      std::int64_t current = 0;
      while (st.executeStep()) {
        const std::int64_t rowid = st.getColumn(0).getInt64();
        if (records.empty() || rowid != current) {
          current = rowid;
          record r;
          r.id = st.getColumn(1).getString();
          if (!index.emplace(r.id, records.size()).second) bad_db("id " + detail::quote_name(r.id) + " appears twice");
          records.push_back(std::move(r));
          alive.push_back(true);
        }
        if (st.getColumn(2).isNull()) continue;  // a record without metadata or document
        record& r = records.back();
        const std::string key = st.getColumn(2).getString();
        const std::string where =
            "embedding_metadata of id " + detail::quote_name(r.id) + ", key " + detail::quote_name(key);
        int given = 0;
        for (int i = 3; i <= 6; ++i) given += st.getColumn(i).isNull() ? 0 : 1;
        if (given != 1) bad_db(where + " has " + std::to_string(given) + " values, not one");
        if (key == "chroma:document") {
          if (!st.getColumn(3).isText()) bad_db(where + " holds a document that is not text");
          r.document = st.getColumn(3).getString();
        } else if (!st.getColumn(3).isNull()) {
          r.meta[key] = st.getColumn(3).getString();
        } else if (!st.getColumn(4).isNull()) {
          if (!st.getColumn(4).isInteger()) bad_db(where + " holds an int_value that is not an integer");
          r.meta[key] = st.getColumn(4).getInt64();
        } else if (!st.getColumn(5).isNull()) {
          r.meta[key] = st.getColumn(5).getDouble();
        } else {
          if (!st.getColumn(6).isInteger()) bad_db(where + " holds a bool_value that is not 0 or 1");
          r.meta[key] = st.getColumn(6).getInt64() != 0;
        }
      }
    });


    // 2. The VECTOR segment's HNSW files.
    state.dim = info.dim;
    const std::filesystem::path folder = dir_ / info.vector_segment;  // a UUID, checked in find_segments
    std::error_code ec;
    const auto folder_status = std::filesystem::symlink_status(folder, ec);
    if (std::filesystem::exists(folder_status)) {
      if (!std::filesystem::is_directory(folder_status)) {
        ch::corrupt(folder, "the VECTOR segment's path is not a folder");
      }
      if (state.dim == 0 && std::filesystem::exists(folder / "header.bin", ec)) {
        state.dim = ch::read_hnsw_header(folder / "header.bin").dim;
      }
      if (state.dim != 0) {
        auto h = ch::read_hnsw(folder, state.dim, info.space);
        state.vectors = std::move(h.by_id);
        state.normalized = std::move(h.normalized);
      }
    }

    // 3. The log tail, in seq order: vector operations past the VECTOR segment's
    //    max_seq_id, record operations past the METADATA segment's.
    sqlite([&] { ch::replay_queue(*db_, db_file_, info.id, metadata_seq, vector_seq, state); });

    // 4. Join: each live record with its vector. ChromaDB 1.0 stores no record
    //    without one, and every vector belongs to a record: the two sides
    //    must agree, or the files are damaged.
    out.info.dim = state.dim;
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (!alive[i]) continue;
      record& r = records[i];
      const auto v = state.vectors.find(r.id);
      if (v == state.vectors.end()) {
        ch::corrupt(folder, "id " + detail::quote_name(r.id) + " of collection " + detail::quote_name(info.name) +
                                " has no vector: none in this VECTOR segment's HNSW files, none in "
                                "embeddings_queue of chroma.sqlite3");
      }
      r.embedding = std::move(v->second);
      state.vectors.erase(v);
      if (state.from_log.count(r.id)) ++out.vectors_from_log;
      if (state.normalized.count(r.id)) ++out.normalized;
      out.records.push_back(std::move(r));
    }
    if (!state.vectors.empty()) {
      std::string first;  // the smallest, so that the message does not vary
      for (const auto& entry : state.vectors) {
        if (first.empty() || entry.first < first) first = entry.first;
      }
      ch::corrupt(folder, "id " + detail::quote_name(first) + " of collection " + detail::quote_name(info.name) +
                              " has a vector but no record in chroma.sqlite3 (" +
                              std::to_string(state.vectors.size()) + " vectors without a record in all)");
    }
    return out;
  }

 private:
  /// Runs `body`, translating SQLite's errors about chroma.sqlite3.
  template <class Body>
  auto sqlite(Body&& body) const -> decltype(body()) {
    try {
      return body();
    } catch (const SQLite::Exception& e) {
      const int code = e.getExtendedErrorCode() & 0xff;
      const std::string why = std::string(e.what()) + " [SQLite error " + std::to_string(e.getExtendedErrorCode()) + "]";
      if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
        std::throw_with_nested(corruption_error(
            detail::message("cannot import the ChromaDB directory", db_file_, why, "The database is damaged"), db_file_));
      }
      if (code == SQLITE_CANTOPEN || code == SQLITE_PERM || code == SQLITE_AUTH || code == SQLITE_IOERR) {
        std::throw_with_nested(io_error(
            detail::message("cannot import the ChromaDB directory", db_file_, why, "Check that the file is readable"),
            db_file_));
      }
      // A missing table or column: not the layout this reader knows.
      std::throw_with_nested(schema_error(
          detail::message("cannot import the ChromaDB directory", db_file_,
                          why + "; supported: " + std::string(detail::chroma::supported_text), detail::chroma::jsonl_hint),
          db_file_));
    }
  }

  [[noreturn]] void bad_db(const std::string& why) const { detail::chroma::corrupt(db_file_, why); }

  /// The migrations table says which schema this is; refuse any other than 1.0's.
  void check_format() {
    namespace ch = detail::chroma;
    {
      SQLite::Statement exists(*db_, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'migrations'");
      exists.executeStep();
      if (exists.getColumn(0).getInt64() == 0) {
        detail::throw_error<schema_error>("cannot import the ChromaDB directory", db_file_,
                                          "chroma.sqlite3 has no migrations table, so it is not a ChromaDB database",
                                          ch::jsonl_hint);
      }
    }
    std::map<std::string, std::vector<std::pair<std::int64_t, std::string>>> found;
    SQLite::Statement st(*db_, "SELECT dir, version, filename FROM migrations ORDER BY dir, version");
    while (st.executeStep()) {
      found[st.getColumn(0).getString()].emplace_back(st.getColumn(1).getInt64(), st.getColumn(2).getString());
    }
    for (const auto& [dir, versions] : found) {
      const ch::known_migration* known = nullptr;
      for (const auto& k : ch::supported_migrations) {
        if (dir == k.dir) known = &k;
      }
      if (!known) {
        ch::unsupported(db_file_, "ChromaDB persist directory with migrations of an unknown kind " +
                                      detail::quote_name(dir));
      }
      for (std::size_t i = 0; i < versions.size(); ++i) {
        const auto& [version, filename] = versions[i];
        if (version != static_cast<std::int64_t>(i) + 1 || version > known->version) {
          ch::unsupported(db_file_, "ChromaDB persist directory with " + dir + " migration " + std::to_string(version) +
                                        " (" + filename.substr(0, 80) + ")");
        }
      }
    }
    for (const auto& k : ch::supported_migrations) {
      const auto it = found.find(k.dir);
      const std::int64_t last = it == found.end() || it->second.empty() ? 0 : it->second.back().first;
      if (last != k.version) {
        ch::unsupported(db_file_, "ChromaDB persist directory with " + std::string(k.dir) + " migrations up to " +
                                      std::to_string(last));
      }
    }
    format_ = "ChromaDB 1.0 (sysdb 9, metadb 5, embeddings_queue 2)";
  }

  /// The space from config_json_str (1.0: vector_index.hnsw.space; 0.6:
  /// hnsw_configuration.space), else the `hnsw:space` collection metadata,
  /// else ChromaDB's default, l2.
  metric space_of(const chroma_collection_info& c, const SQLite::Column& config) const {
    std::string name;
    if (!config.isNull()) {
      const auto parsed = detail::parse_json_text_bounded(config.getString(), detail::max_data_json_depth);
      if (!parsed.ok()) {
        bad_db("collection " + detail::quote_name(c.name) + " has a config_json_str that does not read: " + parsed.why);
      }
      const nlohmann::json& json = parsed.value;
      for (const auto* ptr : {"/vector_index/hnsw/space", "/vector_index/spann/space", "/hnsw_configuration/space"}) {
        const nlohmann::json::json_pointer p(ptr);
        if (json.contains(p) && json.at(p).is_string()) {
          name = json.at(p).get<std::string>();
          break;
        }
      }
    }
    if (name.empty()) {
      SQLite::Statement st(*db_, "SELECT str_value FROM collection_metadata WHERE collection_id = ? AND key = 'hnsw:space'");
      st.bind(1, c.id);
      if (st.executeStep() && !st.getColumn(0).isNull()) name = st.getColumn(0).getString();
    }
    if (name.empty()) return metric::l2;
    const auto m = metric_from_string(name);
    if (!m) {
      detail::chroma::unsupported(db_file_, "collection " + detail::quote_name(c.name) + " uses the distance space " +
                                                detail::quote_for_message(name, 32));
    }
    return *m;
  }

  void find_segments(chroma_collection_info& c) const {
    SQLite::Statement st(*db_, "SELECT id, type, scope FROM segments WHERE collection = ?");
    st.bind(1, c.id);
    while (st.executeStep()) {
      const std::string id = st.getColumn(0).getString(), type = st.getColumn(1).getString(),
                        scope = st.getColumn(2).getString();
      if (!detail::chroma::is_uuid(id)) {
        bad_db("collection " + detail::quote_name(c.name) + " has a segment id that is not a UUID");
      }
      std::string* slot = nullptr;
      if (scope == "METADATA" && type == "urn:chroma:segment/metadata/sqlite") slot = &c.metadata_segment;
      if (scope == "VECTOR" && type == "urn:chroma:segment/vector/hnsw-local-persisted") slot = &c.vector_segment;
      if (!slot) {
        detail::chroma::unsupported(db_file_, "collection " + detail::quote_name(c.name) + " has a segment of scope " +
                                                  detail::quote_for_message(scope, 16) + " and type " +
                                                  detail::quote_for_message(type, 80));
      }
      if (!slot->empty()) bad_db("collection " + detail::quote_name(c.name) + " has two " + scope + " segments");
      *slot = id;
    }
    if (c.metadata_segment.empty() || c.vector_segment.empty()) {
      bad_db("collection " + detail::quote_name(c.name) + " lacks its METADATA or VECTOR segment");
    }
  }

  std::int64_t max_seq(const std::string& segment) const {
    SQLite::Statement st(*db_, "SELECT seq_id FROM max_seq_id WHERE segment_id = ?");
    st.bind(1, segment);
    if (!st.executeStep()) return 0;  // nothing applied yet
    return detail::chroma::seq_value(st.getColumn(0), db_file_, "max_seq_id of segment " + segment);
  }

  std::filesystem::path dir_;
  std::filesystem::path db_file_;
  std::unique_ptr<SQLite::Database> db_;
  std::string format_;
};

}  // namespace v0
}  // namespace vecstore
