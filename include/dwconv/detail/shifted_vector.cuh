// dwconv: V adjacent elements at any element offset, read as two aligned
// vectors and shifted into place. NCHW rows with padding along W put a
// thread's x columns pad_left elements off its dy columns, and rows of
// w + pad_left + pad_right elements start at a different phase each; one
// lane a thread (2- or 4-byte loads) measured 61-77 % of the floor where
// aligned vectors of the same rows ran at 93-98 % (H100/H200, b11-b12).
#pragma once

#include <cstdint>
#include <cstring>

#include "dwconv/detail/vector_access.cuh"

#ifdef __CUDA_ARCH__
#define DWCONV_SHIFTED_UNROLL _Pragma("unroll")
#else
#define DWCONV_SHIFTED_UNROLL
#endif

namespace dwconv {
namespace detail {

/// Where V elements from element offset `first` of a tensor of `total`
/// elements (a multiple of V; its base aligned to V elements) come from:
/// the aligned vectors at element offsets lo and hi, element j being element
/// shift + j of lo followed by hi. A vector wholly before 0 or past `total`
/// is read at the nearest valid vector instead; its elements lie outside
/// the tensor, so the caller masks them (they are padding or past a row).
struct ShiftedVector {
  int64_t lo, hi;
  int shift;
};

template <int V>
__host__ __device__ inline ShiftedVector shifted_vector(int64_t first, int64_t total) {
  static_assert(V >= 1 && (V & (V - 1)) == 0, "V must be a power of two");
  const int64_t base = first & ~int64_t(V - 1);  // floor to a multiple of V, negatives included
  auto clamp = [&](int64_t a) { return a < 0 ? int64_t(0) : (a > total - V ? total - V : a); };
  ShiftedVector s;
  s.shift = int(first - base);
  s.lo = clamp(base);
  s.hi = clamp(base + V);
  return s;
}

/// Element j of the result is element shift + j of lo followed by hi
/// (0 <= shift < V). 2-byte elements move as 32-bit words, with one 16-bit
/// funnel per word for odd shifts; 4- and 8-byte elements by selects. The
/// loops unroll on the device (static indices: no local memory); the host
/// build, for the host tests, leaves them be.
template <class T, int V>
__host__ __device__ inline AlignedVector<T, V> funnel(const AlignedVector<T, V>& lo, const AlignedVector<T, V>& hi,
                                                      int shift) {
  AlignedVector<T, V> out;
  if constexpr (sizeof(T) == 2 && V >= 2) {
    constexpr int kWords = V / 2;
    uint32_t w[2 * kWords];
    memcpy(w, lo.e, sizeof(lo.e));
    memcpy(w + kWords, hi.e, sizeof(hi.e));
    // x[m] = w[m + shift / 2]: words kWords + 1 of them, by selects.
    uint32_t x[kWords + 1];
    const int ws = shift >> 1;
    DWCONV_SHIFTED_UNROLL
    for (int m = 0; m <= kWords; ++m) {
      x[m] = w[m];
      DWCONV_SHIFTED_UNROLL
      for (int s = 1; s < kWords; ++s)
        if (ws == s) x[m] = w[m + s];
    }
    uint32_t o[kWords];
    DWCONV_SHIFTED_UNROLL
    for (int k = 0; k < kWords; ++k) {
#ifdef __CUDA_ARCH__
      const uint32_t odd = __byte_perm(x[k], x[k + 1], 0x5432);
#else
      const uint32_t odd = (x[k] >> 16) | (x[k + 1] << 16);
#endif
      o[k] = (shift & 1) ? odd : x[k];
    }
    memcpy(out.e, o, sizeof(o));
  } else {
    DWCONV_SHIFTED_UNROLL
    for (int j = 0; j < V; ++j) {
      out.e[j] = lo.e[j];
      DWCONV_SHIFTED_UNROLL
      for (int s = 1; s < V; ++s)
        if (shift == s) out.e[j] = j + s < V ? lo.e[j + s] : hi.e[j + s - V];
    }
  }
  return out;
}

}  // namespace detail
}  // namespace dwconv

#undef DWCONV_SHIFTED_UNROLL
