// SPDX-License-Identifier: MIT
// File formats of the vecstore tool: readers for fvecs, npy and JSON Lines
// (import, query --from) and writers for JSON Lines and npy (export).
//
// Every input file is untrusted: sizes and counts read from it are checked
// against the file's size and vecstore's limits before anything is
// allocated, and every error names the file and the row (binary formats,
// counted from 0) or line (JSON Lines, counted from 1).
#pragma once

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <vecstore/vecstore.hpp>  // the whole library: the single header, when that is what is on the path

namespace vecstore_cli {

namespace fs = std::filesystem;
using vecstore::record;

enum class file_format { fvecs, npy, jsonl };

inline const char* to_string(file_format f) noexcept {
  switch (f) {
    case file_format::fvecs: return "fvecs";
    case file_format::npy: return "npy";
    case file_format::jsonl: return "jsonl";
  }
  return "?";
}

inline std::optional<file_format> format_from_name(std::string_view s) {
  if (s == "fvecs") return file_format::fvecs;
  if (s == "npy") return file_format::npy;
  if (s == "jsonl") return file_format::jsonl;
  return std::nullopt;
}

/// Bad input: one line naming the file and what is wrong with it.
[[noreturn]] inline void bad_input(const fs::path& file, const std::string& why, const std::string& todo = {}) {
  vecstore::detail::throw_error<vecstore::invalid_argument>("invalid input file", file, why, todo);
}

[[noreturn]] inline void io_failure(const std::string& what, const fs::path& file, int err) {
  vecstore::detail::throw_error<vecstore::io_error>(what, file, std::strerror(err));
}

/// The format named by `--format`, else the file's extension.
inline file_format resolve_format(const fs::path& file, const std::string& given) {
  if (!given.empty()) {
    if (auto f = format_from_name(given)) return *f;
    bad_input(file, "unknown format \"" + given + "\"", "Use fvecs, npy or jsonl");
  }
  const std::string ext = file.extension().string();
  if (ext == ".fvecs") return file_format::fvecs;
  if (ext == ".npy") return file_format::npy;
  if (ext == ".jsonl" || ext == ".ndjson") return file_format::jsonl;
  bad_input(file, "cannot tell the format from the extension \"" + ext + "\"",
            "Pass --format fvecs, npy or jsonl");
}

// --- little-endian values, whatever the host's byte order ------------------

inline std::uint32_t load_u32_le(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
inline float load_f32_le(const unsigned char* p) noexcept {
  const std::uint32_t u = load_u32_le(p);
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline void store_f32_le(float f, unsigned char* p) noexcept {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  p[0] = static_cast<unsigned char>(u);
  p[1] = static_cast<unsigned char>(u >> 8);
  p[2] = static_cast<unsigned char>(u >> 16);
  p[3] = static_cast<unsigned char>(u >> 24);
}

// --- JSON numbers for float32 values ---------------------------------------

/// The double whose shortest decimal form is the shortest form of `f` that
/// reads back as `f` (0.1f -> 0.1, not 0.10000000149011612). JSON written with
/// it is readable and still gives back `f` exactly when parsed as a double
/// and narrowed to float; where the short form would not (double rounding),
/// the exact value of `f` is used instead.
inline double json_float(float f) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, f);
  if (res.ec != std::errc()) return static_cast<double>(f);
  *res.ptr = '\0';
  const double d = std::strtod(buf, nullptr);
  return static_cast<float>(d) == f ? d : static_cast<double>(f);
}

// --- input files -------------------------------------------------------------

/// A binary input file read sequentially, with its size known up front.
class input_file {
 public:
  explicit input_file(fs::path path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "rb");
    if (!file_) io_failure("cannot open the input file", path_, errno);
    struct stat st {};
    if (::fstat(::fileno(file_), &st) != 0) io_failure("cannot read the input file", path_, errno);
    if (!S_ISREG(st.st_mode)) bad_input(path_, "not a regular file");
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  input_file(const input_file&) = delete;
  input_file& operator=(const input_file&) = delete;
  ~input_file() {
    if (file_) std::fclose(file_);
  }

