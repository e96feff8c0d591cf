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

/// Residues of (h + pad_top) mod stride_h with a precomputed first tap;
/// larger strides find it with a short loop.
inline constexpr int kStridedDxResidues = 8;

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
  int tap_step;      // stride_h / gcd(stride_h, dilation_h): taps between two that land on output rows
  int row_step;      // dilation_h / gcd(stride_h, dilation_h): output rows between those taps
  int dilation_mod;  // dilation_h % stride_h
  int residues;      // stride_h when <= kStridedDxResidues, else 0 (no table)
  // For residue r of (h + pad_top) mod stride_h: the first tap k0 with
  // k0 * dilation_h = r (mod stride_h), or -1, and (k0 * dilation_h - r) /
  // stride_h, the output rows it lies above (h + pad_top) / stride_h.
  int first_tap[kStridedDxResidues];
  int first_back[kStridedDxResidues];
};

/// One thread per V adjacent dx elements of a row and kRows consecutive
/// rows: the column and index arithmetic is done once per thread, and the
/// row arithmetic steps from row to row without dividing. V > 1 needs whole
/// vectors inside a row and aligned dx (and, in NHWC, aligned dy).
template <class T, Layout L, int Threads, int V, int kRows>
__global__ void __launch_bounds__(Threads)
    backward_input_strided_kernel(const BackwardInputParams p, const T* __restrict__ dy, const T* __restrict__ w,
                                  T* __restrict__ dx) {
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  for (int64_t item = int64_t(blockIdx.x) * Threads + threadIdx.x; item < p.items;
       item += int64_t(gridDim.x) * Threads) {
    const int64_t cv = item % p.col_vecs;
    const int64_t rest = item / p.col_vecs;
    const int64_t h0 = (rest % p.row_groups) * kRows;
    const int64_t plane = rest / p.row_groups;
    const int64_t j = cv * V;

    // Where each lane reads dy along the row, or -1 where no output column
    // reads this dx column (stride or padding along W).
    int64_t dcol[V];
    int64_t channel;
    if constexpr (L == Layout::NCHW) {
      channel = plane % p.c;
      // Lane 0 divides; the others count (a 64-bit division per lane was
      // most of an fp16 item's setup: 16 of them for 8 lanes).
      const int64_t s = j + p.pad_left;  // >= 0
      int64_t col = s / p.stride_w;
      int rem = int(s - col * p.stride_w);
#pragma unroll
      for (int v = 0; v < V; ++v) {
        dcol[v] = j + v < p.cols && rem == 0 && col < p.out_w ? col : -1;
        if (++rem == p.stride_w) {
          rem = 0;
          ++col;
        }
      }
    } else {
      const int64_t pixel = j / p.c;
      channel = j - pixel * p.c;
      const int64_t s = pixel + p.pad_left;
      const int64_t col = (s % p.stride_w == 0 && s / p.stride_w < p.out_w) ? s / p.stride_w * p.c + channel : -1;
#pragma unroll
      for (int v = 0; v < V; ++v) dcol[v] = col < 0 ? -1 : col + v;
    }
    const T* dy_plane = dy + plane * p.dy_plane_pitch;
    T* dx_row = dx + (plane * p.h + h0) * p.cols + j;

    // (h + pad_top) = q * stride_h + rem, stepped row by row.
    int64_t q = (h0 + p.pad_top) / p.stride_h;
    int rem = int((h0 + p.pad_top) - q * p.stride_h);
    for (int r = 0; r < kRows && h0 + r < p.h; ++r, dx_row += p.cols) {
      A acc[V];
#pragma unroll
      for (int v = 0; v < V; ++v) acc[v] = A(0);
      int k0 = -1, back = 0;
      if (p.residues) {
        k0 = p.first_tap[rem];
        back = p.first_back[rem];
      } else {
        for (int k = 0, m = 0; k < p.tap_step; ++k) {
          if (m == rem) {
            k0 = k;
            back = int((int64_t(k) * p.dilation_h - rem) / p.stride_h);
            break;
          }
          m += p.dilation_mod;
          if (m >= p.stride_h) m -= p.stride_h;
        }
      }
      // Taps k0, k0 + tap_step, ... read output rows q - back, q - back - row_step, ...
      int64_t ho = q - back;
      for (int k = k0; k >= 0 && k < p.k && ho >= 0; k += p.tap_step, ho -= p.row_step) {
        if (ho >= p.out_h) continue;
        const T* row = dy_plane + ho * p.dy_row_pitch;
        if constexpr (L == Layout::NHWC && V > 1) {
          if (dcol[0] >= 0) {
            A g[V];
            load_vector<T, V>(row + dcol[0], g);
#pragma unroll
            for (int v = 0; v < V; ++v) acc[v] += Traits::to_accum(w[(channel + v) * p.k + k]) * g[v];
          }
        } else {
          const A wk = L == Layout::NCHW ? Traits::to_accum(w[channel * p.k + k]) : A(0);
#pragma unroll
          for (int v = 0; v < V; ++v) {
            if (dcol[v] < 0) continue;
            const A wv = L == Layout::NCHW ? wk : Traits::to_accum(w[(channel + v) * p.k + k]);
            acc[v] += wv * Traits::to_accum(row[dcol[v]]);
          }
        }
      }
      if constexpr (V > 1) {
        store_vector<T, V>(dx_row, acc);
      } else {
        dx_row[0] = Traits::from_accum(acc[0]);
      }
      if (++rem == p.stride_h) {
        rem = 0;
        ++q;
      }
    }
  }
}

}  // namespace detail
}  // namespace dwconv
