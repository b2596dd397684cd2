// SPDX-License-Identifier: MIT
// create, count and get (records.hpp).
#include "records.hpp"

#include <iostream>
#include <string>
#include <utility>

#include "exit_codes.hpp"
#include "option_values.hpp"
#include "output.hpp"
#include "record_output.hpp"
#include "store_access.hpp"

namespace vecstore_cli {

int run_create(const global_options& g, const create_args& a) {
  // Checked before the store is opened, which creates it: bad input must
  // not leave a new empty store behind.
  vecstore::detail::check_collection_name(a.collection);
  const vecstore::collection_options opts{a.dim, parse_metric(a.metric)};
  vecstore::detail::check_collection_options(opts);
  auto s = open_store(a.store, open_as::create, g);
  const auto found = find_collection(*s, a.collection);
  const bool existed = found.has_value();
  if (existed && !a.exist_ok) {
    vecstore::detail::throw_error<vecstore::invalid_argument>(
        "cannot create the collection", s->path(),
        "collection " + vecstore::detail::quote_name(a.collection) + " exists already (dim " +
            std::to_string(found->dim) + ", metric " +
            vecstore::to_string(found->space) + ", " + std::to_string(found->count) + " records)",
        "Pass --exist-ok to accept it, or choose another name");
  }
  auto c = a.exist_ok ? s->get_or_create_collection(a.collection, opts) : s->create_collection(a.collection, opts);
  if (g.json) {
    print_json(json_doc::object({{"store", s->path().string()},
                                 {"collection", c.name()},
                                 {"dim", c.dim()},
                                 {"metric", vecstore::to_string(c.space())},
                                 {"created", !existed}}));
  } else {
    std::cout << (existed ? "collection \"" : "created collection \"") << c.name() << "\" (dim " << c.dim()
              << ", metric " << vecstore::to_string(c.space()) << ")" << (existed ? " exists already" : "") << " in "
              << s->path().string() << "\n";
  }
  return exit_ok;
}

int run_count(const global_options& g, const count_args& a) {
  auto s = open_store(a.store, open_as::existing, g);
  if (!a.collection.empty()) {
    const std::size_t n = s->get_collection(a.collection).count();
    if (g.json) {
      print_json(json_doc::object({{"collection", a.collection}, {"count", n}}));
    } else {
      std::cout << n << "\n";
    }
    return exit_ok;
  }
  const auto all = s->list_collections();
  std::size_t total = 0;
  json_doc per = json_doc::object();
  for (const auto& c : all) {
    total += c.count;
    per.set(c.name, c.count);
  }
  if (g.json) {
    print_json(json_doc::object({{"collections", std::move(per)}, {"total", total}}));
  } else {
    for (const auto& c : all) std::cout << c.name << "\t" << c.count << "\n";
    std::cout << "(total)\t" << total << "\n";
  }
  return exit_ok;
}

int run_get(const global_options& g, const get_args& a) {
  vecstore::get_options o;
  o.ids = a.ids;
  o.where = parse_where(a.where);
  o.where_document = parse_where_document(a.where_document);
  o.limit = a.limit;
  o.offset = a.offset;
  o.fields = parse_include(a.include, vecstore::include::documents | vecstore::include::metadatas);
  auto s = open_store(a.store, open_as::existing, g);
  auto c = s->get_collection(a.collection);
  const auto records = c.get(o);
  if (g.json) {
    json_doc list = json_doc::array();
    for (const auto& r : records) list.push_back(record_json(r.id, nullptr, r.document, r.meta, r.embedding, o.fields));
    print_json(json_doc::object({{"collection", a.collection}, {"count", records.size()}, {"records", std::move(list)}}));
  } else {
    for (const auto& r : records) {
      std::cout << r.id << text_columns(r.document, r.meta, r.embedding, o.fields) << "\n";
    }
  }
  return exit_ok;
}

}  // namespace vecstore_cli
