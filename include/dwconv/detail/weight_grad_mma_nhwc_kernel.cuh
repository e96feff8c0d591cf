// dwconv: the NHWC dw / dbias phase-one tile on tensor cores, for 2-byte
// types at stride 1 and dilation 1. It forms the NCHW tile's product
// (weight_grad_mma_kernel.cuh): for one channel, 16 dy rows of a 16-column
// strip times the x rows below them, the columns the reduced dimension,
// tap k the sum of C's diagonal j - m = k. In NHWC a channel's columns are
// C elements apart, so a block copies its channels' rows into shared
// memory transposed: a lane reads two pixels' 16-byte vectors, pairs each
// channel's two elements with one byte permute and stores the pair in that
// channel's plane, where ldmatrix reads the fragments as in NCHW. On CUDA
// cores the rolling kernel spends K float multiply-adds a dy element; at
// K = 31 it held 2-byte NHWC dw at 60-62 % of the floor on the H100.
//
// A block walks a chunk of steps down the columns of its 16 channels; a
// step is 16 dy rows by 32 dy columns (two strips) and the 16 x rows that
// the next block of dy rows reads first. x rows stay in a ring, each staged
// once per column: a column's first step stages the lead rows it shares
// with no earlier step. Loads of the next step are issued before the
// current step's products and stored after them, so one barrier a step
// separates the two.
#pragma once

#include <cstdint>
#include <type_traits>

#include "dwconv/detail/backward_weight_kernel.cuh"
#include "dwconv/detail/mma.cuh"
#include "dwconv/detail/weight_grad_mma_kernel.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// Channels of a block: 64 bytes of each pixel, four 16-byte vectors.
inline constexpr int kDwMmaNhwcChannels = 32;
/// Threads of a block: 16 warps of kDwMmaNhwcChannels / 16 channels.
inline constexpr int kDwMmaNhwcThreads = 512;
/// dy columns of a step: one 16-byte vector of kDwMmaNhwcChannels / 8 lanes
/// per pixel of a warp's 32 lanes, two pixels a lane.
inline constexpr int kDwMmaNhwcCols = 512 / kDwMmaNhwcChannels;
/// Words of a plane's row (two columns a word), its 16-byte chunks, and the
/// rows of 128 bytes (the 32 banks) across which their swizzle turns.
inline constexpr int kDwMmaNhwcRowWords = kDwMmaNhwcCols / 2;
inline constexpr int kDwMmaNhwcRowChunks = kDwMmaNhwcCols / 8;
inline constexpr int kDwMmaNhwcSwizzleRows = 32 / kDwMmaNhwcRowWords;

/// A block's shared memory in 4-byte words (dynamic). Each channel has an x
/// plane (ring_rows() rows) and a dy plane (two buffers of 16 rows); a row's
/// 16-byte chunks are swizzled by (row / kDwMmaNhwcSwizzleRows) so that the
/// 8 rows of a ldmatrix matrix fall in 8 bank quads. Each group of 8
/// channels sits one row further than the last, so that a staging store,
/// which writes the same row of channels 8 q + c, meets distinct banks.
struct DwMmaNhwcSmem {
  int k;
  /// 8-row groups of x a block of dy rows reads, and at least one column
  /// past every tap's diagonal (K + 15 columns), the bias column
  /// (kernel), which dw_mma_groups leaves at K = 1 and 9.
  __host__ __device__ constexpr int groups() const { return (k + 23) / 8; }
  /// x rows a column's first step stages before its step rows.
  __host__ __device__ constexpr int lead_rows() const { return 8 * groups() - 16; }
  /// x rows the ring holds: a block's groups and the next step's 16 rows.
  __host__ __device__ constexpr int ring_rows() const { return (8 * groups() + 31) / 16 * 16; }
  __host__ __device__ constexpr int x_plane() const { return ring_rows() * kDwMmaNhwcRowWords; }
  static constexpr int kDyPlane = 2 * 16 * kDwMmaNhwcRowWords;
  static constexpr int kShift = kDwMmaNhwcChannels / 8 * kDwMmaNhwcRowWords;  // the groups' shifts
  __host__ __device__ constexpr int dy_base() const { return kDwMmaNhwcChannels * x_plane() + kShift; }
  __host__ __device__ constexpr int words() const { return dy_base() + kDwMmaNhwcChannels * kDyPlane + kShift; }
  __host__ __device__ constexpr int bytes() const { return 4 * words(); }
  /// Words of the C tiles summed at a tile's end (the planes' room).
  __host__ __device__ constexpr int sum_words() const { return kDwMmaNhwcChannels * 16 * 8 * groups(); }
};

