// SPDX-License-Identifier: MIT
// Byte flips at random offsets of a real store file, over many seeds: the
// 100-byte header, the rest of page 1 (the schema), any later page, and the
// bytes of a known embedding found by searching the file. Each damaged copy is
// opened with strict_recovery and read back entirely. A case ends DETECTED (a
// typed vecstore::error at open or on a read, or verify() unhealthy) or
// HARMLESS (everything reads back equal to what was written: ids, embeddings
// bit-exact, documents, metadata types and values, the same top-k answers).
// Anything else is MISSED: silently wrong data. Never a crash.
//
// VECSTORE_FAULT_CASES sets the number of cases (default 300).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <vecstore/vecstore.hpp>

#include "support/file_bytes.hpp"
#include "support/temp_dir.hpp"

using namespace vecstore;
using vecstore_test::read_bytes;
using vecstore_test::temp_dir;
using vecstore_test::write_bytes;
namespace fs = std::filesystem;

namespace {

using strict_store = basic_store<file_lock, flat_index, strict_recovery>;

std::size_t fault_cases(std::size_t default_cases) {
  const char* s = std::getenv("VECSTORE_FAULT_CASES");
  return s && std::atol(s) > 0 ? static_cast<std::size_t>(std::atol(s)) : default_cases;
}

/// Two collections of different dims and metrics; most records have a
/// document, every one has typed metadata (ints, doubles, strings, bools).
struct written_data {
  std::map<std::string, collection_options> collections{{"notes", {5, metric::l2}}, {"papers", {12, metric::cosine}}};
  std::map<std::string, std::vector<record>> records;

