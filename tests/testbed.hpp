// dwconv tests: host helpers shared by the host and GPU suites. Random
// problems biased to edge cases, random fills, and the comparison against
// the reference with per-dtype tolerances.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dwconv/numeric.cuh>
#include <dwconv/problem.hpp>
#include <dwconv/reference.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace dwconv {
namespace testbed {

inline std::string describe(const Problem& p) {
  std::ostringstream os;
  os << to_string(p.layout) << " n=" << p.n << " c=" << p.c << " h=" << p.h << " w=" << p.w << " k=" << p.k
     << " stride=(" << p.stride_h << "," << p.stride_w << ") dil_h=" << p.dilation_h << " pad(t,b,l,r)=(" << p.pad_top
     << "," << p.pad_bottom << "," << p.pad_left << "," << p.pad_right << ")";
  return os.str();
}

/// Seed from DWCONV_TEST_SEED, else fresh; the caller prints it.
inline uint64_t test_seed() {
  if (const char* s = std::getenv("DWCONV_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  return (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
}

/// Random cases per dtype and layout: DWCONV_TEST_CASES, else `fallback`.
inline int test_cases(int fallback) {
  if (const char* s = std::getenv("DWCONV_TEST_CASES")) return std::atoi(s);
  return fallback;
}

/// One channel of one image: an H x 1 column and a kernel of height k.
inline Problem column_problem(int64_t h, int k) {
  Problem p;
  p.n = 1;
  p.c = 1;
  p.h = h;
  p.w = 1;
  p.k = k;
  return p;
}

/// The benchmark's 56x56 case (K3, pad 1 on both axes, NCHW) at `n` images
/// of `c` channels.
inline Problem mobile_56x56_problem(int64_t n, int64_t c) {
  Problem p;
  p.layout = Layout::NCHW;
  p.n = n;
  p.c = c;
  p.k = 3;
  p.h = p.w = 56;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
  return p;
}

/// The right pad of the fixed-phase tests' case `i` for left pad `pad`:
/// the same on odd cases, else one making pad_left + pad_right a multiple of
/// 4, so that rows of a multiple of 4 stay whole 4-lane vectors at every
/// phase of the left pad.
inline int fixed_shift_pad_right(int pad, int i) { return i % 2 ? pad : (4 - pad % 4) % 4 + pad / 4 * 4; }

inline constexpr int kEdgeKernelHeights[] = {1, 2, 3, 4, 5, 7, 9, 15, 16, 17, 31, 32, 63};

/// A random valid problem, biased toward edges: H < K, outputs of one row or
/// column, padding > K, stride > H, C = 1, N = 0, odd widths.
inline Problem random_problem(std::mt19937_64& rng, Layout layout) {
  auto pick = [&](int lo, int hi) { return int(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  auto chance = [&](int percent) { return pick(1, 100) <= percent; };
  for (;;) {
    Problem p;
    p.layout = layout;
    p.k = kEdgeKernelHeights[pick(0, int(std::size(kEdgeKernelHeights)) - 1)];
    p.n = chance(4) ? 0 : pick(1, 3);
    p.c = chance(15) ? 1 : (chance(50) ? 8 * pick(1, 4) : pick(1, 24));
    p.h = chance(15) ? pick(1, p.k) : pick(1, 80);
    p.w = chance(10) ? 1 : (chance(50) ? 2 * pick(1, 40) + 1 : 8 * pick(1, 10));
    p.stride_h = chance(60) ? 1 : pick(2, 5);
    p.stride_w = chance(60) ? 1 : pick(2, 4);
    p.dilation_h = chance(60) ? 1 : pick(2, 4);
    const int max_pad = chance(15) ? p.k + 4 : (p.k * p.dilation_h) / 2 + 1;
    p.pad_top = pick(0, max_pad);
    p.pad_bottom = chance(50) ? p.pad_top : pick(0, max_pad);
    p.pad_left = chance(50) ? 0 : pick(0, 5);
    p.pad_right = chance(50) ? p.pad_left : pick(0, 5);
    if (chance(5)) p.stride_h = int(p.h) + pick(1, 3);  // stride > H: one output row
    if (!validate(p).ok()) continue;
    if (p.x_elements() > 300000 || p.y_elements() > 300000) continue;
    return p;
  }
}

template <class T>
struct Tolerance {
  static double unit_roundoff() {
    if constexpr (std::is_same_v<T, double>) return 1.1102230246251565e-16;
    if constexpr (std::is_same_v<T, float>) return 5.960464477539063e-08;
    if constexpr (std::is_same_v<T, __half>) return 4.8828125e-04;
    return 3.90625e-03;  // bfloat16
  }
  static double accum_roundoff() {
    return std::is_same_v<typename NumericTraits<T>::Accum, double> ? 1.1102230246251565e-16 : 5.960464477539063e-08;
  }
  // |y - ref| <= tol(k) * sum |w*x| + |bias|: one rounding of y and of the
  // reference to T, and the accumulator's rounding over k + 1 terms.
  static double relative(int k) { return 2.0 * unit_roundoff() + 2.0 * (k + 1) * accum_roundoff(); }
};

/// Largest |value| for integer-valued inputs such that every partial sum of
/// k products plus bias is an integer that T represents exactly.
template <class T>
int integer_amplitude(int k) {
  const double exact = std::is_same_v<T, __nv_bfloat16> ? 256.0 : std::is_same_v<T, __half> ? 2048.0 : 1 << 20;
  int a = 8;
  while (a > 1 && double(a) * a * (k + 1) > exact) --a;
  return a;
}

/// Fills `v` with random values: integers in [-amp, amp] when `integers`,
/// else uniform reals in [-1, 1].
template <class T>
void fill_random(std::vector<T>& v, std::mt19937_64& rng, bool integers, int amp) {
  std::uniform_int_distribution<int> ints(-amp, amp);
  std::uniform_real_distribution<double> reals(-1.0, 1.0);
  for (auto& e : v) e = NumericTraits<T>::from_double(integers ? double(ints(rng)) : reals(rng));
}

template <class T>
double as_double(T v) {
  return double(NumericTraits<T>::to_accum(v));
}

/// Elementwise |v|, in T.
template <class T>
std::vector<T> abs_of(const std::vector<T>& v) {
  std::vector<T> a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = NumericTraits<T>::from_double(std::fabs(as_double(v[i])));
  return a;
}

/// Compares `got` with `ref`: bitwise when `exact`, else |got - ref| <= rel *
/// bound[i], where bound is the same computation on absolute values. Returns
/// "" or a description of the first few mismatches naming `what`. NaN (an
/// unwritten output) never passes.
template <class T>
std::string compare_values(const char* what, const std::vector<T>& ref, const std::vector<T>& bound, double rel,
                           const std::vector<T>& got, bool exact) {
  std::ostringstream os;
  int bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = as_double(got[i]), r = as_double(ref[i]);
    bool ok;
    if (exact) {
      ok = std::memcmp(&got[i], &ref[i], sizeof(T)) == 0;
    } else {
      const double tol = rel * as_double(bound[i]) * 1.01 + 1e-30;
      ok = std::isfinite(g) && std::fabs(g - r) <= tol;
    }
    if (!ok && bad++ < 5) os << "  " << what << "[" << i << "] = " << g << ", reference " << r << "\n";
  }
  if (bad)
    os << "  " << bad << " of " << ref.size() << " " << what << " values differ (" << (exact ? "bitwise" : "tolerance")
       << ")\n";
  return os.str();
}

/// Compares a forward result with the reference for the same inputs. Bitwise
/// when `exact`; else within Tolerance<T>.
template <class T>
std::string compare(const Problem& p, const std::vector<T>& x, const std::vector<T>& w, const std::vector<T>& b,
                    bool has_bias, const std::vector<T>& got, bool exact) {
  std::vector<T> ref(size_t(p.y_elements())), bound;
  reference::forward<T>(p, x.data(), w.data(), has_bias ? b.data() : nullptr, ref.data());
  if (!exact) {
    // The reference on |x|, |w|, |bias| gives sum |w*x| + |bias| per output.
    const std::vector<T> ax = abs_of(x), aw = abs_of(w), ab = abs_of(b);
    bound.resize(ref.size());
    reference::forward<T>(p, ax.data(), aw.data(), has_bias ? ab.data() : nullptr, bound.data());
  }
  return compare_values<T>("y", ref, bound, Tolerance<T>::relative(p.k), got, exact);
}

}  // namespace testbed
}  // namespace dwconv
