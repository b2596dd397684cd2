// SPDX-License-Identifier: MIT
// The Eigen maps through which the search code reads rows, queries and scores in place: dynamic-size and unaligned.
#pragma once

// One of the few headers of vecstore that include Eigen (kernel.hpp lists
// them), so that headers which do not search do not pay for its compile time.
#include <Eigen/Core>

namespace vecstore {
inline namespace v0 {
namespace detail {

// Dynamic-size, unaligned maps only: rows live in a std::vector<float> or in a
// mapped file, neither of which promises more than a float's alignment, and a
// fixed-size or aligned map would let Eigen assume more (an assertion, or a
// fault on an aligned load).
using row_major_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using const_rows_map = Eigen::Map<const row_major_matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using const_vector_map = Eigen::Map<const Eigen::VectorXf, Eigen::Unaligned>;
using vector_map = Eigen::Map<Eigen::VectorXf, Eigen::Unaligned>;
using array_map = Eigen::Map<Eigen::ArrayXf, Eigen::Unaligned>;
using const_array_map = Eigen::Map<const Eigen::ArrayXf, Eigen::Unaligned>;

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
