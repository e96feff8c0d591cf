// dwconv: the NHWC forward on tensor cores, for 2-byte types at stride 1 and
// dilation 1. For one channel, a block of 16 output rows at 8 pixels is the
// same banded (Toeplitz) matrix of the K taps as in NCHW
// (forward_mma_kernel.cuh) times the 16 + K - 1 input rows above them. In
// NHWC a pixel's channels are contiguous, so no tile in shared memory is
// needed to form the B fragments: a lane loads one vector of channels from
// each of the four input rows its fragment holds and pairs the rows of each
// channel with one byte permute, and the C fragments of all its channels at
// one pixel make one vector store. On CUDA cores the rolling kernel spends
// K float multiply-adds an output, which bound 2-byte K = 31 at 39 % of the
// floor on the H100 (issue-bound).
#pragma once

#include <cstdint>

#include "dwconv/detail/forward_kernel.cuh"
#include "dwconv/detail/forward_mma_kernel.cuh"
#include "dwconv/detail/mma.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// Pixels a warp's tile spans (the n of mma m16n8k16).
inline constexpr int kMmaNhwcPixels = 8;
/// Warps a block. A block's warps take consecutive channel groups of the
/// same pixels, so their loads of one pixel row share sectors in L1.
inline constexpr int kMmaNhwcWarps = 4;

/// A warp's item (p.tiles of them): kCh channels (c0 = group * kCh) of
/// kMmaNhwcPixels output pixels (p.col_blocks groups a row) in a run of
/// p.run_rows output rows (p.row_blocks runs a plane) of image n; channel
/// groups vary fastest. A run walks its rows in 16-row blocks; k-step j of
/// block i reads input rows 16 (i + j) + [0, 16) of the run's band, so
/// each 16-row block of the band is loaded once, one block ahead of its
/// first use, and fed to kSteps output blocks from registers.
///
/// Fragments (lane l, g = l / 4, t = l % 4), per channel: A as in NCHW,
/// A[m][k] = w[16 j + k - m], of which A[g][2t], A[g + 8][2t] and
/// A[g][2t + 8] of every k-step are 2 kSteps + 1 distinct registers
/// (pa[e + 1]: taps 2t - g + 8e and the next). B[k][n]: input rows
/// 2t, 2t + 1 (b0) and 2t + 8, 2t + 9 (b1) at pixel g, the rows a lane loads.
/// C[m][n]: output rows g, g + 8 at pixels 2t, 2t + 1, the vectors it stores.
template <class T, int K, int kCh>
__global__ void __launch_bounds__(32 * kMmaNhwcWarps)
    forward_mma_nhwc_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w,
                            const T* __restrict__ bias, T* __restrict__ y) {
  using Traits = NumericTraits<T>;
  constexpr int kSteps = mma_k_steps(K);
  constexpr int kWords = kCh / 2;  // 32-bit words of a pixel's channel vector
  using Vec = AlignedVector<uint32_t, kWords>;
  static_assert(sizeof(T) == 2 && K > 0, "the NHWC tensor-core tile is for 2-byte types and static kernel heights");
  static_assert(kCh == 4 || kCh == 8, "a warp owns 4 or 8 channels");

  const int lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  const int64_t wo_n = p.cols / p.c;
  const int64_t groups = p.c / kCh;
  const int64_t stride = int64_t(gridDim.x) * kMmaNhwcWarps;
  const T zero = Traits::from_accum(0.0f);

  for (int64_t item = int64_t(blockIdx.x) * kMmaNhwcWarps + threadIdx.x / 32; item < p.tiles; item += stride) {
    int64_t rest = item;
    const int64_t c0 = (rest % groups) * kCh;
    rest /= groups;
    const int64_t px0 = (rest % p.col_blocks) * kMmaNhwcPixels;
    rest /= p.col_blocks;
    const int64_t ho0 = (rest % p.row_blocks) * p.run_rows;
    const int64_t n = rest / p.row_blocks;
    const int64_t run = p.out_h - ho0 < p.run_rows ? p.out_h - ho0 : p.run_rows;
    const int blocks = int((run + 15) / 16);

    auto tap = [&](int ch, int k) { return k >= 0 && k < K ? w[(c0 + ch) * K + tap_index(p, k)] : zero; };
    uint32_t pa[kCh][2 * kSteps + 1];
#pragma unroll
    for (int ch = 0; ch < kCh; ++ch)
#pragma unroll
      for (int e = 0; e <= 2 * kSteps; ++e) {
        const int k = 2 * t - g + 8 * (e - 1);
        pa[ch][e] = pack_pair(tap(ch, k), tap(ch, k + 1));
      }
    float b[kCh];
#pragma unroll
    for (int ch = 0; ch < kCh; ++ch) b[ch] = bias ? Traits::to_accum(bias[c0 + ch]) : 0.0f;

    // This lane's input pixel (B's column g); rows outside the input and
    // pixels in the padding or past the row read zeros.
    const int64_t wi = px0 + g - p.pad_left;
    const bool col_in = wi >= 0 && wi < p.w && px0 + g < wo_n;
    const int64_t hi_t = ho0 - p.pad_top + 2 * t;  // input row of band row 2t
    const T* x_t = x + n * p.in_plane_pitch + (col_in ? wi : 0) * p.c + c0 + hi_t * p.in_row_pitch;
    const uint64_t h_in = col_in ? uint64_t(p.h) : 0;
    // The four rows of band block `blk` this lane's B fragments hold.
    auto load_block = [&](Vec(&raw)[4], int blk) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int off = 16 * blk + (i & 1) + 8 * (i >> 1);
        raw[i] = Vec{};
        if (uint64_t(hi_t + off) < h_in) raw[i] = *reinterpret_cast<const Vec*>(x_t + off * p.in_row_pitch);
      }
    };
    // Word wd of a vector holds channels 2 wd (low half) and 2 wd + 1.
    auto to_b = [&](const Vec(&raw)[4], uint32_t(&bk)[kCh][2]) {
#pragma unroll
      for (int wd = 0; wd < kWords; ++wd)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          bk[2 * wd][h] = __byte_perm(raw[2 * h].e[wd], raw[2 * h + 1].e[wd], 0x5410);
          bk[2 * wd + 1][h] = __byte_perm(raw[2 * h].e[wd], raw[2 * h + 1].e[wd], 0x7632);
        }
    };

    // bk[j]: the band block k-step j of the current output block reads.
    uint32_t bk[kSteps][kCh][2];
    Vec raw[4];
