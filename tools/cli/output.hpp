// SPDX-License-Identifier: MIT
// How the tool prints: JSON documents (--json) and the numbers, sizes, times
// and documents of its text output.
//
// Commands build their JSON as json_doc values, whose members are all
// defined in output.cpp over nlohmann's ordered_json. So the text is exactly
// what nlohmann writes, while the JSON library is compiled once, here, instead
// of in every command's translation unit, where it would cost some 50 MB of
// compiler memory each (CMakeLists.txt says why that matters). Standard
// library only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace vecstore_cli {

/// A JSON value under construction: null, a bool, a number, a string, or an
/// array or object (keys kept in the order given).
class json_doc {
 public:
  struct member;

  json_doc() noexcept;  ///< null
  json_doc(std::nullptr_t) noexcept;
  json_doc(bool b);
  // Integers keep their signedness, floating point stays floating point, as
  // nlohmann's own constructors do.
  json_doc(int n);
  json_doc(long n);
  json_doc(long long n);
  json_doc(unsigned n);
  json_doc(unsigned long n);
  json_doc(unsigned long long n);
  json_doc(double d);
  json_doc(const char* s);
  json_doc(std::string s);
  json_doc(const std::vector<std::string>& strings);  ///< an array of strings

  json_doc(const json_doc& other);
  json_doc(json_doc&& other) noexcept;
  json_doc& operator=(const json_doc& other);
  json_doc& operator=(json_doc&& other) noexcept;
  ~json_doc();

  /// An object of these members, in this order. Takes their values over
  /// (they are the temporaries of a braced list) rather than copying them.
  static json_doc object(std::initializer_list<member> members = {});
  static json_doc array();

  /// Sets a member of an object.
  void set(const std::string& key, json_doc value);
  /// Appends to an array.
  void push_back(json_doc value);

  /// What dump() does with a string that is not valid UTF-8.
  enum class bad_utf8 {
    replace,  ///< with U+FFFD: a damaged document never turns output into an error
    fail,     ///< throw nlohmann's type_error: export must not write what import refuses
  };

  /// The JSON text: `indent` -1 for one line.
  std::string dump(int indent = 2, bad_utf8 bad = bad_utf8::replace) const;

  struct node;  // output.cpp

 private:
  std::unique_ptr<node> node_;  // null: the JSON null
};

struct json_doc::member {
  std::string key;
  json_doc value;
};

/// The one JSON document a command prints on stdout under --json.
void print_json(const json_doc& j);

/// 1.5 -> "1.50 s".
std::string seconds_text(double s);

/// A size for people: "512 bytes", "1.5 KiB", "2.00 MiB", "1.00 GiB".
std::string bytes_text(std::uintmax_t n);

/// A time as ISO 8601 UTC, e.g. "2024-05-01T12:00:00Z".
std::string utc_iso(std::chrono::system_clock::time_point t);

/// A document on one line: newlines and tabs shown as \n and \t.
std::string one_line(const std::string& s);

/// The double whose shortest decimal form is the shortest form of `f` that
/// reads back as `f` (0.1f -> 0.1, not 0.10000000149011612). JSON written with
/// it is readable and still gives back `f` exactly when parsed as a double
/// and narrowed to float; where the short form would not (double rounding),
/// the exact value of `f` is used instead.
double json_float(float f);

}  // namespace vecstore_cli
