// dwconv: the NCHW dw / dbias phase-one tile on tensor cores for small
// planes, a block a plane (or a few, where the workspace's slots bound the
// tiles): it copies the whole x and dy planes, one contiguous range each,
// into shared memory, and its warps take the products a strip a warp, as
// the staged tile walks its bands (dw_mma_strip). No per-piece zero fills
// (a buffer's padding rows are zeroed once: every plane has the same
// geometry) and no per-row copy walks. The staged tile spends most of its
// instructions on those at 2-byte 56x56 (ncu, `2026-11-27-h100-s34-ncu.txt`:
// staging, zero fills, barriers and setup 4 of 5), where it ran at 76 % of
// the floor against a pure read's 95 % at that size
// (`2026-11-27-h100-s35-memory-probes.json`); this tile runs it at 81-82 %
// (b51.1, bench/NOTES.md).
#pragma once

#include <cstdint>

#include "dwconv/detail/backward_weight_kernel.cuh"
#include "dwconv/detail/launch.cuh"
#include "dwconv/detail/mma.cuh"
#include "dwconv/detail/staged_band.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/detail/weight_grad_mma_kernel.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// Elements of a 16-byte vector of the plane tile's 2-byte types: the unit
/// of its copies and of its buffers' ranges.
inline constexpr int kDwPlaneVec = 8;

/// A plane buffer of the plane tile holds x rows from -pad_top
/// (dw_mma_x_rows of p.tile_rows, p.smem_x_elems with the tail), then dy's
/// tile_rows rows and the tail, each a whole number of 16-byte vectors:
/// the elements of dy's part.
__host__ __device__ constexpr int64_t dw_plane_dy_elems(int64_t tile_rows, int64_t out_w) {
  return (tile_rows * out_w + kDwMmaTail + kDwPlaneVec - 1) / kDwPlaneVec * kDwPlaneVec;
}

/// Bytes of one plane buffer: x_elems of x, then dy's (dw_plane_dy_elems).
template <class T>
__host__ __device__ constexpr int64_t dw_plane_buffer_bytes(int64_t x_elems, int64_t tile_rows, int64_t out_w) {
  return (x_elems + dw_plane_dy_elems(tile_rows, out_w)) * int64_t(sizeof(T));
}

/// Plane buffers a block of the plane tile takes: two (the next plane in
/// flight during the products of the one before) where it walks several.
__host__ __device__ constexpr int dw_plane_buffers(const WeightGradParams& p) { return p.pieces_per_chunk > 1 ? 2 : 1; }

/// Dynamic shared memory of a block of the plane tile: its buffers, or its
/// sums (dw_mma_sum_bytes) where they take more.
template <class T>
__host__ __device__ constexpr int dw_plane_smem_bytes(const WeightGradParams& p, int threads, int k) {
  const int64_t buffers = dw_plane_buffers(p) * dw_plane_buffer_bytes<T>(p.smem_x_elems, p.tile_rows, p.out_w);
  return int(buffers > dw_mma_sum_bytes(threads, k) ? buffers : dw_mma_sum_bytes(threads, k));
}

/// Copies `elems` (a multiple of kDwPlaneVec) elements at `src` (16-byte
/// aligned) to shared `dst` (16-byte aligned) with the block's threads,
/// asynchronously.
template <class T>
__device__ __forceinline__ void copy_range_async(T* dst, const T* src, int64_t elems) {
  static_assert(sizeof(T) * kDwPlaneVec == 16, "16-byte copies of 2-byte elements");
  for (int64_t i = threadIdx.x; i < elems / kDwPlaneVec; i += blockDim.x)
    copy_async<16>(dst + kDwPlaneVec * i, src + kDwPlaneVec * i);
}

/// Threads a block of the plane tile: a 16-column strip a warp (56 columns:
/// 4 strips).
inline constexpr int kDwPlaneThreads = 128;

