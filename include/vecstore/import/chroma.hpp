// SPDX-License-Identifier: MIT
// Reads a ChromaDB persist directory (the 1.0 Rust server's format) and imports
// every collection into a vecstore store: ids, embeddings, documents, typed
// metadata and the distance space.
//
// Not included by <vecstore/vecstore.hpp>; include it explicitly. Links SQLiteCpp.
//
// Supported: persist directories written by ChromaDB 1.0 (the Rust server, e.g.
// npm chromadb@3.0.6 / "chroma run", whose /api/v2/version answers "1.0.0"),
// recognized by their `migrations` table: sysdb 1-9, metadb 1-5,
// embeddings_queue 1-2. Tested on tests/fixtures/chroma-1.0, made by
// tools/chroma_fixture with the real server. Anything else (the 0.4-0.6 Python
// releases, later releases with more migrations) is refused with a
// schema_error: export those with ChromaDB's client and import JSON Lines.
//
// Where the data lives (/work/shared/CHROMA_FORMAT.md, verified on the fixture):
//  - ids, documents (key "chroma:document") and typed metadata: chroma.sqlite3,
//    tables embeddings + embedding_metadata of the collection's METADATA segment;
//  - vectors: only in the VECTOR segment's HNSW files (<segment-uuid>/
//    data_level0.bin rows, labels mapped to ids by index_metadata.pickle) and
//    in the write-ahead log `embeddings_queue`, whose rows newer than the
//    segment's max_seq_id are replayed here in seq order (0 add, 1 update,
//    2 upsert, 3 delete). The server writes HNSW files only every
//    `sync_threshold` log rows, so that tail is routinely there.
//  - cosine collections hold unit vectors in data_level0.bin and each vector's
//    original norm in length.bin; the importer multiplies them back, which
//    gives the vectors ChromaDB's get() returns, bit for bit (tested). Where no
//    usable norm exists the vector is imported normalised (cosine distances
//    are the same) and counted in `normalized`.
//
// The persist directory is never modified: chroma.sqlite3 is opened read-only
// with SQLite's `immutable=1` (no lock, no journal, no -shm file), the other
// files with std::ifstream. Stop the ChromaDB server before importing: an
// immutable open does not see writes made while it reads. A leftover
// `chroma.sqlite3-journal` or `-wal` (a crash mid-write) is refused, since
// reading past it would see a half-written transaction.
//
// Every size and count read from these files is untrusted (DESIGN.md,
// Security): checked against the file sizes and vecstore's limits before
// anything is allocated; segment folder names must be UUIDs before they are
// joined into paths. Damage raises corruption_error, an unknown format
// schema_error, both naming the file and what was wrong.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <sqlite3.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <nlohmann/json.hpp>

// The whole library, not single headers: with the single header first on the
// include path, this file then builds on it instead of redefining it.
#include <vecstore/vecstore.hpp>