/// Word of column pair `pair` of row `row` in a plane.
__host__ __device__ constexpr int dw_mma_nhwc_word(int row, int pair) {
  return row * kDwMmaNhwcRowWords + 4 * ((pair >> 2) ^ ((row / kDwMmaNhwcSwizzleRows) % kDwMmaNhwcRowChunks)) +
         (pair & 3);
}

/// Tile: a chunk of p.pieces_per_chunk steps of one channel group (tile =
/// chunk * groups + group). Steps are numbered column by column: image,
/// then span of 32 dy columns, then block of 16 dy rows
/// (p.bands_per_plane a column), so a chunk walks down a column and on to
/// the next. x columns are dy columns less pad_left; rows and columns off
/// the tensors are zero, and so are x rows no dy row reads (0 * inf off the
/// taps would still be summed in C's other entries, never in a tap).
///
/// Fragments as in NCHW: A (dy) rows g, g + 8 and columns 2t, 2t + 1,
/// 2t + 8, 2t + 9 of a strip; B (x) row g of a group; C rows g, g + 8 of the
/// block, columns 2t, 2t + 1 of a group (x rows 8 j + 2t below the block's
/// first). dbias: C's last column, which no tap's diagonal meets, is the
/// product with ones in place of that x row (a B fragment's column g = 7 of
/// the last group), so the bias costs neither an mma nor accumulators.
template <class T, int K>
__global__ void __launch_bounds__(kDwMmaNhwcThreads, 1)
    weight_grad_mma_nhwc_kernel(const WeightGradParams p, const T* __restrict__ x, const T* __restrict__ dy,
                                float* __restrict__ ws) {
  using Traits = NumericTraits<T>;
  constexpr DwMmaNhwcSmem kSmem{K};
  constexpr int kG = kSmem.groups(), kLead = kSmem.lead_rows(), kRing = kSmem.ring_rows();
  constexpr int kXPlane = kSmem.x_plane(), kDyPlane = DwMmaNhwcSmem::kDyPlane, kDyBase = kSmem.dy_base();
  constexpr int kWarps = kDwMmaNhwcThreads / 32;
  constexpr int kUnits = 32 / kWarps;                         // staged rows a warp a step
  constexpr int kWarpChannels = kDwMmaNhwcChannels / kWarps;  // channels a warp multiplies
  static_assert(sizeof(T) == 2 && K > 0, "the tensor-core dw tile is for 2-byte types and static kernel heights");
  static_assert(kLead <= 32, "the lead rows are staged in one pass");
  static_assert(kSmem.sum_words() <= kSmem.words(), "the C tiles fit the planes' room");
  constexpr int kLanesPerPixel = kDwMmaNhwcChannels / 8;
  constexpr int kRowWords = kDwMmaNhwcRowWords;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  uint32_t* s_w = reinterpret_cast<uint32_t*>(smem_raw);

  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  const int pair = lane / kLanesPerPixel, quarter = lane % kLanesPerPixel;  // staging: column pair, 8 channels
  const int r8 = lane & 7, mat = lane >> 3;                                 // ldmatrix: row, matrix
  const int ho_n = int(p.out_h), h_n = int(p.h), pad_top = p.pad_top;
  const int x_stop = ho_n + K - 1;  // x rows (plus pad_top) a dy row reads
  const int64_t groups = p.col_blocks, spans = p.pixel_blocks;
  const int blocks = int(p.bands_per_plane);
  const int64_t steps = p.n * spans * blocks;
  const int64_t dy_pitch = p.dy_row_pitch, x_pitch = p.x_row_pitch;
  // Plane of channel c (0-15): x at 0, dy (buffer 0) at kDyBase.
  auto plane = [](int c) { return c * kXPlane + (c >> 3) * kRowWords; };
  auto dy_plane = [](int c) { return kDyBase + c * kDyPlane + (c >> 3) * kRowWords; };
  // Staging: channel 8 quarter + 2 q + e of this lane is plane(8 quarter) + (2 q + e) planes on.
  uint32_t* const s_x_lane = s_w + plane(8 * quarter);
  uint32_t* const s_dy_lane = s_w + dy_plane(8 * quarter);
  // ldmatrix byte offsets within a plane, strip s: A's rows (mat % 2) * 8 + r8
  // at column half mat / 2; B's rows (mat / 2) * 8 + r8 of a 16-row block
  // (or one group, lanes 0-15) at column half mat % 2. A row's swizzle
  // depends on r8 alone, groups starting at multiples of 8.
  constexpr int kStrips = kDwMmaNhwcCols / 16;
  uint32_t a_lane[kStrips], b_lane[kStrips];
#pragma unroll
  for (int s = 0; s < kStrips; ++s) {
    a_lane[s] = 4u * uint32_t(dw_mma_nhwc_word((mat & 1) * 8 + r8, 4 * (2 * s + (mat >> 1))));
    b_lane[s] = 4u * uint32_t(dw_mma_nhwc_word((mat >> 1) * 8 + r8, 4 * (2 * s + (mat & 1))));
  }
  const uint32_t s_base = static_cast<uint32_t>(__cvta_generic_to_shared(s_w));

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int64_t group = tile % groups, chunk = tile / groups;
    const int64_t s0 = chunk * p.pieces_per_chunk;
    const int64_t s1 = s0 + p.pieces_per_chunk < steps ? s0 + p.pieces_per_chunk : steps;
    float c[kWarpChannels][kG][4] = {};

    // The column being walked: this lane's pointers at dy row `warp` and x
    // row `warp` - pad_top of its two pixels (8 channels each), and which
    // of the pixels lie inside dy and x.
    int64_t col = s0 / blocks;
    int i = int(s0 - col * blocks);
    const T *dy_col = nullptr, *x_col = nullptr;
    bool dy_in[2], x_in[2];
    auto open_column = [&]() {
      const int64_t img = col / spans, d = (col - img * spans) * kDwMmaNhwcCols + 2 * pair;
      const int64_t xc = d - p.pad_left;
      dy_col = dy + img * p.dy_plane_pitch + d * p.c + group * kDwMmaNhwcChannels + 8 * quarter + warp * dy_pitch;
      x_col =
          x + img * p.x_plane_pitch + xc * p.c + group * kDwMmaNhwcChannels + 8 * quarter + (warp - pad_top) * x_pitch;
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        dy_in[e] = d + e < p.out_w;
        x_in[e] = xc + e >= 0 && xc + e < p.w;
      }
    };
    open_column();

    // A step's or a column's lead rows: unit u of this warp is staged row
    // warp + 8 u of the 32 (dy rows 0-15, units 0 and 1; then x rows), or
    // lead row warp + 8 u; lanes hold two pixels of 8 channels each.
    using Rows = uint4[kUnits][2];
    auto fetch = [&](Rows& v, int bi, auto lead_const) {
      constexpr bool lead = decltype(lead_const)::value;
      const uint4 zero = make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int u = 0; u < kUnits; ++u) {
        if (lead && kWarps * u >= kLead) continue;
        if (!lead && kWarps * u < 16) {
          const int r = 16 * bi + kWarps * u;  // dy row less warp
          const T* row = dy_col + r * dy_pitch;
          const bool in = r + warp < ho_n;
#pragma unroll
          for (int e = 0; e < 2; ++e) v[u][e] = in && dy_in[e] ? *reinterpret_cast<const uint4*>(row + e * p.c) : zero;
        } else {
          const int rho = 16 * bi + (lead ? kWarps * u : kLead + kWarps * u - 16);  // x row + pad_top less warp
          const T* row = x_col + rho * x_pitch;
          const int xr = rho + warp - pad_top;
          const bool in = rho + warp < x_stop && xr >= 0 && xr < h_n;
#pragma unroll
          for (int e = 0; e < 2; ++e) v[u][e] = in && x_in[e] ? *reinterpret_cast<const uint4*>(row + e * p.c) : zero;
        }
      }
    };
    // Stores what fetch loaded: dy rows into buffer `buf`, x rows into the
    // ring, whose slot for x row rho is rho % kRing (ring16: (16 i) % kRing).
    auto stage = [&](const Rows& v, int ring16, int buf, auto lead_const) {
      constexpr bool lead = decltype(lead_const)::value;
#pragma unroll
      for (int u = 0; u < kUnits; ++u) {
        if (lead && kWarps * u >= kLead) continue;
        constexpr int kDyUnits = 16 / kWarps;
        const bool is_dy = !lead && u < kDyUnits;
        int row = warp + kWarps * u;
        if (!is_dy) {
          row += ring16 + (lead ? 0 : kLead - 16);
          if (row >= kRing) row -= kRing;
        }
        uint32_t* dst = (is_dy ? s_dy_lane + buf * 16 * kRowWords : s_x_lane) + dw_mma_nhwc_word(row, pair);
        const int step = is_dy ? kDyPlane : kXPlane;
        const uint32_t a[4] = {v[u][0].x, v[u][0].y, v[u][0].z, v[u][0].w};
        const uint32_t b[4] = {v[u][1].x, v[u][1].y, v[u][1].z, v[u][1].w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          dst[2 * q * step] = __byte_perm(a[q], b[q], 0x5410);
          dst[(2 * q + 1) * step] = __byte_perm(a[q], b[q], 0x7632);
        }
      }
    };
    // The products of a block of dy rows (buffer `buf`) with its kG groups
    // of x rows, for both of this warp's channels.
    auto compute = [&](int ring16, int buf) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
      const uint32_t ones = pack_pair(Traits::from_accum(1.0f), Traits::from_accum(1.0f));
      const bool bias_lane = lane >= 28;  // B column g = 7
      // Byte offsets of the block's 16-row blocks of x (and a last group).
      uint32_t blk[(kG + 1) / 2];
