// SPDX-License-Identifier: MIT
// Quickstart: create a store, add records with documents and metadata, run a
// filtered query, and print the hits and the store's health report. The
// README's snippet is the body of run() below, verbatim (tools/check_snippets.py).
//
//   vecstore_quickstart [store-file]     (default: ./quickstart.db, recreated)
#include <vecstore/vecstore.hpp>

#include <iostream>
#include <vector>

namespace {

// In a real service the embeddings come from a model; four dimensions keep the example readable.
const std::vector<float> embedding{0.9f, 0.1f, 0.0f, 0.1f};
const std::vector<float> query_embedding{0.85f, 0.35f, 0.05f, 0.05f};

/// Papers already in the store before run() starts.
void seed(const std::filesystem::path& path) {
  vecstore::store_options options;
  options.path = path;
  auto papers = vecstore::open(options)->get_or_create_collection("papers", {4, vecstore::metric::cosine});
  papers.add({
      {"2005.14165", {0.8f, 0.3f, 0.1f, 0.0f}, "Language models are few-shot learners",
       {{"year", std::int64_t{2020}}, {"cat", std::string("cs.CL")}, {"open_access", true}}},
      {"2010.11929", {0.6f, 0.1f, 0.7f, 0.0f}, "An image is worth 16x16 words",
       {{"year", std::int64_t{2020}}, {"cat", std::string("cs.CV")}}},
      {"2112.10752", {0.1f, 0.2f, 0.9f, 0.3f}, "High-resolution image synthesis with latent diffusion",
       {{"year", std::int64_t{2021}}, {"cat", std::string("cs.LG")}}},
      {"2203.02155", {0.7f, 0.6f, 0.0f, 0.2f}, "Training language models to follow instructions",
       {{"year", std::int64_t{2022}}, {"cat", std::string("cs.LG")}, {"citations", 9000.5}}},
  });
}

void run(const std::filesystem::path& path) {
  vecstore::store_options options;
  options.path = path;
  auto db = vecstore::open(options);                       // one instance per file per process
  auto papers = db->get_or_create_collection("papers", {4, vecstore::metric::cosine});

  papers.add({{"1706.03762", embedding, "Attention is all you need",
               {{"year", std::int64_t{2017}}, {"cat", std::string("cs.CL")}}}});

  vecstore::query_options q;
  q.k = 10;
  q.where = vecstore::where("year") >= 2020 && vecstore::where("cat").in({"cs.LG", "cs.AI"});
  for (const auto& hit : papers.query(query_embedding, q))
    std::cout << hit.id << ' ' << hit.distance << ' ' << hit.document.value_or("") << '\n';

  std::cout << db->health().to_json().dump(2) << '\n';     // for a health endpoint
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path path = argc > 1 ? argv[1] : "quickstart.db";
  for (const char* suffix : {"", "-wal", "-shm", ".lock", ".open"}) std::filesystem::remove(path.string() + suffix);
  try {
    seed(path);
    run(path);
  } catch (const vecstore::error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
