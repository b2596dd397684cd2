// SPDX-License-Identifier: MIT
// A small HTTP service over one vecstore store (cpp-httplib): a health
// endpoint for load balancers and container health checks, plus query, add
// and fill-missing endpoints. Run several on different ports over one store
// file: every write goes through the store's cross-process lock, and every
// server sees every other's commits before it answers.
//
//   vecstore_health_server --store FILE [--port N] [--host ADDR] [--collection NAME]
//                          [--dim N] [--health-interval SECONDS] [--quiet]
//
// Endpoints (JSON in and out; see README.md beside this file):
//   GET  /health[?force=1]  the health report; 200 healthy/degraded, 503 unhealthy
//   GET  /collections       every collection with dim, space and count
//   POST /query             {"embedding": [...] | "text": "...", "k": 10, "where": {...},
//                            "where_document": {...}, "collection": "...", "include": [...]}
//   POST /add               {"collection": "...", "records": [{"id", "embedding"?, "document"?, "metadata"?}]}
//   POST /fill-missing      {"collection": "...", "ids": [...], "documents": [...]}
// Errors: {"error": "<code>", "message": "..."} with 400 (bad input), 404
// (unknown collection or id), 409 (duplicate id), 413 (a body over 64 MiB),
// 503 (lock busy, store damaged), 500 (anything else). Every request is
// checked whole before anything is written: a refused /add or /fill-missing
// creates no collection.
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vecstore/vecstore.hpp>
#include <vector>
// After vecstore: httplib.h includes <resolv.h>, whose `_res` macro breaks
// Eigen headers (a parameter of that name) included after it.
#include <httplib.h>

#include "toy_embedding.hpp"

namespace {

using json = nlohmann::json;

/// The application's embedding function: text in, vector out.
using embed_function = std::function<std::vector<float>(const std::string&)>;

/// Bad request shapes are reported like the library's own bad input.
[[noreturn]] void bad_request(const std::string& why, const std::string& todo) {
  throw vecstore::invalid_argument("vecstore: invalid request: " + why + ". " + todo);
}

// --- JSON <-> vecstore values ------------------------------------------------------

json to_json(const vecstore::metadata_value& v) {
  return std::visit([](const auto& x) { return json(x); }, v);
}

json to_json(const vecstore::metadata& m) {
  json j = json::object();
  for (const auto& [key, value] : m) j[key] = to_json(value);
  return j;
}

vecstore::metadata_value metadata_value_from(const json& v, const std::string& where) {
  switch (v.type()) {
    case json::value_t::boolean:
      return v.get<bool>();
    case json::value_t::number_integer:
      return v.get<std::int64_t>();
    case json::value_t::number_unsigned:
      if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        bad_request(where + " is larger than a 64-bit signed integer", "Store it as a string or a double");
      }
      return static_cast<std::int64_t>(v.get<std::uint64_t>());
    case json::value_t::number_float:
      return v.get<double>();
    case json::value_t::string:
      return v.get<std::string>();
    default:
      bad_request(where + " is " + std::string(v.type_name()) + "; metadata values are numbers, strings or bools",
                  "Flatten nested values into separate keys");
  }
}

vecstore::metadata metadata_from(const json& j, const std::string& where) {
  if (!j.is_object()) bad_request(where + " is not an object", "Give metadata as {\"key\": value, ...}");
  vecstore::metadata m;
  for (const auto& [key, value] : j.items()) m[key] = metadata_value_from(value, where + "." + key);
  return m;
}

std::vector<float> embedding_from(const json& j, const std::string& where) {
  if (!j.is_array()) bad_request(where + " is not an array", "Give an embedding as an array of numbers");
  std::vector<float> v;
  v.reserve(j.size());
  for (const auto& x : j) {
    if (!x.is_number()) bad_request(where + " holds " + std::string(x.type_name()), "Embeddings hold numbers only");
    const double d = x.get<double>();
    if (!(std::fabs(d) <= static_cast<double>(std::numeric_limits<float>::max()))) {
      bad_request(where + " holds " + x.dump() + ", beyond the range of a float", "Scale the embedding");
    }
    v.push_back(static_cast<float>(d));
  }
  return v;
}

