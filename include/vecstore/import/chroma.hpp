// SPDX-License-Identifier: MIT
// Reads a ChromaDB persist directory (the 1.0 Rust server's format) and imports
// every collection into a vecstore store: ids, embeddings, documents, typed
// metadata and the distance space.
//
// Not included by <vecstore/vecstore.hpp>; include it explicitly. Links SQLiteCpp.
//
// Supported: persist directories written by ChromaDB 1.0 (the Rust server, e.g.
// npm chromadb@3.0.6 / "chroma run", whose /api/v2/version answers "1.0.0"),
// recognized by their `migrations` table: sysdb 1-9, metadb 1-5,
// embeddings_queue 1-2. Tested on tests/fixtures/chroma-1.0, made by
// tools/chroma_fixture with the real server. Anything else (the 0.4-0.6 Python
// releases, later releases with more migrations) is refused with a
// schema_error: export those with ChromaDB's client and import JSON Lines.
//
// Where the data lives (docs/migrating-from-chroma.md, "What a ChromaDB persist
// directory holds"; verified on the fixture):
//  - ids, documents (key "chroma:document") and typed metadata: chroma.sqlite3,
//    tables embeddings + embedding_metadata of the collection's METADATA segment;
//  - vectors: only in the VECTOR segment's HNSW files (<segment-uuid>/
//    data_level0.bin rows, labels mapped to ids by index_metadata.pickle) and
//    in the write-ahead log `embeddings_queue`, whose rows newer than the
//    segment's max_seq_id are replayed here in seq order (0 add, 1 update,
//    2 upsert, 3 delete). The server writes HNSW files only every
//    `sync_threshold` log rows, so that tail is routinely there.
//  - cosine collections hold unit vectors in data_level0.bin and each vector's
//    original norm in length.bin; the importer multiplies them back, which
//    gives the vectors ChromaDB's get() returns, bit for bit (tested). Where no
//    usable norm exists the vector is imported normalised (cosine distances
//    are the same) and counted in `normalized`.
//
// The persist directory is never modified: chroma.sqlite3 is opened read-only
// with SQLite's `immutable=1` (no lock, no journal, no -shm file), the other
// files with std::ifstream. Stop the ChromaDB server before importing: an
// immutable open does not see writes made while it reads. A leftover
// `chroma.sqlite3-journal` or `-wal` (a crash mid-write) is refused, since
// reading past it would see a half-written transaction.
//
// Every size and count read from these files is untrusted input: each is
// checked against the file sizes and vecstore's limits before anything is
// allocated, and segment folder names must be UUIDs before they are joined
// into paths. Damage raises corruption_error, an unknown format schema_error,
// both naming the file and what was wrong. The records and the vector files
// must agree: every label of the HNSW id map is a live slot, every record has
// a vector and every vector a record.
//
// All or nothing: plan_chroma_import reads every collection into memory and
// checks all of it (the above, every record as `add` checks it, a dimension
// for every collection) before import_chroma writes everything in one
// transaction (basic_store::import_collections). A dry run is
// plan_chroma_import alone.
//
// The parts, in include/vecstore/import/chroma/, each usable alone:
//   common.hpp         the two errors, little-endian loads, size-checked file reads
//   pickle.hpp         the pickle reader and index_metadata.pickle's label map
//   segment_files.hpp  the HNSW files: header.bin, data_level0.bin, length.bin
//   queue_replay.hpp   the replay of embeddings_queue over a collection's segments
//   sqlite_reader.hpp  chroma.sqlite3 and chroma_reader, which joins the above per collection
//   import.hpp         plan_chroma_import and import_chroma: options, report, the one write
#pragma once

#include <vecstore/import/chroma/common.hpp>
#include <vecstore/import/chroma/pickle.hpp>
#include <vecstore/import/chroma/segment_files.hpp>
#include <vecstore/import/chroma/queue_replay.hpp>
#include <vecstore/import/chroma/sqlite_reader.hpp>
#include <vecstore/import/chroma/import.hpp>

// The whole library, not single headers: with the single header first on the
// include path, this file then builds on it instead of redefining it.
#include <vecstore/vecstore.hpp>
