// dwconv: the dx kernel for strided problems. Stride-1 problems do not come
// here: their dx is a forward convolution of dy with the flipped filter and
// runs the forward kernels (backward_plan.cuh). With a stride, each dx
// element gathers the few taps whose output row and column exist; nothing is
// scattered, so every element is written once and no atomics are needed.
#pragma once

#include <cstdint>

#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// Geometry of one strided dx launch, computed once on the host.
struct BackwardInputParams {
  int64_t planes;                        // NCHW: n*c; NHWC: n
  int64_t h, w, c, out_h, out_w;         // x (dx) and y (dy) sizes
  int64_t cols;                          // dx elements per row: w (NCHW) or w*c (NHWC)
  int64_t col_vecs;                      // V-element groups per dx row
  int64_t items;                         // planes * h * col_vecs: one per thread
  int64_t dy_row_pitch, dy_plane_pitch;  // elements
  int k, stride_h, stride_w, dilation_h, pad_top, pad_left;
  int tap_step;  // stride_h / gcd(stride_h, dilation_h): taps between two that land on output rows
  int row_step;  // dilation_h / gcd(stride_h, dilation_h): output rows between those taps
};

/// One thread per V adjacent dx elements of a row. V > 1 needs whole
/// vectors inside a row and aligned dx (and, in NHWC, aligned dy).
template <class T, Layout L, int Threads, int V>
__global__ void __launch_bounds__(Threads)
    backward_input_strided_kernel(const BackwardInputParams p, const T* __restrict__ dy, const T* __restrict__ w,
                                  T* __restrict__ dx) {
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  for (int64_t item = int64_t(blockIdx.x) * Threads + threadIdx.x; item < p.items;
       item += int64_t(gridDim.x) * Threads) {
    const int64_t cv = item % p.col_vecs;
    const int64_t rest = item / p.col_vecs;
    const int64_t h = rest % p.h;
    const int64_t plane = rest / p.h;
    const int64_t j = cv * V;

    // Where each lane reads dy along the row, or -1 where no output column
    // reads this dx column (stride or padding along W).
    int64_t dcol[V];
    int64_t channel;
    if constexpr (L == Layout::NCHW) {
      channel = plane % p.c;
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const int64_t s = j + v + p.pad_left;
        dcol[v] = (j + v < p.cols && s % p.stride_w == 0 && s / p.stride_w < p.out_w) ? s / p.stride_w : -1;
      }
    } else {
      const int64_t pixel = j / p.c;
      channel = j - pixel * p.c;
      const int64_t s = pixel + p.pad_left;
      const int64_t col = (s % p.stride_w == 0 && s / p.stride_w < p.out_w) ? s / p.stride_w * p.c + channel : -1;
#pragma unroll
      for (int v = 0; v < V; ++v) dcol[v] = col < 0 ? -1 : col + v;
    }

    A acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = A(0);

    // Tap k reads output row (h + pad_top - k * dilation_h) / stride_h when
    // that divides and lands in [0, out_h).
    const int64_t base = h + p.pad_top;
    const int64_t reach = base - (p.out_h - 1) * p.stride_h;
    int64_t k = reach > 0 ? (reach + p.dilation_h - 1) / p.dilation_h : 0;
    const int64_t k_end = base / p.dilation_h < p.k - 1 ? base / p.dilation_h : p.k - 1;
    while (k <= k_end && (base - k * p.dilation_h) % p.stride_h != 0) ++k;
    const T* dy_plane = dy + plane * p.dy_plane_pitch;
    for (int64_t ho = (base - k * p.dilation_h) / p.stride_h; k <= k_end; k += p.tap_step, ho -= p.row_step) {
      const T* row = dy_plane + ho * p.dy_row_pitch;
      if constexpr (L == Layout::NHWC && V > 1) {
        if (dcol[0] >= 0) {
          A g[V];
          load_vector<T, V>(row + dcol[0], g);
#pragma unroll
          for (int v = 0; v < V; ++v) acc[v] += Traits::to_accum(w[(channel + v) * p.k + k]) * g[v];
        }
      } else {
#pragma unroll
        for (int v = 0; v < V; ++v) {
          if (dcol[v] < 0) continue;
          const int64_t ch = L == Layout::NHWC ? channel + v : channel;
          acc[v] += Traits::to_accum(w[ch * p.k + k]) * Traits::to_accum(row[dcol[v]]);
        }
      }
    }

    T* out = dx + (plane * p.h + h) * p.cols + j;
    if constexpr (V > 1) {
      store_vector<T, V>(out, acc);
    } else {
      out[0] = Traits::from_accum(acc[0]);
    }
  }
}

}  // namespace detail
}  // namespace dwconv
