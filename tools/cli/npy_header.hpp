// SPDX-License-Identifier: MIT
// The header of an .npy file: numpy's Python dict literal, parsed and checked
// before a single row is read (the file is untrusted, formats.hpp).
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "binary_io.hpp"
#include "formats.hpp"

namespace vecstore_cli {

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

}  // namespace vecstore_cli
