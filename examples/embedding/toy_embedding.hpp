// SPDX-License-Identifier: MIT
// A toy embedding function for the examples and the demo. NOT A MODEL.
//
// It turns text into a 256-dimensional unit vector by "feature hashing":
//
//  1. Tokens are runs of ASCII letters and digits (any byte >= 0x80 counts as
//     a letter, so UTF-8 words stay whole), lowercased (ASCII only, so the
//     result does not depend on the locale). Tokens of one character and a
//     short list of English stop words are dropped. A token ending in digits
//     also yields its letter prefix ("python3" -> "python3", "python").
//  2. Each token (weight 1) and each pair of neighbouring tokens (a bigram,
//     weight 0.5) is hashed with 64-bit FNV-1a. The hash picks a dimension
//     (hash mod dim) and a sign (a high bit), and the weight is added there
//     with that sign ("signed hashing": colliding features tend to cancel
//     rather than pile up).
//  3. The vector is L2-normalized. Text with no token at all maps to one
//     fixed unit vector, so the result is never all zeros (which a cosine
//     collection rejects).
//
// Texts that share words get a small cosine distance; that is all it knows.
// It has no notion of synonyms, word order beyond bigrams, or meaning: use a
// real embedding model in an application. It is deterministic across
// machines, compilers and runs, needs nothing but the standard library, and
// costs about a microsecond per word.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace examples {

/// The dimension the examples use for toy embeddings.
inline constexpr std::size_t toy_embedding_dim = 256;

namespace toy_detail {

inline std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 14695981039346656037ull) noexcept {
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

inline bool is_word_byte(unsigned char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

inline bool is_stop_word(std::string_view w) noexcept {
  static constexpr std::string_view stop[] = {
      "a",    "an",   "and",  "are",   "as",   "at",    "be",   "by",    "can",  "for",   "from", "has",
      "have", "in",   "into", "is",    "it",   "its",   "may",  "not",   "of",   "on",    "or",   "other",
      "so",   "some", "such", "that",  "the",  "their", "them", "these", "this", "those", "to",   "too",
      "use",  "used", "was",  "which", "will", "with",  "you",  "your",  "also", "than"};
  for (const auto s : stop) {
    if (w == s) return true;
  }
  return false;
}

/// Appends the tokens of `text` to `out` (see the rules at the top of the file).
inline void tokenize(std::string_view text, std::vector<std::string>& out) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !is_word_byte(static_cast<unsigned char>(text[i]))) ++i;
    std::string word;
    while (i < text.size() && is_word_byte(static_cast<unsigned char>(text[i]))) {
      char c = text[i++];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      word += c;
    }
    if (word.size() < 2 || is_stop_word(word)) continue;
    std::size_t letters = word.size();
    while (letters > 0 && word[letters - 1] >= '0' && word[letters - 1] <= '9') --letters;
    out.push_back(word);
    if (letters >= 2 && letters < word.size()) out.push_back(word.substr(0, letters));
  }
}

inline void add_feature(std::vector<float>& v, std::uint64_t h, float weight) noexcept {
  const std::size_t dim = v.size();
  const float sign = (h >> 63) != 0 ? -1.0f : 1.0f;
  v[static_cast<std::size_t>((h >> 1) % dim)] += sign * weight;
}

}  // namespace toy_detail

/// Embeds `text` into a unit vector of `dim` floats (see the top of this file).
/// Deterministic: equal texts give bit-identical vectors.
inline std::vector<float> toy_embedding(std::string_view text, std::size_t dim = toy_embedding_dim) {
  std::vector<float> v(dim == 0 ? 1 : dim, 0.0f);
  std::vector<std::string> tokens;
  toy_detail::tokenize(text, tokens);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    toy_detail::add_feature(v, toy_detail::fnv1a(tokens[i]), 1.0f);
    if (i + 1 < tokens.size()) {
      // "a b": the separator keeps ("ab", "c") and ("a", "bc") apart.
      const std::uint64_t h = toy_detail::fnv1a(tokens[i + 1], toy_detail::fnv1a("\x1f", toy_detail::fnv1a(tokens[i])));
      toy_detail::add_feature(v, h, 0.5f);
    }
  }
  double norm = 0.0;
  for (const float x : v) norm += static_cast<double>(x) * x;
  if (norm == 0.0) {  // no token (or every feature cancelled): one fixed direction
    v[0] = 1.0f;
    return v;
  }
  const float scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= scale;
  return v;
}

}  // namespace examples
