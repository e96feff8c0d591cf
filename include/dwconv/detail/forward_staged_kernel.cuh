// dwconv: the NCHW forward kernel for rows that 16-byte vectors cannot walk
// (padding or stride along W, widths that are not a multiple of the vector).
// In NCHW a band of whole rows is one contiguous range in x and in y, so a
// block stages the input band in shared memory and its output band there
// too, and moves both with aligned 16-byte vectors whatever the row
// geometry; the convolution itself reads and writes shared memory.
#pragma once

#include <cstdint>

#include "dwconv/detail/forward_kernel.cuh"
#include "dwconv/detail/launch.cuh"
#include "dwconv/detail/staged_band.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// Tile: one plane (n, c) and p.tile_rows output rows (a multiple of R * q).
/// Each thread owns one output column and R rows at a time (register window
/// over shared memory). Dynamic shared memory: p.smem_in_elems + output band.
///
/// The input band holds every row the tile's windows touch, with the rows
/// that lie in the top or bottom padding (or past the last input row) zero-
/// filled (stage_band), and the output band has room for whole tiles: the
/// compute phase reads and writes shared memory with no row bounds, by one
/// multiply-add per access.
///
/// kPairs (2-byte types, stride 1 along W, even row widths): each thread
/// owns two adjacent output columns whose input pair starts at an even
/// shared index, read as one 4-byte word a window row. The one-column walk
/// spent ~17 instructions an output on shared loads, conversions, padding
/// selects and per-item setup, which left 2-byte 56x56 issue-bound at 72 %
/// of the floor (ncu source counters on the H100,
/// `2026-11-26-h100-f17-sass.txt`); pairs halve the loads and the setup,
/// and only the pairs at a row's ends select.
///
/// kStrips (p.strip_cols output columns a tile, rows too wide for a whole-
/// row band): x's band is a box of p.strip_in_pitch columns from a vector-
/// aligned one (stage_box; its columns in the padding zero-filled, so no
/// column selects), and y's strip rows sit p.strip_out_pitch apart in
/// shared memory at their global phase mod V, so each row goes out as
/// aligned vectors (store_rows_aligned): the stores of rows off the 32-byte
/// sector stay whole sectors but for the strip's two ends.
template <class T, int Threads, int R, int V, int K, int M, bool kPairs = false, bool kStrips = false>
__global__ void __launch_bounds__(Threads)
    forward_staged_nchw_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w,
                               const T* __restrict__ bias, T* __restrict__ y) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  static_assert(K > 0 && M >= 1, "the staged kernel is for static kernel heights");
  static_assert(!(kPairs && kStrips), "strips walk single columns");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* s_in = reinterpret_cast<T*>(smem_raw);
  T* s_out = s_in + p.smem_in_elems;

  const int q = p.row_step;
  const int wo_n = int(p.cols);
  const int w_n = int(p.w);
  const int units = p.tile_rows / R;  // (row block of R*q rows, phase) pairs per tile
  const int band_rows = int(staged_band_rows(p.tile_rows, p.stride_h, K, p.dilation_h));
  const int in_pitch = kStrips ? p.strip_in_pitch : w_n;
  const int out_pitch = kStrips ? p.strip_out_pitch : wo_n;
  const int in_step = p.dilation_h * in_pitch;  // between window rows
  const int out_step = q * out_pitch;           // between a thread's output rows
  const int unit_in_rows = p.stride_h * in_pitch;
  const BoxWalk box = box_walk(kStrips ? in_pitch / V : 1);

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int64_t strip = kStrips ? tile % p.col_blocks : 0;
    const int64_t rows_tile = kStrips ? tile / p.col_blocks : tile;
    const int64_t plane = rows_tile / p.row_blocks;
    const int64_t r0 = (rows_tile - plane * p.row_blocks) * p.tile_rows;
    const int64_t r1 = r0 + p.tile_rows < p.out_h ? r0 + p.tile_rows : p.out_h;
    const int c0 = int(strip) * p.strip_cols;  // the tile's first output column
    const int cols = kStrips && wo_n - c0 < p.strip_cols ? wo_n - c0 : (kStrips ? p.strip_cols : wo_n);
    // Band row 0 is input row r0 * stride_h - pad_top. s_base: the shared
    // index of band row 0's input column 0 (whole rows) or of the strip's
    // first output column's input column (strips).
    int s_base;
    if constexpr (kStrips) {
      const int first = c0 * p.stride_w - p.pad_left;
      const int x0 = floor_multiple(first, V);
      stage_box<T, V>(x + plane * p.in_plane_pitch, p.h, w_n, w_n, r0 * p.stride_h - p.pad_top, x0, band_rows, in_pitch,
                      s_in, box);
      s_base = first - x0;
    } else {
      s_base = stage_band<T, V>(x + plane * p.in_plane_pitch, p.h, w_n, r0 * p.stride_h - p.pad_top, band_rows, s_in);
    }
    T* gy = y + plane * p.out_plane_pitch + r0 * wo_n + c0;
    const int out_phase = vector_phase<T, V>(gy);
    // The tile's weights are read while its band is in flight: loaded after
    // the barrier they would add a second memory latency to every tile.
    A wr[K][1];
    const int64_t channel = plane % p.c;
    load_weights<T, K, 1, true>(p, w, channel, wr);
    const A b[1] = {bias ? Traits::to_accum(load_before_barrier(bias + channel)) : A(0)};
    copy_async_wait_all();
    __syncthreads();

    if constexpr (kPairs) {
      static_assert(sizeof(T) == 2, "column pairs are for 2-byte types");
      // Pair j: output columns wo = 2 j - phase and wo + 1, input columns wi
      // = wo - pad_left and wi + 1 at an even shared index (the band's rows
      // are even, so every window row keeps the parity).
      const int phase = (s_base - p.pad_left) & 1;
      const int pairs = (wo_n + phase + 1) / 2;
      using Pair = AlignedVector<T, 2>;
      for_each_staged_item<Threads, R>(units, q, pairs, r1 - r0, [&](int ho_rel, int pr) {
        const int wo = 2 * pr - phase;
        const int wi = wo - p.pad_left;
        const bool in0 = wi >= 0 && wi < w_n, in1 = wi + 1 >= 0 && wi + 1 < w_n;
        // A pair wholly in the padding reads an even index of its own row.
        const int in_idx = s_base + ho_rel * unit_in_rows + (in0 || in1 ? wi : -(s_base & 1));
        const int out_idx = out_phase + ho_rel * wo_n + wo;
        const bool st0 = wo >= 0, st1 = wo + 1 < wo_n;
        // Every pair reads both words unmasked, and a column in the padding
        // stores the bias in place of its sums: one select an output, not
        // one a load, and no second path that the warps holding a row's
        // end pairs would also run (a masked copy of the walk measured
        // 56x56 72 -> 64 %, every warp running both).
        window_rows<A, R, 2, K, M, 1, false>(
            wr, b,
            [&](int i, A(&xv)[2]) {
              const Pair v = *reinterpret_cast<const Pair*>(s_in + in_idx + i * in_step);
              xv[0] = Traits::to_accum(v.e[0]);
              xv[1] = Traits::to_accum(v.e[1]);
            },
            [&](int r, const A(&acc)[2]) {
              if (st0) s_out[out_idx + r * out_step] = Traits::from_accum(in0 ? acc[0] : b[0]);
              if (st1) s_out[out_idx + r * out_step + 1] = Traits::from_accum(in1 ? acc[1] : b[0]);
            });
      });
    } else {
      for_each_staged_item<Threads, R>(units, q, cols, r1 - r0, [&](int ho_rel, int wo) {
        // A strip's box holds its padding columns as zeros; in whole rows,
        // columns in the padding read a valid address and discard the
        // value: a select, not a branch per load.
        const int wi = wo * p.stride_w - (kStrips ? 0 : p.pad_left);
        const bool in_bounds = kStrips || (wi >= 0 && wi < w_n);
        const int in_idx = s_base + ho_rel * unit_in_rows + (in_bounds ? wi : 0);
        const int out_idx = out_phase + ho_rel * out_pitch + wo;
        window_rows<A, R, 1, K, M, 1, false>(
            wr, b,
            [&](int i, A(&xv)[1]) {
              const A v = Traits::to_accum(s_in[in_idx + i * in_step]);
              xv[0] = in_bounds ? v : A(0);
            },
            [&](int r, const A(&acc)[1]) { s_out[out_idx + r * out_step] = Traits::from_accum(acc[0]); });
      });
    }
    __syncthreads();
    if constexpr (kStrips)
      store_rows_aligned<T, V>(gy, wo_n, s_out, out_pitch, out_phase, int(r1 - r0), cols);
    else
      block_copy<false, T, V>(gy, s_out, int(r1 - r0) * wo_n, out_phase);
    __syncthreads();  // the next tile overwrites both bands
  }
}

}  // namespace detail
}  // namespace dwconv
