// SPDX-License-Identifier: MIT
// The .npy writer of export: float32 little-endian rows in C order, the
// format npy_source.hpp reads back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "binary_io.hpp"
#include "output_file.hpp"

namespace vecstore_cli {

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