  written_data() {
    std::mt19937 rng(20240601);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (const auto& [name, options] : collections) {
      const std::size_t n = name == "papers" ? 200 : 100;
      for (std::size_t i = 0; i < n; ++i) {
        record r;
        r.id = name + "-" + std::to_string(i);
        r.embedding.resize(options.dim);
        for (auto& x : r.embedding) x = dist(rng);
        if (i % 5 != 0) r.document = "document " + std::to_string(i) + " of " + name + ", some text to damage";
        r.meta["n"] = static_cast<std::int64_t>(i) * 1000003;
        r.meta["score"] = 0.25 * static_cast<double>(i) - 3.0;
        r.meta["kind"] = std::string(i % 2 ? "odd" : "even") + "-" + std::to_string(i % 7);
        r.meta["flag"] = i % 3 == 0;
        records[name].push_back(std::move(r));
      }
    }
  }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_value(const metadata_value& a, const metadata_value& b) {
  if (a.index() != b.index()) return false;
  if (const auto* x = std::get_if<double>(&a)) {  // bit-exact: -0.0 and NaN compare as they are stored
    const double y = std::get<double>(b);
    return std::memcmp(x, &y, sizeof y) == 0;
  }
  return a == b;
}

bool same_metadata(const metadata& a, const metadata& b) {
  if (a.size() != b.size()) return false;
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
    if (i->first != j->first || !same_value(i->second, j->second)) return false;
  }
  return true;
}

/// Empty when `got` equals `want` in every field, else what differs.
std::string difference(const record& want, const record& got) {
  if (got.id != want.id) return "id \"" + want.id + "\" read as \"" + got.id + "\"";
  if (!same_bits(got.embedding, want.embedding)) return "the embedding of \"" + want.id + "\"";
  if (got.document != want.document) return "the document of \"" + want.id + "\"";
  if (!same_metadata(got.meta, want.meta)) return "the metadata of \"" + want.id + "\"";
  return {};
}

/// The fixed queries whose answers must not change: ids and distances, bit-exact.
std::vector<std::vector<float>> queries_for(const written_data& data, const std::string& name) {
  std::vector<std::vector<float>> out;
  const auto& recs = data.records.at(name);
  for (std::size_t i = 0; i < recs.size(); i += 37) out.push_back(recs[i].embedding);
  return out;
}

using answers = std::map<std::string, std::vector<std::vector<std::pair<std::string, float>>>>;

/// Reads everything back; empty when it all equals what was written (and the
/// top-k answers equal `reference`, when given), else the first difference.
/// Fills `got_answers`. vecstore errors propagate.
std::string read_back(strict_store& db, const written_data& data, const answers* reference, answers& got_answers) {
  const auto listed = db.list_collections();
  if (listed.size() != data.collections.size()) return std::to_string(listed.size()) + " collections listed";
  for (const auto& info : listed) {
    const auto it = data.collections.find(info.name);
    if (it == data.collections.end()) return "an unknown collection \"" + info.name + "\" listed";
    if (info.dim != it->second.dim || info.space != it->second.space) return "collection " + info.name + " changed";
    if (info.count != data.records.at(info.name).size()) return "the count of " + info.name + " changed";
  }
  for (const auto& [name, options] : data.collections) {
    auto c = db.get_collection(name);
    if (c.dim() != options.dim || c.space() != options.space) return "collection " + name + " changed";
    const auto& want = data.records.at(name);
    // Every record, in insertion order.
    get_options all;
    all.fields = include::all;
    const auto got = c.get(all);
    if (got.size() != want.size()) return name + ": " + std::to_string(got.size()) + " records read";
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (auto d = difference(want[i], got[i]); !d.empty()) return d;
    }
    // Every record by id.
    std::vector<std::string> ids;
    for (const auto& r : want) ids.push_back(r.id);
    const auto by_id = c.get(ids, include::all);
    if (by_id.size() != want.size()) return name + ": " + std::to_string(by_id.size()) + " records read by id";
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (auto d = difference(want[i], by_id[i]); !d.empty()) return d + " (by id)";
    }
    // A filtered read through the metadata index.
    get_options odd;
    odd.where = where("kind") == "odd-1";
    std::size_t expected_odd = 0;
    for (const auto& r : want) expected_odd += std::get<std::string>(r.meta.at("kind")) == "odd-1";
    if (c.get(odd).size() != expected_odd) return name + ": the filter on \"kind\" found another count";
    // The same neighbours, with what the hits include.
    query_options o;
    o.k = 10;
    o.fields = include::all;
    auto& mine = got_answers[name];
    std::map<std::string, const record*> index;
    for (const auto& r : want) index[r.id] = &r;
    for (const auto& hits : c.query(queries_for(data, name), o)) {
      mine.emplace_back();
      for (const auto& h : hits) {
        mine.back().emplace_back(h.id, h.distance);
        const auto w = index.find(h.id);
        if (w == index.end()) return "an unknown id \"" + h.id + "\" in the answers";
        if (!same_bits(h.embedding, w->second->embedding) || h.document != w->second->document ||
            !same_metadata(h.meta, w->second->meta)) {
          return "the hit \"" + h.id + "\" includes other values";
        }
      }
    }
    if (reference) {
      const auto& ref = reference->at(name);
      if (ref.size() != mine.size()) return name + ": another number of answers";
      for (std::size_t q = 0; q < ref.size(); ++q) {
        if (ref[q].size() != mine[q].size()) return name + ": another number of hits for query " + std::to_string(q);
        for (std::size_t i = 0; i < ref[q].size(); ++i) {
          if (ref[q][i].first != mine[q][i].first ||
              std::memcmp(&ref[q][i].second, &mine[q][i].second, sizeof(float)) != 0) {
            return name + ": another top-k answer for query " + std::to_string(q);
          }
        }
      }
    }
  }
  return {};
}

/// Where in the file a case flips bytes.
enum class region { header, schema_page, later_pages, embedding, count };

const char* to_string(region r) {
  switch (r) {
    case region::header: return "header (bytes 0-99)";
    case region::schema_page: return "page 1 after the header (schema)";
    case region::later_pages: return "pages 2.. (b-trees, records, metadata, indexes)";
    case region::embedding: return "a stored embedding blob";
    default: return "?";
  }
}

