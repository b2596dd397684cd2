// SPDX-License-Identifier: MIT
// basic_collection, the handle through which one collection's records are
// written, read and searched, and collection_ref, what the store's parts know of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <vecstore/detail/utf8.hpp>
#include <vecstore/errors.hpp>
#include <vecstore/filter.hpp>
#include <vecstore/options.hpp>
#include <vecstore/types.hpp>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// One collection as a handle names it: its row id in the store, its name
/// and its options. The id tells a collection from a namesake created after
/// it was deleted.
struct collection_ref {
  std::int64_t id = 0;
  std::string name;
  collection_options options;
};

/// What a write does to existing ids: `add` refuses them, `upsert` replaces
/// them, `update` changes the given fields (and refuses unknown ids).
enum class write_kind { add, upsert, update };

[[noreturn]] inline void throw_unknown_collection(const std::filesystem::path& file, std::string_view name) {
  throw_error<not_found>("unknown collection", file, "there is no collection named " + quote_name(name),
                         "Create it first, or check the name with list_collections()");
}

/// The collection a handle was made for is gone. When `name_taken`, it was
/// deleted and another of the same name created since: that one is not the
/// handle's, and the message says so rather than "create it first".
[[noreturn]] inline void throw_collection_gone(const std::filesystem::path& file, const collection_ref& c,
                                               bool name_taken) {
  if (!name_taken) throw_unknown_collection(file, c.name);
  throw_error<not_found>("unknown collection", file,
                         "the collection " + quote_name(c.name) +
                             " this handle was made for was deleted, and another "
                         "collection of that name was created since",
                         "Get a handle to the new one with get_collection(" + quote_name(c.name) + ")");
}

}  // namespace detail

/// A handle to one collection of a store. Cheap to copy; it keeps the store
/// open. Every call checks that the collection still exists (another process
/// may have deleted it) and throws `not_found` otherwise.
template <class Store>
class basic_collection {
 public:
  const std::string& name() const noexcept { return ref_.name; }
  std::size_t dim() const noexcept { return ref_.options.dim; }
  metric space() const noexcept { return ref_.options.space; }

  /// Adds new records, all or none. A record whose id exists is an error
  /// (`duplicate_id`), as is an id repeated within the batch.
  void add(const std::vector<record>& records) { store_->writes().write(ref_, records, detail::write_kind::add); }
  /// Adds records, or replaces existing ones entirely (embedding, document
  /// and metadata; what the new record lacks is removed).
  void upsert(const std::vector<record>& records) { store_->writes().write(ref_, records, detail::write_kind::upsert); }
  /// Changes existing records: the embedding if given (non-empty), the
  /// document if set, and the metadata keys given (other keys are kept).
  /// An id that does not exist is an error (`not_found`); nothing is written.
  void update(const std::vector<record>& records) { store_->writes().write(ref_, records, detail::write_kind::update); }

  /// Removes the records with these ids; absent ids are ignored. Returns how many were removed.
  std::size_t remove(const std::vector<std::string>& ids) { return store_->writes().remove(ref_, ids); }
  /// Removes every record matching the filters; at least one must be non-empty.
  std::size_t remove(const filter& where, const document_filter& where_document = {}) {
    return store_->writes().remove_matching(ref_, where, where_document);
  }

  /// Reads records by id (in the order given; absent ids are skipped).
  std::vector<record> get(const std::vector<std::string>& ids,
                          include fields = include::documents | include::metadatas) {
    get_options o;
    o.ids = ids;
    o.fields = fields;
    return store_->reads().get(ref_, o);
  }
  /// Reads records by ids and/or filters, with limit and offset.
  std::vector<record> get(const get_options& options) { return store_->reads().get(ref_, options); }

  /// Number of records (with or without an embedding).
  std::size_t count() { return store_->reads().count(ref_); }

  /// The given ids that have no stored embedding: absent, or stored without
  /// one. What an ingestion job embeds next ("fill missing embeddings").
  std::vector<std::string> missing(const std::vector<std::string>& ids) { return store_->reads().missing(ref_, ids); }

  /// The k nearest records to one embedding, nearest first.
  std::vector<hit> query(const std::vector<float>& embedding, const query_options& options = {}) {
    return std::move(store_->reads().query(ref_, {&embedding}, options).front());
  }
  /// The k nearest records to each embedding: one list of hits per query.
  std::vector<std::vector<hit>> query(const std::vector<std::vector<float>>& embeddings,
                                      const query_options& options = {}) {
    std::vector<const std::vector<float>*> queries;
    queries.reserve(embeddings.size());
    for (const auto& e : embeddings) queries.push_back(&e);
    return store_->reads().query(ref_, queries, options);
  }

 private:
  friend Store;

  basic_collection(std::shared_ptr<Store> store, detail::collection_ref ref)
      : store_(std::move(store)), ref_(std::move(ref)) {}

  std::shared_ptr<Store> store_;
  detail::collection_ref ref_;
};

}  // namespace v0
}  // namespace vecstore
