// SPDX-License-Identifier: MIT
// Must not compile: a recovery policy that moves the store file aside needs a
// cross-process lock, and null_lock is not one.
// expect: vecstore: a RecoveryPolicy that replaces the store file needs a cross-process LockPolicy
#include <vecstore/vecstore.hpp>

struct moving_recovery {
  static constexpr bool replaces_file = true;
  static vecstore::recovery_report recover(const vecstore::recovery_context&) { return {}; }
};

int main() { vecstore::basic_store<vecstore::null_lock, vecstore::flat_index, moving_recovery>::open({}); }