enum class verdict { detected_at_open, detected_on_read, detected_by_verify, harmless, missed, count };

struct tally {
  std::size_t cases = 0;
  std::size_t by_verdict[static_cast<int>(verdict::count)] = {};
  std::size_t served_then_flagged = 0;  // wrong data read, only verify() flagged it afterwards
  std::map<std::string, std::size_t> error_codes;
  std::map<std::string, std::string> first_message;  // per error code
  std::vector<std::string> misses;

  std::size_t of(verdict v) const { return by_verdict[static_cast<int>(v)]; }
  std::size_t detected() const {
    return of(verdict::detected_at_open) + of(verdict::detected_on_read) + of(verdict::detected_by_verify);
  }
};

struct flip {
  region where;
  std::size_t offset;
  std::vector<unsigned char> xors;  // 1..4 consecutive bytes, each XORed with a non-zero mask

  std::string describe() const {
    std::ostringstream s;
    s << to_string(where) << ", offset " << offset << ", " << xors.size() << " byte(s) xor";
    for (auto x : xors) s << " 0x" << std::hex << std::setw(2) << std::setfill('0') << int(x) << std::dec;
    return s.str();
  }
};

flip choose_flip(std::mt19937_64& rng, region where, const std::string& file, std::size_t page_size,
                 const written_data& data) {
  flip f;
  f.where = where;
  const std::size_t n = 1 + rng() % 4;
  switch (where) {
    case region::header: f.offset = rng() % (100 - n + 1); break;
    case region::schema_page: f.offset = 100 + rng() % (page_size - 100 - n + 1); break;
    case region::later_pages: f.offset = page_size + rng() % (file.size() - page_size - n + 1); break;
    default: {
      // A random record's embedding, located by its bytes (stored as written).
      for (;;) {
        const auto& recs = data.records.at(rng() % 2 ? "papers" : "notes");
        const auto& e = recs[rng() % recs.size()].embedding;
        const std::string needle(reinterpret_cast<const char*>(e.data()), e.size() * sizeof(float));
        const auto at = file.find(needle);
        if (at == std::string::npos) continue;  // cannot happen in a checkpointed store; keep drawing
        f.offset = at + rng() % (needle.size() - n + 1);
        break;
      }
    }
  }
  for (std::size_t i = 0; i < n; ++i) f.xors.push_back(static_cast<unsigned char>(1 + rng() % 255));
  return f;
}

/// Opens the damaged copy, reads everything, runs verify(): the verdict.
verdict judge(const fs::path& path, const written_data& data, const answers& reference, tally& t,
              const std::string& what) {
  std::shared_ptr<strict_store> db;
  store_options o;
  o.path = path;
  o.create_if_missing = false;
  o.lock_timeout = std::chrono::milliseconds(2000);
  o.max_retries = 0;
  const auto note_error = [&](const error& e) {
    ++t.error_codes[to_string(e.code())];
    t.first_message.emplace(to_string(e.code()), e.what());
  };
  try {
    db = strict_store::open(o);
  } catch (const error& e) {
    note_error(e);
    // The message names the file and says what to do ("vecstore: <what> (<file>): <why>. <todo>").
    CHECK_THAT(std::string(e.what()), Catch::StartsWith("vecstore: ") && Catch::Contains(path.string()));
    return verdict::detected_at_open;
  }
  std::string wrong;
  answers got;
  try {
    wrong = read_back(*db, data, &reference, got);
  } catch (const error& e) {
    note_error(e);
    db->close();
    return verdict::detected_on_read;
  }
  const health_report deep = db->verify();
  db->close();
  if (deep.status == health_status::unhealthy) {
    if (!wrong.empty()) {
      ++t.served_then_flagged;
      UNSCOPED_INFO("served wrong data before verify() flagged it: " << what << ": " << wrong);
    }
    return verdict::detected_by_verify;
  }
  if (wrong.empty()) return verdict::harmless;
  t.misses.push_back(what + " -> " + wrong);
  return verdict::missed;
}