const json& member(const json& body, const char* key, json::value_t type, const char* type_name) {
  const auto it = body.find(key);
  if (it == body.end()) bad_request(std::string("\"") + key + "\" is missing", std::string("Give ") + type_name);
  const bool ok = type == json::value_t::number_unsigned ? it->is_number_integer() : it->type() == type;
  if (!ok) bad_request(std::string("\"") + key + "\" is " + it->type_name(), std::string("Give ") + type_name);
  return *it;
}

std::vector<std::string> strings_from(const json& j, const char* key) {
  std::vector<std::string> out;
  for (const auto& x : j) {
    if (!x.is_string()) bad_request(std::string("\"") + key + "\" holds " + x.type_name(), "Give strings only");
    out.push_back(x.get<std::string>());
  }
  return out;
}

json hit_to_json(const vecstore::hit& h, vecstore::include fields) {
  json j{{"id", h.id}, {"distance", h.distance}};
  if (vecstore::has(fields, vecstore::include::documents))
    j["document"] = h.document ? json(*h.document) : json(nullptr);
  if (vecstore::has(fields, vecstore::include::metadatas)) j["metadata"] = to_json(h.meta);
  if (vecstore::has(fields, vecstore::include::embeddings)) j["embedding"] = h.embedding;
  return j;
}

// --- errors --------------------------------------------------------------------------

/// The HTTP status of a vecstore error.
int http_status(const vecstore::error& e) {
  switch (e.code()) {
    case vecstore::errc::invalid_argument:
    case vecstore::errc::dimension_mismatch:
      return 400;
    case vecstore::errc::not_found:
      return 404;
    case vecstore::errc::duplicate_id:
      return 409;
    case vecstore::errc::store_locked:
    case vecstore::errc::lock_timeout:
    case vecstore::errc::corruption:
      return 503;
    default:
      return 500;
  }
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  send_json(res, status, {{"error", code}, {"message", message}});
}

/// Runs a handler, turning every exception into the JSON error response.
void guarded(httplib::Response& res, const std::function<void()>& body) {
  try {
    body();
  } catch (const vecstore::error& e) {
    send_error(res, http_status(e), vecstore::to_string(e.code()), e.what());
  } catch (const json::parse_error& e) {
    send_error(res, 400, "invalid_json", std::string("the request body is not JSON: ") + e.what());
  } catch (const json::exception& e) {
    send_error(res, 400, "invalid_argument", std::string("invalid request: ") + e.what());
  } catch (const std::exception& e) {
    send_error(res, 500, "internal", e.what());
  } catch (...) {
    send_error(res, 500, "internal", "unknown error");
  }
}

json parse_body(const httplib::Request& req) {
  json body = json::parse(req.body);
  if (!body.is_object()) bad_request("the request body is not a JSON object", "Send {\"key\": value, ...}");
  return body;
}

// --- the service -----------------------------------------------------------------------

struct service_options {
  std::string default_collection = "docs";
  std::size_t dim = examples::toy_embedding_dim;  ///< of collections that /add creates
  vecstore::metric space = vecstore::metric::cosine;
  std::size_t max_body_bytes = std::size_t{64} << 20;  ///< larger request bodies get 413
};

/// The endpoints over one store. The embedding function is the application's
/// (this program's main wires the toy one); /query with "text" and
/// /fill-missing use it.
class service {
 public:
  service(std::shared_ptr<vecstore::store> db, service_options options, embed_function embed)
      : db_(std::move(db)), options_(std::move(options)), embed_(std::move(embed)) {}

