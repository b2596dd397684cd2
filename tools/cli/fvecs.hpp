// SPDX-License-Identifier: MIT
// The fvecs reader: per row a little-endian int32 dimension, then that many
// float32 values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "binary_io.hpp"
#include "formats.hpp"

namespace vecstore_cli {

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

}  // namespace vecstore_cli
