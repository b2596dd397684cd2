// SPDX-License-Identifier: MIT
// The child program multi-process tests fork and exec: it opens a store in a
// fresh process and acts on it as told.
//
//   vecstore_test_child dump <store>   print every collection and record as canonical JSON
//   vecstore_test_child repl           read commands from stdin, answer each with one JSON line
//   vecstore_test_child ivf-query <store> <collection> <k> <vector>
//                                      open as ivf_store, print the hit ids as a JSON array
//
// repl commands (one per line, words separated by spaces, vectors as 1,2,3):
//   open <store> [exclusive] [tombstones_to_keep]     create <collection> <dim> <l2|cosine|ip>
//   add <collection> <id> <vector>                    remove <collection> <id>
//   write <collection> <add|upsert|update> <id> <vector|-> <metadata as JSON, no spaces>
//   query <collection> <k> <vector>                   count <collection>
//   pid                                               close
//   hold-writer-lock                                  take the writer lock and keep it until killed
//   stress <seconds> <seed> <name> <log> <c1,c2,..>   the stress worker (support/stress.hpp)
//   queryset <c1,c2,..>                               the fixed queries, answered
//   ingest <collection> <batch>                       fill every missing embedding
//   api <collection> <seconds>                        queries and health checks, as an API worker
// Answers: {"ok": true, ...} or {"ok": false, "code": "<errc>", "error": "<message>"}.
//
// Exit status: 0 on success, 3 on a vecstore error (its message on stderr,
// prefixed by the error code), 2 on bad usage.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>
#include <sstream>
#include <string>

#include <unistd.h>

#include "dump.hpp"
#include "stress.hpp"