  const fs::path& path() const noexcept { return path_; }
  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t position() const noexcept { return pos_; }
  std::uint64_t left() const noexcept { return size_ - pos_; }

  void read(void* out, std::size_t n) {
    if (n > left()) bad_input(path_, "unexpected end of file at byte " + std::to_string(pos_));
    if (n != 0 && std::fread(out, 1, n, file_) != n) {
      if (std::ferror(file_)) io_failure("cannot read the input file", path_, errno);
      bad_input(path_, "the file ended early at byte " + std::to_string(pos_) + " (it changed while being read?)");
    }
    pos_ += n;
  }

  void seek(std::uint64_t offset) {
    if (offset > size_) bad_input(path_, "offset " + std::to_string(offset) + " is past the end of the file");
    if (::fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0) io_failure("cannot read the input file", path_, errno);
    pos_ = offset;
  }

 private:
  fs::path path_;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;
  std::uint64_t pos_ = 0;
};

/// Where a record came from, for messages: "row 3 of a.fvecs", "line 4 of b.jsonl".
using where_fn = std::string (*)(std::uint64_t, const fs::path&);

/// A stream of records read from a file.
class record_source {
 public:
  virtual ~record_source() = default;
  /// The next record, or false at the end of the file.
  virtual bool next(record& out) = 0;
  /// Where the record last returned by next() came from.
  virtual std::string where() const = 0;
  /// The dimension the file declares (npy; fvecs after the first row), 0 if unknown.
  virtual std::size_t dim() const = 0;
  /// How many records the file holds, when its header or size tells; else 0.
  virtual std::uint64_t size_hint() const = 0;
};

/// fvecs: per row a little-endian int32 dimension, then that many float32.
/// Ids are `<prefix><row>`, rows counted from 0.
class fvecs_source final : public record_source {
 public:
  fvecs_source(const fs::path& path, std::string prefix) : in_(path), prefix_(std::move(prefix)) {}

  bool next(record& out) override {
    if (in_.left() == 0) return false;
    row_ = next_row_++;
    if (in_.left() < 4) {
      bad_input(in_.path(), where() + " is truncated: " + std::to_string(in_.left()) +
                                " bytes left where a 4-byte dimension was expected");
    }
    unsigned char head[4];
    in_.read(head, 4);
    const auto d = static_cast<std::int32_t>(load_u32_le(head));
    if (d <= 0 || static_cast<std::uint64_t>(d) > vecstore::limits::max_dim) {
      bad_input(in_.path(), where() + " declares dimension " + std::to_string(d) + ", outside 1 to " +
                                std::to_string(vecstore::limits::max_dim),
                "Check that this is an fvecs file (int32 dimension, then float32 values, per row)");
    }
    const auto dim = static_cast<std::size_t>(d);
    if (first_dim_ != 0 && dim != first_dim_) {
      vecstore::detail::throw_error<vecstore::dimension_mismatch>(
          "invalid input file", in_.path(),
          where() + " has dimension " + std::to_string(dim) + ", row 0 has " + std::to_string(first_dim_),
          "Every row of an fvecs file must have the same dimension");
    }
    if (in_.left() < std::uint64_t{4} * dim) {
      bad_input(in_.path(), where() + " declares " + std::to_string(dim) + " values but only " +
                                std::to_string(in_.left()) + " bytes are left (truncated file)");
    }
    if (first_dim_ == 0) first_dim_ = dim;
    buffer_.resize(4 * dim);
    in_.read(buffer_.data(), buffer_.size());
    out.id = prefix_ + std::to_string(row_);
    out.embedding.resize(dim);
    for (std::size_t i = 0; i < dim; ++i) out.embedding[i] = load_f32_le(buffer_.data() + 4 * i);
    out.document.reset();
    out.meta.clear();
    return true;
  }

  std::string where() const override { return "row " + std::to_string(row_) + " of " + in_.path().string(); }
  std::size_t dim() const override { return first_dim_; }
  std::uint64_t size_hint() const override {
    const std::uint64_t per_row = 4 + std::uint64_t{4} * first_dim_;
    return first_dim_ != 0 && in_.size() % per_row == 0 ? in_.size() / per_row : 0;
  }

