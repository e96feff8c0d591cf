// dwconv: the NCHW forward kernel for rows that 16-byte vectors cannot walk
// (padding or stride along W, widths that are not a multiple of the vector).
// In NCHW a band of whole rows is one contiguous range in x and in y, so a
// block stages the input band in shared memory and its output band there
// too, and moves both with aligned 16-byte vectors whatever the row
// geometry; the convolution itself reads and writes shared memory.
#pragma once

#include <cstdint>

#include "dwconv/detail/forward_kernel.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// Tile: one plane (n, c) and p.tile_rows output rows (a multiple of R * q).
/// Each thread owns one output column and R rows at a time (register window
/// over shared memory). Dynamic shared memory: p.smem_in_elems + output band.
template <class T, int Threads, int R, int V, int K, int M>
__global__ void __launch_bounds__(Threads)
    forward_staged_nchw_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w,
                               const T* __restrict__ bias, T* __restrict__ y) {
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  static_assert(K > 0 && M >= 1, "the staged kernel is for static kernel heights");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* s_in = reinterpret_cast<T*>(smem_raw);
  T* s_out = s_in + p.smem_in_elems;

  const int64_t q = p.row_step;
  const int wo_n = int(p.cols);
  const int w_n = int(p.w);
  const int units = p.tile_rows / R;  // (row block of R*q rows, phase) pairs per tile

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int64_t plane = tile / p.row_blocks;
    const int64_t r0 = (tile - plane * p.row_blocks) * p.tile_rows;
    const int64_t r1 = r0 + p.tile_rows < p.out_h ? r0 + p.tile_rows : p.out_h;
    // Input rows the band needs, clipped to the input; the rest is padding.
    const int64_t hi_lo = r0 * p.stride_h - p.pad_top;
    const int64_t hi_hi = (r1 - 1) * p.stride_h - p.pad_top + int64_t(K - 1) * p.dilation_h;
    const int64_t hi_a = hi_lo > 0 ? hi_lo : 0;
    const int64_t hi_b = hi_hi < p.h - 1 ? hi_hi : p.h - 1;

    T* gx = const_cast<T*>(x) + plane * p.in_plane_pitch + hi_a * w_n;
    const int in_len = hi_b >= hi_a ? int(hi_b - hi_a + 1) * w_n : 0;
    const int in_phase = vector_phase<T, V>(gx);
    T* gy = y + plane * p.out_plane_pitch + r0 * wo_n;
    const int out_phase = vector_phase<T, V>(gy);

    block_copy<true, T, V>(gx, s_in, in_len, in_phase);
    copy_async_wait_all();
    __syncthreads();

    A wr[K][1];
    const int64_t channel = plane % p.c;
    load_weights<T, K, 1>(p, w, channel, wr);
    const A b[1] = {bias ? Traits::to_accum(bias[channel]) : A(0)};

    for (int item = threadIdx.x; item < units * wo_n; item += Threads) {
      const int unit = item / wo_n;
      const int wo = item - unit * wo_n;
      const int64_t ho0 = r0 + (unit / q) * (R * q) + unit % q;
      if (ho0 >= r1) continue;
      const int64_t wi = int64_t(wo) * p.stride_w - p.pad_left;
      const bool in_bounds = wi >= 0 && wi < w_n;
      const int64_t hi0 = ho0 * p.stride_h - p.pad_top;
      window_rows<A, R, 1, K, M, 1>(
          wr, b,
          [&](int i, A(&xv)[1]) {
            const int64_t hi = hi0 + int64_t(i) * p.dilation_h;
            xv[0] = in_bounds && hi >= hi_a && hi <= hi_b
                        ? Traits::to_accum(s_in[in_phase + int(hi - hi_a) * w_n + int(wi)])
                        : A(0);
          },
          [&](int r, const A(&acc)[1]) {
            const int64_t ho = ho0 + r * q;
            if (ho < r1) s_out[out_phase + int(ho - r0) * wo_n + wo] = Traits::from_accum(acc[0]);
          });
    }
    __syncthreads();
    block_copy<false, T, V>(gy, s_out, int(r1 - r0) * wo_n, out_phase);
    __syncthreads();  // the next tile overwrites both bands
  }
}

}  // namespace detail
}  // namespace dwconv
