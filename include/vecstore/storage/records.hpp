// SPDX-License-Identifier: MIT
// Every read and write of collections, records and metadata, as SQL over one
// connection. The store validates input and holds the locks; this file only
// talks to SQLite.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <SQLiteCpp/Statement.h>

#include <vecstore/detail/checksum.hpp>
#include <vecstore/detail/utf8.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/filter/sql.hpp>
#include <vecstore/storage/row_checksums.hpp>
#include <vecstore/storage/schema.hpp>
#include <vecstore/storage/sqlite.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "vecstore: embeddings are stored as little-endian float32; big-endian hosts are not supported");
#endif

struct collection_row {
  std::int64_t collection_id = 0;
  std::string name;
  std::size_t dim = 0;
  metric space = metric::cosine;
};

/// A record's embedding as read for the index. A view: valid only during
/// the callback that receives it (loading a large store allocates nothing per row).
struct embedding_row {
  std::int64_t rid = 0;
  std::int64_t collection_id = 0;
  std::string_view id;
  const float* vector = nullptr;  // null: the record has no embedding
  std::size_t dim = 0;
  std::int32_t list = -1;  // its inverted list, for persistent index policies
};

/// A record read back for `get` or a query's includes.
struct record_row {
  std::int64_t rid = 0;
  record value;
};

inline void bind_value(SQLite::Statement& st, int index, const metadata_value& v) {
  switch (v.index()) {
    case 0: st.bind(index, std::get<std::int64_t>(v)); break;
    case 1: st.bind(index, std::get<double>(v)); break;
    case 2: st.bind(index, std::get<std::string>(v)); break;
    default: st.bind(index, static_cast<std::int64_t>(std::get<bool>(v) ? 1 : 0)); break;
  }
}

/// Catch-up reads only what changed: these must be answered from the seq
/// indexes, so their cost follows the delta, not the store (a test checks
/// their query plans). No ORDER BY: sorting by rid would make SQLite scan
/// every record in rid order instead.
inline constexpr const char* changes_since_sql =
    "SELECT r.rid, r.collection_id, r.id, r.embedding, r.checksum, a.list FROM records r "
    "LEFT JOIN index_assignments a ON a.rid = r.rid WHERE r.seq > ?";
inline constexpr const char* tombstones_since_sql = "SELECT collection_id, rid FROM tombstones WHERE seq > ?";

/// SQL access to one store file. Methods that write expect the caller to
/// hold the writer lock and an open `write_transaction`.
class record_tables {
 public:
  explicit record_tables(connection& c) : c_(c) {}

  // --- change sequence -----------------------------------------------------

  std::int64_t current_seq() { return meta_int("seq"); }
  std::int64_t compacted_seq() { return meta_int("compacted_seq"); }

  /// The sequence number of the transaction being written. It also gets a
  /// random token (see seq_tokens in schema.hpp), and tokens more than
  /// seq_tokens_kept transactions old are dropped.
  std::int64_t next_seq() {
    std::int64_t seq = 0;
    {
      auto st = c_.statement("UPDATE store_meta SET value = value + 1 WHERE key = 'seq' RETURNING value");
      st->executeStep();
      seq = st->getColumn(0).getInt64();
    }
    {
      auto st = c_.statement("INSERT OR REPLACE INTO seq_tokens (seq, token) VALUES (?, random())");
      st->bind(1, seq);
      st->exec();
    }
    auto st = c_.statement("DELETE FROM seq_tokens WHERE seq <= ?");
    st->bind(1, seq - seq_tokens_kept);
    st->exec();
    return seq;
  }

  /// The token of transaction `seq`, if it is still kept.
  std::optional<std::int64_t> seq_token(std::int64_t seq) {
    auto st = c_.statement("SELECT token FROM seq_tokens WHERE seq = ?");
    st->bind(1, seq);
    if (!st->executeStep()) return std::nullopt;
    return st->getColumn(0).getInt64();
  }

