// dwconv: the NCHW staged forward tile on tensor cores, for 2-byte types at
// stride 1 and dilation 1. In one plane, a block of 16 output rows is a
// banded (Toeplitz) matrix of the channel's K taps times the input rows
// below it: out[m][col] = sum_k A[m][k] x[k][col] with A[m][k] = w[k - m],
// the same A for every row block. So a warp keeps A's fragments in
// registers for the whole tile and walks a 16-column strip downwards,
// loading each 16-row block of the input band once (ldmatrix) and feeding
// it to every output block that reads it: about 1/16 of a shared load and
// (K + 30) / 16 / 128 of an mma per output, against K multiply-adds and
// conversions on CUDA cores, which bound the K >= 7 tiles in fp16 (issue-
// bound, ncu on the H100).
#pragma once

#include <cstdint>
#include <type_traits>

#include "dwconv/detail/forward_kernel.cuh"
#include "dwconv/detail/launch.cuh"
#include "dwconv/detail/mma.cuh"
#include "dwconv/detail/staged_band.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// 16-row blocks of the input band that one 16-row output block reads
/// (16 + K - 1 rows).
__host__ __device__ constexpr int mma_k_steps(int k) { return (k + 30) / 16; }

/// Input band rows of a tensor-core tile of `tile_rows` (a multiple of 16)
/// output rows: whole 16-row blocks.
__host__ __device__ constexpr int64_t mma_band_rows(int64_t tile_rows, int k) {
  return tile_rows + 16 * int64_t(mma_k_steps(k) - 1);
}

/// Shared row pitch of a tile's output band: pitched where output rows are
/// whole 16-byte vectors (Wo % 8 == 0; store_box copies them out), else the
/// rows packed back to back (block_copy), whose pitch is then not a multiple
/// of 8 and spreads the fragment stores over the banks anyway.
__host__ __device__ inline int mma_out_pitch(int64_t wo) { return wo % 8 == 0 ? conflict_free_pitch(wo) : int(wo); }

