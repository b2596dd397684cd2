// SPDX-License-Identifier: MIT
// The file formats of the vecstore tool (docs/cli.md): fvecs, npy and JSON
// Lines. This header names them and declares what the commands read and
// write through: a record_source per file, one row for query --from, and the
// JSON Lines line of export.
//
// Every input file is untrusted: sizes and counts read from it are checked
// against the file's size and vecstore's limits before anything is
// allocated, and every error names the file and the row (binary formats,
// counted from 0) or line (JSON Lines, counted from 1).
//
// The readers themselves are in fvecs.hpp, npy_source.hpp (over
// npy_header.hpp) and jsonl.hpp; the other writers of export in
// output_file.hpp and npy_writer.hpp.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
    bad_input(file, "unknown format " + vecstore::detail::quote_name(given), "Use fvecs, npy or jsonl");
  }
  const std::string ext = file.extension().string();
  if (ext == ".fvecs") return file_format::fvecs;
  if (ext == ".npy") return file_format::npy;
  if (ext == ".jsonl" || ext == ".ndjson") return file_format::jsonl;
  bad_input(file, "cannot tell the format from the extension " + vecstore::detail::quote_name(ext),
            "Pass --format fvecs, npy or jsonl");
}

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

// The functions below are defined in formats.cpp, the one translation unit
// that compiles the readers and the JSON they parse and write, rather than
// every command that reads or writes files (CMakeLists.txt says why).

/// The records of `file`; `prefix` makes the ids of fvecs and npy rows
/// (`<prefix><row>`).
std::unique_ptr<record_source> open_source(const fs::path& file, file_format format, const std::string& prefix);

/// One embedding from a file: row `row` (from 0) of an fvecs or npy file, or
/// the embedding of the `row`-th record (from 0) of a JSON Lines file.
std::vector<float> read_row(const fs::path& file, file_format format, std::uint64_t row);

/// Throws duplicate_id naming both lines if an id appears twice in a JSON
/// Lines file, given the std::hash of every id in it (emptied here). Only 8
/// bytes per record are kept while reading; a hash collision is confirmed
/// by reading the lines concerned again.
void find_repeated_ids(const fs::path& file, std::vector<std::uint64_t>& hashes);

/// One JSON Lines line (without the newline): keys in the order id,
/// embedding, document, metadata; absent parts are left out, metadata keys
/// sorted. Importing the line gives back the same record.
std::string jsonl_line(const record& r);

}  // namespace vecstore_cli
