// SPDX-License-Identifier: MIT
// The library version and the on-disk format version, which move independently.
#pragma once

#define VECSTORE_VERSION_MAJOR 0
#define VECSTORE_VERSION_MINOR 1
#define VECSTORE_VERSION_PATCH 0

namespace vecstore {
inline namespace v0 {

/// Library version as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";

/// Version of the on-disk schema this library writes (`PRAGMA user_version`).
/// Stores with a lower version are migrated forward; a higher one is refused.
inline constexpr int schema_version = 4;

/// `PRAGMA application_id` of every vecstore file: "VECS" in ASCII. A file with
/// another id is not a vecstore store, whatever its tables look like.
inline constexpr int application_id = 0x56454353;

}  // namespace v0
}  // namespace vecstore
