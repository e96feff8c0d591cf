// dwconv: the NCHW dw / dbias phase-one tile on tensor cores, for 2-byte
// types at stride 1 and dilation 1. In one plane, dw[k] sums dy[r][c] *
// x[r + k - pad_top][c - pad_left]: over a 16-column strip, a 16-row block
// of dy times the x rows below it is one product C = dy_block * x_rowsᵀ
// (mma m16n8k16, the strip's columns the reduced dimension), and tap k is
// the sum of C's diagonal j - m = k. A warp keeps C in registers for the
// whole tile and walks its strips downwards, each x row group loaded once
// per strip and fed to every dy block that reads it. On CUDA cores the
// staged tile paid K multiply-adds, two conversions and two shared loads
// per dy element and was issue-bound (2-byte 56x56 58 %, K = 31 42 % of the
// floor; ncu on the H100, `2026-11-26-h100-f17.3-dw-ncu.txt`); here a dy
// element costs about (K + 22) / 8 / 256 of an mma.
#pragma once

#include <cstdint>

#include "dwconv/detail/backward_weight_kernel.cuh"
#include "dwconv/detail/mma.cuh"
#include "dwconv/detail/staged_band.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// 8-row groups of x that a 16-row block of dy pairs with: the block's dy
/// row m reads x rows m .. m + K - 1 below the block's first, 16 + K - 1 in
/// all. C's columns past them are computed and never read.
__host__ __device__ constexpr int dw_mma_groups(int k) { return (k + 22) / 8; }

/// x rows a tile of `tile_rows` dy rows (a multiple of 16) stages.
__host__ __device__ constexpr int64_t dw_mma_x_rows(int64_t tile_rows, int k) {
  return tile_rows - 16 + 8 * int64_t(dw_mma_groups(k));
}

/// Shared elements read past a band's last row: the last strip's columns
/// beyond the row (masked) and a pair's second word.
inline constexpr int kDwMmaTail = 24;

/// Shared bytes the tile's C fragments take when the block sums their
/// diagonals (the bands' room, reused).
__host__ __device__ constexpr int64_t dw_mma_sum_bytes(int threads, int k) {
  return int64_t(threads / 32) * 16 * 8 * dw_mma_groups(k) * 4;
}

/// Elements a and a + 1 of a shared array of a 2-byte type (4-byte aligned)
/// as one fragment register, `a` of either parity: a row's parity is the
/// band's, so the branch is uniform where rows are of even length.
template <class T>
__device__ __forceinline__ uint32_t shared_pair(const T* s, int a) {
  const uint32_t* word = reinterpret_cast<const uint32_t*>(s) + (a >> 1);
  uint32_t v = word[0];
  if (a & 1) v = __byte_perm(v, word[1], 0x5432);
  return v;
}

/// A plane's or band's rows in shared memory, as a tensor-core dw strip
/// walk reads them: x band row 0 (x row r0 - pad_top) and dy band row 0
/// at shared indices x_base and dy_base, rows xp and dp elements apart; x
/// rows of w elements, x column 0 met by dy column pl; `blocks` 16-row dy
/// blocks.
template <class T>
struct DwMmaBands {
  const T* s_x;
  const T* s_dy;
  int x_base, dy_base, xp, dp, w, pl, blocks;
  bool write_bias;
};

