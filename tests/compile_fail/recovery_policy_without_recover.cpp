// SPDX-License-Identifier: MIT
// Must not compile: a RecoveryPolicy without recover() is named in the error.
// expect: vecstore: RecoveryPolicy lacks static recovery_report recover\(const recovery_context&\)
#include <vecstore/vecstore.hpp>

struct silent_recovery {
  static constexpr bool replaces_file = false;
};

int main() { vecstore::basic_store<vecstore::file_lock, vecstore::flat_index, silent_recovery>::open({}); }
