// dwconv: the one place where a runtime kernel height becomes a compile-time
// one. Heights outside the table run the runtime-K kernel.
#pragma once

#include <type_traits>

#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// Kernel heights with a compile-time kernel, in the order they are tried.
inline constexpr int kStaticKernelHeights[] = {1, 3, 5, 7, 9, 15, 31};

/// Calls f(std::integral_constant<int, K>) when k is in the table and
/// returns true; returns false (and calls nothing) otherwise.
template <class F>
bool dispatch_static_k(int k, F&& f) {
  switch (k) {
    case 1: f(std::integral_constant<int, 1>{}); return true;
    case 3: f(std::integral_constant<int, 3>{}); return true;
    case 5: f(std::integral_constant<int, 5>{}); return true;
    case 7: f(std::integral_constant<int, 7>{}); return true;
    case 9: f(std::integral_constant<int, 9>{}); return true;
    case 15: f(std::integral_constant<int, 15>{}); return true;
    case 31: f(std::integral_constant<int, 31>{}); return true;
    default: return false;
  }
}

/// Calls f(std::integral_constant<int, V>{}, std::integral_constant<int, S>{})
/// for runtime lanes `vec` (a power of two, at most MaxV) and a shift `s` in
/// [0, vec) and returns true; returns false (and calls nothing) otherwise.
template <int V, int S = 0, class F>
bool dispatch_shift(int s, F& f) {
  if constexpr (S >= V) {
    return false;
  } else {
    if (s != S) return dispatch_shift<V, S + 1>(s, f);
    f(std::integral_constant<int, V>{}, std::integral_constant<int, S>{});
    return true;
  }
}
template <int MaxV, class F>
bool dispatch_vec_shift(int vec, int s, F&& f) {
  if constexpr (MaxV < 1) {
    return false;
  } else {
    if (vec != MaxV) return dispatch_vec_shift<MaxV / 2>(vec, s, f);
    return dispatch_shift<MaxV>(s, f);
  }
}

/// Calls f(std::integral_constant<Layout, L>) for the problem's layout.
template <class F>
void dispatch_layout(Layout layout, F&& f) {
  if (layout == Layout::NCHW)
    f(std::integral_constant<Layout, Layout::NCHW>{});
  else
    f(std::integral_constant<Layout, Layout::NHWC>{});
}

}  // namespace detail
}  // namespace dwconv
