// SPDX-License-Identifier: MIT
// Quickstart: create a store, add records with documents and metadata, run a
// filtered query, and print the hits and the store's health report.
//
//   vecstore_quickstart [store-file]     (default: ./quickstart.db, recreated)
#include <iomanip>
#include <iostream>

#include <vecstore/vecstore.hpp>

int main(int argc, char** argv) {
  const std::filesystem::path path = argc > 1 ? argv[1] : "quickstart.db";
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(path.string() + suffix);

  try {
    vecstore::store_options options;
    options.path = path;
    auto db = vecstore::open(options);
    auto papers = db->get_or_create_collection("papers", {4, vecstore::metric::cosine});

    // In a real service the embeddings come from a model; four dimensions keep the example readable.
    papers.add({
        {"1706.03762", {0.9f, 0.1f, 0.0f, 0.1f}, "Attention is all you need",
         {{"year", std::int64_t{2017}}, {"cat", std::string("cs.CL")}, {"citations", 100000.0}}},
        {"2005.14165", {0.8f, 0.3f, 0.1f, 0.0f}, "Language models are few-shot learners",
         {{"year", std::int64_t{2020}}, {"cat", std::string("cs.CL")}, {"open_access", true}}},
        {"2010.11929", {0.6f, 0.1f, 0.7f, 0.0f}, "An image is worth 16x16 words",
         {{"year", std::int64_t{2020}}, {"cat", std::string("cs.CV")}}},
        {"2112.10752", {0.1f, 0.2f, 0.9f, 0.3f}, "High-resolution image synthesis with latent diffusion",
         {{"year", std::int64_t{2021}}, {"cat", std::string("cs.CV")}}},
        {"2203.02155", {0.7f, 0.6f, 0.0f, 0.2f}, "Training language models to follow instructions",
         {{"year", std::int64_t{2022}}, {"cat", std::string("cs.CL")}}},
    });

    vecstore::query_options query;
    query.k = 3;
    query.where = vecstore::where("year") >= 2020 && vecstore::where("cat").in({"cs.CL", "cs.LG"});
    std::cout << "Papers since 2020 in cs.CL or cs.LG nearest to a 'language model' query:\n";
    for (const auto& hit : papers.query({0.85f, 0.35f, 0.05f, 0.05f}, query)) {
      std::cout << "  " << std::left << std::setw(12) << hit.id << std::fixed << std::setprecision(4)
                << hit.distance << "  " << hit.document.value_or("") << "  (year "
                << std::get<std::int64_t>(hit.meta.at("year")) << ")\n";
    }
    std::cout << "\nStore health:\n" << db->health(true).to_json().dump(2) << "\n";
  } catch (const vecstore::error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