  /// Drops all but the newest `keep` tombstones once there are more than
  /// twice as many, and records the newest dropped sequence number: a
  /// process that has seen less than that must rebuild rather than catch up.
  void compact_tombstones(std::size_t keep) {
    std::int64_t count = 0;
    {
      auto st = c_.statement("SELECT count(*) FROM tombstones");
      st->executeStep();
      count = st->getColumn(0).getInt64();
    }
    if (count <= 2 * static_cast<std::int64_t>(keep)) return;
    std::int64_t horizon = 0;
    {
      auto st = c_.statement("SELECT seq FROM tombstones ORDER BY seq DESC LIMIT 1 OFFSET ?");
      st->bind(1, static_cast<std::int64_t>(keep));
      st->executeStep();
      horizon = st->getColumn(0).getInt64();
    }
    {
      auto st = c_.statement("DELETE FROM tombstones WHERE seq <= ?");
      st->bind(1, horizon);
      st->exec();
    }
    auto st = c_.statement("UPDATE store_meta SET value = max(value, ?) WHERE key = 'compacted_seq'");
    st->bind(1, horizon);
    st->exec();
  }

  // --- collections ---------------------------------------------------------

  std::vector<collection_row> collections() {
    std::vector<collection_row> out;
    auto st = c_.statement("SELECT collection_id, name, dim, space FROM collections ORDER BY name");
    while (st->executeStep()) out.push_back(read_collection(*st));
    return out;
  }

  std::optional<collection_row> find_collection(std::string_view name) {
    auto st = c_.statement("SELECT collection_id, name, dim, space FROM collections WHERE name = ?");
    st->bind(1, std::string(name));
    if (!st->executeStep()) return std::nullopt;
    return read_collection(*st);
  }

  collection_row insert_collection(const std::string& name, std::size_t dim, metric space, std::int64_t seq) {
    auto st = c_.statement("INSERT INTO collections (name, dim, space, seq) VALUES (?, ?, ?, ?) RETURNING collection_id");
    st->bind(1, name);
    st->bind(2, static_cast<std::int64_t>(dim));
    st->bind(3, to_string(space));
    st->bind(4, seq);
    st->executeStep();
    return collection_row{st->getColumn(0).getInt64(), name, dim, space};
  }

  /// Deletes the collection and, by cascade, its records and their metadata.
  void delete_collection(std::int64_t collection_id) {
    auto st = c_.statement("DELETE FROM collections WHERE collection_id = ?");
    st->bind(1, collection_id);
    st->exec();
  }

  std::size_t count_records(std::int64_t collection_id) {
    auto st = c_.statement("SELECT count(*) FROM records WHERE collection_id = ?");
    st->bind(1, collection_id);
    st->executeStep();
    return static_cast<std::size_t>(st->getColumn(0).getInt64());
  }

  std::size_t count_embeddings(std::int64_t collection_id) {
    auto st = c_.statement("SELECT count(*) FROM records WHERE collection_id = ? AND embedding IS NOT NULL");
    st->bind(1, collection_id);
    st->executeStep();
    return static_cast<std::size_t>(st->getColumn(0).getInt64());
  }

  // --- records: writes -----------------------------------------------------

  /// The row id and whether an embedding is stored, if the id exists.
  std::optional<std::pair<std::int64_t, bool>> find(std::int64_t collection_id, const std::string& id) {
    auto st = c_.statement("SELECT rid, embedding IS NOT NULL FROM records WHERE collection_id = ? AND id = ?");
    st->bind(1, collection_id);
    st->bind(2, id);
    if (!st->executeStep()) return std::nullopt;
    return std::make_pair(st->getColumn(0).getInt64(), st->getColumn(1).getInt() != 0);
  }

