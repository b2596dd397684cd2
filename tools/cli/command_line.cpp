// SPDX-License-Identifier: MIT
// The command-line grammar (command_line.hpp), with CLI11.
#include "command_line.hpp"

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <vecstore/detail/utf8.hpp>  // the message escaping alone, standard library only

#include "exit_codes.hpp"

namespace vecstore_cli {

parsed_command_line parse_command_line(int argc, char** argv, const library_facts& library) {
  // Known before parsing, so that a usage error is reported as JSON too.
  bool json_mode = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--json") json_mode = true;
  }

  CLI::App app{"vecstore: an embedded vector store many processes share safely.\n"
               "Exit codes: 0 ok, 1 degraded, 2 unhealthy (health/verify), 3 usage, 4 not found, 5 invalid input,\n"
               "6 locked/timeout, 7 corruption, 8 I/O error, 9 schema error, 10 other. See docs/cli.md.",
               "vecstore"};
  app.fallthrough();  // global options after the command too
  app.require_subcommand(1, 1);
  global_options g;
  app.add_flag("--json", g.json, "Machine-readable output: one JSON document on stdout");
  app.add_flag("--no-progress", g.no_progress, "Never draw progress bars (they are drawn only on a terminal anyway)");
  app.add_flag("--no-recover", g.no_recover,
               "Report damage found at open (exit 7) instead of letting the store restore its newest backup");
  app.add_option("--lock-timeout", g.lock_timeout_ms, "Milliseconds to wait for the writer lock per attempt (default 10000)")
      ->check(CLI::Range(0L, 24L * 3600 * 1000));
  app.set_version_flag("--version", "vecstore " + library.version);

  const auto dim_check = CLI::Range(std::size_t{1}, library.max_dim);
  const auto metrics = CLI::IsMember({"cosine", "l2", "ip"});
  const auto includes = CLI::IsMember({"documents", "metadatas", "embeddings", "all", "none", "distances"});

  create_args create;
  auto* c_create = app.add_subcommand("create", "Create a collection (and the store if it does not exist)");
  c_create->add_option("store", create.store, "Store file")->required();
  c_create->add_option("collection", create.collection, "Collection name")->required();
  c_create->add_option("--dim", create.dim, "Embedding dimension")->required()->check(dim_check);
  c_create->add_option("--metric", create.metric, "cosine (default), l2 or ip")->check(metrics);
  c_create->add_flag("--exist-ok", create.exist_ok, "Succeed if the collection exists with this dim and metric");

