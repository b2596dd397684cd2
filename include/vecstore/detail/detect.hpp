// SPDX-License-Identifier: MIT
// The detection idiom (Library Fundamentals TS v2) that every policy requirements header builds on.
#pragma once

#include <type_traits>

namespace vecstore {
inline namespace v0 {
namespace detail {

/// The "nothing detected" type: it can be neither built nor destroyed, so a
/// failed detection can never be mistaken for a real member type.
struct nonesuch {
  nonesuch() = delete;
  ~nonesuch() = delete;
  nonesuch(const nonesuch&) = delete;
  void operator=(const nonesuch&) = delete;
};

template <class Default, class AlwaysVoid, template <class...> class Op, class... Args>
struct detector {
  using value_t = std::false_type;
  using type = Default;
};

template <class Default, template <class...> class Op, class... Args>
struct detector<Default, std::void_t<Op<Args...>>, Op, Args...> {
  using value_t = std::true_type;
  using type = Op<Args...>;
};

/// std::true_type when `Op<Args...>` is well-formed. `Op` is usually an alias
/// such as `decltype(std::declval<L&>().lock())`, so this asks "can I call it?".
template <template <class...> class Op, class... Args>
using is_detected = typename detector<nonesuch, void, Op, Args...>::value_t;

template <template <class...> class Op, class... Args>
inline constexpr bool is_detected_v = is_detected<Op, Args...>::value;

/// `Op<Args...>` when well-formed, otherwise `nonesuch`.
template <template <class...> class Op, class... Args>
using detected_t = typename detector<nonesuch, void, Op, Args...>::type;

/// True when `Op<Args...>` is well-formed and exactly `Expected`: a member
/// that exists but returns the wrong type is reported as missing, since the
/// policy's user relies on the declared return type.
template <class Expected, template <class...> class Op, class... Args>
using is_detected_exact = std::is_same<Expected, detected_t<Op, Args...>>;

template <class Expected, template <class...> class Op, class... Args>
inline constexpr bool is_detected_exact_v = is_detected_exact<Expected, Op, Args...>::value;

/// True when `Op<Args...>` is well-formed and converts to `To`.
template <class To, template <class...> class Op, class... Args>
using is_detected_convertible = std::is_convertible<detected_t<Op, Args...>, To>;

template <class To, template <class...> class Op, class... Args>
inline constexpr bool is_detected_convertible_v = is_detected_convertible<To, Op, Args...>::value;

/// `static_assert(detail::checked<lock_requirements<L>>)` instantiates the
/// requirements struct, which fires its per-member messages; the value
/// itself is always true. sizeof is what forces the instantiation.
template <class Requirements>
inline constexpr bool checked = sizeof(Requirements) > 0;

}  // namespace detail
}  // namespace v0
}  // namespace vecstore