  /// Positions the reader at `row` assuming every row has row 0's dimension
  /// (which next() then checks). O(1), for `query --from`.
  void skip_to(std::uint64_t row) {
    if (row == 0) return;
    record first;
    if (!next(first)) bad_input(in_.path(), "the file is empty");
    const std::uint64_t per_row = 4 + std::uint64_t{4} * first_dim_;
    if (row >= in_.size() / per_row) {
      bad_input(in_.path(), "there is no row " + std::to_string(row) + ": the file holds " +
                                std::to_string(in_.size() / per_row) + " rows (counted from 0)");
    }
    in_.seek(row * per_row);
    next_row_ = row;
  }

 private:
  input_file in_;
  std::string prefix_;
  std::uint64_t row_ = 0;
  std::uint64_t next_row_ = 0;
  std::size_t first_dim_ = 0;
  std::vector<unsigned char> buffer_;
};

/// What an .npy header says, once checked.
struct npy_header {
  std::uint64_t rows = 0;
  std::size_t dim = 0;
  std::uint64_t data_offset = 0;
};

namespace detail {

/// A parser for the Python dict literal of an .npy header, e.g.
/// {'descr': '<f4', 'fortran_order': False, 'shape': (10, 128), }
/// Values: strings, True/False, tuples of non-negative integers.
class npy_dict_parser {
 public:
  struct value {
    enum kind_t { string, boolean, tuple, other } kind = other;
    std::string text;
    bool flag = false;
    std::vector<std::uint64_t> items;
  };

  npy_dict_parser(std::string_view s, const fs::path& file) : s_(s), file_(file) {}

  std::vector<std::pair<std::string, value>> parse() {
    std::vector<std::pair<std::string, value>> out;
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') {
        ++i_;
        break;
      }
      std::string key = parse_string();
      expect(':');
      value v = parse_value();
      out.emplace_back(std::move(key), std::move(v));
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      break;
    }
    skip_space();
    if (i_ != s_.size()) fail("unexpected text after the header's dictionary");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    bad_input(file_, "the .npy header is malformed: " + why, "Write the file with numpy.save");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "' at offset " + std::to_string(i_));
    ++i_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted key at offset " + std::to_string(i_));
    const std::size_t end = s_.find(quote, i_ + 1);
    if (end == std::string_view::npos) fail("an unterminated string");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    if (out.find('\\') != std::string::npos) fail("escapes in strings are not supported");
    i_ = end + 1;
    return out;
  }
  std::uint64_t parse_uint() {
    skip_space();
    std::uint64_t v = 0;
    const char* begin = s_.data() + i_;
    const auto res = std::from_chars(begin, s_.data() + s_.size(), v);
    if (res.ec != std::errc() || res.ptr == begin) fail("expected a non-negative integer at offset " + std::to_string(i_));
    i_ += static_cast<std::size_t>(res.ptr - begin);
    if (peek() == 'L') ++i_;  // Python 2's long suffix
    return v;
  }
  value parse_value() {
    skip_space();
    value v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = value::string;
      v.text = parse_string();
    } else if (s_.substr(i_, 4) == "True") {
      v.kind = value::boolean;
      v.flag = true;
      i_ += 4;
    } else if (s_.substr(i_, 5) == "False") {
      v.kind = value::boolean;
      i_ += 5;
    } else if (c == '(') {
      v.kind = value::tuple;
      ++i_;
      for (;;) {
        skip_space();
        if (peek() == ')') {
          ++i_;
          break;
        }
        if (v.items.size() >= 32) fail("a shape of more than 32 dimensions");
        v.items.push_back(parse_uint());
        skip_space();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect(')');
        break;
      }
    } else if (c == '[') {
      v.kind = value::other;  // a structured dtype's descr: a list; refused by the caller
      int depth = 0;
      for (; i_ < s_.size(); ++i_) {
        if (s_[i_] == '[') ++depth;
        if (s_[i_] == ']' && --depth == 0) {
          ++i_;
          break;
        }
      }
      if (depth != 0) fail("an unterminated list");
    } else {
      fail("an unexpected value at offset " + std::to_string(i_));
    }
    return v;
  }

  std::string_view s_;
  const fs::path& file_;
  std::size_t i_ = 0;
};

}  // namespace detail

