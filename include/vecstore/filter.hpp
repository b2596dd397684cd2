// SPDX-License-Identifier: MIT
// Metadata (`where`) and document (`where_document`) filters: builders, Chroma's JSON, SQL.
#pragma once

// The parts, by role:
//   filter/ast.hpp   the AST, its checks, the filter / document_filter classes and the builder
//   filter/json.hpp  Chroma's JSON form: parsing to the AST (filter::parse) and back (to_json)
//   filter/sql.hpp   the AST compiled to parameterized SQL (used by storage/records.hpp)
//   filter/metadata_columns.hpp  the AST evaluated over a collection's metadata held in memory, with
//                    the same semantics as its SQL (used by store/index_keeper.hpp; not included here)
// Include this header for all of them: the classes' JSON members are defined in filter/json.hpp.
#include <vecstore/filter/ast.hpp>
#include <vecstore/filter/json.hpp>
#include <vecstore/filter/sql.hpp>

// Semantics of filters
// ====================
//
// A `filter` (Chroma's `where`) selects records by their metadata:
//
//   where("year") >= 2020 && where("cat").in({"cs.LG", "cs.AI"})
//   filter::parse(R"({"$and": [{"year": {"$gte": 2020}}, {"cat": {"$in": ["cs.LG", "cs.AI"]}}]})")
//
// JSON form (ChromaDB's):
//   {"k": v}                                shorthand for {"k": {"$eq": v}}
//   {"k": {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte": v}}
//   {"k": {"$in"|"$nin": [v, ...]}}
//   {"$and": [f, ...]}, {"$or": [f, ...]}   one or more filters
//   {}                                      (whole filter only) matches every record
// An object with several members is the AND of them, so {"a": 1, "b": 2} is
// {"$and": [{"a": 1}, {"b": 2}]}, and {"k": {"$gte": 1, "$lt": 5}} is a range.
// (ChromaDB insists on exactly one member per object; every filter it accepts
// means the same here.)
//
// Values and comparisons:
//  - Integers and doubles are one class, "numbers", and compare numerically
//    with each other: {"n": 2} matches n = 2 and n = 2.0. The comparison is
//    exact (SQLite compares int64 with double without rounding the integer).
//  - Strings compare only with strings (byte-wise, case-sensitive), bools only
//    with bools. true is not 1 and "1" is not 1: {"n": 1} does not match
//    n = true or n = "1".
//  - $gt $gte $lt $lte take numbers only. $eq and $ne take a number, a string
//    or a bool. $in and $nin take a non-empty array whose values are all of one
//    class (all numbers, all strings or all bools).
//  - $ne and $nin match only records that HAVE the key, with a value that is
//    not equal to / not in the operand. A record without the key matches
//    neither (ChromaDB's behaviour). A value of another class counts as
//    different: n = "1" matches {"n": {"$ne": 1}}. So for a record with the
//    key exactly one of $eq/$ne (and of $in/$nin) matches.
//  - Doubles must be finite, strings valid UTF-8, integers within int64.
//
// A `document_filter` (Chroma's `where_document`) selects records by their
// document: contains("fox") || not_contains("dog"), or
// {"$contains": "fox"}, {"$not_contains": "dog"}, {"$and": [...]}, {"$or": [...]}.
//  - $contains is a case-sensitive substring test on the document text.
//    A record without a document never matches $contains; it always matches
//    $not_contains. The text must be a non-empty valid UTF-8 string.
//
// Combining: `a && b`, `a || b`. A default-constructed filter is empty and
// matches everything: empty && f == f, empty || f == empty.
//
// Limits: $and/$or nest at most `detail::max_filter_depth` (64) levels, and a
// filter compiles to at most `detail::max_filter_params` (16000) SQL
// parameters (keys plus values), below SQLite's limit on bound variables.
//
// Errors: every problem throws `vecstore::invalid_argument` whose message says
// where it is, e.g.
//   vecstore: invalid filter: at $and[1].year: $gt needs a number, got string "x". <what to do>
// Paths name members (`year`, `$and`), array elements (`[1]`), and keys that are
// not plain words in quotes (`["my key"]`); "the top level" is the whole filter.
