// SPDX-License-Identifier: MIT
// The child program multi-process tests fork and exec: it opens a store in a
// fresh process and acts on it as told on the command line.
//
//   vecstore_test_child dump <store>     print every collection and record as canonical JSON
//
// Exit status: 0 on success, 3 on a vecstore error (its message on stderr,
// prefixed by the error code), 2 on bad usage.
#include <iostream>
#include <string>

#include "dump.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: vecstore_test_child dump <store>\n";
    return 2;
  }
  const std::string command = argv[1];
  vecstore::store_options options;
  options.path = argv[2];
  options.create_if_missing = false;
  try {
    if (command == "dump") {
      auto db = vecstore::open(options);
      std::cout << vecstore_test::dump_store(*db).dump() << "\n";
      return 0;
    }
  } catch (const vecstore::error& e) {
    std::cerr << vecstore::to_string(e.code()) << ": " << e.what() << "\n";
    return 3;
  }
  std::cerr << "unknown command " << command << "\n";
  return 2;
}