namespace vecstore {
inline namespace v0 {

/// What `import_chroma` does when the target store already has a collection
/// of the name it is about to create.
enum class chroma_conflict {
  refuse,   ///< throw invalid_argument before anything is written (the default)
  replace,  ///< delete the existing collection, then import
  merge,    ///< upsert into it (its dim and metric must match)
};

/// Options of `import_chroma`.
struct chroma_import_options {
  std::size_t batch_size = 1000;                   ///< records per write transaction
  std::string name_prefix;                         ///< prepended to every collection name
  chroma_conflict on_conflict = chroma_conflict::refuse;
  std::string tenant = "default_tenant";           ///< the ChromaDB tenant whose collections are read
  std::string database = "default_database";       ///< and its database
};

/// What `import_chroma` did.
struct chroma_import_report {
  struct collection {
    std::string name;         ///< in the target store (name_prefix + source_name)
    std::string source_name;  ///< in ChromaDB
    metric space = metric::l2;
    std::size_t dim = 0;
    std::size_t records = 0;            ///< records written
    std::size_t without_embedding = 0;  ///< of those, records with no vector anywhere in the directory
    std::size_t vectors_from_log = 0;   ///< vectors taken from embeddings_queue rather than the HNSW files
    std::size_t normalized = 0;         ///< cosine vectors imported as unit vectors (no usable norm)
    bool skipped = false;               ///< empty and without a dimension: nothing was created
  };
  std::vector<collection> collections;
  std::string chroma_version;  ///< e.g. "ChromaDB 1.0 (sysdb 9, metadb 5, embeddings_queue 2)"
};

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
  std::vector<record> records;  ///< in ChromaDB's insertion order
  std::size_t without_embedding = 0;
  std::size_t vectors_from_log = 0;
  std::size_t normalized = 0;
};

namespace detail {
namespace chroma {

/// The migrations this reader knows: ChromaDB 1.0's (CHROMA_FORMAT.md).
struct known_migration {
  const char* dir;
  std::int64_t version;
};
inline constexpr known_migration supported_migrations[] = {{"embeddings_queue", 2}, {"metadb", 5}, {"sysdb", 9}};
inline constexpr const char* supported_text = "sysdb 1-9, metadb 1-5, embeddings_queue 1-2 (ChromaDB 1.0)";
inline constexpr const char* jsonl_hint =
    "Export the collections with ChromaDB's own client and import JSON Lines instead";

inline constexpr std::size_t hnsw_header_size = 100;
inline constexpr std::uint64_t max_neighbours_level0 = 0xffff;  // hnswlib keeps the link count in a u16
inline constexpr std::uintmax_t max_pickle_bytes = std::uintmax_t{1} << 31;
inline constexpr std::size_t max_pickle_depth = 8;

inline std::uint32_t load_u32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
inline std::uint64_t load_u64(const unsigned char* p) noexcept {
  return static_cast<std::uint64_t>(load_u32(p)) | static_cast<std::uint64_t>(load_u32(p + 4)) << 32;
}
inline float load_f32(const unsigned char* p) noexcept {
  const std::uint32_t bits = load_u32(p);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

[[noreturn]] inline void corrupt(const std::filesystem::path& file, const std::string& why) {
  throw_error<corruption_error>("cannot import the ChromaDB directory", file, why,
                                "The file is damaged or was changed while ChromaDB wrote it; nothing was imported "
                                "from this collection");
}
[[noreturn]] inline void unsupported(const std::filesystem::path& file, const std::string& why) {
  throw_error<schema_error>("cannot import the ChromaDB directory", file,
                            why + "; supported: " + std::string(supported_text), jsonl_hint);
}

/// A UUID in its text form: 8-4-4-4-12 hex digits. Segment folder names must
/// be one before they are joined into a path (DESIGN.md, Security).
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

/// A regular file's size; io_error when it cannot be read at all.
inline std::uintmax_t stat_size(const std::filesystem::path& p) {
  std::error_code ec;
  const auto st = std::filesystem::status(p, ec);
  if (ec || !std::filesystem::is_regular_file(st)) {
    throw_error<io_error>("cannot import the ChromaDB directory", p,
                          ec ? ec.message() : std::string("not a regular file"),
                          "Check that the persist directory is complete and readable");
  }
  const auto size = std::filesystem::file_size(p, ec);
  if (ec) {
    throw_error<io_error>("cannot import the ChromaDB directory", p, ec.message(),
                          "Check that the file is readable by this user");
  }
  return size;
}

inline std::ifstream open_binary(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    throw_error<io_error>("cannot import the ChromaDB directory", p, "the file cannot be opened",
                          "Check that the file is readable by this user");
  }
  return in;
}

/// Reads `size` bytes (already checked against the file's size and a limit).
inline std::vector<unsigned char> read_bytes(const std::filesystem::path& p, std::size_t size) {
  std::ifstream in = open_binary(p);
  std::vector<unsigned char> out(size);
  if (size != 0 && !in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size))) {
    corrupt(p, "the file ended while reading its " + std::to_string(size) + " bytes");
  }
  return out;
}

// --- index_metadata.pickle ------------------------------------------------------

/// A value of the pickle subset ChromaDB writes: None, bool, int, str, dict.
struct pickle_value {
  enum class kind { none, boolean, integer, string, dict, mark };
  kind type = kind::none;
  std::int64_t integer = 0;
  std::string text;
  std::shared_ptr<std::vector<std::pair<pickle_value, pickle_value>>> items;  // dict entries, in order
  std::size_t depth = 0;  // nesting, bounded so destruction cannot exhaust the stack
};

/// Parses the subset of pickle protocols 2-4 that index_metadata.pickle uses
/// (ChromaDB 1.0 writes PROTO 3, EMPTY_DICT, MARK, BINUNICODE, BININT, NONE,
/// SETITEMS, STOP; Python's pickler adds BINPUT/BINGET memo codes, BININT1/2,
/// LONG1, SETITEM, the protocol-4 short forms and FRAME). Every length is
/// checked against the bytes left before anything is allocated; anything else,
/// including any code that would build a Python object, is refused.
class pickle_reader {
 public:
  pickle_reader(const std::vector<unsigned char>& bytes, std::filesystem::path file)
      : data_(bytes), file_(std::move(file)) {}

