// SPDX-License-Identifier: MIT
// The error report every failing command ends with (exit_codes.hpp).
#include "exit_codes.hpp"

#include <algorithm>
#include <iostream>
#include <string>

#include <vecstore/detail/utf8.hpp>  // the message escaping alone, standard library only

#include "output.hpp"

namespace vecstore_cli {

int report_error(bool json_mode, int code, const std::string& message) {
  std::string line = message;
  if (line.rfind("vecstore: ", 0) != 0) line = "vecstore: " + line;
  // One printable line whatever reached the message: escaping is idempotent
  // on text the library or the tool has already escaped.
  std::replace(line.begin(), line.end(), '\n', ' ');
  line = vecstore::detail::escape_for_message(line, 16384);
  std::cout.flush();
  std::cerr << line << "\n";
  if (json_mode) {
    // Indexed by exit_status.
    static const char* names[] = {"ok",        "degraded",   "unhealthy", "usage",  "not_found", "invalid_input",
                                  "locked",    "corruption", "io_error",  "schema", "other"};
    print_json(json_doc::object(
        {{"error", json_doc::object({{"code", names[code]}, {"exit_code", code}, {"message", line}})}}));
  }
  return code;
}

}  // namespace vecstore_cli
