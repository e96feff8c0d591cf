// dwconv: the dw / dbias phase-one kernel over bands staged in shared
// memory. As the forward's staged kernel: a block stages a band of x rows
// and the band of dy rows they feed with asynchronous vector copies (padding
// zero-filled), then walks (unit, column) items over shared memory without
// bounds or divisions, summing instead of storing. The block's sums go to
// the workspace as in weight_grad_partial_kernel.
//
// NCHW: for rows that 16-byte vectors cannot walk (padding or stride along
// W, widths off the vector); a band is whole rows of one plane, read one
// element at a time. NHWC: for every stride-1 row, because the register
// kernel there holds a unit's loads in registers (158 registers, 18.75 %
// occupancy, latency-bound under ncu on the H100) where copies to shared
// memory keep a whole band in flight; a band is a box of pixels by every
// channel, and a thread keeps one vector of V channels.
#pragma once

#include <cstdint>

#include "dwconv/detail/backward_weight_kernel.cuh"
#include "dwconv/detail/staged_band.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// Tile: a chunk of pieces, band-major within (image, pixel block) (NCHW:
/// of one channel), so that consecutive pieces share halo rows in L2. R dy
/// rows per item, K taps, M the window step (as in forward_kernel); V: the
/// band copies' vector (NHWC: also the channels a thread sums). Dynamic
/// shared memory: p.smem_x_elems + the dy band (NCHW: tile_rows * out_w +
/// 2 * V elements; NHWC: tile_rows * piece_pixels * c).
template <class T, Layout L, int Threads, int R, int V, int K, int M>
__global__ void __launch_bounds__(Threads)
    weight_grad_staged_kernel(const WeightGradParams p, const T* __restrict__ x, const T* __restrict__ dy,
                              typename NumericTraits<T>::Accum* __restrict__ ws) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  static_assert(K >= 1 && M >= 1, "static kernel heights only");
  constexpr bool kNchw = L == Layout::NCHW;
  constexpr int kLanes = kNchw ? 1 : V;  // elements a thread reads and sums per row
  using Lanes = AlignedVector<T, kLanes>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ A scratch[Threads * kLanes];
  T* s_x = reinterpret_cast<T*>(smem_raw);
  T* s_dy = s_x + p.smem_x_elems;

  const int q = p.row_step;
  // Elements of a band row. NHWC has stride 1 along W: a piece's x columns
  // are its dy columns shifted by pad_left, the same count.
  const int dy_row = kNchw ? int(p.out_w) : int(p.piece_pixels * p.c);
  const int x_row = kNchw ? int(p.w) : dy_row;
  const int cols = dy_row / kLanes;
  const int units = p.tile_rows / R;
  const int band_rows = int(staged_band_rows(p.tile_rows, p.stride_h, K, p.dilation_h));
  const int x_step = p.dilation_h * x_row;  // between window rows
  const int dy_step = q * dy_row;           // between an item's dy rows
  const int unit_x_rows = p.stride_h * x_row;
  const int64_t pieces = p.n * p.pixel_blocks * p.bands_per_plane;

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int64_t chunk = tile % p.row_chunks;
    const int64_t channel = tile / p.row_chunks;  // NCHW
    const int64_t piece0 = chunk * p.pieces_per_chunk;
    const int64_t piece1 = piece0 + p.pieces_per_chunk < pieces ? piece0 + p.pieces_per_chunk : pieces;
    A acc[K][kLanes], acc_b[kLanes];
    zero_sums(acc, acc_b);

    // The first piece's (image, pixel block, band); the next ones by
    // counting (64-bit divisions per piece were a tenth of a piece's
    // instructions in NHWC).
    int64_t img = piece0 / (p.pixel_blocks * p.bands_per_plane);
    int64_t band = piece0 - img * (p.pixel_blocks * p.bands_per_plane);
    int64_t pixel_block = band / p.bands_per_plane;
    band -= pixel_block * p.bands_per_plane;
    for (int64_t piece = piece0; piece < piece1; ++piece) {
      const int64_t r0 = band * p.tile_rows;
      const int64_t hi0 = r0 * p.stride_h - p.pad_top;
      // dy rows past out_h (and NHWC pixels past out_w) are zero-filled: they add nothing.
      int x_base = 0, dy_base = 0;
      if constexpr (kNchw) {
        const int64_t plane = img * p.c + channel;
        x_base = stage_band<T, V>(x + plane * p.x_plane_pitch, p.h, x_row, hi0, band_rows, s_x);
        dy_base = stage_band<T, V>(dy + plane * p.dy_plane_pitch, p.out_h, dy_row, r0, p.tile_rows, s_dy);
      } else {
        const int64_t wo0 = pixel_block * p.piece_pixels;
        stage_box<T, V>(x + img * p.x_plane_pitch, p.h, p.w * p.c, p.x_row_pitch, hi0, (wo0 - p.pad_left) * p.c,
                        band_rows, x_row, s_x);
        stage_box<T, V>(dy + img * p.dy_plane_pitch, p.out_h, p.out_w * p.c, p.dy_row_pitch, r0, wo0 * p.c, p.tile_rows,
                        dy_row, s_dy);
      }
      copy_async_wait_all();
      __syncthreads();

      for_each_staged_item<Threads, R>(units, q, cols, p.out_h - r0, [&](int ho_rel, int col) {
        bool in_bounds = true;
        int xi, gi;
        if constexpr (kNchw) {
          // Columns in the padding read a valid address and use zero.
          const int wi = col * p.stride_w - p.pad_left;
          in_bounds = wi >= 0 && wi < x_row;
          xi = x_base + ho_rel * unit_x_rows + (in_bounds ? wi : 0);
          gi = dy_base + ho_rel * dy_row + col;
        } else {
          // Padding columns are zero in the band.
          xi = ho_rel * unit_x_rows + col * kLanes;
          gi = ho_rel * dy_row + col * kLanes;
        }
        A g[R][kLanes];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const Lanes raw = *reinterpret_cast<const Lanes*>(s_dy + gi + r * dy_step);
#pragma unroll
          for (int v = 0; v < kLanes; ++v) g[r][v] = Traits::to_accum(raw.e[v]);
        }
        if (p.write_bias) {
#pragma unroll
          for (int r = 0; r < R; ++r)
#pragma unroll
            for (int v = 0; v < kLanes; ++v) acc_b[v] += g[r][v];
        }
#pragma unroll
        for (int i = 0; i < (R - 1) * M + K; ++i) {
          const Lanes raw = *reinterpret_cast<const Lanes*>(s_x + xi + i * x_step);
          A xv[kLanes];
#pragma unroll
          for (int v = 0; v < kLanes; ++v) xv[v] = in_bounds ? Traits::to_accum(raw.e[v]) : A(0);
#pragma unroll
          for (int r = 0; r < R; ++r) {
            const int k = i - r * M;
            if (k >= 0 && k < K) {
#pragma unroll
              for (int v = 0; v < kLanes; ++v) acc[k][v] += g[r][v] * xv[v];
            }
          }
        }
      });
      __syncthreads();  // the next piece overwrites both bands
      if (++band == p.bands_per_plane) {
        band = 0;
        if (++pixel_block == p.pixel_blocks) {
          pixel_block = 0;
          ++img;
        }
      }
    }

    // NCHW: the whole block sums into one value per tap. NHWC: a thread's
    // channel vector is its index modulo 2^col_threads_log2 (cols and
    // Threads are multiples of it), and the block sums per channel.
    auto write = [&](int tap) {
      return [&, tap](int ct, int v, A sum) {
        const int64_t ch = kNchw ? channel : int64_t(ct) * kLanes + v;
        ws[(chunk * p.c + ch) * p.ws_taps + tap] = sum;
      };
    };
    block_sum_taps<A, Threads, kNchw>(p, acc, acc_b, p.col_threads_log2, scratch, write);
  }
}

}  // namespace detail
}  // namespace dwconv