/// Adds the products of 16-column strip s of `b` into c (C's fragments,
/// dw_mma_write_tile's layout) and, write_bias, dy's sums against ones into
/// cb; every lane of the warp calls it. kLdm: two groups' B fragments a
/// ldmatrix (x rows 16-byte aligned); kXPadded: x zero past the row (boxed
/// bands), so B needs no masks where the row ends inside the strip.
template <class T, int K, bool kLdm, bool kXPadded>
__device__ __forceinline__ void dw_mma_strip(const DwMmaBands<T>& b, int s, float (&c)[dw_mma_groups(K)][4],
                                             float (&cb)[4]) {
  using Traits = NumericTraits<T>;
  constexpr int kG = dw_mma_groups(K);
  const int lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  const int xp = b.xp, dp = b.dp;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const uint32_t ones = pack_pair(Traits::from_accum(1.0f), Traits::from_accum(1.0f));
  // Down the strip's blocks. kPartial: the row ends inside the strip.
  auto walk = [&](auto partial) {
    constexpr bool kPartial = decltype(partial)::value;
    constexpr bool kMaskB = kPartial && !kXPadded;
    uint32_t m_lo = ~0u, m_hi = ~0u;  // columns 2t, 2t + 1 and 2t + 8, 2t + 9 inside the row
    if constexpr (kPartial) {
      const int valid = b.w - 16 * s;
      auto mask = [&](int col) { return col + 1 < valid ? ~0u : (col < valid ? 0xffffu : 0u); };
      m_lo = mask(2 * t);
      m_hi = mask(2 * t + 8);
    }
    const int xa = b.x_base + g * xp + 16 * s + 2 * t;
    const int da = b.dy_base + g * dp + b.pl + 16 * s + 2 * t;
    // ldmatrix: lane l addresses row l % 8 of matrix l / 8 = (group + l / 16, column half (l / 8) % 2).
    [[maybe_unused]] const uint32_t ldm_addr = static_cast<uint32_t>(
        __cvta_generic_to_shared(b.s_x + b.x_base + ((lane / 16) * 8 + lane % 8) * xp + 16 * s + ((lane / 8) % 2) * 8));
    [[maybe_unused]] const uint32_t group_bytes = 8u * uint32_t(xp) * uint32_t(sizeof(T));
    uint32_t bq[kG][2];
    auto load_group = [&](uint32_t(&q)[2], int group) {
      const int a = xa + 8 * group * xp;
      q[0] = shared_pair(b.s_x, a);
      q[1] = shared_pair(b.s_x, a + 8);
      if constexpr (kMaskB) {
        q[0] &= m_lo;
        q[1] &= m_hi;
      }
    };
#pragma unroll
    for (int j = 0; j + 2 < kG; ++j) load_group(bq[j], j);
    for (int i = 0; i < b.blocks; ++i) {
      if constexpr (kLdm) {
        uint32_t d[4];
        ldmatrix_x4(d, ldm_addr + uint32_t(2 * i + kG - 2) * group_bytes);
        bq[kG - 2][0] = d[0];
        bq[kG - 2][1] = d[1];
        bq[kG - 1][0] = d[2];
        bq[kG - 1][1] = d[3];
        if constexpr (kMaskB) {
          bq[kG - 2][0] &= m_lo;
          bq[kG - 2][1] &= m_hi;
          bq[kG - 1][0] &= m_lo;
          bq[kG - 1][1] &= m_hi;
        }
      } else {
        load_group(bq[kG - 2], 2 * i + kG - 2);
        load_group(bq[kG - 1], 2 * i + kG - 1);
      }
      const int a = da + 16 * i * dp;
      uint32_t a0 = shared_pair(b.s_dy, a), a1 = shared_pair(b.s_dy, a + 8 * dp);
      uint32_t a2 = shared_pair(b.s_dy, a + 8), a3 = shared_pair(b.s_dy, a + 8 * dp + 8);
      if constexpr (kPartial) {
        a0 &= m_lo;
        a1 &= m_lo;
        a2 &= m_hi;
        a3 &= m_hi;
      }
#pragma unroll
      for (int j = 0; j < kG; ++j) mma_16x8x16<T>(c[j], a0, a1, a2, a3, bq[j][0], bq[j][1]);
      if (b.write_bias) mma_16x8x16<T>(cb, a0, a1, a2, a3, ones, ones);
#pragma unroll
      for (int j = 0; j + 2 < kG; ++j) {
        bq[j][0] = bq[j + 2][0];
        bq[j][1] = bq[j + 2][1];
      }
    }
  };
  if (16 * s + 16 > b.w)
    walk(std::true_type{});
  else
    walk(std::false_type{});
#else
  // Targets without mma.sync: each lane forms its own C elements.
  const int valid = b.w - 16 * s < 16 ? b.w - 16 * s : 16;
  for (int i = 0; i < b.blocks; ++i)
    for (int u = 0; u < 2; ++u) {
      const int m = 16 * i + g + 8 * u;
      for (int kk = 0; kk < valid; ++kk) {
        const float d = Traits::to_accum(b.s_dy[b.dy_base + m * dp + b.pl + 16 * s + kk]);
        cb[2 * u] += d;
        for (int j = 0; j < kG; ++j)
          for (int e = 0; e < 2; ++e)
            c[j][2 * u + e] += d * Traits::to_accum(b.s_x[b.x_base + (16 * i + 8 * j + 2 * t + e) * xp + 16 * s + kk]);
      }
    }
#endif
}