/// Reads and checks the header of an .npy file: a float32 little-endian,
/// C-order, two-dimensional array whose data fills the rest of the file exactly.
inline npy_header read_npy_header(input_file& in) {
  const fs::path& file = in.path();
  static constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (in.size() < 10) bad_input(file, "too short for an .npy file (" + std::to_string(in.size()) + " bytes)");
  unsigned char pre[8];
  in.read(pre, 8);
  if (std::memcmp(pre, magic, 6) != 0) bad_input(file, "not an .npy file (no \\x93NUMPY magic)");
  const int major = pre[6];
  std::uint64_t header_len = 0;
  if (major == 1) {
    unsigned char len[2];
    in.read(len, 2);
    header_len = static_cast<std::uint64_t>(len[0]) | static_cast<std::uint64_t>(len[1]) << 8;
  } else if (major == 2 || major == 3) {
    unsigned char len[4];
    in.read(len, 4);
    header_len = load_u32_le(len);
  } else {
    bad_input(file, ".npy format version " + std::to_string(major) + "." + std::to_string(pre[7]) +
                        " is not supported (1.0 to 3.0 are)");
  }
  constexpr std::uint64_t max_header = 1u << 20;
  if (header_len > max_header || header_len > in.left()) {
    bad_input(file, "the .npy header claims " + std::to_string(header_len) + " bytes, the file has " +
                        std::to_string(in.left()) + " left");
  }
  std::string text(static_cast<std::size_t>(header_len), '\0');
  in.read(text.data(), text.size());

  std::string descr;
  std::optional<bool> fortran;
  std::optional<std::vector<std::uint64_t>> shape;
  bool structured = false;
  for (auto& [key, v] : detail::npy_dict_parser(text, file).parse()) {
    if (key == "descr") {
      if (v.kind == detail::npy_dict_parser::value::string) {
        descr = v.text;
      } else {
        structured = true;
      }
    } else if (key == "fortran_order" && v.kind == detail::npy_dict_parser::value::boolean) {
      fortran = v.flag;
    } else if (key == "shape" && v.kind == detail::npy_dict_parser::value::tuple) {
      shape = std::move(v.items);
    }
  }
  const std::string convert = "Convert it with numpy: np.save(path, np.ascontiguousarray(a, dtype='<f4'))";
  if (structured) bad_input(file, "the array has a structured dtype; only plain float32 ('<f4') is supported", convert);
  if (descr.empty() || !fortran || !shape) {
    bad_input(file, "the .npy header lacks descr, fortran_order or shape", "Write the file with numpy.save");
  }
  if (descr != "<f4") {
    bad_input(file, "the array's dtype is '" + descr + "'; only float32 little-endian ('<f4') is supported", convert);
  }
  if (*fortran) bad_input(file, "the array is in Fortran order; only C order is supported", convert);
  if (shape->size() != 2) {
    bad_input(file, "the array has " + std::to_string(shape->size()) +
                        " dimensions; a 2-D array (rows, dim) is expected",
              "Reshape it with a.reshape(-1, dim)");
  }
  npy_header h;
  h.rows = (*shape)[0];
  const std::uint64_t dim = (*shape)[1];
  if (dim == 0 || dim > vecstore::limits::max_dim) {
    bad_input(file, "the array's second dimension is " + std::to_string(dim) + ", outside 1 to " +
                        std::to_string(vecstore::limits::max_dim));
  }
  h.dim = static_cast<std::size_t>(dim);
  h.data_offset = in.position();
  const std::uint64_t row_bytes = 4 * dim;
  if (h.rows > in.left() / row_bytes || h.rows * row_bytes != in.left()) {
    bad_input(file, "the header's shape (" + std::to_string(h.rows) + ", " + std::to_string(dim) + ") needs " +
                        (h.rows > in.left() / row_bytes ? std::string("more than ") + std::to_string(in.left())
                                                        : std::to_string(h.rows * row_bytes)) +
                        " bytes of data, the file has " + std::to_string(in.left()),
              "The file is truncated or not what its header says");
  }
  return h;
}

