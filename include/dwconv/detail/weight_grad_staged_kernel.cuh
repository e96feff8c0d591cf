// dwconv: the dw / dbias phase-one kernel for NCHW rows that 16-byte vectors
// cannot walk (padding or stride along W, widths off the vector). As the
// forward's staged kernel: a block stages a band of x rows and the band of
// dy rows they feed in shared memory with aligned vectors whatever the row
// geometry (padding rows zero-filled), then walks (unit, column) items over
// shared memory without bounds or divisions, summing instead of storing.
// The block's sums go to the workspace as in weight_grad_partial_kernel.
#pragma once

#include <cstdint>

#include "dwconv/detail/backward_weight_kernel.cuh"
#include "dwconv/detail/staged_band.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// Tile: one channel and a chunk of pieces (image, tile_rows dy rows), the
/// pieces n-major. R dy rows per item, K taps, M the window step (as in
/// forward_kernel); V: the band copies' vector. Dynamic shared memory:
/// p.smem_x_elems + the dy band (tile_rows * out_w + 2 * V elements).
template <class T, int Threads, int R, int V, int K, int M>
__global__ void __launch_bounds__(Threads)
    weight_grad_staged_nchw_kernel(const WeightGradParams p, const T* __restrict__ x, const T* __restrict__ dy,
                                   typename NumericTraits<T>::Accum* __restrict__ ws) {
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  static_assert(K >= 1 && M >= 1, "static kernel heights only");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ A scratch[Threads];
  T* s_x = reinterpret_cast<T*>(smem_raw);
  T* s_dy = s_x + p.smem_x_elems;

  const int q = p.row_step;
  const int wo_n = int(p.out_w);
  const int w_n = int(p.w);
  const int units = p.tile_rows / R;
  const int band_rows = int(staged_band_rows(p.tile_rows, p.stride_h, K, p.dilation_h));
  const int x_step = p.dilation_h * w_n;  // between window rows
  const int dy_step = q * wo_n;           // between an item's dy rows
  const int unit_x_rows = p.stride_h * w_n;
  const int64_t pieces = p.n * p.bands_per_plane;

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int64_t chunk = tile % p.row_chunks;
    const int64_t channel = tile / p.row_chunks;
    const int64_t piece0 = chunk * p.pieces_per_chunk;
    const int64_t piece1 = piece0 + p.pieces_per_chunk < pieces ? piece0 + p.pieces_per_chunk : pieces;
    A acc[K], acc_b = A(0);
#pragma unroll
    for (int k = 0; k < K; ++k) acc[k] = A(0);

    for (int64_t piece = piece0; piece < piece1; ++piece) {
      const int64_t img = piece / p.bands_per_plane;
      const int64_t r0 = (piece - img * p.bands_per_plane) * p.tile_rows;
      const int64_t plane = img * p.c + channel;
      // dy rows past out_h are zero-filled: they add nothing.
      const int x_base =
          stage_band<T, V>(x + plane * p.x_plane_pitch, p.h, w_n, r0 * p.stride_h - p.pad_top, band_rows, s_x);
      const int dy_base = stage_band<T, V>(dy + plane * p.dy_plane_pitch, p.out_h, wo_n, r0, p.tile_rows, s_dy);
      copy_async_wait_all();
      __syncthreads();

      for_each_staged_item<Threads, R>(units, q, wo_n, p.out_h - r0, [&](int ho_rel, int wo) {
        const int wi = wo * p.stride_w - p.pad_left;
        const bool in_bounds = wi >= 0 && wi < w_n;
        // Columns in the padding read a valid address and use zero.
        const int xi = x_base + ho_rel * unit_x_rows + (in_bounds ? wi : 0);
        const int gi = dy_base + ho_rel * wo_n + wo;
        A g[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          g[r] = Traits::to_accum(s_dy[gi + r * dy_step]);
          acc_b += g[r];
        }
#pragma unroll
        for (int i = 0; i < (R - 1) * M + K; ++i) {
          const A v = Traits::to_accum(s_x[xi + i * x_step]);
          const A xv = in_bounds ? v : A(0);
#pragma unroll
          for (int r = 0; r < R; ++r) {
            const int k = i - r * M;
            if (k >= 0 && k < K) acc[k] += g[r] * xv;
          }
        }
      });
      __syncthreads();  // the next piece overwrites both bands
    }

    auto write = [&](int tap) {
      return [&, tap](int, int, A sum) { ws[(chunk * p.c + channel) * p.ws_taps + tap] = sum; };
    };
#pragma unroll 1
    for (int k = 0; k < K; ++k) {
      const A value[1] = {acc[k]};
      block_sum<A, Threads, 1, true>(value, 0, scratch, write(p.tap_base + k));
    }
    if (p.write_bias) {
      const A value[1] = {acc_b};
      block_sum<A, Threads, 1, true>(value, 0, scratch, write(p.ws_taps - 1));
    }
  }
}

}  // namespace detail
}  // namespace dwconv