/// A tensor-core dw block's sums at a tile's end, on every thread of the
/// block: tap k is C's diagonal j - m = k (fragments c: rows g, g + 8,
/// columns 2t, 2t + 1 of group j), summed over the warps in a fixed order
/// through `s_c` (dw_mma_sum_bytes), into ws_tile[p.tap_base + k] on thread
/// k; dbias, where p.write_bias, the ones-product cb (every C column of a
/// row holds the row's sum: lanes t = 0 give rows g, g + 8) plus `side` over
/// the block through block_sum's `scratch` (a float a warp), into
/// ws_tile[p.ws_taps - 1] on thread 0. ws_tile: the tile's workspace slot
/// of its channel. Ends on a barrier: `s_c` and `scratch` may be written
/// again.
template <int Threads, int K>
__device__ __forceinline__ void dw_mma_block_sums(const WeightGradParams& p, const float (&c)[dw_mma_groups(K)][4],
                                                  const float (&cb)[4], float side, float* s_c, float* scratch,
                                                  float* ws_tile) {
  constexpr int kG = dw_mma_groups(K), kCols = 8 * kG, kWarps = Threads / 32;
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int j = 0; j < kG; ++j)
#pragma unroll
    for (int u = 0; u < 2; ++u)
#pragma unroll
      for (int e = 0; e < 2; ++e) s_c[(warp * 16 + g + 8 * u) * kCols + 8 * j + 2 * t + e] = c[j][2 * u + e];
  __syncthreads();
  for (int k = int(threadIdx.x); k < K; k += Threads) {
    float sum = 0.0f;
    for (int wp = 0; wp < kWarps; ++wp)
#pragma unroll
      for (int m = 0; m < 16; ++m) sum += s_c[(wp * 16 + m) * kCols + m + k];
    ws_tile[p.tap_base + k] = sum;
  }
  if (p.write_bias) {
    const float b[1] = {side + (t == 0 ? cb[0] + cb[2] : 0.0f)};
    block_sum<float, Threads, 1, true>(b, 0, scratch, [&](int, int, float sum) { ws_tile[p.ws_taps - 1] = sum; });
  }
  __syncthreads();
}

