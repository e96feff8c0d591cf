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

/// Where a staged tile's single-column items read and write shared memory:
/// output column wo of the unit starting at tile row ho_rel reads band
/// index base + ho_rel * unit_in_rows + wo * stride_w + col_shift (then
/// in_step a window row) and writes out_phase + ho_rel * out_pitch + wo
/// (then out_step a row of the unit).
struct StagedColumns {
  int base, unit_in_rows, in_step, stride_w, col_shift, w;
  int out_phase, out_pitch, out_step;
};

/// The register window over shared memory for this thread's (unit, column)
/// items of a tile (for_each_staged_item). kPadColumns: input columns
/// col_shift + wo * stride_w outside [0, w) read zeros (a band of whole
/// rows); else every column the items read is in the band (a box whose
/// padding columns are zero-filled).
template <class T, int Threads, int R, int K, int M, bool kPadColumns>
__device__ __forceinline__ void staged_columns(const StagedColumns& c,
                                               const typename NumericTraits<T>::Accum (&wr)[K][1],
                                               const typename NumericTraits<T>::Accum (&b)[1], const T* s_in, T* s_out,
                                               int units, int q, int cols, int64_t rows) {
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  for_each_staged_item<Threads, R>(units, q, cols, rows, [&](int ho_rel, int wo) {
    const int wi = wo * c.stride_w + c.col_shift;
    const bool in_bounds = !kPadColumns || (wi >= 0 && wi < c.w);
    // Columns in the padding read a valid address and discard the value:
    // a select, not a branch per load.
    const int in_idx = c.base + ho_rel * c.unit_in_rows + (in_bounds ? wi : 0);
    const int out_idx = c.out_phase + ho_rel * c.out_pitch + wo;
    window_rows<A, R, 1, K, M, 1, false>(
        wr, b,
        [&](int i, A(&xv)[1]) {
          const A v = Traits::to_accum(s_in[in_idx + i * c.in_step]);
          xv[0] = in_bounds ? v : A(0);
        },
        [&](int r, const A(&acc)[1]) { s_out[out_idx + r * c.out_step] = Traits::from_accum(acc[0]); });
  });
}

/// What both staged NCHW kernels take from their parameters first: shared
/// memory (the input band or box, then y's band or strip at
/// p.smem_in_elems), the row step, widths, units a tile and band rows.
template <class T, int R, int K, int M>
struct StagedTile {
  static_assert(K > 0 && M >= 1, "the staged kernels are for static kernel heights");
  T* s_in;
  T* s_out;
  int q, wo_n, w_n, units, band_rows;
  // A kernel's first step: after the grid before it (programmatic
  // dependent launch), over the block's dynamic shared memory.
  static __device__ __forceinline__ StagedTile enter(const ForwardParams& p) {
    follow_previous_grid();
    extern __shared__ __align__(16) unsigned char smem_raw[];
    return StagedTile(p, smem_raw);
  }

 private:
  __device__ __forceinline__ StagedTile(const ForwardParams& p, unsigned char* smem)
      : s_in(reinterpret_cast<T*>(smem)),
        s_out(s_in + p.smem_in_elems),
        q(p.row_step),
        wo_n(int(p.cols)),
        w_n(int(p.w)),
        units(p.tile_rows / R),  // (row block of R*q rows, phase) pairs per tile
        band_rows(int(staged_band_rows(p.tile_rows, p.stride_h, K, p.dilation_h))) {}
};

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
template <class T, int Threads, int R, int V, int K, int M, bool kPairs = false>
__global__ void __launch_bounds__(Threads)
    forward_staged_nchw_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w,
                               const T* __restrict__ bias, T* __restrict__ y) {
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  const auto st = StagedTile<T, R, K, M>::enter(p);
  const int wo_n = st.wo_n, w_n = st.w_n;
  const int in_step = p.dilation_h * w_n;  // between window rows
  const int out_step = st.q * wo_n;        // between a thread's output rows
  const int unit_in_rows = p.stride_h * w_n;

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int64_t plane = tile / p.row_blocks;
    const int64_t r0 = (tile - plane * p.row_blocks) * p.tile_rows;
    const int64_t r1 = r0 + p.tile_rows < p.out_h ? r0 + p.tile_rows : p.out_h;
    // Band row 0 is input row r0 * stride_h - pad_top.
    const int s_base =
        stage_band<T, V>(x + plane * p.in_plane_pitch, p.h, w_n, r0 * p.stride_h - p.pad_top, st.band_rows, st.s_in);
    T* gy = y + plane * p.out_plane_pitch + r0 * wo_n;
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
      for_each_staged_item<Threads, R>(st.units, st.q, pairs, r1 - r0, [&](int ho_rel, int pr) {
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
              const Pair v = *reinterpret_cast<const Pair*>(st.s_in + in_idx + i * in_step);
              xv[0] = Traits::to_accum(v.e[0]);
              xv[1] = Traits::to_accum(v.e[1]);
            },
            [&](int r, const A(&acc)[2]) {
              if (st0) st.s_out[out_idx + r * out_step] = Traits::from_accum(in0 ? acc[0] : b[0]);
              if (st1) st.s_out[out_idx + r * out_step + 1] = Traits::from_accum(in1 ? acc[1] : b[0]);
            });
      });
    } else {
      const StagedColumns cs{s_base, unit_in_rows, in_step, p.stride_w, -p.pad_left, w_n, out_phase, wo_n, out_step};
      staged_columns<T, Threads, R, K, M, true>(cs, wr, b, st.s_in, st.s_out, st.units, st.q, wo_n, r1 - r0);
    }
    __syncthreads();
    block_copy<false, T, V>(gy, st.s_out, int(r1 - r0) * wo_n, out_phase);
    __syncthreads();  // the next tile overwrites both bands
  }
}

