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
  int64_t row_groups;                    // groups of kRows dx rows per plane
  int64_t items;                         // planes * row_groups * col_vecs: one per thread
  int64_t dy_row_pitch, dy_plane_pitch;  // elements
  int k, stride_h, stride_w, dilation_h, pad_top, pad_left;
  int dilation_q, dilation_r;  // dilation_h = dilation_q * stride_h + dilation_r
};

/// One thread per V adjacent dx elements of a row and kRows consecutive
/// rows, walking the taps: each tap's weights are read once for all kRows
/// rows, and the rows it lands on (dx row h reads output row (h + pad_top -
/// k dilation_h) / stride_h where that divides) follow by counting, so
/// nothing divides inside the tap loop (the row-major walk before it read
/// each tap's V weights once per row, and divided per NCHW lane: NOTES, b8).
/// V > 1 needs whole vectors inside a row and aligned dx (and, in NHWC,
/// aligned dy).
template <class T, Layout L, int Threads, int V, int kRows>
__global__ void __launch_bounds__(Threads)
    backward_input_strided_kernel(const BackwardInputParams p, const T* __restrict__ dy, const T* __restrict__ w,
                                  T* __restrict__ dx) {
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  const int sh = p.stride_h;
  for (int64_t item = int64_t(blockIdx.x) * Threads + threadIdx.x; item < p.items;
       item += int64_t(gridDim.x) * Threads) {
    const int64_t cv = item % p.col_vecs;
    const int64_t rest = item / p.col_vecs;
    const int64_t h0 = (rest % p.row_groups) * kRows;
    const int64_t plane = rest / p.row_groups;
    const int64_t j = cv * V;

    // Where each lane reads dy along the row (dcol + lane offset), or no
    // lane offset (-1) where no output column reads this dx column (stride
    // or padding along W).
    int64_t dcol = 0;
    int lane_off[V];
    int64_t channel;
    if constexpr (L == Layout::NCHW) {
      channel = plane % p.c;
      const int64_t s = j + p.pad_left;  // >= 0
      dcol = s / p.stride_w;
      int rem = int(s - dcol * p.stride_w), off = 0;
#pragma unroll
      for (int v = 0; v < V; ++v) {
        lane_off[v] = j + v < p.cols && rem == 0 && dcol + off < p.out_w ? off : -1;
        if (++rem == p.stride_w) {
          rem = 0;
          ++off;
        }
      }
    } else {
      const int64_t pixel = j / p.c;
      channel = j - pixel * p.c;
      const int64_t s = pixel + p.pad_left;
      const int64_t col = s / p.stride_w;
      const bool reads = s - col * p.stride_w == 0 && col < p.out_w;
      dcol = col * p.c + channel;
#pragma unroll
      for (int v = 0; v < V; ++v) lane_off[v] = reads ? v : -1;
    }
    const T* dy_plane = dy + plane * p.dy_plane_pitch;

    A acc[kRows][V];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int v = 0; v < V; ++v) acc[r][v] = A(0);

    // h0 + pad_top - k dilation_h = q * stride_h + rem for tap k, stepped
    // from tap to tap; dx row h0 + r lands on output row q + (rem + r) /
    // stride_h when (rem + r) is a multiple of stride_h.
    const int64_t s0 = h0 + p.pad_top;
    int64_t q = s0 / sh;
    int rem = int(s0 - q * sh);
    auto next_tap = [&] {
      q -= p.dilation_q;
      rem -= p.dilation_r;
      if (rem < 0) {
        rem += sh;
        --q;
      }
    };
    for (int k = 0; k < p.k; ++k, next_tap()) {
      // Output rows only fall as k grows: stop once the last row's is above
      // the top, skip while the first row's is past the bottom.
      if (q + (rem + kRows - 1) / sh < 0) break;
      if (q >= p.out_h) continue;
      A wv[V];
#pragma unroll
      for (int v = 0; v < V; ++v) wv[v] = Traits::to_accum(w[(L == Layout::NCHW ? channel : channel + v) * p.k + k]);
      int phase = rem;
      int64_t ho = q;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (phase == 0 && ho >= 0 && ho < p.out_h) {
          const T* row = dy_plane + ho * p.dy_row_pitch + dcol;
          if constexpr (L == Layout::NHWC && V > 1) {
            if (lane_off[0] >= 0) {
              A g[V];
              load_vector<T, V>(row, g);
#pragma unroll
              for (int v = 0; v < V; ++v) acc[r][v] += wv[v] * g[v];
            }
          } else {
#pragma unroll
            for (int v = 0; v < V; ++v)
              if (lane_off[v] >= 0) acc[r][v] += wv[v] * Traits::to_accum(row[lane_off[v]]);
          }
        }
        if (++phase == sh) {
          phase = 0;
          ++ho;
        }
      }
    }

    T* dx_row = dx + (plane * p.h + h0) * p.cols + j;
#pragma unroll
    for (int r = 0; r < kRows; ++r, dx_row += p.cols) {
      if (h0 + r >= p.h) break;
      if constexpr (V > 1) {
        store_vector<T, V>(dx_row, acc[r]);
      } else {
        dx_row[0] = Traits::from_accum(acc[r][0]);
      }
    }
  }
}

}  // namespace detail
}  // namespace dwconv