  pickle_value parse() {
    std::vector<pickle_value> stack;
    std::unordered_map<std::uint32_t, pickle_value> memo;
    while (true) {
      const std::size_t at = pos_;
      const unsigned char op = take(1)[0];
      switch (op) {
        case 0x80: {  // PROTO
          const unsigned v = take(1)[0];
          if (v < 2 || v > 5) fail(at, "pickle protocol " + std::to_string(v) + " is not supported");
          break;
        }
        case 0x95: take(8); break;  // FRAME: a length hint only
        case '}': {                 // EMPTY_DICT
          pickle_value d;
          d.type = pickle_value::kind::dict;
          d.items = std::make_shared<std::vector<std::pair<pickle_value, pickle_value>>>();
          d.depth = 1;
          stack.push_back(std::move(d));
          break;
        }
        case '(': {  // MARK
          pickle_value m;
          m.type = pickle_value::kind::mark;
          stack.push_back(std::move(m));
          break;
        }
        case 'X': push_string(stack, load_u32(take(4))); break;      // BINUNICODE
        case 0x8c: push_string(stack, take(1)[0]); break;            // SHORT_BINUNICODE
        case 0x8d: push_string(stack, load_u64(take(8))); break;     // BINUNICODE8
        case 'J': {                                                  // BININT: signed 32 bits
          const std::uint32_t u = load_u32(take(4));
          push_int(stack, u >= 0x80000000u ? static_cast<std::int64_t>(u) - 0x100000000LL : static_cast<std::int64_t>(u));
          break;
        }
        case 'K': push_int(stack, take(1)[0]); break;  // BININT1
        case 'M': {                                     // BININT2
          const unsigned char* p = take(2);
          push_int(stack, p[0] | p[1] << 8);
          break;
        }
        case 0x8a: {  // LONG1: n bytes, little-endian two's complement
          const unsigned n = take(1)[0];
          if (n > 8) fail(at, "an integer of " + std::to_string(n) + " bytes does not fit 64 bits");
          const unsigned char* p = take(n);
          std::uint64_t u = 0;
          for (unsigned i = 0; i < n; ++i) u |= static_cast<std::uint64_t>(p[i]) << (8 * i);
          if (n > 0 && n < 8 && (p[n - 1] & 0x80)) u |= ~std::uint64_t{0} << (8 * n);  // sign-extend
          std::int64_t v;
          std::memcpy(&v, &u, sizeof v);
          push_int(stack, v);
          break;
        }
        case 'N': stack.emplace_back(); break;  // NONE
        case 0x88:                              // NEWTRUE
        case 0x89: {                            // NEWFALSE
          pickle_value b;
          b.type = pickle_value::kind::boolean;
          b.integer = op == 0x88;
          stack.push_back(std::move(b));
          break;
        }
        case 's': {  // SETITEM
          if (stack.size() < 3) fail(at, "SETITEM without a dict, key and value");
          pickle_value value = std::move(stack.back());
          stack.pop_back();
          pickle_value key = std::move(stack.back());
          stack.pop_back();
          add_item(at, stack.back(), std::move(key), std::move(value));
          break;
        }
        case 'u': {  // SETITEMS
          std::size_t mark = stack.size();
          while (mark > 0 && stack[mark - 1].type != pickle_value::kind::mark) --mark;
          if (mark < 2) fail(at, "SETITEMS without a MARK after a dict");
          if ((stack.size() - mark) % 2 != 0) fail(at, "SETITEMS with a key that has no value");
          pickle_value& dict = stack[mark - 2];
          for (std::size_t i = mark; i < stack.size(); i += 2) add_item(at, dict, std::move(stack[i]), std::move(stack[i + 1]));
          stack.resize(mark - 1);
          break;
        }
        case 'q': memoize(at, stack, memo, take(1)[0]); break;        // BINPUT
        case 'r': memoize(at, stack, memo, load_u32(take(4))); break;  // LONG_BINPUT
        case 0x94: memoize(at, stack, memo, static_cast<std::uint32_t>(memo.size())); break;  // MEMOIZE
        case 'h':                                                    // BINGET
        case 'j': {                                                  // LONG_BINGET
          const std::uint32_t key = op == 'h' ? take(1)[0] : load_u32(take(4));
          const auto found = memo.find(key);
          if (found == memo.end()) fail(at, "a memo reference to an entry never stored");
          // ChromaDB never shares a dict; refusing it rules out cycles
          if (found->second.type == pickle_value::kind::dict) fail(at, "a memo reference to a dict");
          stack.push_back(found->second);
          break;
        }
        case '.': {  // STOP
          if (stack.size() != 1 || stack.front().type == pickle_value::kind::mark) {
            fail(at, "the pickle does not end with exactly one value");
          }
          return std::move(stack.front());
        }
        case 'c':   // GLOBAL
        case 0x93:  // STACK_GLOBAL
        case 0x81:  // NEWOBJ
        case 'R':   // REDUCE
        case 'b':   // BUILD
          throw_error<schema_error>("cannot import the ChromaDB directory", file_,
                                    "the pickle builds a Python object (opcode 0x" + hex_byte(op) + " at offset " +
                                        std::to_string(at) +
                                        "), as the 0.4-0.6 Python releases wrote it; supported: " + supported_text,
                                    jsonl_hint);
        default:
          fail(at, "unsupported pickle opcode 0x" + hex_byte(op));
      }
    }
  }

 private:
  static std::string hex_byte(unsigned char c) {
    static constexpr char hex[] = "0123456789abcdef";
    return {hex[c >> 4], hex[c & 15]};
  }

  [[noreturn]] void fail(std::size_t at, const std::string& why) const {
    corrupt(file_, why + " (offset " + std::to_string(at) + " of " + std::to_string(data_.size()) + ")");
  }

  /// The next n bytes; fails when fewer are left (checked before any allocation).
  const unsigned char* take(std::uint64_t n) {
    if (n > data_.size() - pos_) {
      fail(pos_, "the pickle needs " + std::to_string(n) + " more bytes, " + std::to_string(data_.size() - pos_) +
                     " are left");
    }
    const unsigned char* p = data_.data() + pos_;
    pos_ += static_cast<std::size_t>(n);
    return p;
  }

