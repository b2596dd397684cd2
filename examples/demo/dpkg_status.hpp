// SPDX-License-Identifier: MIT
// Reads package descriptions from a dpkg status database (/var/lib/dpkg/status),
// the real text every Debian machine has. Used by the demo.
//
// The file is a list of stanzas separated by blank lines; a stanza is a list
// of "Field: value" lines, a value continuing on lines that start with a
// space or a tab. Field names are case-insensitive. In a Description the
// first line is the synopsis, the continuation lines the long description
// (one leading space dropped, " ." standing for an empty line). The parser
// accepts CRLF line ends, skips stanzas without a Package or Description,
// replaces invalid UTF-8 bytes with '?', and bounds what it keeps.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace demo {

struct package {
  std::string id;  ///< the package name, or "name:arch" when the name was seen already
  std::string name;
  std::string architecture;
  std::string version;
  std::string section;                         ///< "" when absent
  std::string priority;                        ///< "" when absent
  std::optional<std::int64_t> installed_size;  ///< KiB
  bool essential = false;
  std::string synopsis;  ///< the Description's first line
  std::string long_description;
};

namespace dpkg_detail {

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

/// Copies `s`, replacing each byte that does not belong to a valid UTF-8
/// sequence (and control characters other than newline and tab) with '?'.
inline std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : static_cast<char>(c);
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07u;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xC0u) == 0x80u;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are invalid too.
    if (ok) {
      ok = !(len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) &&
           !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF));
    }
    if (!ok) {
      out += '?';
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

/// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
inline void truncate_utf8(std::string& s, std::size_t max) {
  if (s.size() <= max) return;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0u) == 0x80u) --cut;
  s.resize(cut);
}

struct field {
  std::string name;   // lowercased
  std::string value;  // first line, then "\n" + each continuation line as written (minus the newline)
};

inline void finish_stanza(std::vector<field>& fields, std::vector<package>& out, std::unordered_set<std::string>& ids,
                          std::size_t max_packages, std::size_t max_description_bytes) {
  if (out.size() >= max_packages) {
    fields.clear();
    return;
  }
  package p;
  bool has_description = false;
  for (const auto& f : fields) {
    const std::string_view value(f.value);
    const std::string_view first = trim(value.substr(0, value.find('\n')));
    if (f.name == "package") {
      p.name = std::string(first);
    } else if (f.name == "architecture") {
      p.architecture = std::string(first);
    } else if (f.name == "version") {
      p.version = std::string(first);
    } else if (f.name == "section") {
      p.section = std::string(first);
    } else if (f.name == "priority") {
      p.priority = std::string(first);
    } else if (f.name == "essential") {
      p.essential = lower(first) == "yes";
    } else if (f.name == "installed-size") {
      std::int64_t kib = 0;
      const auto [end, ec] = std::from_chars(first.data(), first.data() + first.size(), kib);
      if (ec == std::errc() && end == first.data() + first.size() && kib >= 0) p.installed_size = kib;
    } else if (f.name == "description") {
      has_description = true;
      p.synopsis = sanitize_utf8(first);
      std::string text;
      std::size_t pos = value.find('\n');
      while (pos != std::string_view::npos) {
        const std::size_t next = value.find('\n', pos + 1);
        std::string_view line =
            value.substr(pos + 1, next == std::string_view::npos ? std::string_view::npos : next - pos - 1);
        if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        if (trim(line) == ".") line = {};
        if (!text.empty()) text += '\n';
        text.append(line.data(), line.size());
        pos = next;
      }
      p.long_description = sanitize_utf8(trim(text));
      truncate_utf8(p.long_description, max_description_bytes);
    }
  }
  fields.clear();
  // Package names are [a-z0-9.+-]; anything else means a damaged stanza, skipped.
  const bool valid_name =
      !p.name.empty() && p.name.size() <= 200 && std::all_of(p.name.begin(), p.name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '+' ||
               c == '-';
      });
  if (!valid_name || !has_description || p.synopsis.empty()) return;
  p.architecture = sanitize_utf8(p.architecture);
  p.version = sanitize_utf8(p.version);
  p.section = sanitize_utf8(p.section);
  p.priority = sanitize_utf8(p.priority);
  p.id = p.name;
  if (!ids.insert(p.id).second) {  // a second architecture of a Multi-Arch package, or a repeat
    p.id = p.name + ":" + (p.architecture.empty() ? std::string("unknown") : p.architecture);
    if (!ids.insert(p.id).second) return;
  }
  out.push_back(std::move(p));
}

}  // namespace dpkg_detail

/// Parses dpkg status text; keeps at most `max_packages` packages.
inline std::vector<package> parse_dpkg_status(std::string_view text, std::size_t max_packages,
                                              std::size_t max_description_bytes = 4000) {
  std::vector<package> out;
  std::unordered_set<std::string> ids;
  std::vector<dpkg_detail::field> fields;
  std::size_t pos = 0;
  while (pos <= text.size() && out.size() < max_packages) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (dpkg_detail::trim(line).empty()) {  // a blank line ends the stanza
      if (!fields.empty()) dpkg_detail::finish_stanza(fields, out, ids, max_packages, max_description_bytes);
      if (end >= text.size()) break;
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {  // continuation of the last field
      if (!fields.empty() && fields.back().value.size() < 64 * 1024) {
        fields.back().value += '\n';
        fields.back().value.append(line.data(), line.size());
      }
    } else if (const std::size_t colon = line.find(':'); colon != std::string_view::npos && colon > 0) {
      fields.push_back({dpkg_detail::lower(dpkg_detail::trim(line.substr(0, colon))),
                        std::string(dpkg_detail::trim(line.substr(colon + 1)))});
    }  // else: not a field line; ignored
    if (end >= text.size()) break;
  }
  if (!fields.empty()) dpkg_detail::finish_stanza(fields, out, ids, max_packages, max_description_bytes);
  return out;
}

/// Reads and parses a status file; throws std::runtime_error naming the file
/// when it cannot be read or holds no package with a description.
inline std::vector<package> read_dpkg_status(const std::string& path, std::size_t max_packages) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + " (is this a Debian system? pass --status FILE)");
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > (std::uintmax_t{512} << 20)) {
    throw std::runtime_error(path + " is larger than 512 MiB; not a dpkg status file?");
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  auto packages = parse_dpkg_status(text, max_packages);
  if (packages.empty()) throw std::runtime_error(path + " holds no package with a description");
  return packages;
}

}  // namespace demo