  import_args imp;
  std::size_t imp_dim = 0;
  std::string imp_metric;
  auto* c_import = app.add_subcommand("import", "Import records from an fvecs, npy or JSON Lines file");
  c_import->add_option("store", imp.store, "Store file (created with --dim if missing)")->required();
  c_import->add_option("collection", imp.collection, "Collection name")->required();
  c_import->add_option("file", imp.file, "Input file")->required();
  c_import->add_option("--format", imp.format, "fvecs, npy or jsonl (default: from the extension)")
      ->check(CLI::IsMember({"fvecs", "npy", "jsonl"}));
  auto* o_imp_dim = c_import->add_option("--dim", imp_dim, "Create the collection with this dimension if missing")->check(dim_check);
  auto* o_imp_metric = c_import->add_option("--metric", imp_metric, "Metric of a created collection (default cosine)")->check(metrics);
  c_import->add_option("--batch", imp.batch, "Records per write transaction (default 1000)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  c_import->add_option("--id-prefix", imp.id_prefix, "fvecs/npy: ids are <prefix><row>, rows from 0");
  c_import->add_flag("--upsert", imp.upsert, "Replace records whose id exists (default: refuse them)");

  export_args exp;
  auto* c_export = app.add_subcommand("export", "Export a collection to JSON Lines or npy");
  c_export->add_option("store", exp.store, "Store file")->required();
  c_export->add_option("collection", exp.collection, "Collection name")->required();
  c_export->add_option("file", exp.file, "Output file")->required();
  c_export->add_option("--format", exp.format, "jsonl (default) or npy; .npy files default to npy")
      ->check(CLI::IsMember({"jsonl", "npy"}));
  c_export->add_flag("--force", exp.force, "Replace the output file if it exists");

  get_args get;
  auto* c_get = app.add_subcommand("get", "Read records by id and/or filter");
  c_get->add_option("store", get.store, "Store file")->required();
  c_get->add_option("collection", get.collection, "Collection name")->required();
  c_get->add_option("--ids", get.ids, "Ids, comma-separated (repeatable)")->delimiter(',');
  c_get->add_option("--where", get.where, "Metadata filter, ChromaDB JSON (e.g. '{\"year\": {\"$gte\": 2020}}')");
  c_get->add_option("--where-document", get.where_document, "Document filter, ChromaDB JSON ('{\"$contains\": \"x\"}')");
  c_get->add_option("--limit", get.limit, "At most this many records (default: all)");
  c_get->add_option("--offset", get.offset, "Skip this many records first");
  c_get->add_option("--include", get.include, "documents,metadatas,embeddings (default documents,metadatas)")
      ->delimiter(',')
      ->check(includes);

  query_args qry;
  auto* c_query = app.add_subcommand("query", "Nearest neighbours of an embedding");
  c_query->add_option("store", qry.store, "Store file")->required();
  c_query->add_option("collection", qry.collection, "Collection name")->required();
  auto* o_emb = c_query->add_option("--embedding", qry.embedding, "The query as a JSON array, e.g. '[0.1, 0.2]'");
  auto* o_from = c_query->add_option("--from", qry.from, "Read the query from this fvecs, npy or JSON Lines file");
  c_query->add_option("--format", qry.format, "Format of --from (default: from the extension)")
      ->check(CLI::IsMember({"fvecs", "npy", "jsonl"}));
  c_query->add_option("--row", qry.row, "Row of --from, counted from 0 (default 0)")->needs(o_from);
  o_emb->excludes(o_from);
  c_query->add_option("-k,--k", qry.k, "Neighbours to return (default 10)")
      ->check(CLI::Range(std::size_t{1}, library.max_k));
  c_query->add_option("--where", qry.where, "Metadata filter, ChromaDB JSON");
  c_query->add_option("--where-document", qry.where_document, "Document filter, ChromaDB JSON");
  c_query->add_option("--include", qry.include, "documents,metadatas,embeddings (default documents,metadatas)")
      ->delimiter(',')
      ->check(includes);

  count_args count;
  auto* c_count = app.add_subcommand("count", "Count the records of one collection, or of every collection");
  c_count->add_option("store", count.store, "Store file")->required();
  c_count->add_option("collection", count.collection, "Collection name (default: all)");

  stats_args stats;
  auto* c_stats = app.add_subcommand("stats", "Collections, file sizes and schema version");
  c_stats->add_option("store", stats.store, "Store file")->required();

  health_args health;
  auto* c_health = app.add_subcommand("health", "Health report as JSON; exit 0 healthy, 1 degraded, 2 unhealthy");
  c_health->add_option("store", health.store, "Store file")->required();
  c_health->add_flag("--force", health.force, "Run the checks even if a cached report is recent");
  c_health->add_flag("--acknowledge-recovery", health.acknowledge_recovery,
                     "Clear the record of the last recovery (shown until then) after printing the report");

  health_args verify;
  verify.force = verify.deep = true;
  auto* c_verify = app.add_subcommand("verify", "Deep check (integrity_check and every checksum); exit as health");
  c_verify->add_option("store", verify.store, "Store file")->required();

  backup_args backup;
  auto* c_backup = app.add_subcommand("backup", "Make an online, verified backup of the store");
  c_backup->add_option("store", backup.store, "Store file")->required();

  restore_args restore;
  auto* c_restore =
      app.add_subcommand("restore", "Replace the store with a verified backup (works on a store that does not open)");
  c_restore->add_option("store", restore.store, "Store file")->required();
  c_restore->add_option("backup-file", restore.backup_file, "Backup file")->required();

  recover_args recover;
  auto* c_recover = app.add_subcommand(
      "recover", "Run a recovery policy now, without opening the store (works on a store that does not open)");
  c_recover->add_option("store", recover.store, "Store file")->required();
  c_recover->add_option("--policy", recover.policy,
                        "restore_backup (default: keep what reads, the rest from the newest backup), salvage "
                        "(keep what reads) or reset (start empty); the damaged file is kept aside")
      ->check(CLI::IsMember({"restore_backup", "salvage", "reset"}));

  compact_args compact;
  auto* c_compact = app.add_subcommand("compact", "Rewrite the store without free pages; prints the size before and after");
  c_compact->add_option("store", compact.store, "Store file")->required();

  chroma_args chroma;
  auto* c_chroma = app.add_subcommand("import-chroma", "Import every collection of a ChromaDB 1.0 persist directory");
  c_chroma->add_option("persist_dir", chroma.persist_dir, "ChromaDB persist directory (server stopped)")->required();
  c_chroma->add_option("store", chroma.store, "Store file (created if missing)")->required();
  c_chroma->add_option("--prefix", chroma.prefix, "Prepended to every collection name");
  c_chroma->add_option("--on-conflict", chroma.on_conflict, "refuse (default), replace or merge")
      ->check(CLI::IsMember({"refuse", "replace", "merge"}));
  c_chroma->add_option("--batch", chroma.batch, "Accepted and unused: the import is one transaction")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  c_chroma->add_flag("--skip-empty", chroma.skip_empty,
                     "Leave out collections that never got an embedding (refused otherwise)");
  c_chroma->add_flag("--dry-run", chroma.dry_run, "Read and check everything as the import does, write nothing");

  parsed_command_line out;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    out.exit_code = app.exit(e);
    return out;
  } catch (const CLI::CallForAllHelp& e) {
    out.exit_code = app.exit(e);
    return out;
  } catch (const CLI::CallForVersion& e) {
    out.exit_code = app.exit(e);
    return out;
  } catch (const CLI::ParseError& e) {
    std::string why = vecstore::detail::escape_for_message(e.what(), 500);  // CLI11 quotes argv words raw
    if (app.get_subcommands().empty() && argc > 1) {
      // The first word that is not a global option names the command.
      for (int i = 1; i < argc; ++i) {
        const std::string_view w = argv[i];
        if (w == "--json" || w == "--no-progress" || w == "--no-recover") continue;
        if (w == "--lock-timeout") {
          ++i;
          continue;
        }
        if (!w.empty() && w[0] != '-') why = "unknown command " + vecstore::detail::quote_name(w);
        break;
      }
    }
    const auto parsed = app.get_subcommands();
    const std::string help = parsed.empty() ? std::string("vecstore --help") : "vecstore " + parsed.front()->get_name() + " --help";
    out.exit_code = report_error(json_mode, exit_usage, why + ". Run '" + help + "' for the usage");
    return out;
  }

  out.globals = g;
  if (*c_create) {
    out.to_run = create;
  } else if (*c_import) {
    if (o_imp_dim->count()) imp.dim = imp_dim;
    if (o_imp_metric->count()) imp.metric = imp_metric;
    out.to_run = imp;
  } else if (*c_export) {
    out.to_run = exp;
  } else if (*c_get) {
    out.to_run = get;
  } else if (*c_query) {
    out.to_run = qry;
  } else if (*c_count) {
    out.to_run = count;
  } else if (*c_stats) {
    out.to_run = stats;
  } else if (*c_health) {
    out.to_run = health;
  } else if (*c_verify) {
    out.to_run = verify;
  } else if (*c_backup) {
    out.to_run = backup;
  } else if (*c_restore) {
    out.to_run = restore;
  } else if (*c_recover) {
    out.to_run = recover;
  } else if (*c_compact) {
    out.to_run = compact;
  } else if (*c_chroma) {
    out.to_run = chroma;
  } else {
    out.exit_code = report_error(g.json, exit_usage, "no command given. Run 'vecstore --help'");
  }
  return out;
}

}  // namespace vecstore_cli
