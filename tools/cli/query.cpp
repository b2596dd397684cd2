// SPDX-License-Identifier: MIT
// The query command (query.hpp).
#include "query.hpp"

#include <cstdio>
#include <iostream>
#include <string>
#include <utility>

#include "exit_codes.hpp"
#include "formats.hpp"
#include "option_values.hpp"
#include "output.hpp"
#include "record_output.hpp"
#include "store_access.hpp"

namespace vecstore_cli {

int run_query(const global_options& g, const query_args& a) {
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
  o.where = parse_where(a.where);
  o.where_document = parse_where_document(a.where_document);
  o.fields = parse_include(a.include, vecstore::include::documents | vecstore::include::metadatas);
  auto s = open_store(a.store, open_as::existing, g);
  auto c = s->get_collection(a.collection);
  const auto hits = c.query(q, o);
  if (g.json) {
    json_doc list = json_doc::array();
    for (const auto& h : hits) list.push_back(record_json(h.id, &h.distance, h.document, h.meta, h.embedding, o.fields));
    print_json(json_doc::object({{"collection", a.collection},
                                 {"metric", vecstore::to_string(c.space())},
                                 {"k", a.k},
                                 {"results", std::move(list)}}));
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

}  // namespace vecstore_cli
