// SPDX-License-Identifier: MIT
// vecstore: the command-line tool over a vecstore store. See docs/cli.md.
//
//   vecstore [--json] <command> ...
//
// Exit codes (exit_codes.hpp): 0 ok, 1 degraded (health/verify), 2 unhealthy
// (health/verify), 3 usage error, 4 not found, 5 invalid input, 6 locked or
// timed out, 7 corruption, 8 I/O error, 9 schema error, 10 anything else.
//
// This file reads the command line (command_line.cpp), runs the command, and
// turns what it throws into an exit status and an error report. The commands
// live in one translation unit per group, for the reason CMakeLists.txt gives.
#include <exception>
#include <new>
#include <string>
#include <variant>

#include <vecstore/vecstore.hpp>  // the whole library: the single header, when that is what is on the path

#include "chroma.hpp"
#include "command_line.hpp"
#include "exit_codes.hpp"
#include "import_export.hpp"
#include "inspect.hpp"
#include "maintenance.hpp"
#include "query.hpp"
#include "records.hpp"

namespace vecstore_cli {

namespace {

int exit_code_for(vecstore::errc code) {
  switch (code) {
    case vecstore::errc::invalid_argument:
    case vecstore::errc::dimension_mismatch:
    case vecstore::errc::duplicate_id: return exit_invalid;
    case vecstore::errc::not_found: return exit_not_found;
    case vecstore::errc::store_locked:
    case vecstore::errc::lock_timeout: return exit_locked;
    case vecstore::errc::corruption: return exit_corruption;
    case vecstore::errc::io_error: return exit_io;
    case vecstore::errc::schema_error: return exit_schema;
    case vecstore::errc::closed: return exit_other;
  }
  return exit_other;
}

/// Each command's arguments to the command.
struct dispatch {
  const global_options& g;
  int operator()(const create_args& a) const { return run_create(g, a); }
  int operator()(const import_args& a) const { return run_import(g, a); }
  int operator()(const export_args& a) const { return run_export(g, a); }
  int operator()(const get_args& a) const { return run_get(g, a); }
  int operator()(const query_args& a) const { return run_query(g, a); }
  int operator()(const count_args& a) const { return run_count(g, a); }
  int operator()(const stats_args& a) const { return run_stats(g, a); }
  int operator()(const health_args& a) const { return run_health(g, a); }
  int operator()(const backup_args& a) const { return run_backup(g, a); }
  int operator()(const restore_args& a) const { return run_restore(g, a); }
  int operator()(const recover_args& a) const { return run_recover(g, a); }
  int operator()(const compact_args& a) const { return run_compact(g, a); }
  int operator()(const chroma_args& a) const { return run_import_chroma(g, a); }
};

int run(int argc, char** argv) {
  const parsed_command_line line = parse_command_line(
      argc, argv, {vecstore::limits::max_dim, vecstore::limits::max_k, vecstore::version_string});
  if (!line.to_run) return line.exit_code;
  const bool json_mode = line.globals.json;
  try {
    return std::visit(dispatch{line.globals}, *line.to_run);
  } catch (const usage_error& e) {
    return report_error(json_mode, exit_usage, std::string(e.what()) + ". Run 'vecstore <command> --help'");
  } catch (const vecstore::error& e) {
    return report_error(json_mode, exit_code_for(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return report_error(json_mode, exit_other, "out of memory");
  } catch (const std::exception& e) {
    return report_error(json_mode, exit_other, std::string("unexpected error: ") + e.what());
  }
}

}  // namespace

}  // namespace vecstore_cli

int main(int argc, char** argv) { return vecstore_cli::run(argc, argv); }