  void push_string(std::vector<pickle_value>& stack, std::uint64_t n) {
    const unsigned char* p = take(n);
    pickle_value s;
    s.type = pickle_value::kind::string;
    s.text.assign(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    stack.push_back(std::move(s));
  }

  static void push_int(std::vector<pickle_value>& stack, std::int64_t v) {
    pickle_value i;
    i.type = pickle_value::kind::integer;
    i.integer = v;
    stack.push_back(std::move(i));
  }

  void add_item(std::size_t at, pickle_value& dict, pickle_value key, pickle_value value) const {
    if (dict.type != pickle_value::kind::dict) fail(at, "items set on something that is not a dict");
    if (key.type == pickle_value::kind::mark || value.type == pickle_value::kind::mark) fail(at, "a MARK used as a value");
    if (key.type == pickle_value::kind::dict) fail(at, "a dict used as a dict key");
    dict.depth = (std::max)(dict.depth, value.depth + 1);
    if (dict.depth > max_pickle_depth) fail(at, "dicts nested deeper than " + std::to_string(max_pickle_depth));
    dict.items->emplace_back(std::move(key), std::move(value));
  }

  void memoize(std::size_t at, const std::vector<pickle_value>& stack, std::unordered_map<std::uint32_t, pickle_value>& memo,
               std::uint32_t key) const {
    if (stack.empty() || stack.back().type == pickle_value::kind::mark) fail(at, "a memo store with nothing to store");
    memo[key] = stack.back();
  }

  const std::vector<unsigned char>& data_;
  std::filesystem::path file_;
  std::size_t pos_ = 0;
};

/// index_metadata.pickle's label -> id map, checked against id_to_label.
inline std::unordered_map<std::uint64_t, std::string> read_label_map(const std::filesystem::path& file) {
  const auto size = stat_size(file);
  if (size > max_pickle_bytes) {
    corrupt(file, "the pickle is " + std::to_string(size) + " bytes, more than the " + std::to_string(max_pickle_bytes) +
                      " an id map can need");
  }
  const auto bytes = read_bytes(file, static_cast<std::size_t>(size));
  const pickle_value root = pickle_reader(bytes, file).parse();
  if (root.type != pickle_value::kind::dict) corrupt(file, "the pickle does not hold a dict");
  const pickle_value* label_to_id = nullptr;
  const pickle_value* id_to_label = nullptr;
  for (const auto& [k, v] : *root.items) {
    if (k.type != pickle_value::kind::string) continue;
    if (k.text == "label_to_id") label_to_id = &v;
    if (k.text == "id_to_label") id_to_label = &v;
  }
  if (!label_to_id || label_to_id->type != pickle_value::kind::dict) corrupt(file, "the pickle has no label_to_id dict");
  std::unordered_map<std::uint64_t, std::string> labels;
  labels.reserve(label_to_id->items->size());
  for (const auto& [k, v] : *label_to_id->items) {
    if (k.type != pickle_value::kind::integer || k.integer < 0 || v.type != pickle_value::kind::string) {
      corrupt(file, "label_to_id holds an entry that is not {label: id}");
    }
    if (!labels.emplace(static_cast<std::uint64_t>(k.integer), v.text).second) {
      corrupt(file, "label_to_id holds label " + std::to_string(k.integer) + " twice");
    }
  }
  if (id_to_label) {
    if (id_to_label->type != pickle_value::kind::dict || id_to_label->items->size() != labels.size()) {
      corrupt(file, "id_to_label and label_to_id differ in size");
    }
    for (const auto& [k, v] : *id_to_label->items) {
      const auto found = v.type == pickle_value::kind::integer && v.integer >= 0
                             ? labels.find(static_cast<std::uint64_t>(v.integer))
                             : labels.end();
      if (k.type != pickle_value::kind::string || found == labels.end() || found->second != k.text) {
        corrupt(file, "id_to_label and label_to_id disagree");
      }
    }
  }
  return labels;
}

// --- HNSW segment files ---------------------------------------------------------

/// header.bin: hnswlib's header as Chroma's fork persists it, 100 bytes,
/// little-endian: version:i32 offsetLevel0:u64 max_elements:u64
/// cur_element_count:u64 size_data_per_element:u64 label_offset:u64
/// offsetData:u64 maxlevel:i32 enterpoint_node:u32 maxM:u64 maxM0:u64 M:u64
/// mult:f64 ef_construction:u64 (CHROMA_FORMAT.md; Python struct '<i6QiI3QdQ').
struct hnsw_header {
  std::int32_t version = 0;
  std::uint64_t offset_level0 = 0, max_elements = 0, cur_element_count = 0, size_data_per_element = 0,
                label_offset = 0, offset_data = 0;
  std::uint64_t max_m0 = 0;
  std::size_t dim = 0;
};

inline hnsw_header read_hnsw_header(const std::filesystem::path& file) {
  const auto size = stat_size(file);
  if (size != hnsw_header_size) {
    corrupt(file, "the HNSW header is " + std::to_string(size) + " bytes, not " + std::to_string(hnsw_header_size));
  }
  const auto b = read_bytes(file, hnsw_header_size);
  hnsw_header h;
  h.version = static_cast<std::int32_t>(load_u32(b.data()));
  h.offset_level0 = load_u64(b.data() + 4);
  h.max_elements = load_u64(b.data() + 12);
  h.cur_element_count = load_u64(b.data() + 20);
  h.size_data_per_element = load_u64(b.data() + 28);
  h.label_offset = load_u64(b.data() + 36);
  h.offset_data = load_u64(b.data() + 44);
  h.max_m0 = load_u64(b.data() + 68);
  if (h.version != 1) {
    unsupported(file, "the HNSW header has version " + std::to_string(h.version) + ", this reader knows version 1");
  }
  const auto bad = [&](const std::string& why) { corrupt(file, "inconsistent HNSW header: " + why); };
  if (h.offset_level0 != 0) bad("offsetLevel0 is " + std::to_string(h.offset_level0) + ", not 0");
  if (h.cur_element_count > h.max_elements) {
    bad("cur_element_count " + std::to_string(h.cur_element_count) + " exceeds max_elements " +
        std::to_string(h.max_elements));
  }
  if (h.max_m0 == 0 || h.max_m0 > max_neighbours_level0) bad("maxM0 is " + std::to_string(h.max_m0));
  // hnswlib: size_links_level0 = maxM0 * sizeof(tableint) + sizeof(linklistsizeint)
  if (h.offset_data != 4 + 4 * h.max_m0) {
    bad("offsetData " + std::to_string(h.offset_data) + " does not match maxM0 " + std::to_string(h.max_m0));
  }
  if (h.label_offset <= h.offset_data || (h.label_offset - h.offset_data) % 4 != 0 ||
      (h.label_offset - h.offset_data) / 4 > limits::max_dim) {
    bad("label_offset " + std::to_string(h.label_offset) + " does not leave room for a vector after offsetData " +
        std::to_string(h.offset_data));
  }
  if (h.size_data_per_element != h.label_offset + 8) {
    bad("size_data_per_element " + std::to_string(h.size_data_per_element) + " is not label_offset + 8");
  }
  h.dim = static_cast<std::size_t>((h.label_offset - h.offset_data) / 4);
  return h;
}

/// The vectors of the HNSW files by id (deleted slots and slots whose label
/// has no id skipped), cosine ones multiplied back by their length.bin norm.
struct hnsw_vectors {
  std::unordered_map<std::string, std::vector<float>> by_id;
  std::unordered_set<std::string> normalized;  // cosine vectors left as unit vectors
};

inline hnsw_vectors read_hnsw(const std::filesystem::path& folder, std::size_t dim, metric space) {
  hnsw_vectors out;
  const auto header_file = folder / "header.bin";
  const auto data_file = folder / "data_level0.bin";
  const auto pickle_file = folder / "index_metadata.pickle";
  const auto length_file = folder / "length.bin";
  std::error_code ec;
  if (!std::filesystem::exists(header_file, ec)) {
    // ChromaDB creates the folder before it first writes the index (CHROMA_FORMAT.md: a
    // small collection may have no HNSW data at all); then every vector is in the log.
    if (std::filesystem::exists(data_file, ec) || std::filesystem::exists(pickle_file, ec)) {
      corrupt(header_file, "the HNSW header is missing while other index files exist");
    }
    return out;
  }
  const hnsw_header h = read_hnsw_header(header_file);
  if (h.dim != dim) {
    corrupt(header_file, "the HNSW vectors have " + std::to_string(h.dim) + " values, the collection's dimension is " +
                             std::to_string(dim));
  }
  if (h.cur_element_count == 0) return out;
  const auto data_size = stat_size(data_file);
  if (data_size / h.size_data_per_element < h.cur_element_count) {
    corrupt(data_file, "the file holds " + std::to_string(data_size) + " bytes, fewer than the " +
                           std::to_string(h.cur_element_count) + " records of " +
                           std::to_string(h.size_data_per_element) + " bytes that header.bin announces");
  }
  const auto labels = read_label_map(pickle_file);

  // length.bin: one float32 per slot, the vector's norm before Chroma normalised it
  // (cosine only; zeros otherwise). Used only where it checks out.
  std::vector<unsigned char> lengths;
  if (space == metric::cosine && std::filesystem::exists(length_file, ec)) {
    const auto length_size = stat_size(length_file);
    if (length_size / 4 < h.cur_element_count) {
      corrupt(length_file, "the file holds " + std::to_string(length_size / 4) + " norms, fewer than the " +
                               std::to_string(h.cur_element_count) + " records of data_level0.bin");
    }
    lengths = read_bytes(length_file, static_cast<std::size_t>(h.cur_element_count) * 4);
  }

  std::ifstream in = open_binary(data_file);
  std::vector<unsigned char> row(static_cast<std::size_t>(h.size_data_per_element));
  std::unordered_set<std::uint64_t> seen;
  for (std::uint64_t slot = 0; slot < h.cur_element_count; ++slot) {
    if (!in.read(reinterpret_cast<char*>(row.data()), static_cast<std::streamsize>(row.size()))) {
      corrupt(data_file, "the file ended at record " + std::to_string(slot));
    }
    // hnswlib marks a deleted element in the third byte of its level-0 link header
    // (DELETE_MARK 0x01; the link count is the first two bytes).
    if (row[2] & 0x01) continue;
    const std::uint64_t label = load_u64(row.data() + h.label_offset);
    if (!seen.insert(label).second) {
      corrupt(data_file, "label " + std::to_string(label) + " appears in two live records (record " +
                             std::to_string(slot) + ")");
    }
    const auto id = labels.find(label);
    if (id == labels.end()) continue;  // no id maps to it: ChromaDB cannot return it either
    std::vector<float> v(dim);
    double norm = 0.0;
    for (std::size_t i = 0; i < dim; ++i) {
      v[i] = load_f32(row.data() + h.offset_data + 4 * i);
      if (!std::isfinite(v[i])) {
        corrupt(data_file, "record " + std::to_string(slot) + " (id \"" + id->second.substr(0, 64) +
                               "\") has a non-finite value at position " + std::to_string(i));
      }
      norm += static_cast<double>(v[i]) * v[i];
    }
    if (space == metric::cosine) {
      // Restore only what is verifiably a unit vector and its norm; the
      // product is what ChromaDB's get() returns (CHROMA_FORMAT.md).
      const float length = lengths.empty() ? 0.0f : load_f32(lengths.data() + 4 * slot);
      if (std::fabs(std::sqrt(norm) - 1.0) < 1e-3 && std::isfinite(length) && length > 0.0f) {
        for (auto& x : v) x *= length;
      } else {
        out.normalized.insert(id->second);
      }
    }
    out.by_id[id->second] = std::move(v);
  }
  return out;
}

// --- chroma.sqlite3 --------------------------------------------------------------

/// A metadata value as the log's JSON holds it; null (a key removal) is nullopt.
inline std::optional<metadata_value> json_value(const nlohmann::json& v, const std::filesystem::path& file,
                                                const std::string& where) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return std::nullopt;
    case nlohmann::json::value_t::boolean: return metadata_value(v.get<bool>());
    case nlohmann::json::value_t::number_integer: return metadata_value(v.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>((std::numeric_limits<std::int64_t>::max)())) {
        corrupt(file, where + " holds an integer beyond 64 bits");
      }
      return metadata_value(static_cast<std::int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return metadata_value(v.get<double>());
    case nlohmann::json::value_t::string: return metadata_value(v.get<std::string>());
    default: corrupt(file, where + " holds a " + std::string(v.type_name()) + ", not a metadata value");
  }
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
        if (!detail::chroma::is_uuid(c.id)) bad_db("collection \"" + c.name.substr(0, 64) + "\" has an id that is not a UUID");
        const SQLite::Column dim = st.getColumn(2);
        if (!dim.isNull()) {
          const std::int64_t d = dim.getInt64();
          if (d <= 0 || static_cast<std::uint64_t>(d) > limits::max_dim) {
            bad_db("collection \"" + c.name + "\" has dimension " + std::to_string(d) + ", outside 1 to " +
                   std::to_string(limits::max_dim));
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
  chroma_collection_data read(const chroma_collection_info& info) const {
    namespace ch = detail::chroma;
    chroma_collection_data out;
    out.info = info;

    // 1. The METADATA segment: ids in insertion order, documents, typed metadata.
    std::vector<record> records;
    std::unordered_map<std::string, std::size_t> index;  // id -> position in records
    std::vector<bool> alive;
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
          if (!index.emplace(r.id, records.size()).second) bad_db("id \"" + r.id.substr(0, 64) + "\" appears twice");
          records.push_back(std::move(r));
          alive.push_back(true);
        }
        if (st.getColumn(2).isNull()) continue;  // a record without metadata or document
        record& r = records.back();
        const std::string key = st.getColumn(2).getString();
        const std::string where = "embedding_metadata of id \"" + r.id.substr(0, 64) + "\", key \"" + key.substr(0, 64) + "\"";
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
    std::unordered_map<std::string, std::vector<float>> vectors;
    std::unordered_set<std::string> normalized;
    std::size_t dim = info.dim;
    const std::filesystem::path folder = dir_ / info.vector_segment;  // a UUID, checked in find_segments
    std::error_code ec;
    const auto folder_status = std::filesystem::symlink_status(folder, ec);
    if (std::filesystem::exists(folder_status)) {
      if (!std::filesystem::is_directory(folder_status)) {
        ch::corrupt(folder, "the VECTOR segment's path is not a folder");
      }
      if (dim == 0 && std::filesystem::exists(folder / "header.bin", ec)) dim = ch::read_hnsw_header(folder / "header.bin").dim;
      if (dim != 0) {
        auto h = ch::read_hnsw(folder, dim, info.space);
        vectors = std::move(h.by_id);
        normalized = std::move(h.normalized);
      }
    }

    // 3. The log tail, in seq order: vector operations past the VECTOR segment's
    //    max_seq_id, record operations past the METADATA segment's.
    std::unordered_set<std::string> from_log;
    sqlite([&] {
      SQLite::Statement st(*db_,
                           "SELECT seq_id, operation, id, vector, encoding, metadata FROM embeddings_queue "
                           "WHERE substr(topic, -37) = ? AND seq_id > ? ORDER BY seq_id");
      st.bind(1, "/" + info.id);
      st.bind(2, (std::min)(metadata_seq, vector_seq));
      while (st.executeStep()) {
        const std::int64_t seq = st.getColumn(0).getInt64();
        const std::int64_t op = st.getColumn(1).getInt64();
        const std::string id = st.getColumn(2).getString();
        const std::string where = "embeddings_queue row seq_id " + std::to_string(seq);
        if (op < 0 || op > 3) bad_db(where + " has operation " + std::to_string(op) + ", not 0 to 3 (add, update, upsert, delete)");
        enum : std::int64_t { op_add = 0, op_update = 1, op_upsert = 2, op_delete = 3 };

        std::optional<std::vector<float>> vec;
        const SQLite::Column blob = st.getColumn(3);
        if (!blob.isNull() && op != op_delete) {
          const std::string encoding = st.getColumn(4).isNull() ? std::string() : st.getColumn(4).getString();
          if (encoding != "FLOAT32") {
            detail::chroma::unsupported(db_file_, where + " has vector encoding \"" + encoding.substr(0, 32) + "\"");
          }
          const auto bytes = static_cast<std::size_t>(blob.getBytes());
          if (dim == 0 && bytes % 4 == 0 && bytes / 4 > 0 && bytes / 4 <= limits::max_dim) dim = bytes / 4;
          if (bytes != dim * 4) {
            bad_db(where + " has a vector of " + std::to_string(bytes) + " bytes, the collection's dimension " +
                   std::to_string(dim) + " needs " + std::to_string(dim * 4));
          }
          const auto* p = static_cast<const unsigned char*>(blob.getBlob());
          std::vector<float> v(dim);
          for (std::size_t i = 0; i < dim; ++i) {
            v[i] = ch::load_f32(p + 4 * i);
            if (!std::isfinite(v[i])) bad_db(where + " has a non-finite vector value at position " + std::to_string(i));
          }
          vec = std::move(v);
        }
        if (seq > vector_seq) {
          const bool exists = vectors.count(id) != 0;
          if (op == op_delete) {
            vectors.erase(id);
          } else if (vec && (op == op_upsert || (op == op_add && !exists) || (op == op_update && exists))) {
            vectors[id] = *vec;
            normalized.erase(id);
            from_log.insert(id);
          }
        }
        if (seq > metadata_seq) {
          nlohmann::json meta;
          if (!st.getColumn(5).isNull()) {
            meta = nlohmann::json::parse(st.getColumn(5).getString(), nullptr, false);
            if (meta.is_discarded() || !(meta.is_object() || meta.is_null())) bad_db(where + " has metadata that is not a JSON object");
          }
          const auto found = index.find(id);
          const bool exists = found != index.end() && alive[found->second];
          if (op == op_delete) {
            if (exists) alive[found->second] = false;
            continue;
          }
          if ((op == op_add && exists) || (op == op_update && !exists)) continue;  // ChromaDB ignores these too
          record* r;
          if (!exists) {  // add, or upsert of a new id: a new record at the end
            index[id] = records.size();
            records.push_back(record{id, {}, std::nullopt, {}});
            alive.push_back(true);
            r = &records.back();
          } else {
            r = &records[found->second];
          }
          // update and upsert merge: given keys replace, null removes (CHROMA_FORMAT.md)
          if (meta.is_object()) {
            for (const auto& [key, value] : meta.items()) {
              const auto v = ch::json_value(value, db_file_, where + ", key \"" + key.substr(0, 64) + "\"");
              if (key == "chroma:document") {
                if (v && !std::holds_alternative<std::string>(*v)) bad_db(where + " holds a document that is not text");
                if (v) r->document = std::get<std::string>(*v); else r->document.reset();
              } else if (v) {
                r->meta[key] = *v;
              } else {
                r->meta.erase(key);
              }
            }
          }
        }
      }
    });

    // 4. Join: each live record with its vector.
    out.info.dim = dim;
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (!alive[i]) continue;
      record& r = records[i];
      const auto v = vectors.find(r.id);
      if (v == vectors.end()) {
        ++out.without_embedding;
      } else {
        r.embedding = std::move(v->second);
        if (from_log.count(r.id)) ++out.vectors_from_log;
        if (normalized.count(r.id)) ++out.normalized;
      }
      out.records.push_back(std::move(r));
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
        ch::unsupported(db_file_, "ChromaDB persist directory with migrations of an unknown kind \"" +
                                      dir.substr(0, 64) + "\"");
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
      const auto json = nlohmann::json::parse(config.getString(), nullptr, false);
      if (json.is_discarded()) bad_db("collection \"" + c.name + "\" has a config_json_str that is not JSON");
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
      detail::chroma::unsupported(db_file_, "collection \"" + c.name + "\" uses the distance space \"" +
                                                name.substr(0, 32) + "\"");
    }
    return *m;
  }

