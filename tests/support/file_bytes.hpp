// SPDX-License-Identifier: MIT
// Whole-file byte access for tests that damage, copy or compare store files.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace vecstore_test {

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace vecstore_test
