// dwconv: the forward kernel for tall kernels at stride 1. A thread owns V
// adjacent output elements of a row (forward_kernel.cuh's "row": NCHW
// columns of one channel, NHWC pixels by channels) and walks a long run of
// output rows, holding one accumulator row per tap: input row u of the walk
// feeds output rows u - k for every tap k, and output row t is finished
// once input row t + K - 1 is in. Each input row is loaded once per run,
// where the register window loads (R - 1 + K) rows for R outputs: at K = 31
// and R = 16, 2.9 loads an output row, and the window's loads all hoisted
// ahead held ~145 registers a thread (12 warps a multiprocessor).
#pragma once

#include <cstdint>

#include "dwconv/detail/forward_kernel.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// Stride 1 along H only (the walk's input rows are its output rows shifted
/// by the padding); dilation d makes a run the output rows of one residue
/// mod d (p.row_step == d), p.run_rows of them. The accumulators form a
/// ring indexed by output row mod K, static because the walk is unrolled K
/// rows at a time. The first K - 1 steps also add into rows before the run
/// (discarded), which costs K (K - 1) / 2 multiply-adds a run: the plan keeps
/// runs long.
template <class T, Layout L, int Threads, int V, int K>
__global__ void __launch_bounds__(Threads)
    forward_rolling_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w,
                           const T* __restrict__ bias, T* __restrict__ y) {
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  constexpr int kWLanes = L == Layout::NHWC ? V : 1;
  static_assert(K > 0, "the rolling kernel is for static kernel heights");

  const int col_thread = threadIdx.x & ((1 << p.col_threads_log2) - 1);
  const int unit_thread = threadIdx.x >> p.col_threads_log2;
  const int units_per_block = Threads >> p.col_threads_log2;
  const int q = p.row_step;

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int64_t col_block = tile % p.col_blocks;
    const int64_t rest = tile / p.col_blocks;
    const int64_t row_block = rest % p.row_blocks;
    const int64_t plane = rest / p.row_blocks;

    const int64_t j = ((col_block << p.col_threads_log2) + col_thread) * V;
    const int64_t unit = row_block * units_per_block + unit_thread;
    if (j >= p.cols || unit >= p.units_per_plane) continue;
    const int64_t ho0 = (unit / q) * (int64_t(p.run_rows) * q) + unit % q;
    const int64_t left = (p.out_h - ho0 + q - 1) / q;
    const int outs = int(left < p.run_rows ? left : p.run_rows);

    const ColumnMap<L> col = map_column<L>(p, plane, j);
    const int64_t hi0 = ho0 - p.pad_top;  // input row of the run's first step
    // Steps [u_lo, u_hi) read rows inside the input; the rest read zeros.
    const int64_t lo = hi0 < 0 ? (-hi0 + q - 1) / q : 0;
    const int64_t hi = (p.h - hi0 + q - 1) / q;
    const int steps = outs + K - 1;
    const int u_lo = col.in_bounds ? int(lo < steps ? lo : steps) : steps;
    const int u_hi = col.in_bounds ? int(hi < steps ? (hi > u_lo ? hi : u_lo) : steps) : steps;
    const int64_t x_step = int64_t(q) * p.in_row_pitch;
    const int64_t y_step = int64_t(q) * p.out_row_pitch;
    const T* xp = x + plane * p.in_plane_pitch + col.in_offset + hi0 * p.in_row_pitch;
    T* yp = y + plane * p.out_plane_pitch + j + ho0 * p.out_row_pitch;

    A b[kWLanes];
#pragma unroll
    for (int v = 0; v < kWLanes; ++v) b[v] = bias ? Traits::to_accum(bias[col.channel + v]) : A(0);
    A wr[K][kWLanes];
    load_weights<T, K, kWLanes>(p, w, col.channel, wr);
    A acc[K][V];
#pragma unroll
    for (int s = 0; s < K; ++s)
#pragma unroll
      for (int v = 0; v < V; ++v) acc[s][v] = b[v % kWLanes];

    for (int u0 = 0; u0 < steps; u0 += K) {
#pragma unroll
      for (int i = 0; i < K; ++i) {
        const int u = u0 + i;
        if (u < steps) {
          A xv[V];
          if (u >= u_lo && u < u_hi) {
            load_vector<T, V>(xp, xv);
          } else {
#pragma unroll
            for (int v = 0; v < V; ++v) xv[v] = A(0);
          }
          xp += x_step;
          // Output row u - k sits in slot (u - k) mod K = (i - k) mod K.
#pragma unroll
          for (int k = 0; k < K; ++k)
#pragma unroll
            for (int v = 0; v < V; ++v) acc[(i - k + K) % K][v] += wr[k][v % kWLanes] * xv[v];
          // Row u - (K - 1) is complete; its slot starts row u + 1.
          A(&done)[V] = acc[(i + 1) % K];
          if (u >= K - 1) {
            store_vector<T, V>(yp, done);
            yp += y_step;
          }
#pragma unroll
          for (int v = 0; v < V; ++v) done[v] = b[v % kWLanes];
        }
      }
    }
  }
}

}  // namespace detail
}  // namespace dwconv
