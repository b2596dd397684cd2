// SPDX-License-Identifier: MIT
// vecstore must survive what <windows.h> does to user code: function-like
// min and max macros defined before it is included.
// libstdc++ #undefs min/max in its own headers, so the standard headers come
// first here and the macros after them, as they would on Windows.
#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <complex>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iosfwd>
#include <iostream>
#include <istream>
#include <iterator>
#include <limits>
#include <list>
#include <locale>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <numeric>
#include <optional>
#include <ostream>
#include <random>
#include <regex>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <typeindex>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <valarray>
#include <variant>
#include <vector>
#if __cplusplus >= 202002L
#include <bit>
#include <compare>
#include <concepts>
#include <numbers>
#include <ranges>
#include <span>
#endif

#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#include <vecstore/vecstore.hpp>

#if !defined(min) || !defined(max)
#error "the test no longer has min/max macros in force: move the standard includes"
#endif

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"

TEST_CASE("vecstore compiles and works after function-like min and max macros", "[store][macros]") {
  vecstore_test::temp_dir dir;
  vecstore::store_options o;
  o.path = dir / "store.db";
  auto db = vecstore::open(o);
  auto c = db->create_collection("c", {2, vecstore::metric::l2});
  c.add({{"a", {1, 2}, std::nullopt, {}}});
  CHECK(c.query({1, 2}).at(0).id == "a");
}
