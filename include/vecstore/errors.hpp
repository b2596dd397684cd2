// SPDX-License-Identifier: MIT
// The typed exceptions vecstore throws: one root, one class per way a caller reacts.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>

namespace vecstore {
inline namespace v0 {

/// Stable error codes; tests and callers may switch on them.
enum class errc {
  invalid_argument,    ///< bad input, rejected before any write started
  dimension_mismatch,  ///< an embedding of the wrong length
  not_found,           ///< unknown collection or id
  duplicate_id,        ///< an id that already exists, or twice in one batch
  store_locked,        ///< another process holds the store exclusively
  lock_timeout,        ///< the writer lock or the database stayed busy past every retry
  corruption,          ///< the file is damaged; nothing damaged was served
  io_error,            ///< the operating system refused (permissions, disk full, ...)
  schema_error,        ///< not a vecstore file, or a format version this build cannot read
  closed,              ///< the store was closed, or used in a child after fork()
};

/// Short name of an error code, as used in messages and JSON.
inline const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument: return "invalid_argument";
    case errc::dimension_mismatch: return "dimension_mismatch";
    case errc::not_found: return "not_found";
    case errc::duplicate_id: return "duplicate_id";
    case errc::store_locked: return "store_locked";
    case errc::lock_timeout: return "lock_timeout";
    case errc::corruption: return "corruption";
    case errc::io_error: return "io_error";
    case errc::schema_error: return "schema_error";
    case errc::closed: return "closed";
  }
  return "unknown";
}

/// Root of every exception vecstore throws. `what()` reads
/// "vecstore: <what> (<file>): <why>. <what to do>".
class error : public std::runtime_error {
 public:
  error(errc code, const std::string& message, std::filesystem::path path = {})
      : std::runtime_error(message), code_(code), path_(std::move(path)) {}
  errc code() const noexcept { return code_; }
  /// The store file concerned, empty when the error is not about a file.
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  errc code_;
  std::filesystem::path path_;
};

/// Bad input: nothing was written.
class invalid_argument : public error {
 public:
  explicit invalid_argument(const std::string& message, std::filesystem::path path = {},
                            errc code = errc::invalid_argument)
      : error(code, message, std::move(path)) {}
};

/// An embedding whose length differs from the collection's dimension.
class dimension_mismatch : public invalid_argument {
 public:
  explicit dimension_mismatch(const std::string& message, std::filesystem::path path = {})
      : invalid_argument(message, std::move(path), errc::dimension_mismatch) {}
};

/// An id that exists already (`add`) or appears twice in one batch.
class duplicate_id : public invalid_argument {
 public:
  explicit duplicate_id(const std::string& message, std::filesystem::path path = {})
      : invalid_argument(message, std::move(path), errc::duplicate_id) {}
};

/// An unknown collection, or an id that `update` needs and the store lacks.
class not_found : public error {
 public:
  explicit not_found(const std::string& message, std::filesystem::path path = {})
      : error(errc::not_found, message, std::move(path)) {}
};

/// The store could not be locked; see `store_locked` and `lock_timeout`.
class lock_error : public error {
 public:
  using error::error;
};

/// Another process holds the store in `open_mode::exclusive`.
class store_locked : public lock_error {
 public:
  explicit store_locked(const std::string& message, std::filesystem::path path = {})
      : lock_error(errc::store_locked, message, std::move(path)) {}
};

/// The lock or the database stayed busy through every retry.
class lock_timeout : public lock_error {
 public:
  explicit lock_timeout(const std::string& message, std::filesystem::path path = {})
      : lock_error(errc::lock_timeout, message, std::move(path)) {}
};

/// The file is damaged. Raised instead of serving damaged data.
class corruption_error : public error {
 public:
  explicit corruption_error(const std::string& message, std::filesystem::path path = {})
      : error(errc::corruption, message, std::move(path)) {}
};

/// The operating system refused an operation (permissions, disk full, missing folder).
class io_error : public error {
 public:
  explicit io_error(const std::string& message, std::filesystem::path path = {})
      : error(errc::io_error, message, std::move(path)) {}
};

/// Not a vecstore file, or one written by a newer format version.
class schema_error : public error {
 public:
  explicit schema_error(const std::string& message, std::filesystem::path path = {})
      : error(errc::schema_error, message, std::move(path)) {}
};

/// The store was closed, or is used in a process it was not opened in.
class closed_error : public error {
 public:
  explicit closed_error(const std::string& message, std::filesystem::path path = {})
      : error(errc::closed, message, std::move(path)) {}
};

namespace detail {

/// What to do about damage, true both at open and in a process that meets it
/// while running (the RecoveryPolicy runs only at open).
inline constexpr const char* repair_advice =
    "Close the store and open it again: with auto_recover on, its recovery policy repairs it at open; "
    "otherwise restore a backup";

/// Builds the one message format every error uses.
inline std::string message(const std::string& what, const std::filesystem::path& file,
                           const std::string& why, const std::string& todo = {}) {
  std::string m = "vecstore: " + what;
  if (!file.empty()) m += " (" + file.string() + ")";
  m += ": " + why;
  if (!todo.empty()) m += ". " + todo;
  return m;
}

/// Throws `E` with a message built by `message()`; the one throw site style.
template <class E>
[[noreturn]] void throw_error(const std::string& what, const std::filesystem::path& file,
                              const std::string& why, const std::string& todo = {}) {
  throw E(message(what, file, why, todo), file);
}

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
