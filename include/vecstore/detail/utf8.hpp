// SPDX-License-Identifier: MIT
// Strict UTF-8 validation, and quoting of untrusted strings for error messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// Byte offset of the first byte of the first ill-formed sequence in `s`, or
/// `std::string_view::npos` when all of `s` is well-formed UTF-8.
///
/// Strict, as Unicode's table 3-7 ("Well-Formed UTF-8 Byte Sequences") defines
/// it: overlong forms (C0, C1, E0 80..9F, F0 80..8F), UTF-16 surrogates
/// (ED A0..BF), code points above U+10FFFF (F4 90.., F5..FF), stray
/// continuation bytes and truncated sequences are all rejected. SQLite and
/// nlohmann/json would otherwise store or refuse such text inconsistently:
/// nlohmann's dump() throws on it, so it must be caught before it is stored.
inline std::size_t first_invalid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    // Allowed range of the second byte; the later ones are always 80..BF.
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b == 0xE0) {
      len = 3;
      lo = 0xA0;  // E0 80..9F would be an overlong 3-byte form
    } else if (b == 0xED) {
      len = 3;
      hi = 0x9F;  // ED A0..BF encodes the surrogates U+D800..U+DFFF
    } else if (b >= 0xE1 && b <= 0xEF) {
      len = 3;
    } else if (b == 0xF0) {
      len = 4;
      lo = 0x90;  // F0 80..8F would be an overlong 4-byte form
    } else if (b >= 0xF1 && b <= 0xF3) {
      len = 4;
    } else if (b == 0xF4) {
      len = 4;
      hi = 0x8F;  // F4 90.. is above U+10FFFF
    } else {
      return i;  // 80..BF stray continuation, C0/C1 overlong, F5..FF out of range
    }
    if (n - i < len) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

/// True when `s` is well-formed UTF-8 (see `first_invalid_utf8`).
inline bool is_valid_utf8(std::string_view s) noexcept {
  return first_invalid_utf8(s) == std::string_view::npos;
}

/// Length of the longest prefix of `s` of at most `max_bytes` that does not
/// end inside a multi-byte character (it backs off at most 3 bytes, which is
/// enough for well-formed text and bounded for garbage).
inline std::size_t cut_at_boundary(std::string_view s, std::size_t max_bytes) noexcept {
  if (s.size() <= max_bytes) return s.size();
  std::size_t n = max_bytes;
  for (int back = 0; back < 3 && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80;
       ++back) {
    --n;
  }
  return n;
}

/// `s` made fit to be put into an error message: control characters and bytes
/// that are not valid UTF-8 become \xNN (so the message itself stays valid
/// UTF-8 and printable), and text longer than `max_bytes` is cut at a
/// character boundary and ends with "...". Untrusted input must not be able
/// to forge, corrupt or flood a message.
inline std::string escape_for_message(std::string_view s, std::size_t max_bytes = 200) {
  constexpr char hex[] = "0123456789ABCDEF";
  const std::size_t keep = cut_at_boundary(s, max_bytes);
  std::string out;
  std::size_t i = 0;
  while (i < keep) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0x80) {
      // Keep a well-formed multi-byte character whole; escape anything else.
      const std::size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
      if (i + len <= keep && is_valid_utf8(s.substr(i, len))) {
        out.append(s.substr(i, len));
        i += len;
        continue;
      }
    }
    if (b < 0x20 || b >= 0x7F) {
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 0xF];
    } else {
      out += static_cast<char>(b);
    }
    ++i;
  }
  if (keep < s.size()) out += "...";
  return out;
}

/// `s` in double quotes for an error message: as `escape_for_message`, with
/// quotes and backslashes escaped too so the quoted text cannot end early.
inline std::string quote_for_message(std::string_view s, std::size_t max_bytes = 40) {
  const std::size_t keep = cut_at_boundary(s, max_bytes);
  std::string out = "\"";
  std::size_t i = 0;
  while (i < keep) {
    std::size_t j = i;
    while (j < keep && s[j] != '"' && s[j] != '\\') ++j;
    out += escape_for_message(s.substr(i, j - i), j - i);
    if (j < keep) {
      out += '\\';
      out += s[j];
      ++j;
    }
    i = j;
  }
  out += '"';
  if (keep < s.size()) out += "...";
  return out;
}

/// A collection name, record id or metadata key from the caller (or read from
/// a file) quoted for a message as `quote_for_message` does, up to 64 bytes.
/// Every message that names one goes through here: a valid id may still hold
/// newlines, quotes or control characters, and a damaged file anything.
inline std::string quote_name(std::string_view s) { return quote_for_message(s, 64); }

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