void print(const tally& t, const std::string& title) {
  const double rate = t.cases ? 100.0 * double(t.detected()) / double(t.cases) : 0.0;
  std::cout << title << ": cases " << t.cases << ", detected " << t.detected() << " (at open "
            << t.of(verdict::detected_at_open) << ", on read " << t.of(verdict::detected_on_read) << ", by verify "
            << t.of(verdict::detected_by_verify) << "), harmless " << t.of(verdict::harmless) << ", missed "
            << t.of(verdict::missed) << "; detection rate " << std::fixed << std::setprecision(1) << rate
            << "% (of the harmful: "
            << (t.cases - t.of(verdict::harmless)
                    ? 100.0 * double(t.detected()) / double(t.cases - t.of(verdict::harmless))
                    : 100.0)
            << "%)" << std::defaultfloat << "\n";
  if (t.served_then_flagged) std::cout << "  wrong data served before verify() flagged it: " << t.served_then_flagged << "\n";
  std::cout << "  error codes:";
  for (const auto& [code, n] : t.error_codes) std::cout << " " << code << "=" << n;
  std::cout << "\n";
  for (const auto& [code, m] : t.first_message) std::cout << "  e.g. " << code << ": " << m << "\n";
  for (const auto& m : t.misses) std::cout << "  MISSED: " << m << "\n";
}

}  // namespace