  std::int64_t insert(std::int64_t collection_id, const record& r, std::int64_t seq) {
    // No RETURNING: SQLite runs such a statement through a temporary table;
    // the connection's last rowid is the same value for free. Text and blobs
    // are bound without a copy, since `r` outlives the statement's execution.
    auto st = c_.statement(
        "INSERT INTO records (collection_id, id, embedding, document, checksum, seq, row_checksum) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    st->bind(1, collection_id);
    st->bindNoCopy(2, r.id);
    bind_embedding(*st, 3, 5, collection_id, r.id, r.embedding);
    bind_document(*st, 4, r.document);
    st->bind(6, seq);
    bind_row_checksum(*st, 7, collection_id, r);
    st->exec();
    const std::int64_t rid = sqlite3_last_insert_rowid(c_.handle());
    insert_metadata(rid, r.meta);
    return rid;
  }

  /// Replaces embedding, document and metadata of an existing record (upsert).
  void replace(std::int64_t rid, std::int64_t collection_id, const record& r, std::int64_t seq) {
    auto st = c_.statement(
        "UPDATE records SET embedding = ?, document = ?, checksum = ?, seq = ?, row_checksum = ? WHERE rid = ?");
    bind_embedding(*st, 1, 3, collection_id, r.id, r.embedding);
    bind_document(*st, 2, r.document);
    st->bind(4, seq);
    bind_row_checksum(*st, 5, collection_id, r);
    st->bind(6, rid);
    st->exec();
    delete_metadata(rid);
    insert_metadata(rid, r.meta);
  }

  /// Changes what `r` carries: the embedding if non-empty, the document if
  /// set, and the given metadata keys (others are kept).
  void update(std::int64_t rid, std::int64_t collection_id, const record& r, std::int64_t seq) {
    {
      auto st = c_.statement("UPDATE records SET seq = ? WHERE rid = ?");
      st->bind(1, seq);
      st->bind(2, rid);
      st->exec();
    }
    if (!r.embedding.empty()) {
      auto st = c_.statement("UPDATE records SET embedding = ?, checksum = ? WHERE rid = ?");
      bind_embedding(*st, 1, 2, collection_id, r.id, r.embedding);
      st->bind(3, rid);
      st->exec();
    }
    if (r.document) {
      auto st = c_.statement("UPDATE records SET document = ? WHERE rid = ?");
      bind_document(*st, 1, r.document);
      st->bind(2, rid);
      st->exec();
    }
    insert_metadata(rid, r.meta);  // INSERT OR REPLACE per key: a merge
    if (r.document || !r.meta.empty()) {
      // The row checksum covers the merged result, read back in this transaction.
      auto doc = c_.statement("SELECT document FROM records WHERE rid = ?");
      doc->bind(1, rid);
      doc->executeStep();
      const std::uint64_t sum = row_checksum(collection_id, r.id, stored_document(doc->getColumn(0)), read_metadata(c_, rid));
      auto st = c_.statement("UPDATE records SET row_checksum = ? WHERE rid = ?");
      st->bind(1, static_cast<std::int64_t>(sum));
      st->bind(2, rid);
      st->exec();
    }
  }

  /// Deletes a record and leaves a tombstone so other processes drop it from
  /// their index without rescanning.
  void remove(std::int64_t rid, std::int64_t collection_id, std::int64_t seq) {
    {
      auto st = c_.statement("DELETE FROM records WHERE rid = ?");
      st->bind(1, rid);
      st->exec();
    }
    auto st = c_.statement("INSERT INTO tombstones (seq, collection_id, rid) VALUES (?, ?, ?)");
    st->bind(1, seq);
    st->bind(2, collection_id);
    st->bind(3, rid);
    st->exec();
  }

  // --- persistent index state (schema version 2) ---------------------------

  /// Stores a collection's serialized index state (e.g. an IVF quantizer).
  void save_index_state(std::int64_t collection_id, const char* kind, const std::vector<std::uint8_t>& state,
                        std::int64_t seq) {
    auto st = c_.statement(
        "INSERT OR REPLACE INTO index_state (collection_id, kind, state, checksum, seq) VALUES (?, ?, ?, ?, ?)");
    st->bind(1, collection_id);
    st->bind(2, kind);
    st->bindNoCopy(3, state.data(), static_cast<int>(state.size()));
    st->bind(4, static_cast<std::int64_t>(xxh64(state.data(), state.size(), static_cast<std::uint64_t>(collection_id))));
    st->bind(5, seq);
    st->exec();
  }

  /// The collection's stored index state, verified; nullopt when none.
  std::optional<std::vector<std::uint8_t>> load_index_state(std::int64_t collection_id) {
    auto st = c_.statement("SELECT state, checksum FROM index_state WHERE collection_id = ?");
    st->bind(1, collection_id);
    if (!st->executeStep()) return std::nullopt;
    const SQLite::Column blob = st->getColumn(0);
    const auto* bytes = static_cast<const std::uint8_t*>(blob.getBlob());
    std::vector<std::uint8_t> state(bytes, bytes + blob.getBytes());
    if (xxh64(state.data(), state.size(), static_cast<std::uint64_t>(collection_id)) !=
        static_cast<std::uint64_t>(st->getColumn(1).getInt64())) {
      throw_error<corruption_error>("a stored index state is damaged", c_.file(),
                                    "the checksum of collection " + std::to_string(collection_id) +
                                        "'s index state does not match its bytes",
                                    repair_advice);
    }
    return state;
  }

  /// Collections whose index state was written after `seq`.
  std::vector<std::int64_t> index_states_since(std::int64_t seq) {
    std::vector<std::int64_t> out;
    auto st = c_.statement("SELECT collection_id FROM index_state WHERE seq > ?");
    st->bind(1, seq);
    while (st->executeStep()) out.push_back(st->getColumn(0).getInt64());
    return out;
  }

  /// Records the inverted list of one record.
  void save_assignment(std::int64_t rid, std::int32_t list) {
    auto st = c_.statement("INSERT OR REPLACE INTO index_assignments (rid, list) VALUES (?, ?)");
    st->bind(1, rid);
    st->bind(2, static_cast<std::int64_t>(list));
    st->exec();
  }

  // --- records: reads ------------------------------------------------------

  /// Row ids of the collection's records that match both filters, in row id
  /// order. `limit` 0 means no limit.
  std::vector<std::int64_t> select(std::int64_t collection_id, const filter& where, const document_filter& where_document,
                                   bool embedded_only, std::size_t limit = 0, std::size_t offset = 0) {
    const sql_fragment meta_sql = to_sql(where, "r.rid");
    const sql_fragment doc_sql = to_sql(where_document, "r.document");
    std::string sql = "SELECT r.rid FROM records r WHERE r.collection_id = ? AND (" + meta_sql.sql + ") AND (" +
                      doc_sql.sql + ")";
    if (embedded_only) sql += " AND r.embedding IS NOT NULL";
    sql += " ORDER BY r.rid LIMIT ? OFFSET ?";
    // Not cached: the text depends on the filter's shape, which is unbounded.
    SQLite::Statement st(c_.db(), sql);
    int i = 1;
    st.bind(i++, collection_id);
    for (const auto& p : meta_sql.params) bind_value(st, i++, p);
    for (const auto& p : doc_sql.params) bind_value(st, i++, p);
    // SQLite takes 64-bit signed values: a size_t of 2^63 or more cast as it
    // is wraps to a negative number, which SQLite reads as "no offset" or "no
    // limit", so an offset that large would return every row. Clamped, such
    // an offset is past any row there can be, and such a limit is no limit.
    const auto clamped = [](std::size_t v) {
      constexpr auto most = static_cast<std::size_t>((std::numeric_limits<std::int64_t>::max)());
      return static_cast<std::int64_t>((std::min)(v, most));
    };
    st.bind(i++, limit == 0 ? std::int64_t{-1} : clamped(limit));
    st.bind(i++, clamped(offset));
    std::vector<std::int64_t> rids;
    while (st.executeStep()) rids.push_back(st.getColumn(0).getInt64());
    return rids;
  }

  /// The metadata of record `rid` as stored (empty when it has none or is gone).
  metadata metadata_of(std::int64_t rid) { return read_metadata(c_, rid); }

  /// Calls `fn(rid, key, value)` for every metadata value of the collection's records.
  template <class Fn>
  void for_each_metadata_of(std::int64_t collection_id, Fn&& fn) {
    auto st = c_.statement(
        "SELECT m.record_id, m.key, m.type, m.value FROM records r JOIN metadata m ON m.record_id = r.rid "
        "WHERE r.collection_id = ?");
    st->bind(1, collection_id);
    while (st->executeStep()) {
      const SQLite::Column key = st->getColumn(1);
      fn(st->getColumn(0).getInt64(),
         std::string(static_cast<const char*>(key.getText()), static_cast<std::size_t>(key.getBytes())),
         stored_metadata_value(st->getColumn(2).getInt(), st->getColumn(3)));
    }
  }

  /// Reads one record by row id with what `fields` asks for; nullopt if gone.
  /// A stored embedding is verified against its checksum before it is returned.
  std::optional<record_row> read(std::int64_t rid, include fields) {
    auto st = c_.statement(
        "SELECT collection_id, id, embedding, document, checksum, row_checksum, rid FROM records WHERE rid = ?");
    st->bind(1, rid);
    if (!st->executeStep()) return std::nullopt;
    return read_row(*st, fields);
  }

  std::optional<record_row> read(std::int64_t collection_id, const std::string& id, include fields) {
    auto st = c_.statement(
        "SELECT collection_id, id, embedding, document, checksum, row_checksum, rid FROM records "
        "WHERE collection_id = ? AND id = ?");
    st->bind(1, collection_id);
    st->bind(2, id);
    if (!st->executeStep()) return std::nullopt;
    return read_row(*st, fields);
  }

  /// Calls `fn(const embedding_row&)` for every stored embedding, verified.
  /// `with_lists`: also read each record's inverted list (persistent index
  /// policies); without, the join is skipped and the list is -1.
  template <class Fn>
  void for_each_embedding(bool with_lists, Fn&& fn) {
    auto st = c_.statement(with_lists ? "SELECT r.rid, r.collection_id, r.id, r.embedding, r.checksum, a.list "
                                        "FROM records r LEFT JOIN index_assignments a ON a.rid = r.rid "
                                        "WHERE r.embedding IS NOT NULL ORDER BY r.rid"
                                      : "SELECT rid, collection_id, id, embedding, checksum, NULL FROM records "
                                        "WHERE embedding IS NOT NULL ORDER BY rid");
    while (st->executeStep()) fn(read_embedding(*st));
  }

  /// The same, for one collection only (a reload after its index state changed).
  template <class Fn>
  void for_each_embedding_of(std::int64_t collection_id, Fn&& fn) {
    auto st = c_.statement(
        "SELECT r.rid, r.collection_id, r.id, r.embedding, r.checksum, a.list FROM records r "
        "LEFT JOIN index_assignments a ON a.rid = r.rid "
        "WHERE r.collection_id = ? AND r.embedding IS NOT NULL ORDER BY r.rid");
    st->bind(1, collection_id);
    while (st->executeStep()) fn(read_embedding(*st));
  }

  /// Calls `fn(const embedding_row&)` for every record changed after `seq`
  /// (a null vector: the record has no embedding now).
  template <class Fn>
  void for_each_change_since(std::int64_t seq, Fn&& fn) {
    auto st = c_.statement(changes_since_sql);
    st->bind(1, seq);
    while (st->executeStep()) fn(read_embedding(*st));
  }

  /// Calls `fn(collection_id, rid)` for every record deleted after `seq`.
  template <class Fn>
  void for_each_tombstone_since(std::int64_t seq, Fn&& fn) {
    auto st = c_.statement(tombstones_since_sql);
    st->bind(1, seq);
    while (st->executeStep()) fn(st->getColumn(0).getInt64(), st->getColumn(1).getInt64());
  }

 private:
  std::int64_t meta_int(const char* key) {
    auto st = c_.statement("SELECT value FROM store_meta WHERE key = ?");
    st->bind(1, key);
    if (!st->executeStep()) {
      throw_error<corruption_error>("the store's bookkeeping is damaged", c_.file(),
                                    std::string("store_meta has no '") + key + "' row",
                                    repair_advice);
    }
    return st->getColumn(0).getInt64();
  }

  static collection_row read_collection(SQLite::Statement& st) {
    collection_row row;
    row.collection_id = st.getColumn(0).getInt64();
    row.name = st.getColumn(1).getString();
    row.dim = static_cast<std::size_t>(st.getColumn(2).getInt64());
    row.space = metric_from_string(st.getColumn(3).getString()).value_or(metric::cosine);
    return row;
  }

  static void bind_embedding(SQLite::Statement& st, int blob_index, int checksum_index, std::int64_t collection_id,
                             const std::string& id, const std::vector<float>& v) {
    if (v.empty()) {
      st.bind(blob_index);
      st.bind(checksum_index);
      return;
    }
    st.bindNoCopy(blob_index, v.data(), static_cast<int>(v.size() * sizeof(float)));
    st.bind(checksum_index, static_cast<std::int64_t>(embedding_checksum(collection_id, id, v.data(), v.size())));
  }

  static void bind_document(SQLite::Statement& st, int index, const std::optional<std::string>& doc) {
    if (doc)
      st.bindNoCopy(index, *doc);
    else
      st.bind(index);
  }

  void insert_metadata(std::int64_t rid, const metadata& meta) {
    if (meta.empty()) return;
    auto st = c_.statement("INSERT OR REPLACE INTO metadata (record_id, key, type, value) VALUES (?, ?, ?, ?)");
    for (const auto& [key, value] : meta) {
      st->reset();
      st->bind(1, rid);
      st->bind(2, key);
      st->bind(3, static_cast<std::int64_t>(type_of(value)));
      bind_value(*st, 4, value);
      st->exec();
    }
  }

  void delete_metadata(std::int64_t rid) {
    auto st = c_.statement("DELETE FROM metadata WHERE record_id = ?");
    st->bind(1, rid);
    st->exec();
  }

  static void bind_row_checksum(SQLite::Statement& st, int index, std::int64_t collection_id, const record& r) {
    const std::optional<std::string_view> doc = r.document ? std::optional<std::string_view>(*r.document) : std::nullopt;
    st.bind(index, static_cast<std::int64_t>(row_checksum(collection_id, r.id, doc, r.meta)));
  }

  /// Columns: collection_id, id, embedding, document, checksum, row_checksum,
  /// rid. A document or metadata handed out is verified first: both are read
  /// when either is asked for, since the row checksum covers them together.
  record_row read_row(SQLite::Statement& st, include fields) {
    record_row row;
    row.rid = st.getColumn(6).getInt64();
    const std::int64_t collection_id = st.getColumn(0).getInt64();
    row.value.id = st.getColumn(1).getString();
    if (has(fields, include::embeddings) && !st.getColumn(2).isNull()) {
      row.value.embedding = verified_vector(collection_id, row.value.id, st.getColumn(2), st.getColumn(4));
    }
    if (has(fields, include::documents) || has(fields, include::metadatas)) {
      const auto doc = stored_document(st.getColumn(3));
      metadata meta = read_metadata(c_, row.rid);
      const SQLite::Column stored = st.getColumn(5);
      if (stored.isNull() ||
          static_cast<std::uint64_t>(stored.getInt64()) != row_checksum(collection_id, row.value.id, doc, meta)) {
        throw_error<corruption_error>("a stored record is damaged", c_.file(),
                                      "the checksum of record " + quote_name(row.value.id) + " (collection " +
                                          std::to_string(collection_id) +
                                          ") does not match its id, document and metadata",
                                      repair_advice);
      }
      if (has(fields, include::documents) && doc) row.value.document = std::string(*doc);
      if (has(fields, include::metadatas)) row.value.meta = std::move(meta);
    }
    return row;
  }

  /// Columns: rid, collection_id, id, embedding, checksum, list. The vector is
  /// verified and handed out in place; only a blob that SQLite left unaligned
  /// for float is copied, into a buffer reused from row to row.
  embedding_row read_embedding(SQLite::Statement& st) {
    embedding_row row;
    row.rid = st.getColumn(0).getInt64();
    row.collection_id = st.getColumn(1).getInt64();
    const SQLite::Column id = st.getColumn(2);
    row.id = std::string_view(static_cast<const char*>(id.getText()), static_cast<std::size_t>(id.getBytes()));
    if (!st.getColumn(5).isNull()) row.list = static_cast<std::int32_t>(st.getColumn(5).getInt64());
    const SQLite::Column blob = st.getColumn(3);
    if (blob.isNull()) return row;
    const SQLite::Column checksum = st.getColumn(4);
    const auto bytes = static_cast<std::size_t>(blob.getBytes());
    if (!stored_embedding_ok(row.collection_id, row.id, blob.getBlob(), bytes, !checksum.isNull(),
                             checksum.getInt64())) {
      throw_damaged_embedding(row.collection_id, std::string(row.id));
    }
    row.dim = bytes / sizeof(float);
    const void* data = blob.getBlob();
    if (reinterpret_cast<std::uintptr_t>(data) % alignof(float) == 0) {
      row.vector = static_cast<const float*>(data);  // the usual case: no copy at all
    } else {
      scratch_.resize(row.dim);
      std::memcpy(scratch_.data(), data, bytes);
      row.vector = scratch_.data();
    }
    return row;
  }

  [[noreturn]] void throw_damaged_embedding(std::int64_t collection_id, const std::string& id) const {
    throw_error<corruption_error>("a stored embedding is damaged", c_.file(),
                                  "the checksum of record " + quote_name(id) + " (collection " +
                                      std::to_string(collection_id) + ") does not match its bytes",
                                  repair_advice);
  }

  /// Copies a stored vector out after checking its checksum; damage raises
  /// corruption_error rather than reaching a caller or the index.
  std::vector<float> verified_vector(std::int64_t collection_id, const std::string& id, const SQLite::Column& blob,
                                     const SQLite::Column& checksum) {
    const auto bytes = static_cast<std::size_t>(blob.getBytes());
    if (!stored_embedding_ok(collection_id, id, blob.getBlob(), bytes, !checksum.isNull(), checksum.getInt64())) {
      throw_damaged_embedding(collection_id, id);
    }
    std::vector<float> v(bytes / sizeof(float));
    std::memcpy(v.data(), blob.getBlob(), bytes);
    return v;
  }

  connection& c_;
  std::vector<float> scratch_;  // read_embedding's reused buffer
};

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