  void install(httplib::Server& server) {
    // Unknown paths and methods: a JSON error too.
    // httplib calls this for its own refusals too, before any handler ran.
    server.set_payload_max_length(options_.max_body_bytes);
    server.set_error_handler([limit = options_.max_body_bytes](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413) {
        send_error(res, 413, "payload_too_large",
                   "the request body is too large: the limit is " + std::to_string(limit >> 20) + " MiB (" +
                       std::to_string(limit) + " bytes). Send fewer records per request");
      } else if (res.status == 404 || res.status == 405) {
        send_error(res, res.status, res.status == 404 ? "not_found" : "http_error",
                   "no endpoint " + req.method + " " + req.path +
                       "; see GET /health, GET /collections, POST /query, POST /add, POST /fill-missing");
      } else {
        send_error(res, res.status, "http_error",
                   "the request to " + req.method + " " + req.path + " was refused with HTTP " +
                       std::to_string(res.status) + " before it reached the endpoint");
      }
    });
    server.Get("/health", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { health(req, res); });
    });
    server.Get("/collections",
               [this](const httplib::Request&, httplib::Response& res) { guarded(res, [&] { collections(res); }); });
    server.Post("/query", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { query(parse_body(req), res); });
    });
    server.Post("/add", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { add(parse_body(req), res); });
    });
    server.Post("/fill-missing", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { fill_missing(parse_body(req), res); });
    });
  }

 private:
  std::string collection_name(const json& body) const {
    const auto it = body.find("collection");
    if (it == body.end() || it->is_null()) return options_.default_collection;
    if (!it->is_string()) bad_request("\"collection\" is not a string", "Name the collection");
    return it->get<std::string>();
  }

  bool exists(const std::string& name) const {
    for (const auto& c : db_->list_collections()) {
      if (c.name == name) return true;
    }
    return false;
  }

  /// The collection `name`, created (dim from --dim) if it does not exist,
  /// once the name, the options and `records` passed the checks that
  /// get_or_create_collection and add run: bad input creates nothing.
  vecstore::store::collection open_checked(const std::string& name, const std::vector<vecstore::record>& records) {
    const vecstore::collection_options options{options_.dim, options_.space};
    vecstore::detail::check_collection_name(name);
    vecstore::detail::check_collection_options(options);
    vecstore::detail::check_batch(records, options);
    return db_->get_or_create_collection(name, options);
  }

  /// GET /health: health() runs the checks at most once per
  /// health_check_interval (cached in the store); ?force=1 runs them now.
  void health(const httplib::Request& req, httplib::Response& res) {
    const std::string force = req.get_param_value("force");
    const auto report = db_->health(force == "1" || force == "true");
    send_json(res, report.status == vecstore::health_status::unhealthy ? 503 : 200, report.to_json());
  }

  void collections(httplib::Response& res) {
    json out = json::array();
    for (const auto& c : db_->list_collections()) {
      out.push_back({{"name", c.name}, {"dim", c.dim}, {"space", vecstore::to_string(c.space)}, {"count", c.count}});
    }
    send_json(res, 200, {{"collections", out}});
  }

  void query(const json& body, httplib::Response& res) {
    auto col = db_->get_collection(collection_name(body));
    const bool by_embedding = body.contains("embedding"), by_text = body.contains("text");
    if (by_embedding == by_text) bad_request("give exactly one of \"embedding\" and \"text\"", "Send one of them");
    const std::vector<float> q = by_embedding ? embedding_from(body["embedding"], "\"embedding\"")
                                              : embed_(member(body, "text", json::value_t::string, "a string"));
    vecstore::query_options o;
    if (body.contains("k")) {
      const json& k = member(body, "k", json::value_t::number_unsigned, "a positive integer");
      if (k.get<std::int64_t>() < 1) bad_request("\"k\" is " + k.dump(), "Ask for at least one neighbour");
      o.k = k.get<std::size_t>();
    }
    if (body.contains("where")) o.where = vecstore::filter::from_json(body["where"]);
    if (body.contains("where_document"))
      o.where_document = vecstore::document_filter::from_json(body["where_document"]);
    if (body.contains("include")) {
      o.fields = vecstore::include::none;
      for (const auto& f : strings_from(member(body, "include", json::value_t::array, "an array"), "include")) {
        if (f == "documents")
          o.fields = o.fields | vecstore::include::documents;
        else if (f == "metadatas")
          o.fields = o.fields | vecstore::include::metadatas;
        else if (f == "embeddings")
          o.fields = o.fields | vecstore::include::embeddings;
        else
          bad_request("\"include\" holds \"" + f + "\"", "Use \"documents\", \"metadatas\" or \"embeddings\"");
      }
    }
    json hits = json::array();
    for (const auto& h : col.query(q, o)) hits.push_back(hit_to_json(h, o.fields));
    send_json(res, 200, {{"collection", col.name()}, {"hits", hits}});
  }

  /// POST /add: creates the collection (dim from --dim) if it does not exist.
  void add(const json& body, httplib::Response& res) {
    const json& items = member(body, "records", json::value_t::array, "an array of records");
    std::vector<vecstore::record> records;
    records.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      const json& item = items[i];
      const std::string where = "records[" + std::to_string(i) + "]";
      if (!item.is_object()) bad_request(where + " is not an object", "Give each record as {\"id\": ..., ...}");
      vecstore::record r;
      const auto id = item.find("id");
      if (id == item.end() || !id->is_string()) bad_request(where + " has no string \"id\"", "Give every record an id");
      r.id = id->get<std::string>();
      if (const auto e = item.find("embedding"); e != item.end() && !e->is_null()) {
        r.embedding = embedding_from(*e, where + ".embedding");
      }
      if (const auto d = item.find("document"); d != item.end() && !d->is_null()) {
        if (!d->is_string()) bad_request(where + ".document is not a string", "Give documents as strings");
        r.document = d->get<std::string>();
      }
      if (const auto m = item.find("metadata"); m != item.end() && !m->is_null()) {
        r.meta = metadata_from(*m, where + ".metadata");
      }
      records.push_back(std::move(r));
    }
    // Everything add checks, checked before get_or_create_collection writes:
    // a refused request leaves no new collection behind.
    const std::string name = collection_name(body);
    auto col = open_checked(name, records);
    col.add(records);
    send_json(res, 200, {{"collection", col.name()}, {"added", records.size()}});
  }

  /// POST /fill-missing: of the ids given, those that missing() reports (no
  /// record, or a record without an embedding) get the embedding of their
  /// document and that document; existing records keep their metadata.
  void fill_missing(const json& body, httplib::Response& res) {
    const auto ids = strings_from(member(body, "ids", json::value_t::array, "an array of ids"), "ids");
    const auto documents =
        strings_from(member(body, "documents", json::value_t::array, "an array of documents"), "documents");
    if (ids.size() != documents.size()) {
      bad_request(std::to_string(ids.size()) + " ids but " + std::to_string(documents.size()) + " documents",
                  "Give one document per id");
    }
    if (std::set<std::string>(ids.begin(), ids.end()).size() != ids.size()) {
      bad_request("\"ids\" repeats an id", "Give each id once");
    }
    // Every record this request could write, checked before
    // get_or_create_collection writes: a refused request leaves no new
    // collection behind. In a new collection every id is missing, so every
    // document is embedded and checked now; in an existing one only the
    // missing ids are embedded (below), and add and update check them.
    const std::string name = collection_name(body);
    std::vector<vecstore::record> candidates(ids.size());
    const bool is_new = !exists(name);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      candidates[i].id = ids[i];
      candidates[i].document = documents[i];
      if (is_new) candidates[i].embedding = embed_(documents[i]);
    }
    auto col = open_checked(name, candidates);
    std::map<std::string, const vecstore::record*> candidate_of;
    for (const auto& r : candidates) candidate_of[r.id] = &r;

    // Another server may fill (or add) the same ids between our look and our
    // write; then the write fails as a whole and we look again.
    for (int attempt = 1;; ++attempt) {
      try {
        const auto missing = col.missing(ids);
        std::set<std::string> existing;
        for (const auto& r : col.get(missing, vecstore::include::none)) existing.insert(r.id);
        std::vector<vecstore::record> updates, additions;
        for (const auto& id : missing) {
          vecstore::record r = *candidate_of.at(id);
          if (r.embedding.empty()) r.embedding = embed_(*r.document);
          (existing.count(id) != 0 ? updates : additions).push_back(std::move(r));
        }
        col.update(updates);  // keeps each record's metadata
        col.add(additions);
        send_json(
            res, 200,
            {{"collection", col.name()}, {"requested", ids.size()}, {"filled", missing.size()}, {"ids", missing}});
        return;
      } catch (const vecstore::error& e) {
        const bool raced = e.code() == vecstore::errc::duplicate_id || e.code() == vecstore::errc::not_found;
        if (!raced || attempt == 3) throw;
      }
    }
  }

  std::shared_ptr<vecstore::store> db_;
  service_options options_;
  embed_function embed_;
};