/// Tile: one plane (n, c) and p.tile_rows output rows (a multiple of 16).
/// kAlignedRows (p.w % 8 == 0, x aligned to 16 bytes): the band is staged
/// in 16-byte copies at conflict_free_pitch(w), where ldmatrix finds every
/// row aligned and 8 rows in 8 bank quads. Otherwise (dy's rows in a
/// stride-1 dx: Wo = W + 2 pad) the band is one contiguous range of the
/// plane, staged as the CUDA-core tile stages it (stage_band, 16-byte
/// copies whatever the rows' alignment), and each lane loads its B
/// fragments element by element: 4-byte copies into a pitched band were
/// measured 2.5x slower (`2026-11-25-h100-v8.json`).
/// kBandRing: the launch is one wave of blocks, each walking an even share
/// of the plane-major tiles, and the band is a ring of 16-row blocks:
/// after a tile's products its block issues the next tile's tile_rows new
/// rows into the slots only this tile read, then stores this tile's outputs
/// while they arrive (a plane change restages the whole band). A
/// contiguous band's ring starts at the plane's one base (band_ring_base),
/// so that its slots stay back to back and a run of them is one copy
/// (stage_band_at). Else one tile a block, its band staged whole.
/// Dynamic shared memory: p.smem_in_elems (mma_band_rows x the pitch, or
/// for the contiguous band mma_band_rows x w + 32) + tile_rows *
/// mma_out_pitch(wo) + 16 elements.
///
/// Fragments (mma m16n8k16, lane l, g = l / 4, t = l % 4): A row g, g + 8 and
/// columns 2t, 2t + 1, 2t + 8, 2t + 9; Toeplitz, so A[g + 8][2t + 8] =
/// A[g][2t] and three registers per k-step hold it. B comes from ldmatrix
/// (x4, transposed): two 8-column halves of the strip, two 8-row halves of
/// the k-step. C holds rows g, g + 8 and columns 2t, 2t + 1 of each half.
/// The ring's launch bound keeps two blocks a multiprocessor (12 warps each
/// at K >= 15); the one-tile form takes none: an explicit minimum of one let
/// ptxas hold 77 registers instead of 40 at K = 7 and 9 (H100, fp16 K = 7
/// forward 95.0 -> 87.2 %, `2026-11-27-h100-b55-ab.txt`).
template <class T, int Threads, int K, bool kAlignedRows, bool kBandRing = false>
__global__ void __launch_bounds__(Threads, kBandRing ? 2 : 0)
    forward_mma_nchw_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w,
                            const T* __restrict__ bias, T* __restrict__ y) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  constexpr int kV = kVecElems16<T>;
  constexpr int kSteps = mma_k_steps(K);
  static_assert(sizeof(T) == 2 && K > 0, "the tensor-core tile is for 2-byte types and static kernel heights");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* s_in = reinterpret_cast<T*>(smem_raw);
  T* s_out = s_in + p.smem_in_elems;

  const int w_n = int(p.w);
  const int wo_n = int(p.cols);
  const int in_pitch = kAlignedRows ? conflict_free_pitch(w_n) : w_n;
  const int band_rows = int(mma_band_rows(p.tile_rows, K));
  // Output columns that read no input column (stride 1: column wo reads wo -
  // pad_left) hold the bias alone.
  const int pl = p.pad_left;
  const int lo_end = pl < 0 ? 0 : (pl < wo_n ? pl : wo_n);
  const int hi_begin = pl + w_n < lo_end ? lo_end : (pl + w_n < wo_n ? pl + w_n : wo_n);
  const int pad_cols = lo_end + (wo_n - hi_begin);
  const int lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;

  // The band's 16-row blocks; with kBandRing, head is the ring slot of the
  // tile's block 0 (else 0).
  const int nb = band_rows / 16, tile_blocks = int(p.tile_rows / 16);
  const BoxWalk walk = box_walk(in_pitch / kV);
  int head = 0, s_base = 0;
  // The ring slot of band block `block` (head's slot plus block, wrapped).
  auto ring_slot = [&](int block) { return head + block < nb ? head + block : head + block - nb; };
  // Band blocks [first, first + count) of a band whose block 0 is input row
  // row0 of `plane_x`, into ring slots from `slot` on.
  // One copy a run of slots that does not wrap: the contiguous band's
  // unaligned head and tail elements are synchronous loads (block_copy),
  // and one a 16-row slot cost 9-15 points of K31 and K15 dx (f32).
  auto stage_blocks = [&](const T* plane_x, int64_t row0, int first, int count, int slot) {
    auto run = [&](int first_block, int blocks, int at) {
      if constexpr (kAlignedRows)
        stage_box<T, kV>(plane_x, p.h, w_n, w_n, row0 + 16 * first_block, 0, 16 * blocks, in_pitch,
                         s_in + at * 16 * in_pitch, walk);
      else
        stage_band_at<T, kV>(plane_x, p.h, w_n, row0 + 16 * first_block, 16 * blocks, s_in + at * 16 * in_pitch,
                             s_base);
    };
    const int head_count = count < nb - slot ? count : nb - slot;
    run(first, head_count, slot);
    if (count > head_count) run(first + head_count, count - head_count, 0);
  };
  // A tile's whole band, from slot 0.
  auto stage_tile = [&](int64_t tile) {
    const int64_t plane = tile / p.row_blocks;
    const int64_t row0 = (tile - plane * p.row_blocks) * p.tile_rows - p.pad_top;
    const T* plane_x = x + plane * p.in_plane_pitch;
    head = 0;
    if constexpr (kAlignedRows) {
      stage_blocks(plane_x, row0, 0, nb, 0);
    } else {
      if constexpr (kBandRing) {
        s_base = band_ring_base<T, kV>(plane_x, w_n, row0);
        stage_blocks(plane_x, row0, 0, nb, 0);
      } else {
        s_base = stage_band<T, kV>(plane_x, p.h, w_n, row0, band_rows, s_in);
      }
      // The last strip's columns past the row read the next row (the next
      // slot's in the ring), and the last slot's last row the 16 elements
      // after the band: zeros there (their products only reach output
      // columns that are never stored).
      if (int(threadIdx.x) < 16) s_in[s_base + band_rows * w_n + int(threadIdx.x)] = Traits::from_accum(0.0f);
    }
  };
  // The block's tiles: with kBandRing an even share in order, else every
  // gridDim.x-th (one, where the grid is the tile count).
  int64_t tile_begin = blockIdx.x, tile_end = p.tiles, tile_step = gridDim.x;
  if constexpr (kBandRing) {
    const WaveShare share = wave_share(p.tiles, gridDim.x, blockIdx.x);
    tile_begin = share.begin;
    tile_end = share.end;
    tile_step = 1;
  }
  if (kBandRing && tile_begin < tile_end) stage_tile(tile_begin);
  int64_t channel = -1;
  uint32_t a[kSteps][3];
  float b = 0.0f;
  const T zero = Traits::from_accum(0.0f);
  auto tap = [&](int k) { return k >= 0 && k < K ? w[channel * K + tap_index(p, k)] : zero; };
  for (int64_t tile = tile_begin; tile < tile_end; tile += tile_step) {
    if constexpr (!kBandRing) stage_tile(tile);
    const int64_t plane = tile / p.row_blocks;
    const int64_t r0 = (tile - plane * p.row_blocks) * p.tile_rows;
    const int rows = int(r0 + p.tile_rows < p.out_h ? p.tile_rows : p.out_h - r0);
    // The channel's A fragments and the bias, read while the band is in flight.
    if (!kBandRing || plane % p.c != channel) {
      channel = plane % p.c;
      // Plain read-only loads, which ptxas may sink past the barrier below: the
      // coherent ones the staged tile takes (load_before_barrier) cost fp16
      // K = 31 77 -> 68 % here (H100, `2026-11-26-h100-f17.2.json`), the taps
      // the k-steps share no longer loaded once.
#pragma unroll
      for (int j = 0; j < kSteps; ++j) {
        const int k = 16 * j + 2 * t - g;  // A[g][2t] of k-step j
        a[j][0] = pack_pair(tap(k), tap(k + 1));
        a[j][1] = pack_pair(tap(k - 8), tap(k - 7));  // A[g + 8][2t]
        a[j][2] = pack_pair(tap(k + 8), tap(k + 9));  // A[g][2t + 8]
      }
      b = bias ? Traits::to_accum(bias[channel]) : 0.0f;
    }
    T* gy = y + plane * p.out_plane_pitch + r0 * wo_n;
    const bool boxed = wo_n % kV == 0 && vector_phase<T, kV>(gy) == 0;
    const int out_pitch = boxed ? mma_out_pitch(wo_n) : wo_n;
    const int out_base = boxed ? 0 : vector_phase<T, kV>(gy);
    // The bias alone in the output columns no input column reaches: while
    // the band is in flight, or after the barrier where the previous tile's
    // outputs are still going out of s_out.
    auto fill_pad_cols = [&] {
      for (int i = int(threadIdx.x); i < rows * pad_cols; i += Threads) {
        const int r = i / pad_cols, c = i - r * pad_cols;
        s_out[out_base + r * out_pitch + (c < lo_end ? c : hi_begin + c - lo_end)] = Traits::from_accum(b);
      }
    };
    const bool first = !kBandRing || tile == tile_begin;
    if (first) fill_pad_cols();
    copy_async_wait_all();
    __syncthreads();  // the band is in; the previous tile's outputs are out
    if (!first) fill_pad_cols();

    // Whether column `col` of the band holds an output column (col + pl).
    auto col_stored = [&](int col) { return col < w_n && col + pl >= 0 && col + pl < wo_n; };
    const int strips = (w_n + 15) / 16;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const int blocks = (rows + 15) / 16;
    for (int s = int(threadIdx.x) / 32; s < strips; s += Threads / 32) {
      const uint32_t lane_addr =
          static_cast<uint32_t>(__cvta_generic_to_shared(s_in + (lane % 16) * in_pitch + s * 16 + (lane / 16) * 8));
      const uint32_t block_bytes = 16u * uint32_t(in_pitch) * uint32_t(sizeof(T));
      const T* lane_b = s_in + s_base + 2 * t * w_n + s * 16 + g;  // B[2t][g] of block 0 (contiguous band)
      // This lane's C columns (2t, 2t + 1 of each 8-column half), checked
      // once a strip: per-element bounds took a third of the step loop's
      // instructions (ncu source counters, `2026-11-26-h100-f17-sass.txt`).
      bool col_ok[2][2];
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int e = 0; e < 2; ++e) col_ok[h][e] = col_stored(s * 16 + h * 8 + 2 * t + e);
      T* lane_out = s_out + out_base + g * out_pitch + s * 16 + 2 * t + pl;
      // B fragments of band block `block` for both 8-column halves: b0 of
      // half h in bk[2h] (rows 2t, 2t + 1), b1 in bk[2h + 1] (rows + 8).
      auto load_b = [&](uint32_t(&bk)[4], int block) {
        if constexpr (kAlignedRows) {
          ldmatrix_x4_trans(bk, lane_addr + uint32_t(ring_slot(block)) * block_bytes);
        } else {
          const T* q = lane_b + 16 * (kBandRing ? ring_slot(block) : block) * w_n;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            bk[2 * h] = pack_pair(q[h * 8], q[h * 8 + w_n]);
            bk[2 * h + 1] = pack_pair(q[h * 8 + 8 * w_n], q[h * 8 + 9 * w_n]);
          }
        }
      };
      // Output block i from frag[o + j], the B fragments of the band block
      // that its k-step j reads.
      auto out_block = [&](int i, auto o_const, auto& frag) {
        constexpr int o = decltype(o_const)::value;
        float c[2][4];
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
          for (int e = 0; e < 4; ++e) c[h][e] = b;
#pragma unroll
        for (int j = 0; j < kSteps; ++j) {
          mma_16x8x16<T>(c[0], a[j][0], a[j][1], a[j][2], a[j][0], frag[o + j][0], frag[o + j][1]);
          mma_16x8x16<T>(c[1], a[j][0], a[j][1], a[j][2], a[j][0], frag[o + j][2], frag[o + j][3]);
        }
        // C element 2 u + e: output row 16 i + g + 8 u, column 2t + e of its half.
        T* out = lane_out + 16 * i * out_pitch;
        const bool row_ok[2] = {16 * i + g < rows, 16 * i + g + 8 < rows};
#pragma unroll
        for (int h = 0; h < 2; ++h)
#pragma unroll
          for (int u = 0; u < 2; ++u)
#pragma unroll
            for (int e = 0; e < 2; ++e)
              if (row_ok[u] && col_ok[h][e]) out[u * 8 * out_pitch + h * 8 + e] = Traits::from_accum(c[h][2 * u + e]);
      };
      // A 32-row tile's band blocks all loaded before its first product, in
      // flight together: the contiguous band's element loads (K31 dx 81.6 ->
      // 84.2 %) and the one-tile form's ldmatrix (K9 forward and dx +1.1)
      // gained; the pitched ring's lost (K31 forward -0.8, K15 -1.3; H100,
      // fp16, `2026-11-27-h100-b59-ab.txt`) and keeps the rolling carry.
      if (blocks == 2 && (!kAlignedRows || !kBandRing)) {
        uint32_t bb[kSteps + 1][4];
#pragma unroll
        for (int j = 0; j <= kSteps; ++j) load_b(bb[j], j);
        out_block(0, std::integral_constant<int, 0>{}, bb);
        out_block(1, std::integral_constant<int, 1>{}, bb);
        continue;
      }
      // bk[j]: the band block that k-step j of the current output block reads.
      uint32_t bk[kSteps][4];
