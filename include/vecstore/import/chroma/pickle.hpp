// SPDX-License-Identifier: MIT
// The pickle reader for index_metadata.pickle, the file that maps a ChromaDB
// HNSW segment's labels to record ids, and the label map read from it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <vecstore/import/chroma/common.hpp>
#include <vecstore/vecstore.hpp>  // the whole library, as common.hpp explains

namespace vecstore {
inline namespace v0 {
namespace detail {
namespace chroma {

// index_metadata.pickle is a Python pickle (protocol 3) of a dict whose
// label_to_id {int: str} and id_to_label {str: int} map HNSW labels to ids;
// deleted ids are absent from both (docs/migrating-from-chroma.md, "What a
// ChromaDB persist directory holds"). The file is untrusted: its size is
// bounded before it is read, every length inside it before it is allocated,
// and nesting so that destroying the parsed value cannot exhaust the stack.
inline constexpr std::uintmax_t max_pickle_bytes = std::uintmax_t{1} << 31;
inline constexpr std::size_t max_pickle_depth = 8;

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

}  // namespace chroma
}  // namespace detail
}  // namespace v0
}  // namespace vecstore
