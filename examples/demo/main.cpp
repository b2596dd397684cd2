// SPDX-License-Identifier: MIT
// The vecstore demo: one store file, one ingestion process writing while three
// worker processes query it, on real text every Debian machine has (the
// package descriptions in /var/lib/dpkg/status), embedded by the toy
// embedding function of examples/embedding (hashed words; not a model).
//
//   vecstore_demo [--out DIR] [--status FILE] [--max N] [--workers N] [--batch N] [--query TEXT]...
//
//   --out DIR      where the store, its backups and the workers' reports go
//                  (default ./vecstore-demo; the demo's own files there are
//                  replaced on each run, nothing else is touched)
//   --status FILE  the dpkg status file (default /var/lib/dpkg/status)
//   --max N        at most N packages (default 3000)
//   --workers N    query processes (default 3)
//   --batch N      records per ingestion batch (default 64)
//   --query TEXT   a search to show in section 4 (repeatable; replaces the default four)
//
// The parent process creates the store, then starts the ingestion process
// and the workers by running this same binary (fork + exec through
// posix_spawn, with an internal --role argument), so no SQLite state crosses
// a fork. The ingestion process adds the packages' documents and metadata in
// batches without embeddings, then fills the missing embeddings in batches,
// as an ingestion job does (missing() -> embed -> update()). Each worker
// queries in a loop until the parent closes its stdin, recording every state
// of the store it saw; the parent checks that every worker ended up seeing
// every record. Then the parent runs a few searches, a filtered search,
// prints the health report and takes a backup.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vecstore/vecstore.hpp>
#include <vector>

#include "dpkg_status.hpp"
#include "toy_embedding.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr const char* collection_name = "packages";
/// The searches section 4 prints (and the workers run); --query replaces them.
const std::vector<std::string> default_queries = {"compression library", "http server", "xml parser", "font rendering"};
/// The search whose top hit the workers' timeline shows.
constexpr std::size_t timeline_query = 1;

// --- command line ----------------------------------------------------------------

struct settings {
  std::string role = "main";  // main | ingest | worker (the last two are internal)
  fs::path out = "vecstore-demo";
  std::string status = "/var/lib/dpkg/status";
  std::size_t max_packages = 3000;
  std::size_t workers = 3;
  std::size_t batch = 64;
  std::size_t worker_id = 0;
  std::size_t expect = 0;            // worker: records the ingestion will write
  std::int64_t t0_ns = 0;            // the parent's start on the (system-wide) monotonic clock
  std::vector<std::string> queries;  // --query, repeatable; default_queries when none
};

std::size_t parse_count(const std::string& flag, const std::string& text, std::size_t lo, std::size_t hi) {
  std::size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &pos);
  } catch (const std::exception&) {
    pos = std::string::npos;
  }
  if (pos != text.size() || v < lo || v > hi) {
    throw std::invalid_argument(flag + " needs a whole number from " + std::to_string(lo) + " to " +
                                std::to_string(hi) + ", got \"" + text + "\"");
  }
  return static_cast<std::size_t>(v);
}

settings parse_args(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << "usage: vecstore_demo [--out DIR] [--status FILE] [--max N] [--workers N] [--batch N]\n"
                   "                     [--query TEXT]...\n";
      std::exit(0);
    }
    if (i + 1 >= argc) throw std::invalid_argument("unknown argument or missing value: " + a);
    const std::string v = argv[++i];
    if (a == "--out") {
      s.out = v;
    } else if (a == "--status") {
      s.status = v;
    } else if (a == "--max") {
      s.max_packages = parse_count(a, v, 1, 1000000);
    } else if (a == "--workers") {
      s.workers = parse_count(a, v, 0, 16);
    } else if (a == "--batch") {
      s.batch = parse_count(a, v, 1, 10000);
    } else if (a == "--query") {
      s.queries.push_back(v);
    } else if (a == "--role") {
      s.role = v;
    } else if (a == "--worker-id") {
      s.worker_id = parse_count(a, v, 0, 16);
    } else if (a == "--expect") {
      s.expect = parse_count(a, v, 0, 1000000);
    } else if (a == "--t0") {
      s.t0_ns = static_cast<std::int64_t>(parse_count(a, v, 0, static_cast<std::size_t>(INT64_MAX)));
    } else {
      throw std::invalid_argument("unknown argument: " + a);
    }
  }
  if (s.queries.empty()) s.queries = default_queries;
  if (s.role != "main" && s.role != "ingest" && s.role != "worker") {
    throw std::invalid_argument("unknown role: " + s.role);
  }
  return s;
}