#pragma unroll
      for (int j = 0; j + 1 < kSteps; ++j) load_b(bk[j], j);
      for (int i = 0; i < blocks; ++i) {
        load_b(bk[kSteps - 1], i + kSteps - 1);
        out_block(i, std::integral_constant<int, 0>{}, bk);
#pragma unroll
        for (int j = 0; j + 1 < kSteps; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) bk[j][e] = bk[j + 1][e];
      }
    }
#else
    // Targets without mma.sync: the same band, one multiply-add per tap.
    (void)a;
    for (int i = int(threadIdx.x); i < rows * strips * 16; i += Threads) {
      const int r = i / (strips * 16), col = i - r * (strips * 16);
      float acc = b;
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const int row = ring_slot((r + k) / 16) * 16 + (r + k) % 16;
        acc += Traits::to_accum(tap(k)) * Traits::to_accum(s_in[s_base + row * in_pitch + col]);
      }
      if (r < rows && col_stored(col)) s_out[out_base + r * out_pitch + col + pl] = Traits::from_accum(acc);
    }
#endif
    __syncthreads();  // the outputs are in s_out; the band's first tile_blocks slots are read
    // The ring: the next tile's band goes in flight before this tile's
    // outputs go out.
    if constexpr (kBandRing) {
      if (tile + 1 < tile_end && r0 + p.tile_rows < p.out_h) {
        stage_blocks(x + plane * p.in_plane_pitch, r0 - p.pad_top, nb, tile_blocks, head);
        head = ring_slot(tile_blocks);
      } else if (tile + 1 < tile_end) {
        stage_tile(tile + 1);
      }
    }
    if (boxed)
      store_box<T, kV>(s_out, out_pitch, gy, wo_n, rows, wo_n);
    else
      block_copy<false, T, kV>(gy, s_out, rows * wo_n, out_base);
    if constexpr (!kBandRing) __syncthreads();  // the next tile overwrites both bands
  }
}

}  // namespace detail
}  // namespace dwconv
