// SPDX-License-Identifier: MIT
// The tool's output (output.hpp): json_doc over nlohmann's ordered_json, and
// the text helpers.
#include "output.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

namespace vecstore_cli {

namespace {

using json = nlohmann::ordered_json;

}  // namespace

struct json_doc::node {
  json value;
};

namespace {

json_doc::node* make_node(json value) { return new json_doc::node{std::move(value)}; }

/// The value a node holds, moved out of it: what object(), set() and
/// push_back() are given are temporaries or copies only they can see.
json take(const std::unique_ptr<json_doc::node>& n) { return n ? std::move(n->value) : json(nullptr); }

}  // namespace

json_doc::json_doc() noexcept = default;
json_doc::json_doc(std::nullptr_t) noexcept {}
json_doc::json_doc(bool b) : node_(make_node(json(b))) {}
json_doc::json_doc(int n) : node_(make_node(json(n))) {}
json_doc::json_doc(long n) : node_(make_node(json(n))) {}
json_doc::json_doc(long long n) : node_(make_node(json(n))) {}
json_doc::json_doc(unsigned n) : node_(make_node(json(n))) {}
json_doc::json_doc(unsigned long n) : node_(make_node(json(n))) {}
json_doc::json_doc(unsigned long long n) : node_(make_node(json(n))) {}
json_doc::json_doc(double d) : node_(make_node(json(d))) {}
json_doc::json_doc(const char* s) : node_(make_node(json(s))) {}
json_doc::json_doc(std::string s) : node_(make_node(json(std::move(s)))) {}
json_doc::json_doc(const std::vector<std::string>& strings) : node_(make_node(json(strings))) {}

json_doc::json_doc(const json_doc& other) : node_(other.node_ ? make_node(other.node_->value) : nullptr) {}
json_doc::json_doc(json_doc&& other) noexcept = default;
json_doc& json_doc::operator=(const json_doc& other) {
  if (this != &other) node_.reset(other.node_ ? make_node(other.node_->value) : nullptr);
  return *this;
}
json_doc& json_doc::operator=(json_doc&& other) noexcept = default;
json_doc::~json_doc() = default;

json_doc json_doc::object(std::initializer_list<member> members) {
  json j = json::object();
  for (const member& m : members) j[m.key] = take(m.value.node_);
  json_doc d;
  d.node_.reset(make_node(std::move(j)));
  return d;
}

json_doc json_doc::array() {
  json_doc d;
  d.node_.reset(make_node(json::array()));
  return d;
}

void json_doc::set(const std::string& key, json_doc value) {
  if (!node_) node_.reset(make_node(json(nullptr)));
  node_->value[key] = take(value.node_);
}

void json_doc::push_back(json_doc value) {
  if (!node_) node_.reset(make_node(json(nullptr)));
  node_->value.push_back(take(value.node_));
}

std::string json_doc::dump(int indent, bad_utf8 bad) const {
  const auto handler = bad == bad_utf8::replace ? json::error_handler_t::replace : json::error_handler_t::strict;
  return (node_ ? node_->value : json(nullptr)).dump(indent, ' ', false, handler);
}

void print_json(const json_doc& j) { std::cout << j.dump() << "\n"; }

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

std::string bytes_text(std::uintmax_t n) {
  char buf[48];
  if (n >= (std::uintmax_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(n) / (1 << 30));
  } else if (n >= (std::uintmax_t{1} << 20)) {
    std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(n) / (1 << 20));
  } else if (n >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%ju bytes", n);
  }
  return buf;
}

std::string utc_iso(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&tt, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

std::string one_line(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

double json_float(float f) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, f);
  if (res.ec != std::errc()) return static_cast<double>(f);
  *res.ptr = '\0';
  const double d = std::strtod(buf, nullptr);
  return static_cast<float>(d) == f ? d : static_cast<double>(f);
}

}  // namespace vecstore_cli