namespace {

std::vector<std::string> split(const std::string& csv) {
  std::vector<std::string> out;
  std::stringstream in(csv);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

std::vector<float> parse_vector(const std::string& csv) {
  std::vector<float> v;
  std::stringstream in(csv);
  for (std::string item; std::getline(in, item, ',');) v.push_back(std::stof(item));
  return v;
}

nlohmann::json run(std::shared_ptr<vecstore::store>& db, std::istringstream& words) {
  std::string command;
  words >> command;
  if (command == "open") {
    vecstore::store_options o;
    std::string mode;
    words >> o.path >> mode;
    if (mode == "exclusive") o.mode = vecstore::open_mode::exclusive;
    std::size_t keep = 0;
    if (words >> keep) o.tombstones_to_keep = keep;
    std::string vectors_file;  // the smallest store that keeps a vectors file, in bytes, or "off"
    if (words >> vectors_file)
      o.vectors_file_min_bytes = vectors_file == "off" ? vecstore::store_options::no_vectors_file
                                                       : static_cast<std::size_t>(std::stoull(vectors_file));
    o.lock_timeout = std::chrono::milliseconds(5000);
    db = vecstore::open(o);
    return {{"ok", true}};
  }
  if (command == "pid") return {{"ok", true}, {"pid", ::getpid()}};
  if (command == "hold-writer-lock") {
    // Takes the store's writer lock (the fcntl lock file_lock uses) and keeps it
    // until this process dies: a second lock object on the same file, which is
    // fine while the store's own one stays open and unlocked.
    if (!db) return {{"ok", false}, {"code", "usage"}, {"error", "open a store first"}};
    static boost::interprocess::file_lock held((db->path().string() + ".lock").c_str());
    held.lock();
    return {{"ok", true}};
  }
  if (command == "close") {
    if (db) db->close();
    db.reset();
    return {{"ok", true}};
  }
  if (!db) return {{"ok", false}, {"code", "usage"}, {"error", "open a store first"}};
  if (command == "health") return {{"ok", true}, {"health", db->health(true).to_json()}};
  if (command == "acknowledge-recovery") return {{"ok", true}, {"had", db->acknowledge_recovery()}};
  if (command == "stress") {
    double seconds = 0;
    unsigned seed = 0;
    std::string name, log, collections;
    words >> seconds >> seed >> name >> log >> collections;
    const auto st = vecstore_test::run_stress_worker(*db, name, seconds, seed, log, split(collections));
    return {{"ok", true},          {"writes", st.writes}, {"queries", st.queries}, {"health_checks", st.health_checks},
            {"errors", st.errors}, {"self_check_failures", st.self_check_failures}};
  }
  if (command == "queryset") {
    std::string collections;
    words >> collections;
    return {{"ok", true}, {"answers", vecstore_test::run_query_set(*db, split(collections))}};
  }
  std::string name;
  words >> name;
  if (command == "create") {
    std::size_t dim = 0;
    std::string space;
    words >> dim >> space;
    db->create_collection(name, {dim, vecstore::metric_from_string(space).value()});
    return {{"ok", true}};
  }
  auto c = db->get_collection(name);
  if (command == "add") {
    std::string id, vec;
    words >> id >> vec;
    c.add({{id, parse_vector(vec), std::nullopt, {}}});
    return {{"ok", true}};
  }
  if (command == "write") {
    std::string kind, id, vec, meta_json;
    words >> kind >> id >> vec >> meta_json;
    vecstore::record r{id, vec == "-" ? std::vector<float>{} : parse_vector(vec), std::nullopt, {}};
    const nlohmann::json meta = nlohmann::json::parse(meta_json);
    for (const auto& [key, value] : meta.items()) {
      if (value.is_boolean()) r.meta[key] = value.get<bool>();
      else if (value.is_number_integer()) r.meta[key] = value.get<std::int64_t>();
      else if (value.is_number()) r.meta[key] = value.get<double>();
      else r.meta[key] = value.get<std::string>();
    }
    if (kind == "add") c.add({r});
    else if (kind == "upsert") c.upsert({r});
    else c.update({r});
    return {{"ok", true}};
  }
  if (command == "remove") {
    std::string id;
    words >> id;
    return {{"ok", true}, {"removed", c.remove(std::vector<std::string>{id})}};
  }
  if (command == "query") {
    std::size_t k = 0;
    std::string vec;
    words >> k >> vec;
    vecstore::query_options o;
    o.k = k;
    o.fields = vecstore::include::none;
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& h : c.query(parse_vector(vec), o)) ids.push_back(h.id);
    return {{"ok", true}, {"ids", ids}};
  }
  if (command == "count") return {{"ok", true}, {"count", c.count()}};
  if (command == "ingest") {
    std::size_t batch = 0;
    words >> batch;
    vecstore::get_options all;
    all.fields = vecstore::include::none;
    std::vector<std::string> ids;
    for (const auto& r : c.get(all)) ids.push_back(r.id);
    std::size_t filled = 0, rounds = 0;
    for (auto todo = c.missing(ids); !todo.empty(); todo = c.missing(ids), ++rounds) {
      todo.resize(std::min(todo.size(), batch));
      std::vector<vecstore::record> updates;
      for (auto& r : c.get(todo, vecstore::include::documents)) {
        updates.push_back({r.id, vecstore_test::stress_vector(r.document.value_or(""), 0), std::nullopt, {}});
      }
      c.update(updates);
      filled += updates.size();
    }
    return {{"ok", true}, {"filled", filled}, {"rounds", rounds}};
  }
  if (command == "api") {
    double seconds = 0;
    words >> seconds;
    std::size_t queries = 0, health = 0, unhealthy = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (std::uint32_t i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
      vecstore::query_options q;
      q.k = 5;
      c.query(vecstore_test::stress_vector("api", i), q);
      ++queries;
      if (i % 8 == 0) {
        unhealthy += db->health(true).status == vecstore::health_status::unhealthy;
        ++health;
      }
    }
    return {{"ok", true}, {"queries", queries}, {"health_checks", health}, {"unhealthy", unhealthy}};
  }
  return {{"ok", false}, {"code", "usage"}, {"error", "unknown command " + command}};
}

int repl() {
  std::shared_ptr<vecstore::store> db;
  for (std::string line; std::getline(std::cin, line);) {
    std::istringstream words(line);
    nlohmann::json answer;
    try {
      answer = run(db, words);
    } catch (const vecstore::error& e) {
      answer = {{"ok", false}, {"code", vecstore::to_string(e.code())}, {"error", e.what()}};
    } catch (const std::exception& e) {
      answer = {{"ok", false}, {"code", "exception"}, {"error", e.what()}};
    }
    std::cout << answer.dump() << std::endl;
  }
  return 0;
}

// The "manager singleton" users write: a store destroyed by static
// destruction, in whatever order that runs.
std::shared_ptr<vecstore::store> global_store;

std::shared_ptr<vecstore::store>& static_store() {
  static std::shared_ptr<vecstore::store> held;
  return held;
}

int exit_holding(const std::string& how, const std::string& path) {
  // Constructed before the store is opened, the static is destroyed after
  // everything the open constructed: the order that reaches freed state.
  if (how == "static") static_store().reset();
  vecstore::store_options o;
  o.path = path;
  std::shared_ptr<vecstore::store> db = vecstore::open(o);
  auto c = db->get_or_create_collection("exit", {3, vecstore::metric::l2});
  c.upsert({{"r" + std::to_string(::getpid()), {1, 2, 3}, std::nullopt, {}}});
  if (how == "global") {
    global_store = std::move(db);
  } else if (how == "static") {
    static_store() = std::move(db);
  } else if (how == "thread") {
    std::thread([db = std::move(db), c]() mutable {
      for (;;) c.query({1, 2, 3}, {});
    }).detach();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } else {
    std::cerr << "exit-holding: unknown way " << how << "\n";
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "repl") return repl();
  if (argc < 3) {
    std::cerr << "usage: vecstore_test_child dump <store> [report-only] | repl\n";
    return 2;
  }
  vecstore::store_options options;
  options.path = argv[2];
  options.create_if_missing = false;
  try {
    if (command == "ivf-query" && argc == 6) {
      auto db = vecstore::ivf_store::open(options);
      vecstore::query_options q;
      q.k = std::stoul(argv[4]);
      q.fields = vecstore::include::none;
      nlohmann::json ids = nlohmann::json::array();
      for (const auto& h : db->get_collection(argv[3]).query(parse_vector(argv[5]), q)) ids.push_back(h.id);
      std::cout << ids.dump() << "\n";
      return 0;
    }
    if (command == "exit-holding" && argc == 4) {
      return exit_holding(argv[2], argv[3]);
    }
    if (command == "dump") {  // dump <store> [report-only]: "report-only" leaves damage to the caller
      options.auto_recover = !(argc > 3 && std::string(argv[3]) == "report-only");
      auto db = vecstore::open(options);
      std::cout << vecstore_test::dump_store(*db).dump() << "\n";
      return 0;
    }
  } catch (const vecstore::error& e) {
    std::cerr << vecstore::to_string(e.code()) << ": " << e.what() << "\n";
    return 3;
  }
  std::cerr << "unknown command " << command << "\n";
  return 2;
}