// --- small helpers ----------------------------------------------------------------

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

/// Seconds since the parent started, on the clock every process shares.
double since(std::int64_t t0_ns) { return static_cast<double>(now_ns() - t0_ns) / 1e9; }

std::string fixed(double v, int digits) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << v;
  return o.str();
}

std::string human_bytes(std::uintmax_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  if (bytes < 1024 * 1024) return fixed(static_cast<double>(bytes) / 1024.0, 1) + " KiB";
  return fixed(static_cast<double>(bytes) / (1024.0 * 1024.0), 1) + " MiB";
}

/// At most `max` code points of `s` (UTF-8), with "..." when cut.
std::string clip(const std::string& s, std::size_t max) {
  std::size_t points = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0u) == 0x80u) continue;
    if (points == max) return s.substr(0, i) + "...";
    ++points;
  }
  return s;
}

/// Pads `s` with spaces to `width` code points.
std::string pad(const std::string& s, std::size_t width) {
  std::size_t points = 0;
  for (const char c : s) points += (static_cast<unsigned char>(c) & 0xC0u) != 0x80u;
  return points >= width ? s : s + std::string(width - points, ' ');
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

/// The text an ingestion job embeds for one package: its name, and its
/// description with the synopsis (the most telling line) counted twice.
std::string embedding_text(const std::string& id, const std::string& document) {
  const std::string name = id.substr(0, id.find(':'));
  return name + "\n" + first_line(document) + "\n" + document;
}

void print_line(const std::string& s) { std::cout << s << '\n' << std::flush; }

/// A section header, with the time since the demo started.
void section(const std::string& title, std::int64_t t0_ns) {
  print_line("\n== " + title + "  [" + fixed(since(t0_ns), 2) + " s]");
}

vecstore::store_options store_options_for(const fs::path& out) {
  vecstore::store_options o;
  o.path = out / "packages.db";
  o.backup_dir = out / "backups";
  return o;
}

fs::path worker_report(const fs::path& out, std::size_t id) { return out / ("worker-" + std::to_string(id) + ".json"); }

// --- the ingestion process -------------------------------------------------------------

int run_ingest(const settings& s) {
  const auto packages = demo::read_dpkg_status(s.status, s.max_packages);
  auto db = vecstore::open(store_options_for(s.out));
  auto col = db->get_collection(collection_name);
  const std::size_t n = packages.size();
  const std::size_t report_every = std::max<std::size_t>(1, (n + 3) / 4);  // about four progress lines per phase
  // Prints a progress line when `done` reached `next_report` (or the end); true when it printed.
  auto progress = [&](std::size_t done, std::size_t next_report, const std::string& what) {
    if (done < n && done < next_report) return false;
    print_line("   ingest " + pad(fixed(since(s.t0_ns), 2) + " s", 8) + what);
    return true;
  };

  // Phase 1: documents and metadata, no embeddings yet.
  const auto phase1 = clock_type::now();
  std::size_t next_report = report_every;
  for (std::size_t first = 0; first < n; first += s.batch) {
    std::vector<vecstore::record> batch;
    for (std::size_t i = first; i < std::min(n, first + s.batch); ++i) {
      const auto& p = packages[i];
      vecstore::record r;
      r.id = p.id;
      r.document = p.long_description.empty() ? p.synopsis : p.synopsis + "\n" + p.long_description;
      if (!p.section.empty()) r.meta["section"] = p.section;
      if (!p.priority.empty()) r.meta["priority"] = p.priority;
      if (p.installed_size) r.meta["installed_size"] = *p.installed_size;
      r.meta["essential"] = p.essential;
      if (!p.architecture.empty()) r.meta["arch"] = p.architecture;
      if (!p.version.empty()) r.meta["version"] = p.version;
      batch.push_back(std::move(r));
    }
    col.add(batch);
    const std::size_t done = std::min(n, first + s.batch);
    if (progress(done, next_report,
                 "added " + std::to_string(done) + "/" + std::to_string(n) +
                     " documents with metadata, no embeddings yet")) {
      next_report = done + report_every;
    }
  }
  const double add_s = std::chrono::duration<double>(clock_type::now() - phase1).count();

  // Phase 2: what an embedding job does: ask which ids lack an embedding,
  // read their documents, embed them, store the embeddings (update keeps the
  // document and the metadata).
  const auto phase2 = clock_type::now();
  std::size_t filled = 0;
  next_report = report_every;
  for (std::size_t first = 0; first < n; first += s.batch) {
    std::vector<std::string> ids;
    for (std::size_t i = first; i < std::min(n, first + s.batch); ++i) ids.push_back(packages[i].id);
    const auto missing = col.missing(ids);
    std::vector<vecstore::record> updates;
    for (auto& r : col.get(missing, vecstore::include::documents)) {
      vecstore::record u;
      u.id = r.id;
      u.embedding = examples::toy_embedding(embedding_text(r.id, r.document.value_or("")));
      updates.push_back(std::move(u));
    }
    col.update(updates);
    filled += updates.size();
    const std::size_t done = std::min(n, first + s.batch);
    if (progress(done, next_report,
                 "embedded " + std::to_string(filled) + "/" + std::to_string(n) +
                     " (missing() -> toy_embedding -> update())")) {
      next_report = done + report_every;
    }
  }
  const double fill_s = std::chrono::duration<double>(clock_type::now() - phase2).count();
  const std::size_t batches = (n + s.batch - 1) / s.batch;
  print_line("   ingest done: " + std::to_string(batches) + " + " + std::to_string(batches) + " batches of " +
             std::to_string(s.batch) + "; adding took " + fixed(add_s, 2) + " s (" +
             fixed(static_cast<double>(n) / std::max(add_s, 1e-9), 0) + " records/s), embedding " + fixed(fill_s, 2) +
             " s");
  db->close();
  return 0;
}

// --- a worker process ------------------------------------------------------------------

/// True once the parent closed our stdin: ingestion is over.
bool stop_requested() {
  pollfd p{STDIN_FILENO, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char c = 0;
  return ::read(STDIN_FILENO, &c, 1) <= 0;  // EOF (or an error): stop
}

int run_worker(const settings& s) {
  json report;
  report["worker"] = s.worker_id;
  report["pid"] = static_cast<long>(::getpid());
  std::vector<std::vector<float>> queries;
  for (const auto& q : default_queries) queries.push_back(examples::toy_embedding(q));
  const std::size_t web = timeline_query;

  json samples = json::array();
  std::size_t rounds = 0, requests = 0;
  std::size_t last_records = 0, last_embedded = 0;
  bool monotonic = true;
  double first_record_at = -1;
  const auto start = clock_type::now();
  try {
    auto db = vecstore::open(store_options_for(s.out));
    auto col = db->get_collection(collection_name);
    vecstore::query_options top5;
    top5.k = 5;
    top5.fields = vecstore::include::none;
    vecstore::query_options all;  // every embedded record: how many this process can search
    all.k = std::max<std::size_t>(1, s.expect);
    all.fields = vecstore::include::none;
    for (;;) {
      const bool last_round = stop_requested();  // the round after the stop sees the final state
      const std::size_t records = col.count();
      const auto hits = col.query(queries, top5);
      const std::size_t embedded = col.query(queries[web], all).size();
      ++rounds;
      requests += 2 + queries.size();
      if (records < last_records || embedded < last_embedded) monotonic = false;
      if (rounds == 1 || records != last_records || embedded != last_embedded || last_round) {
        const double t = since(s.t0_ns);
        if (records > 0 && first_record_at < 0) first_record_at = t;
        json top =
            hits[web].empty() ? json(nullptr) : json{{"id", hits[web][0].id}, {"distance", hits[web][0].distance}};
        samples.push_back(
            {{"t", t}, {"records", records}, {"embedded", embedded}, {"hits", hits[web].size()}, {"top", top}});
      }
      last_records = records;
      last_embedded = embedded;
      if (last_round) break;
      if (clock_type::now() - start > std::chrono::minutes(2)) throw std::runtime_error("no stop after 2 minutes");
    }
    db->close();
  } catch (const std::exception& e) {
    report["error"] = e.what();
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  report["rounds"] = rounds;
  report["requests"] = requests;
  report["seconds"] = seconds;
  report["monotonic"] = monotonic;
  report["first_record_at"] = first_record_at;
  report["samples"] = samples;
  std::ofstream(worker_report(s.out, s.worker_id)) << report.dump() << '\n';
  return report.contains("error") ? 1 : 0;
}

// --- the parent -------------------------------------------------------------------------

/// Runs this binary again with `args` (fork + exec); `stdin_fd` >= 0 becomes its stdin.
pid_t spawn_self(const std::vector<std::string>& args, int stdin_fd) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(self.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdin_fd, STDIN_FILENO);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "cannot start " + self);
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/// Removes what an earlier run of the demo left in `out` (only the demo's own names).
void clean_previous_run(const fs::path& out, std::size_t workers) {
  const fs::path db = out / "packages.db";
  // The lock files (.lock, .open) stay: they are empty, and removing one that
  // a live process holds would break the exclusion it provides.
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(db.string() + suffix);
  fs::remove_all(out / "backups");
  for (std::size_t i = 1; i <= std::max<std::size_t>(workers, 16); ++i) fs::remove(worker_report(out, i));
}

void print_hits(const std::vector<vecstore::hit>& hits, bool with_meta) {
  std::size_t rank = 0;
  for (const auto& h : hits) {
    std::string line = "   " + std::to_string(++rank) + ". " + pad(h.id, 22) + " " + fixed(h.distance, 3) + "  ";
    if (with_meta) {
      auto str = [&](const char* key) {
        auto it = h.meta.find(key);
        return it == h.meta.end() ? std::string("-") : std::get<std::string>(it->second);
      };
      auto it = h.meta.find("installed_size");
      const std::string size = it == h.meta.end() ? "-" : std::to_string(std::get<std::int64_t>(it->second)) + " KiB";
      line += pad(str("section"), 7) + " " + pad(str("priority"), 9) + " " + pad(size, 9) + "  ";
      line += clip(first_line(h.document.value_or("")), 36);
    } else {
      line += clip(first_line(h.document.value_or("")), 60);
    }
    print_line(line);
  }
  if (hits.empty()) print_line("   (no hits)");
}

int run_main(const settings& s) {
  const std::int64_t t0 = now_ns();
  const auto elapsed = [&] { return fixed(since(t0), 2) + " s"; };
  print_line("vecstore demo: one store file, one ingestion process, " + std::to_string(s.workers) +
             " worker processes querying it meanwhile");

  // 1. Real text.
  section("1. Package descriptions from " + s.status, t0);
  const auto packages = demo::read_dpkg_status(s.status, s.max_packages);
  {
    std::set<std::string> sections;
    std::size_t essential = 0, bytes = 0;
    for (const auto& p : packages) {
      sections.insert(p.section);
      essential += p.essential;
      bytes += p.synopsis.size() + p.long_description.size();
    }
    print_line("   " + std::to_string(packages.size()) + " packages (cap " + std::to_string(s.max_packages) + "), " +
               std::to_string(sections.size()) + " sections, " + std::to_string(essential) + " essential, " +
               human_bytes(bytes) + " of text; read in " + elapsed());
  }

  // 2. The store.
  fs::create_directories(s.out);
  clean_previous_run(s.out, s.workers);
  const auto options = store_options_for(s.out);
  auto db = vecstore::open(options);
  auto col = db->create_collection(collection_name, {examples::toy_embedding_dim, vecstore::metric::cosine});
  section("2. Store " + db->path().string(), t0);
  print_line("   collection \"" + std::string(collection_name) + "\": " + std::to_string(col.dim()) +
             "-dim toy embeddings (hashed words and word pairs; not a model), cosine distance");

  // 3. Ingestion while workers query.
  section("3. Ingestion in one process while " + std::to_string(s.workers) + " worker processes query the same store",
          t0);
  int stop_pipe[2];
  if (::pipe2(stop_pipe, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  const std::string t0_arg = std::to_string(t0);
  const std::string out_arg = s.out.string();
  std::vector<pid_t> workers;
  for (std::size_t i = 1; i <= s.workers; ++i) {
    workers.push_back(spawn_self({"--role", "worker", "--worker-id", std::to_string(i), "--out", out_arg, "--expect",
                                  std::to_string(packages.size()), "--t0", t0_arg},
                                 stop_pipe[0]));
  }
  ::close(stop_pipe[0]);
  const double ingest_start = since(t0);
  const pid_t ingest = spawn_self({"--role", "ingest", "--out", out_arg, "--status", s.status, "--max",
                                   std::to_string(s.max_packages), "--batch", std::to_string(s.batch), "--t0", t0_arg},
                                  -1);
  {
    std::string pids;
    for (const pid_t p : workers) pids += (pids.empty() ? "" : ", ") + std::to_string(p);
    print_line("   started ingestion (pid " + std::to_string(ingest) + ") and workers (pids " + pids + ") at " +
               fixed(ingest_start, 2) + " s");
  }
  const int ingest_rc = wait_for(ingest);
  const double ingest_end = since(t0);
  ::close(stop_pipe[1]);  // EOF on the workers' stdin: one last round, then they report
  bool ok = ingest_rc == 0;
  if (!ok) print_line("   ingestion FAILED (exit status " + std::to_string(ingest_rc) + ")");

  print_line("\n   worker  queries  per second  states seen  first record seen  final view");
  std::vector<json> reports;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    const int rc = wait_for(workers[i]);
    json r;
    try {
      std::ifstream in(worker_report(s.out, i + 1));
      r = json::parse(in);
    } catch (const std::exception& e) {
      r = {{"error", std::string("no report: ") + e.what()}};
    }
    if (rc != 0 || r.contains("error")) {
      ok = false;
      print_line("   worker " + std::to_string(i + 1) + " FAILED (exit status " + std::to_string(rc) +
                 "): " + r.value("error", std::string("?")));
      reports.push_back(r);
      continue;
    }
    const auto& last = r["samples"].back();
    const std::size_t records = last["records"], embedded = last["embedded"];
    const bool complete = records == packages.size() && embedded == packages.size();
    const bool monotonic = r["monotonic"];
    ok = ok && complete && monotonic;
    const double seconds = r["seconds"];
    const std::size_t requests = r["requests"];
    const double first = r["first_record_at"];
    print_line("   " + pad(std::to_string(i + 1), 7) + " " + pad(std::to_string(requests), 8) + " " +
               pad(fixed(static_cast<double>(requests) / std::max(seconds, 1e-9), 0), 11) + " " +
               pad(std::to_string(r["samples"].size()), 12) + " " + pad(first < 0 ? "-" : fixed(first, 2) + " s", 18) +
               " " + std::to_string(records) + " records, " + std::to_string(embedded) + " searchable" +
               (complete ? "" : "  INCOMPLETE") + (monotonic ? "" : "  WENT BACKWARDS"));
    reports.push_back(std::move(r));
  }
  print_line(
      "   (a query = count(), 4 searches, and one k=all search counting the searchable records;\n"
      "    a state = a distinct (records, searchable) pair the worker observed)");
  if (!reports.empty() && reports[0].contains("samples")) {
    const auto& samples = reports[0]["samples"];
    print_line("\n   What worker 1 saw (" + std::to_string(samples.size()) +
               " states; a few shown): records, searchable, k=5 search for \"" + default_queries[timeline_query] +
               "\"");
    const std::size_t shown = std::min<std::size_t>(8, samples.size());
    std::size_t previous = SIZE_MAX;
    for (std::size_t k = 0; k < shown; ++k) {
      const std::size_t idx = shown == 1 ? 0 : k * (samples.size() - 1) / (shown - 1);
      if (idx == previous) continue;
      previous = idx;
      const auto& x = samples[idx];
      std::string top = x["top"].is_null() ? "0 hits, nothing searchable yet"
                                           : std::to_string(x["hits"].get<std::size_t>()) + " hits, top " +
                                                 x["top"]["id"].get<std::string>() + " (" +
                                                 fixed(x["top"]["distance"].get<double>(), 3) + ")";
      print_line("   " + pad(fixed(x["t"].get<double>(), 2) + " s", 8) + " " +
                 pad(std::to_string(x["records"].get<std::size_t>()), 5) + " records  " +
                 pad(std::to_string(x["embedded"].get<std::size_t>()), 5) + " searchable  " + top);
    }
  }
  print_line("   ingestion " + fixed(ingest_end - ingest_start, 2) + " s; every worker " +
             (ok ? "saw every record, and never saw the store go backwards" : "did NOT see everything (see above)"));

  // 4. Searches.
  section("4. Searches (top 5: package, cosine distance, synopsis)", t0);
  vecstore::query_options q;
  q.k = 5;
  for (const auto& text : s.queries) {
    const auto start = clock_type::now();
    const auto hits = col.query(examples::toy_embedding(text), q);
    const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
    print_line("   \"" + text + "\"  (" + fixed(ms, 2) + " ms)");
    print_hits(hits, false);
  }

  // 5. A filtered search: metadata typed as it was stored (string, int, bool).
  section("5. Filtered search", t0);
  {
    vecstore::query_options f;
    f.k = 5;
    f.where = vecstore::where("essential") == true && vecstore::where("priority").in({"required", "important"}) &&
              vecstore::where("installed_size") >= 100;
    const std::string text = "search text files";
    const auto start = clock_type::now();
    const auto hits = col.query(examples::toy_embedding(text), f);
    const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
    print_line("   \"" + text + "\" where " + f.where.to_json().dump() + "  (" + fixed(ms, 2) + " ms)");
    print_hits(hits, true);
    // The same kind of filter in ChromaDB's JSON form, with a document filter.
    vecstore::query_options g;
    g.k = 3;
    const std::string where_json = R"({"section": {"$in": ["libs", "libdevel"]}, "installed_size": {"$lt": 2000}})";
    g.where = vecstore::filter::parse(where_json);
    g.where_document = vecstore::contains("C++");
    const std::string text2 = "json library";
    const auto more = col.query(examples::toy_embedding(text2), g);
    print_line("   \"" + text2 + "\" where " + where_json + ", document contains \"C++\"");
    print_hits(more, true);
  }

  // 6. Health.
  section("6. Health report (what GET /health of examples/health_server serves)", t0);
  {
    const auto start = clock_type::now();
    const auto report = db->health(true);
    const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
    print_line("   status: " + std::string(vecstore::to_string(report.status)) + "  (" + fixed(ms, 1) + " ms)");
    for (const auto& c : report.checks) {
      print_line("   " + pad(c.name, 13) + pad(vecstore::to_string(c.status), 10) + " " +
                 pad(fixed(static_cast<double>(c.duration.count()) / 1000.0, 2) + " ms", 10) + " " + c.detail);
    }
    for (const auto& c : report.collections) {
      print_line("   collection \"" + c.name + "\": " + std::to_string(c.records) + " records, " +
                 std::to_string(c.embeddings) + " embeddings, " + std::to_string(c.indexed) + " indexed");
    }
    if (report.status == vecstore::health_status::unhealthy) ok = false;
  }

  // 7. Backup.
  section("7. Backup", t0);
  {
    const auto info = db->backup();
    print_line("   " + info.path.string());
    print_line("   " + human_bytes(info.bytes) + ", " + std::to_string(info.records) + " records, change sequence " +
               std::to_string(info.seq) + ", taken in " + std::to_string(info.duration.count()) + " ms");
  }

  db->close();
  print_line("\n" + std::string(ok ? "Done" : "FAILED") + " in " + elapsed() + ". The store is " +
             options.path.string() + "; run it again any time.");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const settings s = parse_args(argc, argv);
    if (s.role == "ingest") return run_ingest(s);
    if (s.role == "worker") return run_worker(s);
    return run_main(s);
  } catch (const vecstore::error& e) {
    std::cerr << e.what() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "vecstore_demo: " << e.what() << '\n';
  }
  return 1;
}