/// Tile: a chunk of pieces of one channel (weight_grad_staged_kernel's
/// NCHW tiling); a piece is p.tile_rows dy rows (a multiple of 16) of one
/// image. A band whose rows are whole 16-byte vectors (and its tensor
/// aligned) is staged at p.x_band_pitch / p.dy_band_pitch =
/// conflict_free_pitch(row) (stage_box), else as one contiguous range of
/// its plane (stage_band, any row length and alignment; the pitch is the
/// row). Dynamic shared memory: p.smem_x_elems (dw_mma_x_rows rows + 2 * 16
/// bytes + kDwMmaTail) + the dy band (tile_rows rows, the same room), at
/// least dw_mma_sum_bytes.
///
/// Fragments (lane l, g = l / 4, t = l % 4): A (dy) rows g, g + 8, columns
/// 2t, 2t + 1, 2t + 8, 2t + 9 of the strip; B (x) row g of a group, the same
/// columns; C rows g, g + 8 of the block, columns 2t, 2t + 1 of a group,
/// i.e. x rows 8 j + 2t (+1) below the block's first. Columns past the row
/// are masked out of both A and B (0 * inf would be NaN). dbias: one more
/// mma a block against ones; dy columns that no x column meets (left and
/// right padding) are summed on CUDA cores.
template <class T, int Threads, int K>
__global__ void __launch_bounds__(Threads)
    weight_grad_mma_nchw_kernel(const WeightGradParams p, const T* __restrict__ x, const T* __restrict__ dy,
                                float* __restrict__ ws) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  constexpr int kV = kVecElems16<T>;
  constexpr int kG = dw_mma_groups(K);
  constexpr int kWarps = Threads / 32;
  static_assert(sizeof(T) == 2 && K > 0, "the tensor-core dw tile is for 2-byte types and static kernel heights");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ float scratch[kWarps];
  T* s_x = reinterpret_cast<T*>(smem_raw);
  T* s_dy = s_x + p.smem_x_elems;

  const int w_n = int(p.w), wo_n = int(p.out_w), pl = p.pad_left;
  const int xp = p.x_band_pitch, dp = p.dy_band_pitch;  // shared row pitches
  const bool x_boxed = xp != w_n, dy_boxed = dp != wo_n;
  const int x_rows = int(dw_mma_x_rows(p.tile_rows, K));
  const int x_need = p.tile_rows + K - 1;  // x rows of the tile's windows
  const int blocks = p.tile_rows / 16;
  const int strips = (w_n + 15) / 16;
  const int side_cols = wo_n - w_n;  // dy columns in the padding: the bias alone
  const int64_t pieces = p.n * p.bands_per_plane;
  const int warp = int(threadIdx.x) / 32;
  // Walks made once: a boxed x band's vectors, the dbias padding columns.
  const BoxWalk x_walk = box_walk(x_boxed ? xp / kV : 1);
  const BoxWalk side_walk = box_walk(side_cols > 0 ? side_cols : 1);

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int64_t chunk = tile % p.row_chunks;
    const int64_t channel = tile / p.row_chunks;
    const int64_t piece0 = chunk * p.pieces_per_chunk;
    const int64_t piece1 = piece0 + p.pieces_per_chunk < pieces ? piece0 + p.pieces_per_chunk : pieces;
    float c[kG][4] = {}, cb[4] = {}, side = 0.0f;

    int64_t img = piece0 / p.bands_per_plane;
    int64_t band = piece0 - img * p.bands_per_plane;
    for (int64_t piece = piece0; piece < piece1; ++piece) {
      const int64_t r0 = band * p.tile_rows;
      const int64_t plane = img * p.c + channel;
      // Rows off either plane are zero-filled. x rows past the tile's
      // windows only meet C entries off the taps' diagonals, but must be
      // finite there: zeros, not copies (a third more x at K = 3). Rows of
      // whole 16-byte vectors are staged at a pitch whose 8 rows of a
      // fragment fall in 8 bank quads (their columns past the row zero);
      // contiguous, rows 2^n bytes long put a fragment's 8 rows in one
      // bank: 8-way conflicts (K = 3 and 31 at W = 512).
      const T* xg = x + plane * p.x_plane_pitch;
      const T* dyg = dy + plane * p.dy_plane_pitch;
      int x_base = 0, dy_base = 0;
      if (x_boxed) {
        // Tall K: a piece after the block's last one in the same plane (the
        // next band) starts with that band's last K - 1 x rows: moved within
        // shared memory rather than staged again (K = 31 staged 62 x rows a
        // 32-row piece; s32's ncu read the tile at 79 % of DRAM throughput
        // with L2 hit 52 %). Source and destination do not overlap (K - 1 <=
        // tile_rows), but the staging below overwrites the source: a
        // barrier between.
        int carried = 0;
        if (K >= kTallKernelHeight && piece > piece0 && band > 0 && K - 1 <= p.tile_rows) {
          using Vec = AlignedVector<T, kV>;
          Vec* sv = reinterpret_cast<Vec*>(s_x);
          const int vecs = (K - 1) * xp / kV, from = p.tile_rows * xp / kV;
          for (int i = int(threadIdx.x); i < vecs; i += Threads) sv[i] = sv[from + i];
          __syncthreads();
          carried = K - 1;
        }
        stage_box<T, kV>(xg, p.h, w_n, w_n, r0 - p.pad_top + carried, 0, x_need - carried, xp, s_x + carried * xp,
                         x_walk);
      } else
        x_base = stage_band<T, kV>(xg, p.h, w_n, r0 - p.pad_top, x_need, s_x);
      if (dy_boxed)
        stage_box<T, kV>(dyg, p.out_h, wo_n, wo_n, r0, 0, p.tile_rows, dp, s_dy);
      else
        dy_base = stage_band<T, kV>(dyg, p.out_h, wo_n, r0, p.tile_rows, s_dy);
      zero_range<T, kV>(s_x, x_base + x_need * xp, x_base + x_rows * xp + kDwMmaTail);
      zero_range<T, kV>(s_dy, dy_base + p.tile_rows * dp, dy_base + p.tile_rows * dp + kDwMmaTail);
      copy_async_wait_all();
      __syncthreads();

      if (p.write_bias && side_cols > 0) {
        for_each_box_vector(side_walk, p.tile_rows, [&](int r, int col) {
          side += Traits::to_accum(s_dy[dy_base + r * dp + (col < pl ? col : col + w_n)]);
        });
      }

      const DwMmaBands<T> bands{s_x, s_dy, x_base, dy_base, xp, dp, w_n, pl, blocks, p.write_bias};
      for (int s = warp; s < strips; s += kWarps) {
        if (x_boxed)
          dw_mma_strip<T, K, true, true>(bands, s, c, cb);
        else
          dw_mma_strip<T, K, false, false>(bands, s, c, cb);
      }
      __syncthreads();  // the next piece overwrites both bands
      if (++band == p.bands_per_plane) {
        band = 0;
        ++img;
      }
    }

    // The bands' room holds the sums: every warp is past its last read of them.
    dw_mma_block_sums<Threads, K>(p, c, cb, side, reinterpret_cast<float*>(smem_raw), scratch,
                                  ws + (chunk * p.c + channel) * p.ws_taps);
  }
}

}  // namespace detail
}  // namespace dwconv