// --- main ------------------------------------------------------------------------------

struct settings {
  std::string store;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string collection = "docs";
  std::size_t dim = examples::toy_embedding_dim;
  long health_interval = -1;  // seconds; -1: the store's default
  bool quiet = false;
};

[[noreturn]] void usage(const std::string& problem) {
  if (!problem.empty()) std::cerr << "vecstore_health_server: " << problem << "\n";
  std::cerr << "usage: vecstore_health_server --store FILE [--port N] [--host ADDR] [--collection NAME]\n"
               "                              [--dim N] [--health-interval SECONDS] [--quiet]\n"
               "  --port 0 picks a free port; the chosen one is printed as \"listening on http://HOST:PORT\".\n"
               "  --host defaults to 127.0.0.1 (loopback only); 0.0.0.0 listens on every interface.\n";
  std::exit(problem.empty() ? 0 : 2);
}

long number(const std::string& flag, const std::string& text, long lo, long hi) {
  try {
    std::size_t pos = 0;
    const long v = std::stol(text, &pos);
    if (pos == text.size() && v >= lo && v <= hi) return v;
  } catch (const std::exception&) {
  }
  usage(flag + " needs a number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got \"" + text + "\"");
}

settings parse_args(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") usage({});
    if (a == "--quiet") {
      s.quiet = true;
      continue;
    }
    if (i + 1 >= argc) usage("unknown argument or missing value: " + a);
    const std::string v = argv[++i];
    if (a == "--store")
      s.store = v;
    else if (a == "--host")
      s.host = v;
    else if (a == "--port")
      s.port = static_cast<int>(number(a, v, 0, 65535));
    else if (a == "--collection")
      s.collection = v;
    else if (a == "--dim")
      s.dim = static_cast<std::size_t>(number(a, v, 1, static_cast<long>(vecstore::limits::max_dim)));
    else if (a == "--health-interval")
      s.health_interval = number(a, v, 0, 86400L * 365);
    else
      usage("unknown argument: " + a);
  }
  if (s.store.empty()) usage("--store is required");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const settings s = parse_args(argc, argv);

  // SIGINT/SIGTERM stop the server cleanly: blocked in every thread (httplib's
  // workers inherit the mask) and awaited by one thread that calls stop().
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    vecstore::store_options options;
    options.path = s.store;
    if (s.health_interval >= 0) options.health_check_interval = std::chrono::seconds(s.health_interval);
    auto db = vecstore::open(options);
    db->get_or_create_collection(s.collection, {s.dim, vecstore::metric::cosine});

    service api(db, {s.collection, s.dim, vecstore::metric::cosine},
                [dim = s.dim](const std::string& text) { return examples::toy_embedding(text, dim); });
    httplib::Server server;
    server.set_read_timeout(std::chrono::seconds(10));
    // cpp-httplib sets SO_REUSEPORT by default, which lets a second server
    // bind a port already in use and silently share its traffic; refuse that.
    server.set_socket_options([](auto sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    api.install(server);
    if (!s.quiet) {
      server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
        std::cerr << req.method << ' ' << req.path << ' ' << res.status << '\n';
      });
    }

    const int port =
        s.port == 0 ? server.bind_to_any_port(s.host) : (server.bind_to_port(s.host, s.port) ? s.port : -1);
    if (port <= 0) {
      std::cerr << "vecstore_health_server: cannot listen on " << s.host << ':' << s.port
                << " (in use, or not an address of this machine)\n";
      return 1;
    }
    std::thread([&server, stop_signals] {
      int sig = 0;
      sigwait(&stop_signals, &sig);
      server.stop();
    }).detach();
    std::cout << "listening on http://" << s.host << ':' << port << " (store " << db->path().string() << ")"
              << std::endl;
    const bool ok = server.listen_after_bind();
    db->close();
    return ok ? 0 : 1;
  } catch (const vecstore::error& e) {
    std::cerr << e.what() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "vecstore_health_server: " << e.what() << '\n';
  }
  return 1;
}