#pragma unroll
    for (int j = 0; j + 1 < kSteps; ++j) {
      load_block(raw, j);
      to_b(raw, bk[j]);
    }
    load_block(raw, kSteps - 1);

    T* y_px = y + n * p.out_plane_pitch + c0;
    for (int i = 0; i < blocks; ++i) {
      to_b(raw, bk[kSteps - 1]);
      if (i + 1 < blocks) load_block(raw, i + kSteps);
      float d[kCh][4];
#pragma unroll
      for (int ch = 0; ch < kCh; ++ch)
#pragma unroll
        for (int e = 0; e < 4; ++e) d[ch][e] = b[ch];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#pragma unroll
      for (int j = 0; j < kSteps; ++j)
#pragma unroll
        for (int ch = 0; ch < kCh; ++ch)
          mma_16x8x16<T>(d[ch], pa[ch][2 * j + 1], pa[ch][2 * j], pa[ch][2 * j + 2], pa[ch][2 * j + 1], bk[j][ch][0],
                         bk[j][ch][1]);
#else
          // Targets without mma.sync: the same outputs, one multiply-add a tap.
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t ho = ho0 + 16 * i + g + 8 * (e >> 1);
        const int64_t wj = px0 + 2 * t + (e & 1) - p.pad_left;
        if (wj < 0 || wj >= p.w) continue;
        for (int k = 0; k < K; ++k) {
          const int64_t hi = ho - p.pad_top + k;
          if (hi < 0 || hi >= p.h) continue;
          for (int ch = 0; ch < kCh; ++ch)
            d[ch][e] += Traits::to_accum(tap(ch, k)) *
                        Traits::to_accum(x[n * p.in_plane_pitch + hi * p.in_row_pitch + wj * p.c + c0 + ch]);
        }
      }
#endif
          // C element e: output row g + 8 (e / 2), pixel 2t + e % 2.
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t ho = ho0 + 16 * i + g + 8 * (e >> 1);
        const int64_t wo = px0 + 2 * t + (e & 1);
        if (ho < ho0 + run && wo < wo_n) {
          Vec out;
#pragma unroll
          for (int wd = 0; wd < kWords; ++wd)
            out.e[wd] = pack_pair(Traits::from_accum(d[2 * wd][e]), Traits::from_accum(d[2 * wd + 1][e]));
          *reinterpret_cast<Vec*>(y_px + ho * p.out_row_pitch + wo * p.c) = out;
        }
      }
#pragma unroll
      for (int j = 0; j + 1 < kSteps; ++j)
#pragma unroll
        for (int ch = 0; ch < kCh; ++ch) {
          bk[j][ch][0] = bk[j + 1][ch][0];
          bk[j][ch][1] = bk[j + 1][ch][1];
        }
    }
  }
}

}  // namespace detail
}  // namespace dwconv