/// npy: a float32 little-endian C-order array (rows, dim). Ids are `<prefix><row>`.
class npy_source final : public record_source {
 public:
  npy_source(const fs::path& path, std::string prefix) : in_(path), prefix_(std::move(prefix)) {
    header_ = read_npy_header(in_);
    buffer_.resize(4 * header_.dim);
  }

  bool next(record& out) override {
    if (next_row_ >= header_.rows) return false;
    row_ = next_row_++;
    in_.read(buffer_.data(), buffer_.size());
    out.id = prefix_ + std::to_string(row_);
    out.embedding.resize(header_.dim);
    for (std::size_t i = 0; i < header_.dim; ++i) out.embedding[i] = load_f32_le(buffer_.data() + 4 * i);
    out.document.reset();
    out.meta.clear();
    return true;
  }

  std::string where() const override { return "row " + std::to_string(row_) + " of " + in_.path().string(); }
  std::size_t dim() const override { return header_.dim; }
  std::uint64_t size_hint() const override { return header_.rows; }

  void skip_to(std::uint64_t row) {
    if (row >= header_.rows) {
      bad_input(in_.path(), "there is no row " + std::to_string(row) + ": the array has " +
                                std::to_string(header_.rows) + " rows (counted from 0)");
    }
    in_.seek(header_.data_offset + row * 4 * header_.dim);
    next_row_ = row;
  }

 private:
  input_file in_;
  std::string prefix_;
  npy_header header_;
  std::uint64_t row_ = 0;
  std::uint64_t next_row_ = 0;
  std::vector<unsigned char> buffer_;
};

/// Converts one parsed JSON Lines object into a record; `where` names the line.
inline void record_from_json(const nlohmann::json& j, record& out, const fs::path& file, const std::string& where) {
  const auto fail = [&](const std::string& why) {
    bad_input(file, where + ": " + why,
              "Each line must be {\"id\": \"...\", \"embedding\": [...], \"document\": \"...\", \"metadata\": {...}} "
              "(only id is required)");
  };
  if (!j.is_object()) fail("expected a JSON object, found " + std::string(j.type_name()));
  out.id.clear();
  out.embedding.clear();
  out.document.reset();
  out.meta.clear();
  bool has_id = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "id") {
      if (!v.is_string()) fail("\"id\" must be a string, found " + std::string(v.type_name()));
      out.id = v.get<std::string>();
      has_id = true;
    } else if (key == "embedding") {
      if (v.is_null()) continue;
      if (!v.is_array()) fail("\"embedding\" must be an array of numbers, found " + std::string(v.type_name()));
      if (v.size() > vecstore::limits::max_dim) {
        fail("\"embedding\" has " + std::to_string(v.size()) + " values, the limit is " +
             std::to_string(vecstore::limits::max_dim));
      }
      out.embedding.reserve(v.size());
      for (std::size_t i = 0; i < v.size(); ++i) {
        const auto& x = v[i];
        if (!x.is_number()) fail("\"embedding\"[" + std::to_string(i) + "] is " + std::string(x.type_name()) + ", not a number");
        const double d = x.get<double>();
        if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(std::numeric_limits<float>::max())) {
          fail("\"embedding\"[" + std::to_string(i) + "] = " + x.dump() + " is outside the float32 range");
        }
        out.embedding.push_back(static_cast<float>(d));
      }
    } else if (key == "document") {
      if (v.is_null()) continue;
      if (!v.is_string()) fail("\"document\" must be a string, found " + std::string(v.type_name()));
      out.document = v.get<std::string>();
    } else if (key == "metadata") {
      if (v.is_null()) continue;
      if (!v.is_object()) fail("\"metadata\" must be an object, found " + std::string(v.type_name()));
      for (auto m = v.begin(); m != v.end(); ++m) {
        const auto& mv = m.value();
        const std::string name = "metadata \"" + m.key() + "\"";
        if (mv.is_boolean()) {
          out.meta.emplace(m.key(), mv.get<bool>());
        } else if (mv.is_number_unsigned()) {
          const auto u = mv.get<std::uint64_t>();
          if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            fail(name + " = " + mv.dump() + " is larger than a 64-bit signed integer");
          }
          out.meta.emplace(m.key(), static_cast<std::int64_t>(u));
        } else if (mv.is_number_integer()) {
          out.meta.emplace(m.key(), mv.get<std::int64_t>());
        } else if (mv.is_number_float()) {
          out.meta.emplace(m.key(), mv.get<double>());
        } else if (mv.is_string()) {
          out.meta.emplace(m.key(), mv.get<std::string>());
        } else {
          fail(name + " is " + std::string(mv.type_name()) + "; values must be strings, integers, floats or booleans");
        }
      }
    } else {
      fail("unknown key \"" + key + "\" (expected id, embedding, document, metadata)");
    }
  }
  if (!has_id) fail("no \"id\"");
}

