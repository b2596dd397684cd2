// SPDX-License-Identifier: MIT
// The .npy reader: the rows of a float32 array whose header npy_header.hpp
// has checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "binary_io.hpp"
#include "formats.hpp"
#include "npy_header.hpp"

namespace vecstore_cli {

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

}  // namespace vecstore_cli
