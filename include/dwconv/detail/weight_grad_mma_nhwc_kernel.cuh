// dwconv: the NHWC dw / dbias phase-one tile on tensor cores, for 2-byte
// types at stride 1 and dilation 1. For one channel, tap k of dw sums
// x[r + k][col] * dy[r][col] over rows and columns (x rows counted from
// pad_top above the tensor): over a 16-column strip, 16 x rows times 8 dy
// rows is one product C = x_rows * dy_rowsᵀ (mma m16n8k16, the strip's
// columns the reduced dimension), and tap k is the sum of C's diagonal
// m - n = k. In NHWC a channel's columns are C elements apart, so a block
// copies its channels' rows into shared memory transposed: a lane reads two
// pixels' 16-byte vectors, pairs each channel's two elements with one byte
// permute and stores the pair in that channel's plane, where ldmatrix reads
// the fragments. On CUDA cores the rolling kernel spends K float
// multiply-adds a dy element; at K = 31 it held 2-byte NHWC dw at 60-62 %
// of the floor on the H100.
//
// A block covers 64 channels, each pixel's whole 128-byte line: blocks of
// 16 and 32 channels held the L2 at 75-81 % of its throughput with DRAM at
// 66-73 % (ncu; bench/NOTES.md, b26), as the forward's tile did before
// f26. C takes x rows as its rows (m) and 8 dy rows as its columns
// (n), not the NCHW tile's 16 dy rows by x groups: a channel's C tiles then
// take (K + 23) / 16 x 4 registers a lane, 12 at K = 31 instead of 24, so
// 64 channels' sums fit a block's registers.
//
// A block walks a chunk of steps down the columns of its channels; a step
// is 16 dy rows by 16 dy columns (two blocks of 8 dy rows) and the 16 x
// rows that the next step reads first. x rows stay in a ring, each staged
// once per column: a column's first step stages the lead rows it shares
// with no earlier step. Loads of the next step are issued before the
// current step's products and stored after them, so one barrier a step
// separates the two.
#pragma once

#include <cstdint>
#include <type_traits>

#include "dwconv/detail/backward_weight_kernel.cuh"
#include "dwconv/detail/mma.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// Channels of a block: a pixel's 128-byte line, eight 16-byte vectors.
inline constexpr int kDwMmaNhwcChannels = 64;
/// Threads of a block: 16 warps of 4 channels.
inline constexpr int kDwMmaNhwcThreads = 512;
/// dy columns of a step: one strip.
inline constexpr int kDwMmaNhwcCols = 16;
/// Words of a plane's row (two columns a word); its two 16-byte chunks
/// swap every 4 rows (128 bytes, the 32 banks), so that the 8 rows of a
/// ldmatrix matrix fall in 8 bank quads.
inline constexpr int kDwMmaNhwcRowWords = kDwMmaNhwcCols / 2;

/// A block's geometry at kernel height k and its shared memory in 4-byte
/// words (dynamic). Each channel has an x plane (ring_rows() rows) and a dy
/// plane (two buffers of 16 rows). Each group of 8 channels sits 4 words
/// (16 bytes) further than the last, so that a staging store, which writes
/// one quad of words of channels 8 q + c for each q, meets distinct banks.
struct DwMmaNhwcSmem {
  int k;
  /// 16-row x tiles a block of 8 dy rows multiplies: x rows 0 .. K + 6 below
  /// its first, and a last row that no tap's diagonal meets (the bias row).
  __host__ __device__ constexpr int tiles() const { return (k + 23) / 16; }
  /// Whether the second block of dy rows needs the 8 x rows past the
  /// first block's tiles.
  __host__ __device__ constexpr bool extra_group() const { return k + 14 >= 16 * tiles(); }
  /// 8-row groups of x a step reads.
  __host__ __device__ constexpr int groups() const { return 2 * tiles() + (extra_group() ? 1 : 0); }
  /// x rows a column's first step stages before its step rows.
  __host__ __device__ constexpr int lead_rows() const { return 8 * groups() - 16; }
  /// x rows the ring holds: a step's groups and the next step's 16 rows.
  __host__ __device__ constexpr int ring_rows() const { return (8 * groups() + 31) / 16 * 16; }
  __host__ __device__ constexpr int x_plane() const { return ring_rows() * kDwMmaNhwcRowWords; }
  static constexpr int kDyPlane = 2 * 16 * kDwMmaNhwcRowWords;
  static constexpr int kShift = kDwMmaNhwcChannels / 8 * 4;  // the channel groups' shifts
  __host__ __device__ constexpr int dy_base() const { return kDwMmaNhwcChannels * x_plane() + kShift; }
  __host__ __device__ constexpr int words() const { return dy_base() + kDwMmaNhwcChannels * kDyPlane + kShift; }
  __host__ __device__ constexpr int bytes() const { return 4 * words(); }
  /// Words of the C tiles summed at a tile's end (the planes' room).
  __host__ __device__ constexpr int sum_words() const { return kDwMmaNhwcChannels * 16 * tiles() * 8; }
};

