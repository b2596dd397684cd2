// SPDX-License-Identifier: MIT
// import and export (import_export.hpp).
#include "import_export.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "exit_codes.hpp"
#include "formats.hpp"
#include "npy_writer.hpp"
#include "option_values.hpp"
#include "output.hpp"
#include "output_file.hpp"
#include "progress.hpp"
#include "store_access.hpp"

namespace vecstore_cli {

namespace {

/// Reads the whole file once before anything is written: format, dimensions,
/// values, ids repeated within the file, and (without --upsert) ids the
/// collection already has. Errors name the row or line. Returns the number
/// of records.
std::uint64_t validate_import(const global_options& g, const import_args& a, file_format format,
                              const vecstore::collection_options& copts, std::optional<collection_t>& target) {
  progress bar("check", 0, progress_wanted(g.no_progress));
  auto source = open_source(a.file, format, a.id_prefix);
  const bool check_existing = target && !a.upsert;
  const bool check_repeats = format == file_format::jsonl;  // fvecs/npy ids are row numbers
  std::vector<std::uint64_t> hashes;
  std::vector<std::pair<std::string, std::string>> pending;  // (id, where), checked against the store
  const auto check_pending = [&] {
    if (pending.empty()) return;
    std::vector<std::string> ids;
    ids.reserve(pending.size());
    for (const auto& p : pending) ids.push_back(p.first);
    const auto found = target->get(ids, vecstore::include::none);
    if (!found.empty()) {
      const auto at = std::find_if(pending.begin(), pending.end(), [&](const auto& p) { return p.first == found.front().id; });
      vecstore::detail::throw_error<vecstore::duplicate_id>(
          "cannot import", a.file,
          at->second + ": id " + vecstore::detail::quote_name(at->first) + " exists already in collection " +
              vecstore::detail::quote_name(a.collection),
          "Pass --upsert to replace existing records (or --id-prefix for fvecs/npy); nothing was written");
    }
    pending.clear();
  };
  std::uint64_t n = 0;
  vecstore::record r;
  while (source->next(r)) {
    if (n == 0) bar.set_total(source->size_hint());
    const std::string where = source->where();
    vecstore::detail::check_id(r.id, where);
    if (!r.embedding.empty()) {
      vecstore::detail::check_embedding(r.embedding.data(), r.embedding.size(), copts.dim, copts.space, where);
    }
    if (r.document) vecstore::detail::check_utf8(*r.document, "invalid document", where + "'s document");
    vecstore::detail::check_metadata(r.meta, where);
    if (check_repeats) hashes.push_back(std::hash<std::string>{}(r.id));
    if (check_existing) {
      pending.emplace_back(r.id, where);
      if (pending.size() >= 1000) check_pending();
    }
    ++n;
    bar.advance(1);
  }
  check_pending();
  bar.finish();
  if (check_repeats) find_repeated_ids(a.file, hashes);
  return n;
}

}  // namespace

int run_import(const global_options& g, const import_args& a) {
  const auto started = std::chrono::steady_clock::now();
  const file_format format = resolve_format(a.file, a.format);
  if (format == file_format::jsonl && !a.id_prefix.empty()) {
    throw usage_error("--id-prefix applies to fvecs and npy files; JSON Lines records carry their own ids");
  }
  vecstore::detail::check_collection_name(a.collection);

  // 1. The target: an existing collection, or the options to create one.
  std::error_code ec;
  std::shared_ptr<store_t> s;
  std::optional<vecstore::collection_info> existing;
  if (fs::exists(a.store, ec)) {
    s = open_store(a.store, open_as::existing, g);
    existing = find_collection(*s, a.collection);
  }
  vecstore::collection_options copts;
  if (existing) {
    copts = {existing->dim, existing->space};
    if ((a.dim && *a.dim != existing->dim) || (a.metric && parse_metric(*a.metric) != existing->space)) {
      vecstore::detail::throw_error<vecstore::invalid_argument>(
          "cannot import", a.store,
          "collection " + vecstore::detail::quote_name(a.collection) + " exists with dim " +
              std::to_string(existing->dim) + " and metric " +
              vecstore::to_string(existing->space) + ", not the --dim/--metric given",
          "Leave out --dim and --metric to import into it, or use another collection name");
    }
  } else if (a.dim) {
    copts = {*a.dim, a.metric ? parse_metric(*a.metric) : vecstore::metric::cosine};
    vecstore::detail::check_collection_options(copts);
  } else if (!s) {
    vecstore::detail::throw_error<vecstore::not_found>(
        "cannot import", a.store, "the store does not exist",
        "Pass --dim (and --metric) to create the store and the collection, or check the path");
  } else {
    vecstore::detail::throw_error<vecstore::not_found>(
        "cannot import", a.store, "there is no collection named " + vecstore::detail::quote_name(a.collection),
        "Pass --dim (and --metric) to create it, or run `vecstore create` first");
  }
  std::optional<collection_t> target;
  if (existing) target = s->get_collection(a.collection);

  // 2. Check the whole file before writing anything.
  const std::uint64_t total = validate_import(g, a, format, copts, target);

  // 3. Write, in transactions of --batch records.
  if (!s) s = open_store(a.store, open_as::create, g);
  const bool created = !existing;
  if (!target) target = s->get_or_create_collection(a.collection, copts);
  std::uint64_t written = 0;
  {
    progress bar("import", total, progress_wanted(g.no_progress));
    auto source = open_source(a.file, format, a.id_prefix);
    std::vector<vecstore::record> batch;
    batch.reserve(std::min<std::size_t>(a.batch, 100000));
    vecstore::record r;
    const auto flush = [&] {
      if (batch.empty()) return;
      try {
        if (a.upsert) {
          target->upsert(batch);
        } else {
          target->add(batch);
        }
      } catch (const vecstore::error& e) {
        throw vecstore::error(e.code(),
                              std::string(e.what()) + " (" + std::to_string(written) + " of " +
                                  std::to_string(total) + " records were written before this batch; the batch "
                                                          "failed as a whole)",
                              e.path());
      }
      written += batch.size();
      bar.advance(batch.size());
      batch.clear();
    };
    while (source->next(r)) {
      batch.push_back(std::move(r));
      r = vecstore::record{};
      if (batch.size() >= a.batch) flush();
    }
    flush();
    bar.finish();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (g.json) {
    print_json(json_doc::object({{"store", s->path().string()},
                                 {"collection", a.collection},
                                 {"file", a.file.string()},
                                 {"format", to_string(format)},
                                 {"records", written},
                                 {"mode", a.upsert ? "upsert" : "add"},
                                 {"created_collection", created},
                                 {"dim", copts.dim},
                                 {"metric", vecstore::to_string(copts.space)},
                                 {"seconds", secs}}));
  } else {
    std::cout << "imported " << written << " records into \"" << a.collection << "\" (" << s->path().string()
              << ") from " << a.file.string() << " (" << to_string(format) << ") in " << seconds_text(secs)
              << (created ? "; created the collection (dim " + std::to_string(copts.dim) + ", metric " +
                                vecstore::to_string(copts.space) + ")"
                          : std::string())
              << "\n";
  }
  return exit_ok;
}

int run_export(const global_options& g, const export_args& a) {
  const auto started = std::chrono::steady_clock::now();
  file_format format = file_format::jsonl;
  if (!a.format.empty()) {
    format = resolve_format(a.file, a.format);
  } else if (a.file.extension() == ".npy") {
    format = file_format::npy;
  }
  if (format == file_format::fvecs) throw usage_error("export writes jsonl or npy, not fvecs");
  auto s = open_store(a.store, open_as::existing, g);
  auto c = s->get_collection(a.collection);
  // The ids in one snapshot, then the records in batches by id: a record
  // removed meanwhile is left out, one changed meanwhile is exported as it
  // is when its batch is read.
  std::vector<std::string> ids;
  {
    vecstore::get_options o;
    o.fields = vecstore::include::none;
    auto all = c.get(o);
    ids.reserve(all.size());
    for (auto& r : all) ids.push_back(std::move(r.id));
  }
  output_file out(a.file, a.force);
  std::optional<npy_writer> npy;
  if (format == file_format::npy) npy.emplace(out, c.dim());
  std::uint64_t written = 0, without_embedding = 0;
  {
    progress bar("export", ids.size(), progress_wanted(g.no_progress));
    constexpr std::size_t batch = 1000;
    std::vector<std::string> chunk;
    std::string text;
    for (std::size_t i = 0; i < ids.size(); i += batch) {
      chunk.assign(ids.begin() + static_cast<std::ptrdiff_t>(i),
                   ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + batch)));
      const auto fields = npy ? vecstore::include::embeddings : vecstore::include::all;
      text.clear();
      for (const auto& r : c.get(chunk, fields)) {
        if (npy) {
          if (r.embedding.empty()) {
            ++without_embedding;
            continue;
          }
          npy->add(r.embedding);
        } else {
          text += jsonl_line(r);
          text += '\n';
        }
        ++written;
      }
      out.write(text);
      bar.advance(chunk.size());
    }
    if (npy) npy->finish();
    out.commit();
    bar.finish();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (g.json) {
    json_doc j = json_doc::object({{"store", s->path().string()},
                                   {"collection", a.collection},
                                   {"file", a.file.string()},
                                   {"format", to_string(format)},
                                   {"records", written},
                                   {"seconds", secs}});
    if (npy) {
      j.set("dim", c.dim());
      j.set("skipped_without_embedding", without_embedding);
    }
    print_json(j);
  } else {
    std::cout << "exported " << written << (npy ? " vectors" : " records") << " of \"" << a.collection << "\" to "
              << a.file.string() << " (" << to_string(format) << ") in " << seconds_text(secs) << "\n";
  }
  if (without_embedding) {
    std::cerr << "vecstore: note: " << without_embedding
              << " records have no embedding and are not in the .npy file; export jsonl to keep them\n";
  }
  return exit_ok;
}

}  // namespace vecstore_cli