/// JSON Lines: one object per line; blank lines are skipped; lines counted from 1.
class jsonl_source final : public record_source {
 public:
  explicit jsonl_source(const fs::path& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) io_failure("cannot open the input file", path_, errno);
    std::error_code ec;
    if (!fs::is_regular_file(path_, ec)) bad_input(path_, "not a regular file");
  }

  bool next(record& out) override {
    std::string text;
    while (std::getline(in_, text)) {
      ++line_;
      if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(text);
      } catch (const nlohmann::json::parse_error& e) {
        std::string why = e.what();
        if (const auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
        bad_input(path_, where() + " is not valid JSON: " + why);
      }
      record_from_json(j, out, path_, where());
      return true;
    }
    if (in_.bad()) io_failure("cannot read the input file", path_, errno);
    return false;
  }

  std::string where() const override { return "line " + std::to_string(line_) + " of " + path_.string(); }
  std::uint64_t line() const noexcept { return line_; }
  std::size_t dim() const override { return 0; }
  std::uint64_t size_hint() const override { return 0; }

 private:
  fs::path path_;
  std::ifstream in_;
  std::uint64_t line_ = 0;
};

inline std::unique_ptr<record_source> open_source(const fs::path& file, file_format format, const std::string& prefix) {
  switch (format) {
    case file_format::fvecs: return std::make_unique<fvecs_source>(file, prefix);
    case file_format::npy: return std::make_unique<npy_source>(file, prefix);
    case file_format::jsonl: break;
  }
  return std::make_unique<jsonl_source>(file);
}

/// One embedding from a file: row `row` (from 0) of an fvecs or npy file, or
/// the embedding of the `row`-th record (from 0) of a JSON Lines file.
inline std::vector<float> read_row(const fs::path& file, file_format format, std::uint64_t row) {
  record r;
  if (format == file_format::fvecs) {
    fvecs_source s(file, {});
    s.skip_to(row);
    if (!s.next(r)) bad_input(file, "there is no row " + std::to_string(row));
  } else if (format == file_format::npy) {
    npy_source s(file, {});
    s.skip_to(row);
    if (!s.next(r)) bad_input(file, "there is no row " + std::to_string(row));
  } else {
    jsonl_source s(file);
    for (std::uint64_t i = 0;; ++i) {
      if (!s.next(r)) bad_input(file, "there is no record " + std::to_string(row) + " (counted from 0)");
      if (i == row) break;
    }
    if (r.embedding.empty()) bad_input(file, s.where() + " has no embedding");
  }
  return std::move(r.embedding);
}

// --- output files --------------------------------------------------------------