/// Word of column pair `pair` (0-7) of row `row` in a plane.
__host__ __device__ constexpr int dw_mma_nhwc_word(int row, int pair) {
  return row * kDwMmaNhwcRowWords + 4 * ((pair >> 2) ^ ((row >> 2) & 1)) + (pair & 3);
}

/// Tile: a chunk of p.pieces_per_chunk steps of one channel group (tile =
/// chunk * groups + group). Steps are numbered column by column: image,
/// then span of kDwMmaNhwcCols dy columns, then block of 16 dy rows
/// (p.bands_per_plane a column), so a chunk walks down a column and on to
/// the next. x columns are dy columns less pad_left; rows and columns off
/// the tensors are zero, and so are x rows no dy row reads (0 * inf off the
/// taps would still be summed in C's other entries, never in a tap).
///
/// Fragments (lane l, g = l / 4, t = l % 4): A (x) rows g, g + 8 and columns
/// 2t, 2t + 1, 2t + 8, 2t + 9 of a tile; B (dy) row g of a block of 8, the
/// same columns; C rows g, g + 8 (x rows of the tile), columns 2t, 2t + 1
/// (dy rows). dbias: the last row of the last tile, which no tap's diagonal
/// meets, is ones in place of x (A's rows g + 8 of lanes g = 7), so C's
/// last row sums dy and the bias costs neither an mma nor accumulators.
template <class T, int K>
__global__ void __launch_bounds__(kDwMmaNhwcThreads, 1)
    weight_grad_mma_nhwc_kernel(const WeightGradParams p, const T* __restrict__ x, const T* __restrict__ dy,
                                float* __restrict__ ws) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  constexpr DwMmaNhwcSmem kSmem{K};
  constexpr int kTiles = kSmem.tiles(), kLead = kSmem.lead_rows(), kRing = kSmem.ring_rows();
  constexpr bool kExtra = kSmem.extra_group();
  constexpr int kXPlane = kSmem.x_plane(), kDyPlane = DwMmaNhwcSmem::kDyPlane, kDyBase = kSmem.dy_base();
  constexpr int kRowWords = kDwMmaNhwcRowWords;
  constexpr int kWarps = kDwMmaNhwcThreads / 32;
  constexpr int kWarpChannels = kDwMmaNhwcChannels / kWarps;       // channels a warp multiplies
  constexpr int kLanesPerPixel = kDwMmaNhwcChannels / 8;           // 16-byte vectors of a pixel
  constexpr int kRowUnits = kDwMmaNhwcCols * kLanesPerPixel / 64;  // warp loads a staged row
  constexpr int kUnits = 32 * kRowUnits / kWarps;                  // a warp's loads a step
  static_assert(sizeof(T) == 2 && K > 0, "the tensor-core dw tile is for 2-byte types and static kernel heights");
  static_assert(kLead <= 32, "the lead rows are staged in one pass");
  static_assert(kSmem.sum_words() <= kSmem.words(), "the C tiles fit the planes' room");
  static_assert(kUnits % (2 * kRowUnits) == 0, "a warp stages whole dy and x rows");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  uint32_t* s_w = reinterpret_cast<uint32_t*>(smem_raw);

  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  // Staging: lane `quarter` of a pixel's vectors (8 channels), column pair `pair` of a row unit.
  const int pair = lane / kLanesPerPixel, quarter = lane % kLanesPerPixel;
  const int r8 = lane & 7, mat = lane >> 3;  // ldmatrix: row, matrix
  const int ho_n = int(p.out_h), h_n = int(p.h), pad_top = p.pad_top;
  const int x_stop = ho_n + K - 1;  // x rows (plus pad_top) a dy row reads
  const int64_t groups = p.col_blocks, spans = p.pixel_blocks;
  const int blocks = int(p.bands_per_plane);
  const int64_t steps = p.n * spans * blocks;
  const int64_t dy_pitch = p.dy_row_pitch, x_pitch = p.x_row_pitch;
  // Plane of channel c: x at 0, dy (buffer 0) at kDyBase.
  auto plane = [](int c) { return c * kXPlane + (c >> 3) * 4; };
  auto dy_plane = [](int c) { return kDyBase + c * kDyPlane + (c >> 3) * 4; };
  // Staging: channel 8 quarter + 2 q + e of this lane is plane(8 quarter) + (2 q + e) planes on.
  const int s_x_lane = plane(8 * quarter), s_dy_lane = dy_plane(8 * quarter);
  // ldmatrix byte offsets within a plane: A (x) rows (mat % 2) * 8 + r8 of
  // a tile at column half mat / 2 (an extra group: lanes 0-15, rows r8 at
  // column half mat); B (dy) rows (mat / 2) * 8 + r8 at column half mat % 2.
  // A row's swizzle depends on r8 alone, groups starting at multiples of 8.
  const uint32_t a_lane = 4u * uint32_t(dw_mma_nhwc_word((mat & 1) * 8 + r8, 4 * (mat >> 1)));
  const uint32_t e_lane = 4u * uint32_t(dw_mma_nhwc_word(r8, 4 * (mat & 1)));
  const uint32_t b_lane = 4u * uint32_t(dw_mma_nhwc_word((mat >> 1) * 8 + r8, 4 * (mat & 1)));
  const uint32_t s_base = static_cast<uint32_t>(__cvta_generic_to_shared(s_w));

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    const int64_t group = tile % groups, chunk = tile / groups;
    const int64_t s0 = chunk * p.pieces_per_chunk;
    const int64_t s1 = s0 + p.pieces_per_chunk < steps ? s0 + p.pieces_per_chunk : steps;
    float c[kWarpChannels][kTiles][4] = {};

    // The column being walked: this lane's pointers at dy row `warp` and x
    // row `warp` - pad_top of its column pair in the first row unit, and
    // which of its pixels lie inside dy and x in each unit.
    int64_t col = s0 / blocks;
    int i = int(s0 - col * blocks);
    const T *dy_col = nullptr, *x_col = nullptr;
    uint32_t inside = 0;  // bit 2 (2 h + e): pixel e of unit h inside dy; + 1: inside x
    auto open_column = [&]() {
      const int64_t img = col / spans, d = (col - img * spans) * kDwMmaNhwcCols + 2 * pair;
      const int64_t xc = d - p.pad_left;
      dy_col = dy + img * p.dy_plane_pitch + d * p.c + group * kDwMmaNhwcChannels + 8 * quarter + warp * dy_pitch;
      x_col =
          x + img * p.x_plane_pitch + xc * p.c + group * kDwMmaNhwcChannels + 8 * quarter + (warp - pad_top) * x_pitch;
#pragma unroll
      for (int h = 0; h < kRowUnits; ++h)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int64_t off = 64 / kLanesPerPixel * h + e;  // columns of unit h past the lane's first
          const int bit = 2 * (2 * h + e);
          inside = (inside & ~(3u << bit)) | (d + off < p.out_w ? 1u << bit : 0u) |
                   (xc + off >= 0 && xc + off < p.w ? 2u << bit : 0u);
        }
    };
    open_column();

    // A step's or a column's lead rows. Load u of this warp is row
    // warp + kWarps ((u / kRowUnits) % 2) of row unit u % kRowUnits: in a
    // step, dy rows for even u / kRowUnits, then x rows; lead rows count
    // from the step's first x row. Lanes hold two pixels of 8 channels.
    using Rows = uint4[kUnits][2];
    // The two pixels of a row unit from `row` (bits bit0 and bit0 + 2 of
    // `inside`), zero where off the tensor.
    auto load_pair = [&](uint4(&out)[2], const T* row, bool in, int bit0) {
      const uint4 zero = make_uint4(0, 0, 0, 0);
#pragma unroll
      for (int e = 0; e < 2; ++e)
        out[e] = in && (inside >> (bit0 + 2 * e) & 1u) ? *reinterpret_cast<const uint4*>(row + e * p.c) : zero;
    };
    auto fetch = [&](Rows& v, int bi, auto lead_const) {
      constexpr bool lead = decltype(lead_const)::value;
#pragma unroll
      for (int u = 0; u < kUnits; ++u) {
        const int h = u % kRowUnits, half = (u / kRowUnits) % 2, pass = u / (2 * kRowUnits);
        const int64_t cols = int64_t(64 / kLanesPerPixel * h) * p.c;
        if (lead) {
          const int rho = 16 * bi + kWarps * (2 * pass + half);  // x row + pad_top less warp
          if (kWarps * (2 * pass + half) >= kLead) continue;
          if (warp + kWarps * (2 * pass + half) >= kLead) continue;  // (8 lead rows: warps 0-7)
          const int xr = rho + warp - pad_top;
          load_pair(v[u], x_col + rho * x_pitch + cols, rho + warp < x_stop && xr >= 0 && xr < h_n, 4 * h + 1);
        } else if (half == 0) {
          const int r = 16 * bi;  // dy row less warp
          load_pair(v[u], dy_col + r * dy_pitch + cols, r + warp < ho_n, 4 * h);
        } else {
          const int rho = 16 * bi + kLead;  // x row + pad_top less warp
          const int xr = rho + warp - pad_top;
          load_pair(v[u], x_col + rho * x_pitch + cols, rho + warp < x_stop && xr >= 0 && xr < h_n, 4 * h + 1);
        }
      }
    };
    // Stores what fetch loaded: dy rows into buffer `buf`, x rows into the
    // ring, whose slot for x row rho is rho % kRing (ring16: (16 i) % kRing).
    auto stage = [&](const Rows& v, int ring16, int buf, auto lead_const) {
      constexpr bool lead = decltype(lead_const)::value;
#pragma unroll
      for (int u = 0; u < kUnits; ++u) {
        const int h = u % kRowUnits, half = (u / kRowUnits) % 2, pass = u / (2 * kRowUnits);
        const bool is_dy = !lead && half == 0;
        int row = warp;
        if (lead) {
          if (kWarps * (2 * pass + half) >= kLead || warp + kWarps * (2 * pass + half) >= kLead) continue;
          row += ring16 + kWarps * (2 * pass + half);
        } else if (!is_dy) {
          row += ring16 + kLead;
        }
        if (!is_dy && row >= kRing) row -= kRing;
        uint32_t* dst = s_w + (is_dy ? s_dy_lane + buf * 16 * kRowWords : s_x_lane) +
                        dw_mma_nhwc_word(row, 64 / kLanesPerPixel / 2 * h + pair);
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
    // The products of the step's two blocks of 8 dy rows (buffer `buf`)
    // with their x tiles, for each of this warp's channels. The second
    // block's tiles start 8 rows lower: their halves are the first block's
    // (and the extra group), moved between registers.
    auto compute = [&](int ring16, int buf) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
      const uint32_t ones = pack_pair(Traits::from_accum(1.0f), Traits::from_accum(1.0f));
      const bool bias_lane = lane >= 28;  // A row g + 8 = 15
      uint32_t blk[kTiles + 1];           // byte offsets of the tiles (and the extra group) in the ring
#pragma unroll
      for (int j = 0; j <= kTiles; ++j) {
        const int r = ring16 + 16 * j;
        blk[j] = 4u * kRowWords * uint32_t(r >= kRing ? r - kRing : r);
      }
#pragma unroll
      for (int hc = 0; hc < kWarpChannels; ++hc) {
        const int ch = warp + kWarps * hc;
        const uint32_t xp = s_base + 4u * uint32_t(plane(ch));
        uint32_t b[4];
        ldmatrix_x4(b, s_base + 4u * uint32_t(dy_plane(ch) + buf * 16 * kRowWords) + b_lane);
        // Tile j's second half and tile j + 1's first make the second
        // block's tile j: each tile's mma with the second block waits for
        // the next tile's load, two tiles live at a time.
        uint32_t prev[4];
#pragma unroll
        for (int j = 0; j <= kTiles; ++j) {
          uint32_t a[4] = {0u, 0u, 0u, 0u};
          if (j < kTiles) {
            ldmatrix_x4(a, xp + blk[j] + a_lane);
          } else if constexpr (kExtra) {
            // The extra group is a tile's first half: columns 0-7 and 8-15.
            uint32_t e[2];
            ldmatrix_x2(e, xp + blk[kTiles] + e_lane);
            a[0] = e[0];
            a[2] = e[1];
          }
          if (j > 0) {
            const bool last = j == kTiles;
            mma_16x8x16<T>(c[hc][j - 1], prev[1], last && bias_lane ? ones : a[0], prev[3],
                           last && bias_lane ? ones : a[2], b[2], b[3]);
          }
          if (j < kTiles) {
            const bool last = j + 1 == kTiles;
            mma_16x8x16<T>(c[hc][j], a[0], last && bias_lane ? ones : a[1], a[2], last && bias_lane ? ones : a[3], b[0],
                           b[1]);
#pragma unroll
            for (int q = 0; q < 4; ++q) prev[q] = a[q];
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
        for (int sb = 0; sb < 2; ++sb)
          for (int j = 0; j < kTiles; ++j)
            for (int u = 0; u < 2; ++u)
              for (int e = 0; e < 2; ++e) {
                const int m = 16 * j + g + 8 * u;  // x row of the block's tiles
                const int r = ring16 + 8 * sb + m;
                for (int col = 0; col < kDwMmaNhwcCols; ++col) {
                  const float d = elem(dy_plane(ch) + buf * 16 * kRowWords, 8 * sb + 2 * t + e, col);
                  const bool ones = m == 16 * kTiles - 1;
                  const bool zero = !kExtra && sb == 1 && j + 1 == kTiles && u == 1;
                  c[hc][j][2 * u + e] +=
                      d * (ones ? 1.0f : (zero ? 0.0f : elem(plane(ch), r >= kRing ? r - kRing : r, col)));
                }
              }
      }
#endif
    };

    // The first step of a column (or of the chunk) stages the column's lead
    // rows and its own rows before its products; later steps were fetched
    // during the previous step's products.
    const int len = int(s1 - s0);  // steps of the chunk (at most one per 256 dy pixels)
    int buf = 0, ring16 = (16 * i) % kRing;
    bool staged = false;  // the current step's rows are in shared memory
    Rows v;
    for (int s = 0; s < len; ++s) {
      if (!staged) {
        if constexpr (kLead > 0) {
          fetch(v, i, std::true_type{});
          stage(v, ring16, buf, std::true_type{});
        }
        fetch(v, i, std::false_type{});
        stage(v, ring16, buf, std::false_type{});
        __syncthreads();
      }
      // The next step's rows, where it continues this column.
      staged = s + 1 < len && i + 1 < blocks;
      const int next16 = ring16 + 16 < kRing ? ring16 + 16 : ring16 + 16 - kRing;
      if (staged) fetch(v, i + 1, std::false_type{});
      compute(ring16, buf);
      if (staged) stage(v, next16, buf ^ 1, std::false_type{});
      buf ^= 1;
      __syncthreads();
      ring16 = next16;
      if (++i == blocks && s + 1 < len) {
        i = 0;
        ring16 = 0;
        ++col;
        open_column();
      }
    }

    // Tap k: C's diagonal m - n = k of each channel, through shared memory
    // (every warp is past its last read of the planes); the bias: C's last
    // row.
    float* s_c = reinterpret_cast<float*>(smem_raw);
    constexpr int kCRows = 16 * kTiles;
    {
      const int g = lane / 4, t = lane % 4;
#pragma unroll
      for (int hc = 0; hc < kWarpChannels; ++hc) {
        const int ch = warp + kWarps * hc;
#pragma unroll
        for (int j = 0; j < kTiles; ++j)
#pragma unroll
          for (int u = 0; u < 2; ++u)
#pragma unroll
            for (int e = 0; e < 2; ++e) s_c[(ch * kCRows + 16 * j + g + 8 * u) * 8 + 2 * t + e] = c[hc][j][2 * u + e];
      }
    }
    __syncthreads();
    for (int e = int(threadIdx.x); e < kDwMmaNhwcChannels * (K + 1); e += kDwMmaNhwcThreads) {
      const int ch = e / (K + 1), k = e - ch * (K + 1);
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < 8; ++n) sum += s_c[(ch * kCRows + (k < K ? k + n : kCRows - 1)) * 8 + n];
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