/// Tile (block) b: images b % p.row_chunks * p.pieces_per_chunk .. of
/// channel b / p.row_chunks, summed into the tile's workspace slot. A grid
/// of such short blocks, not one wave walking fixed shares: the hardware's
/// block scheduler balances them (b51, bench/NOTES.md). Buffers (dynamic
/// shared memory, dw_plane_smem_bytes): x plane rows at buffer rows
/// pad_top .., dy rows from 0, packed (x rows p.w long, an odd number of
/// 16-byte vectors: ldmatrix's 8 rows in 8 bank quads); the sums take the
/// buffers' room at the end. MinBlocks: blocks a multiprocessor its
/// registers allow (a policy's kTensorCoresPlaneMinBlocks).
template <class T, int Threads, int K, int MinBlocks>
__global__ void __launch_bounds__(Threads, MinBlocks)
    weight_grad_mma_plane_kernel(const WeightGradParams p, const T* __restrict__ x, const T* __restrict__ dy,
                                 float* __restrict__ ws) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  constexpr int kG = dw_mma_groups(K), kWarps = Threads / 32;
  static_assert(sizeof(T) == 2 && K > 0, "the tensor-core dw tile is for 2-byte types and static kernel heights");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ float scratch[kWarps];

  const int w_n = int(p.w), wo_n = int(p.out_w), pl = p.pad_left, pt = p.pad_top;
  const int side_cols = wo_n - w_n;  // dy columns in the padding: the bias alone
  const int x_elems = p.smem_x_elems, dy_elems = int(dw_plane_dy_elems(p.tile_rows, wo_n));
  const int plane_x = int(p.h) * w_n, plane_dy = int(p.out_h) * wo_n;
  T* const buf0 = reinterpret_cast<T*>(smem_raw);
  auto buf = [&](int b) { return buf0 + b * (x_elems + dy_elems); };
  const int warp = int(threadIdx.x) / 32;
  const int strips = (w_n + 15) / 16;
  const BoxWalk side_walk = box_walk(side_cols > 0 ? side_cols : 1);
  const int64_t channel = blockIdx.x / p.row_chunks, chunk = blockIdx.x % p.row_chunks;
  const int64_t first = chunk * p.pieces_per_chunk;
  const int64_t end = first + p.pieces_per_chunk < p.n ? first + p.pieces_per_chunk : p.n;

  // What no plane's copies write: x rows above and below the plane, x's
  // tail, dy's rows past out_h and its tail (the plan keeps each range's
  // ends on 16-byte vectors).
  for (int b = 0; b < dw_plane_buffers(p); ++b) {
    zero_range<T, kDwPlaneVec>(buf(b), 0, pt * w_n);
    zero_range<T, kDwPlaneVec>(buf(b), pt * w_n + plane_x, x_elems);
    zero_range<T, kDwPlaneVec>(buf(b) + x_elems, plane_dy, dy_elems);
  }
  auto issue = [&](int64_t img, T* b) {
    const int64_t plane = img * p.c + channel;
    copy_range_async(b + pt * w_n, x + plane * p.x_plane_pitch, plane_x);
    copy_range_async(b + x_elems, dy + plane * p.dy_plane_pitch, plane_dy);
    copy_async_commit();
  };

  float c[kG][4] = {}, cb[4] = {}, side = 0.0f;
  issue(first, buf(0));
  for (int64_t img = first, b = 0; img < end; ++img, b ^= 1) {
    if (img + 1 < end) {
      issue(img + 1, buf(int(b ^ 1)));
      copy_async_wait_groups<1>();
    } else {
      copy_async_wait_all();
    }
    __syncthreads();  // this plane's copies (and the zeros) landed for every thread
    const T* s_x = buf(int(b));
    const T* s_dy = s_x + x_elems;
    if (p.write_bias && side_cols > 0) {
      for_each_box_vector(side_walk, int(p.out_h), [&](int r, int col) {
        side += Traits::to_accum(s_dy[r * wo_n + (col < pl ? col : col + w_n)]);
      });
    }
    const DwMmaBands<T> bands{s_x, s_dy, 0, 0, w_n, wo_n, w_n, pl, p.tile_rows / 16, p.write_bias};
    for (int s = warp; s < strips; s += kWarps) dw_mma_strip<T, K, true, false>(bands, s, c, cb);
    __syncthreads();  // the next issue (or the sums) overwrites this buffer
  }
  dw_mma_block_sums<Threads, K>(p, c, cb, side, reinterpret_cast<float*>(smem_raw), scratch,
                                ws + (chunk * p.c + channel) * p.ws_taps);
}

}  // namespace detail
}  // namespace dwconv
