// dwconv: the NCHW staged forward tile on tensor cores, for 2-byte types at
// stride 1 and dilation 1. In one plane, a block of 16 output rows is a
// banded (Toeplitz) matrix of the channel's K taps times the input rows
// below it: out[m][col] = sum_k A[m][k] x[k][col] with A[m][k] = w[k - m],
// the same A for every row block. So a warp keeps A's fragments in
// registers for the whole tile, and each 16 x 16 output block costs
// (K + 30) / 16 ldmatrix and twice as many mma: a few instructions per 256
// outputs, against K multiply-adds and a conversion per output on CUDA
// cores, ~78 % of the H100's FP32 rate at the floor for K = 31.
#pragma once

#include <cstdint>

#include "dwconv/detail/forward_kernel.cuh"
#include "dwconv/detail/mma.cuh"
#include "dwconv/detail/staged_band.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// 16-row blocks of the input band that one 16-row output block reads
/// (16 + K - 1 rows).
__host__ __device__ constexpr int mma_k_steps(int k) { return (k + 30) / 16; }

/// Shared row pitch of the output slots: pitched where output rows are whole
/// 16-byte vectors (Wo % 8 == 0; store_box copies them out), else the rows
/// packed back to back (block_copy), whose pitch is then not a multiple of 8
/// and spreads the fragment stores over the banks anyway.
__host__ __device__ inline int mma_out_pitch(int64_t wo) { return wo % 8 == 0 ? conflict_free_pitch(wo) : int(wo); }

/// Elements of one 16-row output slot, with room for the packed rows' phase.
__host__ __device__ inline int mma_out_slot_elems(int64_t wo) { return 16 * mma_out_pitch(wo) + 8; }

/// Elements of one 16-row input block of the ring (rows of width w).
__host__ __device__ inline int mma_in_block_elems(int64_t w) { return 16 * conflict_free_pitch(w); }