  void find_segments(chroma_collection_info& c) const {
    SQLite::Statement st(*db_, "SELECT id, type, scope FROM segments WHERE collection = ?");
    st.bind(1, c.id);
    while (st.executeStep()) {
      const std::string id = st.getColumn(0).getString(), type = st.getColumn(1).getString(),
                        scope = st.getColumn(2).getString();
      if (!detail::chroma::is_uuid(id)) bad_db("collection \"" + c.name + "\" has a segment id that is not a UUID");
      std::string* slot = nullptr;
      if (scope == "METADATA" && type == "urn:chroma:segment/metadata/sqlite") slot = &c.metadata_segment;
      if (scope == "VECTOR" && type == "urn:chroma:segment/vector/hnsw-local-persisted") slot = &c.vector_segment;
      if (!slot) {
        detail::chroma::unsupported(db_file_, "collection \"" + c.name + "\" has a " + scope.substr(0, 16) +
                                                  " segment of type \"" + type.substr(0, 80) + "\"");
      }
      if (!slot->empty()) bad_db("collection \"" + c.name + "\" has two " + scope + " segments");
      *slot = id;
    }
    if (c.metadata_segment.empty() || c.vector_segment.empty()) {
      bad_db("collection \"" + c.name + "\" lacks its METADATA or VECTOR segment");
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

/// Imports every collection of a ChromaDB persist directory into `target`
/// (a basic_store). Collections are written one after another, each in
/// transactions of `batch_size` records with `add` (`upsert` when merging).
///
/// Requires: ChromaDB's server is stopped. The directory is never modified.
/// Effects: before anything is written, all names are checked against the
/// target's collections (on_conflict). A collection that fails midway is
/// deleted again (unless merging), the ones before it stay; the exception
/// propagates.
/// Throws: schema_error (format not supported), corruption_error (damaged
/// files), io_error, invalid_argument (name conflict, a name or value vecstore
/// does not accept), and whatever the store throws.
template <class Store>
chroma_import_report import_chroma(const std::filesystem::path& persist_dir, Store& target,
                                   const chroma_import_options& options = {}) {
  if (options.batch_size == 0) {
    detail::throw_error<invalid_argument>("invalid import options", {}, "batch_size is 0",
                                          "Give the number of records per write, e.g. 1000");
  }
  chroma_reader reader(persist_dir);
  chroma_import_report report;
  report.chroma_version = reader.format();
  const auto sources = reader.collections(options.tenant, options.database);

  std::unordered_set<std::string> existing;
  for (const auto& info : target.list_collections()) existing.insert(info.name);
  if (options.on_conflict == chroma_conflict::refuse) {
    for (const auto& c : sources) {
      if (existing.count(options.name_prefix + c.name)) {
        detail::throw_error<invalid_argument>(
            "cannot import the ChromaDB directory", target.path(),
            "the store has a collection named \"" + options.name_prefix + c.name + "\" already",
            "Nothing was imported. Pass on_conflict = replace or merge, or a name_prefix");
      }
    }
  }

  for (const auto& source : sources) {
    chroma_collection_data data = reader.read(source);
    chroma_import_report::collection done;
    done.name = options.name_prefix + source.name;
    done.source_name = source.name;
    done.space = data.info.space;
    done.dim = data.info.dim;
    done.without_embedding = data.without_embedding;
    done.vectors_from_log = data.vectors_from_log;
    done.normalized = data.normalized;
    if (data.info.dim == 0) {
      if (!data.records.empty()) {
        detail::chroma::corrupt(persist_dir / "chroma.sqlite3",
                                "collection \"" + source.name + "\" has records but no dimension and no vectors");
      }
      done.skipped = true;
      report.collections.push_back(std::move(done));
      continue;
    }
    const bool merging = options.on_conflict == chroma_conflict::merge;
    if (existing.count(done.name) && !merging) target.delete_collection(done.name);
    const collection_options copts{data.info.dim, data.info.space};
    auto c = merging ? target.get_or_create_collection(done.name, copts) : target.create_collection(done.name, copts);
    try {
      std::vector<record> batch;
      for (std::size_t i = 0; i < data.records.size(); i += options.batch_size) {
        const std::size_t end = (std::min)(data.records.size(), i + options.batch_size);
        batch.assign(std::make_move_iterator(data.records.begin() + static_cast<std::ptrdiff_t>(i)),
                     std::make_move_iterator(data.records.begin() + static_cast<std::ptrdiff_t>(end)));
        if (merging) c.upsert(batch); else c.add(batch);
        done.records += batch.size();
      }
    } catch (...) {
      if (!merging) {
        try {
          target.delete_collection(done.name);
        } catch (...) {  // keep the first error
        }
      }
      throw;
    }
    report.collections.push_back(std::move(done));
  }
  return report;
}

}  // namespace v0
}  // namespace vecstore