/// NCHW rows too wide for a whole-row band (tall kernels on wide rows, the
/// plan's staged_strip_cols): tiles of p.tile_rows output rows by a strip of
/// p.strip_cols output columns (the last strip of a row may be narrower). A
/// (K x 1) window reads only its own column, so a strip needs no columns
/// beside it. x's band is a box of p.strip_in_pitch columns from a vector-
/// aligned one, its padding columns zero-filled (stage_box_rows); y's strip
/// rows sit p.strip_out_pitch apart in shared memory at their global phase
/// mod V, so that each row goes out as aligned V-element vectors
/// (store_rows_aligned): rows off the 32-byte sector leave part sectors
/// only at a strip's two ends, where the rolling kernel's row stores left
/// them in every warp (fp32 K = 31 at pad 15: 72 % of the floor).
///
/// A block takes p.strip_run consecutive tiles in (plane, strip, row block)
/// order, so that its channel's weights load once a run and its tiles'
/// indices advance without divisions (the per-tile divisions and weight
/// loads were a quarter of a tile's instructions); the row block below a
/// tile reads its K - 1 halo rows from L2.
template <class T, int Threads, int R, int V, int K, int M>
__global__ void __launch_bounds__(Threads)
    forward_strips_nchw_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w,
                               const T* __restrict__ bias, T* __restrict__ y) {
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  const auto st = StagedTile<T, R, K, M>::enter(p);
  const int in_pitch = p.strip_in_pitch, out_pitch = p.strip_out_pitch;
  const int64_t strip_tiles = p.col_blocks * p.row_blocks;  // a plane's
  const int64_t runs = (p.tiles + p.strip_run - 1) / p.strip_run;

  for (int64_t run = blockIdx.x; run < runs; run += gridDim.x) {
    int64_t tile = run * p.strip_run;
    const int64_t end = tile + p.strip_run < p.tiles ? tile + p.strip_run : p.tiles;
    int64_t plane = tile / strip_tiles;
    const int64_t in_plane = tile - plane * strip_tiles;
    int strip = int(in_plane / p.row_blocks);
    int row_block = int(in_plane - int64_t(strip) * p.row_blocks);
    int64_t loaded = -1;  // the plane whose weights wr holds
    A wr[K][1];
    A b[1];
    for (; tile < end; ++tile) {
      const int64_t r0 = int64_t(row_block) * p.tile_rows;
      const int64_t r1 = r0 + p.tile_rows < p.out_h ? r0 + p.tile_rows : p.out_h;
      const int c0 = strip * p.strip_cols;
      const int cols = st.wo_n - c0 < p.strip_cols ? st.wo_n - c0 : p.strip_cols;
      const int first = c0 * p.stride_w - p.pad_left;  // the strip's first input column
      const int x0 = floor_multiple(first, V);
      stage_box_rows<T, V>(x + plane * p.in_plane_pitch, p.h, st.w_n, r0 * p.stride_h - p.pad_top, x0, st.band_rows,
                           in_pitch / V, st.s_in);
      if (plane != loaded) {
        // Read while the box is in flight: loaded after the barrier they
        // would add a memory latency.
        const int64_t channel = plane % p.c;
        load_weights<T, K, 1, true>(p, w, channel, wr);
        b[0] = bias ? Traits::to_accum(load_before_barrier(bias + channel)) : A(0);
        loaded = plane;
      }
      T* gy = y + plane * p.out_plane_pitch + r0 * st.wo_n + c0;
      const int out_phase = vector_phase<T, V>(gy);
      copy_async_wait_all();
      __syncthreads();
      const StagedColumns cs{first - x0, p.stride_h * in_pitch, p.dilation_h * in_pitch, p.stride_w, 0, 0, out_phase,
                             out_pitch,  st.q * out_pitch};
      staged_columns<T, Threads, R, K, M, false>(cs, wr, b, st.s_in, st.s_out, st.units, st.q, cols, r1 - r0);
      __syncthreads();
      store_rows_aligned<T, V>(gy, st.wo_n, st.s_out, out_pitch, out_phase, int(r1 - r0), cols);
      __syncthreads();  // the next tile overwrites both
      if (++row_block == p.row_blocks) {
        row_block = 0;
        if (++strip == p.col_blocks) {
          strip = 0;
          ++plane;
        }
      }
    }
  }
}

}  // namespace detail
}  // namespace dwconv