/// Tile: one plane (n, c) and up to p.tile_rows output rows (a multiple of
/// 16), streamed 16 rows a step. The input comes through a ring of
/// p.ring_blocks 16-row blocks (kSteps of them read by a step, the rest
/// loading ahead, so that each block's copies are in flight for as many
/// steps: a tile that loads its whole band, then computes, then stores,
/// leaves the memory idle while its few blocks per multiprocessor compute,
/// and rounding that band to 16-row blocks read K9's 32-row tiles 1.5 times;
/// measured, `2026-11-25-h100-v8.json`). Outputs go through two 16-row
/// slots, copied out while the next step computes.
///
/// Needs p.w % 8 == 0 and x aligned to 16 bytes: the blocks are staged in
/// 16-byte copies at conflict_free_pitch(w), where ldmatrix finds every row
/// aligned and 8 rows in 8 bank quads. Dynamic shared memory: p.smem_in_elems
/// (ring_blocks * mma_in_block_elems(w)) + 2 * mma_out_slot_elems(wo).
///
/// Fragments (mma m16n8k16, lane l, g = l / 4, t = l % 4): A row g, g + 8 and
/// columns 2t, 2t + 1, 2t + 8, 2t + 9; Toeplitz, so A[g + 8][2t + 8] =
/// A[g][2t] and three registers per k-step hold it. B comes from ldmatrix
/// (x4, transposed): two 8-column halves of the strip, two 8-row halves of
/// the k-step. C holds rows g, g + 8 and columns 2t, 2t + 1 of each half.
template <class T, int Threads, int K>
__global__ void __launch_bounds__(Threads)
    forward_mma_nchw_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w,
                            const T* __restrict__ bias, T* __restrict__ y) {
  using Traits = NumericTraits<T>;
  constexpr int kV = kVecElems16<T>;
  constexpr int kSteps = mma_k_steps(K);
  static_assert(sizeof(T) == 2 && K > 0, "the tensor-core tile is for 2-byte types and static kernel heights");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* s_in = reinterpret_cast<T*>(smem_raw);
  T* s_out = s_in + p.smem_in_elems;

  const int w_n = int(p.w);
  const int wo_n = int(p.cols);
  const int in_pitch = conflict_free_pitch(w_n);
  const int block_elems = mma_in_block_elems(w_n);
  const int ring = p.ring_blocks;
  const int ahead = ring - kSteps;  // blocks in flight behind the newest one a step reads
  const int out_slot = mma_out_slot_elems(wo_n);
  // With Wo % 8 == 0 and y aligned, every output row is whole aligned vectors.
  const bool boxed = wo_n % kV == 0 && vector_phase<T, kV>(y) == 0;
  const int out_pitch = boxed ? mma_out_pitch(wo_n) : wo_n;
  // Output columns that read no input column (stride 1: column wo reads wo -
  // pad_left) hold the bias alone.
  const int pl = p.pad_left;
  const int lo_end = pl < 0 ? 0 : (pl < wo_n ? pl : wo_n);
  const int hi_begin = pl + w_n < lo_end ? lo_end : (pl + w_n < wo_n ? pl + w_n : wo_n);
  const int pad_cols = lo_end + (wo_n - hi_begin);
  const int lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  const int strips = (w_n + 15) / 16;

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int64_t plane = tile / p.row_blocks;
    const int64_t r0 = (tile - plane * p.row_blocks) * p.tile_rows;
    const int rows = int(r0 + p.tile_rows < p.out_h ? p.tile_rows : p.out_h - r0);
    const int blocks = (rows + 15) / 16;
    const int in_blocks = blocks + kSteps - 1;
    // Input block b holds input rows r0 - pad_top + 16 b + [0, 16); rows off
    // the plane are zeros. One copy group per block, empty past the last.
    const T* gx = x + plane * p.in_plane_pitch;
    auto load_block = [&](int b) {
      if (b < in_blocks)
        stage_box<T, kV>(gx, p.h, w_n, w_n, r0 - p.pad_top + 16 * int64_t(b), 0, 16, in_pitch,
                         s_in + (b % ring) * block_elems);
      copy_async_commit();
    };
    for (int b = 0; b + 1 < ring; ++b) load_block(b);

    // The channel's A fragments and the bias, read while the blocks load.
    const int64_t channel = plane % p.c;
    const T zero = Traits::from_accum(0.0f);
    auto tap = [&](int k) { return k >= 0 && k < K ? w[channel * K + tap_index(p, k)] : zero; };
    uint32_t a[kSteps][3];
#pragma unroll
    for (int j = 0; j < kSteps; ++j) {
      const int k = 16 * j + 2 * t - g;  // A[g][2t] of k-step j
      a[j][0] = pack_pair(tap(k), tap(k + 1));
      a[j][1] = pack_pair(tap(k - 8), tap(k - 7));  // A[g + 8][2t]
      a[j][2] = pack_pair(tap(k + 8), tap(k + 9));  // A[g][2t + 8]
    }
    const float b = bias ? Traits::to_accum(bias[channel]) : 0.0f;

    for (int step = 0; step < blocks; ++step) {
      // Block step + ring - 1 reuses the slot of block step - 1, which the
      // previous step finished reading before its second barrier.
      load_block(step + ring - 1);
      copy_async_wait_groups(ahead);  // blocks up to step + kSteps - 1 have landed
      __syncthreads();

      T* so = s_out + (step & 1) * out_slot;
      T* gy = y + plane * p.out_plane_pitch + (r0 + 16 * step) * wo_n;
      const int base = boxed ? 0 : vector_phase<T, kV>(gy);
      const int step_rows = rows - 16 * step < 16 ? rows - 16 * step : 16;
      for (int i = int(threadIdx.x); i < step_rows * pad_cols; i += Threads) {
        const int r = i / pad_cols, c = i - r * pad_cols;
        so[base + r * out_pitch + (c < lo_end ? c : hi_begin + c - lo_end)] = Traits::from_accum(b);
      }
      auto store = [&](int r, int col, float v) {
        const int oc = col + pl;
        if (r < step_rows && col < w_n && oc >= 0 && oc < wo_n) so[base + r * out_pitch + oc] = Traits::from_accum(v);
      };
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
      for (int s = int(threadIdx.x) / 32; s < strips; s += Threads / 32) {
        const uint32_t lane_offset = uint32_t(((lane % 16) * in_pitch + s * 16 + (lane / 16) * 8) * int(sizeof(T)));
        float c[2][4];
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
          for (int e = 0; e < 4; ++e) c[h][e] = b;
#pragma unroll
        for (int j = 0; j < kSteps; ++j) {
          uint32_t bk[4];
          const T* block = s_in + ((step + j) % ring) * block_elems;
          ldmatrix_x4_trans(bk, static_cast<uint32_t>(__cvta_generic_to_shared(block)) + lane_offset);
          mma_16x8x16<T>(c[0], a[j][0], a[j][1], a[j][2], a[j][0], bk[0], bk[1]);
          mma_16x8x16<T>(c[1], a[j][0], a[j][1], a[j][2], a[j][0], bk[2], bk[3]);
        }
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int col = s * 16 + h * 8 + 2 * t;
          store(g, col, c[h][0]);
          store(g, col + 1, c[h][1]);
          store(g + 8, col, c[h][2]);
          store(g + 8, col + 1, c[h][3]);
        }
      }
#else
      // Targets without mma.sync: the same blocks, one multiply-add per tap.
      (void)a;
      for (int i = int(threadIdx.x); i < step_rows * strips * 16; i += Threads) {
        const int r = i / (strips * 16), col = i - r * (strips * 16);
        float acc = b;
        for (int k = 0; k < K; ++k) {
          const int row = r + k;  // within the step's kSteps blocks
          acc += Traits::to_accum(tap(k)) *
                 Traits::to_accum(s_in[((step + row / 16) % ring) * block_elems + (row % 16) * in_pitch + col]);
        }
        store(r, col, acc);
      }
#endif
      __syncthreads();
      if (boxed)
        store_box<T, kV>(so, out_pitch, gy, wo_n, step_rows, wo_n);
      else
        block_copy<false, T, kV>(gy, so, step_rows * wo_n, base);
    }
  }
}

}  // namespace detail
}  // namespace dwconv