TEST_CASE("random byte flips in a store file are detected or provably harmless, never silently wrong",
          "[fault][corruption]") {
  temp_dir dir;
  const written_data data;
  const fs::path pristine = dir / "pristine.db";
  {
    store_options o;
    o.path = pristine;
    auto db = strict_store::open(o);
    for (const auto& [name, options] : data.collections) {
      auto c = db->create_collection(name, options);
      const auto& recs = data.records.at(name);
      for (std::size_t i = 0; i < recs.size(); i += 50) {  // several transactions
        c.add(std::vector<record>(recs.begin() + static_cast<std::ptrdiff_t>(i),
                                  recs.begin() + static_cast<std::ptrdiff_t>(std::min(i + 50, recs.size()))));
      }
    }
    db->close();  // checkpoints: every byte is in the main file, the -wal is empty
  }
  REQUIRE(fs::file_size(pristine.string() + "-wal") == 0);
  const std::string file = read_bytes(pristine);
  const std::size_t page_size = (static_cast<unsigned char>(file[16]) << 8) | static_cast<unsigned char>(file[17]);
  REQUIRE(file.size() % page_size == 0);
  REQUIRE(file.size() / page_size >= 8);

  // The answers of the undamaged store: everything reads back as written.
  answers reference;
  {
    temp_dir scratch;
    write_bytes(scratch / "store.db", file);
    store_options o;
    o.path = scratch / "store.db";
    auto db = strict_store::open(o);
    REQUIRE(read_back(*db, data, nullptr, reference).empty());
    REQUIRE(db->verify().status == health_status::healthy);
    db->close();
  }

  const std::size_t cases = fault_cases(300);
  std::mt19937_64 rng(0x5eed'f11b);
  tally total;
  std::map<region, tally> per_region;
  for (std::size_t i = 0; i < cases; ++i) {
    const auto where = static_cast<region>(i % static_cast<std::size_t>(region::count));
    const flip f = choose_flip(rng, where, file, page_size, data);
    const std::string what = "case " + std::to_string(i) + ": " + f.describe();
    INFO(what);
    std::string damaged = file;
    for (std::size_t b = 0; b < f.xors.size(); ++b) damaged[f.offset + b] = static_cast<char>(damaged[f.offset + b] ^ f.xors[b]);
    temp_dir case_dir;  // a fresh folder: no -wal, -shm or lock file of another case
    write_bytes(case_dir / "store.db", damaged);
    verdict v = verdict::missed;
    try {
      v = judge(case_dir / "store.db", data, reference, per_region[where], what);
    } catch (const std::exception& e) {  // anything but a vecstore::error is a failure
      FAIL_CHECK("an untyped exception: " << e.what());
    }
    ++per_region[where].cases;
    ++per_region[where].by_verdict[static_cast<int>(v)];
  }
  for (const auto& [where, t] : per_region) {
    total.cases += t.cases;
    for (int v = 0; v < static_cast<int>(verdict::count); ++v) total.by_verdict[v] += t.by_verdict[v];
    total.served_then_flagged += t.served_then_flagged;
    for (const auto& [code, n] : t.error_codes) total.error_codes[code] += n;
    total.first_message.insert(t.first_message.begin(), t.first_message.end());
    total.misses.insert(total.misses.end(), t.misses.begin(), t.misses.end());
  }
  for (const auto& [where, t] : per_region) {
    auto quiet = t;
    quiet.misses.clear();
    quiet.first_message.clear();
    print(quiet, std::string("byte flips in ") + to_string(where));
  }
  print(total, "byte flips, all regions");
  CHECK(total.cases == cases);
  CHECK(total.detected() + total.of(verdict::harmless) + total.of(verdict::missed) == cases);
  // Documents and metadata are covered by each record's row checksum: a flip
  // inside a document's text, once served as the document, is caught too.
  std::size_t missed_in_documents = 0;
  for (const auto& m : total.misses) missed_in_documents += m.find("-> the document of") != std::string::npos;
  std::cout << "byte flips missed inside document text: " << missed_in_documents << "\n";
  CHECK(total.of(verdict::missed) == 0);
}

TEST_CASE("a flipped byte inside a stored document or metadata value is detected instead of served",
          "[fault][corruption]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  const std::string document = "a document whose bytes are easy to find in the file";
  const std::string title = "a metadata value whose bytes are easy to find";
  {
    store_options o;
    o.path = path;
    auto db = strict_store::open(o);
    db->create_collection("c", {3, metric::l2})
        .add({{"victim", {1, 2, 3}, document, {{"n", std::int64_t{1}}, {"title", title}}},
              {"bystander", {3, 2, 1}, std::string("another document"), {}}});
    db->close();
  }
  std::string bytes = read_bytes(path);
  SECTION("in the document") {
    const auto at = bytes.find(document);
    REQUIRE(at != std::string::npos);
    bytes[at + 2] = 'D';  // "a document" becomes "a Document"
  }
  SECTION("in a metadata value, and in its copy in the value index alike") {
    // Changed in one place only, integrity_check at open would see the index
    // disagree with its table; changed in both, only the row checksum can.
    std::size_t copies = 0;
    for (auto at = bytes.find(title); at != std::string::npos; at = bytes.find(title, at + 1), ++copies) {
      bytes[at + 2] = 'M';
    }
    REQUIRE(copies == 2);
  }
  write_bytes(path, bytes);

  store_options o;
  o.path = path;
  o.create_if_missing = false;
  auto db = strict_store::open(o);  // page checks pass: the pages are intact
  auto c = db->get_collection("c");
  CHECK_THROWS_WITH(c.get({"victim"}), Catch::Contains("a stored record is damaged") &&
                                           Catch::Contains("does not match its id, document and metadata"));
  get_options only_documents;
  only_documents.ids = {"victim"};
  only_documents.fields = include::documents;
  CHECK_THROWS_AS(c.get(only_documents), corruption_error);
  CHECK(c.get({"bystander"}).front().document == "another document");  // the rest still reads
  const health_report deep = db->verify();
  CHECK(deep.status == health_status::unhealthy);
  db->close();
}