#pragma unroll
      for (int j = 0; j < kG; j += 2) {
        const int r = ring16 + 8 * j;
        blk[j / 2] = 4u * kRowWords * uint32_t(r >= kRing ? r - kRing : r);
      }
#pragma unroll
      for (int hc = 0; hc < kWarpChannels; ++hc) {
        const int ch = warp + kWarps * hc;
        const uint32_t xp = s_base + 4u * uint32_t(plane(ch));
        const uint32_t dp = s_base + 4u * uint32_t(dy_plane(ch) + buf * 16 * kRowWords);
#pragma unroll
        for (int s = 0; s < kStrips; ++s) {
          uint32_t a[4];
          ldmatrix_x4(a, dp + a_lane[s]);
#pragma unroll
          for (int j = 0; j + 1 < kG; j += 2) {
            uint32_t b[4];
            ldmatrix_x4(b, xp + blk[j / 2] + b_lane[s]);
            if (j + 2 == kG && bias_lane) b[2] = b[3] = ones;
            mma_16x8x16<T>(c[hc][j], a[0], a[1], a[2], a[3], b[0], b[1]);
            mma_16x8x16<T>(c[hc][j + 1], a[0], a[1], a[2], a[3], b[2], b[3]);
          }
          if constexpr (kG % 2 == 1) {
            uint32_t b[2];
            ldmatrix_x2(b, xp + blk[kG / 2] + b_lane[s]);
            if (bias_lane) b[0] = b[1] = ones;
            mma_16x8x16<T>(c[hc][kG - 1], a[0], a[1], a[2], a[3], b[0], b[1]);
          }
        }
      }