/// A file written under a temporary name beside its destination and renamed
/// into place by commit(), so that a failed export never leaves a partial
/// file. The temporary is owner-only and never follows a symlink; an existing
/// destination is replaced only when `overwrite`.
class output_file {
 public:
  output_file(fs::path path, bool overwrite) : path_(std::move(path)) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(path_, ec)) && !overwrite) {
      vecstore::detail::throw_error<vecstore::invalid_argument>("cannot export", path_, "the file exists",
                                                                "Pass --force to replace it, or choose another name");
    }
    if (fs::is_directory(path_, ec)) {
      vecstore::detail::throw_error<vecstore::invalid_argument>("cannot export", path_, "the path is a directory");
    }
    const fs::path dir = path_.has_parent_path() ? path_.parent_path() : fs::path(".");
    temp_ = dir / ("." + path_.filename().string() + ".tmp-" + std::to_string(::getpid()));
    const int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) io_failure("cannot create the output file", temp_, errno);
    file_ = ::fdopen(fd, "wb");
    if (!file_) {
      const int err = errno;
      ::close(fd);
      ::unlink(temp_.c_str());
      io_failure("cannot create the output file", temp_, err);
    }
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  }
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  ~output_file() {
    if (file_) {
      std::fclose(file_);
      ::unlink(temp_.c_str());  // our own temporary, never the user's file
    }
  }

  void write(const void* data, std::size_t n) {
    if (n != 0 && std::fwrite(data, 1, n, file_) != n) io_failure("cannot write the output file", temp_, errno);
  }
  void write(std::string_view s) { write(s.data(), s.size()); }

  /// Rewrites `n` bytes at `offset` (the npy header, once the row count is known).
  void patch(std::uint64_t offset, const void* data, std::size_t n) {
    if (std::fflush(file_) != 0 || ::fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0) {
      io_failure("cannot write the output file", temp_, errno);
    }
    write(data, n);
    if (std::fflush(file_) != 0 || ::fseeko(file_, 0, SEEK_END) != 0) io_failure("cannot write the output file", temp_, errno);
  }

  /// Flushes, syncs and renames the file into place.
  void commit() {
    if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) io_failure("cannot write the output file", temp_, errno);
    const int closed = std::fclose(file_);
    file_ = nullptr;
    if (closed != 0) {
      const int err = errno;
      ::unlink(temp_.c_str());
      io_failure("cannot write the output file", temp_, err);
    }
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
      const int err = errno;
      ::unlink(temp_.c_str());
      io_failure("cannot move the output file into place", path_, err);
    }
  }

 private:
  fs::path path_;
  fs::path temp_;
  std::FILE* file_ = nullptr;
};

/// One JSON Lines line (without the newline): keys in the order id,
/// embedding, document, metadata; absent parts are left out, metadata keys
/// sorted. Importing the line gives back the same record.
inline std::string jsonl_line(const record& r) {
  nlohmann::ordered_json j;
  j["id"] = r.id;
  if (!r.embedding.empty()) {
    auto& e = j["embedding"] = nlohmann::ordered_json::array();
    for (const float f : r.embedding) e.push_back(json_float(f));
  }
  if (r.document) j["document"] = *r.document;
  if (!r.meta.empty()) {
    auto& m = j["metadata"] = nlohmann::ordered_json::object();
    for (const auto& kv : r.meta) {
      std::visit([&](const auto& x) { m[kv.first] = x; }, kv.second);
    }
  }
  return j.dump();
}

/// Writes an .npy file of float32 rows whose count is known only at the end:
/// a fixed-size header is written first and rewritten by finish().
class npy_writer {
 public:
  npy_writer(output_file& out, std::size_t dim) : out_(out), dim_(dim) {
    out_.write(header(0));
    buffer_.resize(4 * dim_);
  }
  void add(const std::vector<float>& v) {
    for (std::size_t i = 0; i < dim_; ++i) store_f32_le(v[i], buffer_.data() + 4 * i);
    out_.write(buffer_.data(), buffer_.size());
    ++rows_;
  }
  void finish() {
    const std::string h = header(rows_);
    out_.patch(0, h.data(), h.size());
  }
  std::uint64_t rows() const noexcept { return rows_; }

 private:
  /// Version 1.0, padded with spaces to 128 bytes (a multiple of 64, as numpy does).
  std::string header(std::uint64_t rows) const {
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(dim_) + "), }";
    constexpr std::size_t total = 128, prefix = 10;
    dict.append(total - prefix - dict.size() - 1, ' ');
    dict += '\n';
    std::string h("\x93NUMPY\x01\x00", 8);
    h += static_cast<char>(dict.size() & 0xff);
    h += static_cast<char>((dict.size() >> 8) & 0xff);
    return h + dict;
  }

  output_file& out_;
  std::size_t dim_;
  std::uint64_t rows_ = 0;
  std::vector<unsigned char> buffer_;
};

}  // namespace vecstore_cli