#else
      // Targets without mma.sync: each lane forms its own C elements.
      const int g = lane / 4, t = lane % 4;
      auto elem = [&](int plane_word, int row, int col) {
        const uint32_t wv = s_w[plane_word + dw_mma_nhwc_word(row, col >> 1)];
        const unsigned short bits = static_cast<unsigned short>((col & 1) ? wv >> 16 : wv & 0xffffu);
        T out;
        __builtin_memcpy(&out, &bits, 2);
        return Traits::to_accum(out);
      };
      for (int hc = 0; hc < kWarpChannels; ++hc) {
        const int ch = warp + kWarps * hc;
        for (int u = 0; u < 2; ++u)
          for (int col = 0; col < kDwMmaNhwcCols; ++col) {
            const float d = elem(dy_plane(ch) + buf * 16 * kRowWords, g + 8 * u, col);
            for (int j = 0; j < kG; ++j)
              for (int e = 0; e < 2; ++e) {
                const int r = ring16 + 8 * j + 2 * t + e;
                const bool ones = j == kG - 1 && 2 * t + e == 7;
                c[hc][j][2 * u + e] += d * (ones ? 1.0f : elem(plane(ch), r >= kRing ? r - kRing : r, col));
              }
          }
      }
#endif
    };

    // The first step of a column (or of the chunk) stages the column's lead
    // rows and its own rows before its products. Later steps' rows are
    // loaded two steps ahead into two register sets: `near` holds the next
    // step's (stored after this step's products), `far` receives the one
    // after, so that a step's loads have a whole step to land.
    int buf = 0, ring16 = (16 * i) % kRing;
    bool staged = false;           // the current step's rows are in shared memory
    bool near_ok = false;          // `near` holds the next step's rows
    const int len = int(s1 - s0);  // steps of the chunk (at most one per 256 dy pixels)
    auto step = [&](int s, Rows& near, Rows& far) {
      if (!staged) {
        if constexpr (kLead > 0) {
          fetch(far, i, std::true_type{});
          stage(far, ring16, buf, std::true_type{});
        }
        fetch(far, i, std::false_type{});
        stage(far, ring16, buf, std::false_type{});
        __syncthreads();
        near_ok = s + 1 < len && i + 1 < blocks;
        if (near_ok) fetch(near, i + 1, std::false_type{});
      }
      const bool far_ok = near_ok && s + 2 < len && i + 2 < blocks;
      if (far_ok) fetch(far, i + 2, std::false_type{});
      const int next16 = ring16 + 16 < kRing ? ring16 + 16 : ring16 + 16 - kRing;
      compute(ring16, buf);
      if (near_ok) stage(near, next16, buf ^ 1, std::false_type{});
      buf ^= 1;
      __syncthreads();
      staged = near_ok;
      near_ok = far_ok;
      ring16 = next16;
      if (++i == blocks && s + 1 < len) {
        i = 0;
        ring16 = 0;
        ++col;
        open_column();
      }
    };
    Rows va, vb;
    for (int s = 0; s < len; s += 2) {
      step(s, va, vb);
      if (s + 1 < len) step(s + 1, vb, va);
    }

    // Tap k: C's diagonal j - m = k of each channel, through shared memory
    // (every warp is past its last read of the planes); the bias: C's last
    // column.
    float* s_c = reinterpret_cast<float*>(smem_raw);
    {
      const int g = lane / 4, t = lane % 4;
#pragma unroll
      for (int hc = 0; hc < kWarpChannels; ++hc) {
        const int ch = warp + kWarps * hc;
#pragma unroll
        for (int j = 0; j < kG; ++j)
#pragma unroll
          for (int u = 0; u < 2; ++u)
#pragma unroll
            for (int e = 0; e < 2; ++e) s_c[(ch * 16 + g + 8 * u) * 8 * kG + 8 * j + 2 * t + e] = c[hc][j][2 * u + e];
      }
    }
    __syncthreads();
    for (int e = int(threadIdx.x); e < kDwMmaNhwcChannels * (K + 1); e += kDwMmaNhwcThreads) {
      const int ch = e / (K + 1), k = e - ch * (K + 1);
      float sum = 0.0f;
#pragma unroll
      for (int m = 0; m < 16; ++m) sum += s_c[(ch * 16 + m) * 8 * kG + (k < K ? m + k : 8 * kG - 1)];
      float* ws_c = ws + (chunk * p.c + group * kDwMmaNhwcChannels + ch) * p.ws_taps;
      if (k < K)
        ws_c[p.tap_base + k] = sum;
      else if (p.write_bias)
        ws_c[p.ws_taps - 1] = sum;
    }
    __syncthreads();  // the next tile's rows overwrite the sums
  }
}

}  // namespace detail
}  // namespace dwconv
