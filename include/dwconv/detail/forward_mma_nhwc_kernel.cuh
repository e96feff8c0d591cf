// dwconv: the NHWC forward on tensor cores, for 2-byte types at stride 1 and
// dilation 1. For one channel, a block of 16 output rows at 8 pixels is the
// same banded (Toeplitz) matrix of the K taps as in NCHW
// (forward_mma_kernel.cuh) times the 16 + K - 1 input rows below them. In
// NHWC a pixel's channels are contiguous: a lane reads one vector of its
// channels from each of the four input rows its B fragment holds and pairs
// the rows of each channel with one byte permute, and the C fragments of
// all its channels at one pixel make one vector. Those reads and writes go
// through shared memory, so that global memory sees whole sectors, and
// whole 128-byte lines where C is a multiple of 64: the first form, each
// warp reading and writing its own 8-byte pieces at the channel pitch, held
// the L2 at 80-90 % of its throughput and ran at 13-27 % of the floor (ncu,
// `2026-11-26-h100-f13-ncu.txt`).
// On CUDA cores the rolling kernel spends K float multiply-adds an output,
// which bound 2-byte K = 31 at 39 % of the floor on the H100 (issue-bound).
#pragma once

#include <cstdint>

#include "dwconv/detail/forward_kernel.cuh"
#include "dwconv/detail/forward_mma_kernel.cuh"
#include "dwconv/detail/launch.cuh"
#include "dwconv/detail/mma.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// Pixels a block's tile spans (the n of mma m16n8k16).
inline constexpr int kMmaNhwcPixels = 8;
/// Longest run (16-row blocks): keeps a run's row counts in int.
inline constexpr int64_t kMmaNhwcMaxRunBlocks = int64_t(1) << 16;
/// Warps a block where its channels are not whole lines (below).
inline constexpr int kMmaNhwcWarps = 4;
/// Channels of a whole-line block: the 128 bytes of a pixel's line in 2-byte
/// types. A block over 16 channels read and wrote one 32-byte sector of
/// each line, so the L2 saw four times a copy's requests for the same
/// bytes and ran at 81-90 % of its throughput with DRAM at 62-66 % (ncu on
/// the H100, `2026-11-26-h100-f14-ncu.txt`, `-f17.3-ncu.txt`).
inline constexpr int kMmaNhwcLineChannels = 64;
/// Band blocks a block stages ahead of the one its warps read (in flight
/// past the kSteps an output block reads). With one ahead, a step's copies
/// hid only behind the previous step's short compute (f14: two ahead took
/// fp16 K = 31 from 60 to 64 % of the floor). Line blocks, one a
/// multiprocessor, on the H100 (`2026-11-26-h100-f26.2-ab.txt`,
/// `-f26.3-ab.txt`; fp16 K = 31 forward / dx): two ahead 71.7 / 75.6 %,
/// three 75.1-75.3 / 78.8-79.7 %, four 74.3 / 78.2 %, five 75.0 / 78.1 %.
inline constexpr int kMmaNhwcAhead = 3;

/// Warps a block of `channels` a warp over `c` channels: whole lines where
/// they divide c, else kMmaNhwcWarps.
__host__ __device__ constexpr int mma_nhwc_warps(int64_t c, int channels) {
  return c % kMmaNhwcLineChannels == 0 ? kMmaNhwcLineChannels / channels : kMmaNhwcWarps;
}

/// A block's shared memory (dynamic): slots() band slots and the output
/// block, each 16 rows of kMmaNhwcPixels pixels of the block's channels,
/// then the tap pairs. Pitches (elements) carry 16 bytes more than the
/// data, so that the 8 lanes of a quarter warp reading rows 2t at pixels g
/// meet distinct bank quads.
struct MmaNhwcSmem {
  int block_channels;
  int k;
  __host__ __device__ constexpr int pixel_pitch() const { return block_channels + 8; }
  __host__ __device__ constexpr int row_pitch() const { return kMmaNhwcPixels * pixel_pitch() + 8; }
  __host__ __device__ constexpr int block_elems() const { return 16 * row_pitch(); }
  /// 32-bit words of tap pairs a channel keeps, per parity: word m holds
  /// taps 2 m - 16 + parity and the next (zeros outside [0, k)), covering
  /// every pair a lane's A fragments take (first taps 2t - g + 8 (e - 1),
  /// e <= 2 kSteps).
  __host__ __device__ constexpr int tap_words() const { return 4 * (2 * mma_k_steps(k) - 1) + 12; }
  /// Where odd-parity pairs start (words): 16 words (half the banks) past
  /// the even ones, so that lanes reading the same word index of either
  /// parity do not collide.
  __host__ __device__ constexpr int odd_taps() const { return block_channels * tap_words() + 16; }
  /// Band slots: the kSteps blocks an output block reads and kMmaNhwcAhead
  /// in flight.
  __host__ __device__ constexpr int slots() const { return mma_k_steps(k) + kMmaNhwcAhead; }
  __host__ __device__ constexpr int bytes() const { return (slots() + 1) * block_elems() * 2 + 2 * odd_taps() * 4; }
};

/// The tile's output blocks (p.tiles of them): 16 output rows of kWarps *
/// kCh channels at kMmaNhwcPixels pixels. They are numbered down each
/// column (p.row_blocks a column), the columns with channel blocks
/// fastest, then pixel groups (p.col_blocks a row), then images. A block
/// walks its wave_walk (launch.cuh: whole columns side by side with the
/// other blocks, then an equal share of the rest; f37) as runs, a run being
/// the walk's blocks within one column: with one line block a
/// multiprocessor, a run's start (its first band blocks staged before any
/// output) is latency nothing hides, so a few runs a block in a grid of one
/// wave beat many runs in many waves, whose last was part-empty (f35, f36
/// in bench/NOTES.md). A run walks its rows in 16-row blocks; k-step j of
/// output block i reads band block i + j (input rows 16 (i + j) + [0, 16)
/// from the run's first, ho0 - pad_top), so each band block is staged once,
/// kMmaNhwcAhead blocks ahead of its first use, and read by kSteps output
/// blocks from its slot (a ring of kSteps + kMmaNhwcAhead): kept in
/// registers between blocks, the B fragments took 24-48 more a thread.
///
/// Fragments (lane l, g = l / 4, t = l % 4), per channel: A as in NCHW,
/// A[m][k] = w[16 j + k - m], of which A[g][2t], A[g + 8][2t] and
/// A[g][2t + 8] of every k-step are 2 kSteps + 1 distinct words (taps
/// 2t - g + 8 (e - 1) and the next, e = 0 .. 2 kSteps), read from the
/// block's tap pairs in shared memory (in registers they held 28-56 of a
/// thread's 168-255, ptxas). B[k][n]: band rows 2t, 2t + 1 (b0) and 2t + 8,
/// 2t + 9 (b1) at pixel g. C[m][n]: output rows g, g + 8 at pixels 2t,
/// 2t + 1.
// Three 4-warp blocks a multiprocessor (ptxas, K = 31: 142 registers at 4
// channels a warp). A line block's shared memory fills a multiprocessor
// (147 KiB at K = 31), so it asks for one: 128 registers at 4 channels a
// warp (16 warps), 206 at 8 (8 warps; held to 128 it spilled and lost 7
// points, f26.3).
template <class T, int K, int kCh, int kWarps>
__global__ void __launch_bounds__(32 * kWarps, kWarps == kMmaNhwcWarps ? 3 : 1)
    forward_mma_nhwc_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w,
                            const T* __restrict__ bias, T* __restrict__ y) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  constexpr int kSteps = mma_k_steps(K);
  constexpr int kWords = kCh / 2;  // 32-bit words of a lane's channel vector
  using Vec = AlignedVector<uint32_t, kWords>;
  static_assert(sizeof(T) == 2 && K > 0, "the NHWC tensor-core tile is for 2-byte types and static kernel heights");
  static_assert(kCh == 4 || kCh == 8, "a warp owns 4 or 8 channels");
  constexpr int kThreads = 32 * kWarps;
  constexpr int kPx = kMmaNhwcPixels;
  constexpr int kBlockCh = kWarps * kCh;
  constexpr int kChunks = kBlockCh / 8;  // 16-byte pieces of a pixel's block channels
  constexpr int kCopies = 16 * kPx * kChunks / kThreads;
  constexpr MmaNhwcSmem kSmem{kBlockCh, K};
  constexpr int kPixelPitch = kSmem.pixel_pitch();
  constexpr int kRowPitch = kSmem.row_pitch();
  constexpr int kTapWords = kSmem.tap_words();
  static_assert(kCopies * kThreads == 16 * kPx * kChunks, "a block's threads copy whole 16-row blocks");
  constexpr int kSlots = kSmem.slots();
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* const s_in = reinterpret_cast<T*>(smem_raw);
  T* const s_out = s_in + kSlots * kSmem.block_elems();
  uint32_t* const s_taps = reinterpret_cast<uint32_t*>(s_out + kSmem.block_elems());

  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;
  const int64_t wo_n = p.cols / p.c;
  const int64_t channel_blocks = p.c / kBlockCh;
  const T zero = Traits::from_accum(0.0f);
  // This lane's first pair (e = 0, tap 2t - g - 8) among its parity's words.
  const volatile uint32_t* const lane_taps =
      s_taps + (g & 1) * kSmem.odd_taps() + warp * kCh * kTapWords + (2 * t - g - 8 + 16 - (g & 1)) / 2;

  const WaveWalk walk = wave_walk(p.tiles, p.row_blocks, gridDim.x, blockIdx.x);
  for (int64_t v = 0; v < walk.size();) {
    const WaveRun r = walk.run(v);
    const int blocks = int(r.tiles < kMmaNhwcMaxRunBlocks ? r.tiles : kMmaNhwcMaxRunBlocks);
    v += blocks;
    int64_t rest = r.column;
    const int64_t first = r.first;
    const int64_t cb0 = (rest % channel_blocks) * kBlockCh;
    rest /= channel_blocks;
    const int64_t px0 = (rest % p.col_blocks) * kPx;
    const int64_t n = rest / p.col_blocks;
    const int64_t ho0 = 16 * first;
    const int64_t run = p.out_h - ho0 < 16 * blocks ? p.out_h - ho0 : 16 * blocks;
    const int64_t c0 = cb0 + warp * kCh;

    auto tap = [&](int64_t c, int k) { return k >= 0 && k < K ? w[c * K + tap_index(p, k)] : zero; };
    // The block's tap pairs; the first barrier of the band loop publishes
    // them before any fragment reads them.
    for (int i = int(threadIdx.x); i < 2 * kBlockCh * kTapWords; i += kThreads) {
      const int m = i % kTapWords, ch = (i / kTapWords) % kBlockCh, odd = i / (kTapWords * kBlockCh);
      const int k = 2 * m - 16 + odd;
      s_taps[odd * kSmem.odd_taps() + ch * kTapWords + m] = pack_pair(tap(cb0 + ch, k), tap(cb0 + ch, k + 1));
    }
    float b[kCh];
#pragma unroll
    for (int ch = 0; ch < kCh; ++ch) b[ch] = bias ? Traits::to_accum(bias[c0 + ch]) : 0.0f;

    // A thread's copies (the same pieces of every 16-row block, in and out):
    // their shared offsets, whether their pixel lies inside the input and
    // the output row, their input rows and running addresses, made once a
    // run. Rebuilt per copy (64-bit row and pixel products, four bounds),
    // the copies' address math was about half the tile's instructions
    // (IMAD 26 %, LEA 10 %, ISETP 10 %; HMMA 3.6 %; ncu source counters on
    // the H100, `2026-11-26-h100-s27-sass.csv.gz`).
    const T* x_img = x + n * p.in_plane_pitch + cb0;
    T* y_img = y + n * p.out_plane_pitch + cb0;
    const int band_blocks = blocks + kSteps - 1;
    const int64_t in_block = 16 * p.in_row_pitch, out_block = 16 * p.out_row_pitch;
    int s_off[kCopies], out_row[kCopies];
    bool in_px[kCopies], out_px[kCopies];
    int64_t hi_next[kCopies];
    const T* src_next[kCopies];
    T* dst_next[kCopies];
#pragma unroll
    for (int r = 0; r < kCopies; ++r) {
      const int c = int(threadIdx.x) + r * kThreads;
      const int chunk = c % kChunks, px = (c / kChunks) % kPx, row = c / (kChunks * kPx);
      const int64_t wi = px0 + px - p.pad_left;
      s_off[r] = row * kRowPitch + px * kPixelPitch + chunk * 8;
      out_row[r] = row;
      out_px[r] = px0 + px < wo_n;
      in_px[r] = wi >= 0 && wi < p.w && out_px[r];
      hi_next[r] = ho0 - p.pad_top + row;
      src_next[r] = x_img + hi_next[r] * p.in_row_pitch + wi * p.c + chunk * 8;
      dst_next[r] = y_img + (ho0 + row) * p.out_row_pitch + (px0 + px) * p.c + chunk * 8;
    }
    // Stages band block `blk` (the next one: calls come in order) in slot
    // blk % kSlots as one group of copies (empty past the band): rows
    // outside the input and pixels in the padding or past the row are zeros.
    auto stage = [&](int blk) {
      T* slot = s_in + (blk % kSlots) * kSmem.block_elems();
#pragma unroll
      for (int r = 0; r < kCopies && blk < band_blocks; ++r) {
        T* dst = slot + s_off[r];
        if (in_px[r] && uint64_t(hi_next[r]) < uint64_t(p.h))
          copy_async<16>(dst, src_next[r]);
        else
          *reinterpret_cast<uint4*>(dst) = uint4{0, 0, 0, 0};
        hi_next[r] += 16;
        src_next[r] += in_block;
      }
      copy_async_commit();
    };
    // B fragments of the staged block (word wd of a vector holds channels
    // 2 wd, low half, and 2 wd + 1).
    auto read_b = [&](int blk, uint32_t(&bk)[kCh][2]) {
      const T* lane_in = s_in + (blk % kSlots) * kSmem.block_elems() + 2 * t * kRowPitch + g * kPixelPitch + warp * kCh;
      Vec raw[4];
#pragma unroll
      for (int i = 0; i < 4; ++i)
        raw[i] = *reinterpret_cast<const Vec*>(lane_in + ((i & 1) + 8 * (i >> 1)) * kRowPitch);
#pragma unroll
      for (int wd = 0; wd < kWords; ++wd)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          bk[2 * wd][h] = __byte_perm(raw[2 * h].e[wd], raw[2 * h + 1].e[wd], 0x5410);
          bk[2 * wd + 1][h] = __byte_perm(raw[2 * h].e[wd], raw[2 * h + 1].e[wd], 0x7632);
        }
    };

#pragma unroll
    for (int a = 0; a < kMmaNhwcAhead; ++a) stage(a);
#pragma unroll 1
    for (int blk = 0; blk < band_blocks; ++blk) {
      copy_async_wait_groups<kMmaNhwcAhead - 1>();
      // Block blk is staged; every warp is past its reads of block
      // blk - kSteps, whose slot the next stage takes, and past the last
      // copy-out.
      __syncthreads();
      stage(blk + kMmaNhwcAhead);
      const int i = blk - (kSteps - 1);  // the output block this band block completes
      if (i < 0) continue;
      float d[kCh][4];
#pragma unroll
      for (int ch = 0; ch < kCh; ++ch) {
#pragma unroll
        for (int e = 0; e < 4; ++e) d[ch][e] = b[ch];
      }
      // Targets without mma.sync (#else): the same outputs, one multiply-add a tap.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#pragma unroll
      for (int j = 0; j < kSteps; ++j) {
        uint32_t bk[kCh][2];
        read_b(i + j, bk);
#pragma unroll
        for (int ch = 0; ch < kCh; ++ch) {
          // Volatile: the same words every band block, which ptxas would
          // otherwise hoist out of the loop into registers.
          const volatile uint32_t* pa = lane_taps + ch * kTapWords + 8 * j;
          const uint32_t mid = pa[4];
          mma_16x8x16<T>(d[ch], mid, pa[0], pa[8], mid, bk[ch][0], bk[ch][1]);
        }
      }
#else
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t ho = ho0 + 16 * i + g + 8 * (e >> 1);
        const int64_t wj = px0 + 2 * t + (e & 1) - p.pad_left;
        if (wj < 0 || wj >= p.w) continue;
        for (int k = 0; k < K; ++k) {
          const int64_t hi = ho - p.pad_top + k;
          if (hi < 0 || hi >= p.h) continue;
          for (int ch = 0; ch < kCh; ++ch)
            d[ch][e] += Traits::to_accum(tap(c0 + ch, k)) *
                        Traits::to_accum(x[n * p.in_plane_pitch + hi * p.in_row_pitch + wj * p.c + c0 + ch]);
        }
      }
#endif
      // C element e: output row g + 8 (e / 2), pixel 2t + e % 2.
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        Vec out;
#pragma unroll
        for (int wd = 0; wd < kWords; ++wd)
          out.e[wd] = pack_pair(Traits::from_accum(d[2 * wd][e]), Traits::from_accum(d[2 * wd + 1][e]));
        *reinterpret_cast<Vec*>(s_out + (g + 8 * (e >> 1)) * kRowPitch + (2 * t + (e & 1)) * kPixelPitch + warp * kCh) =
            out;
      }
      __syncthreads();
#pragma unroll
      for (int r = 0; r < kCopies; ++r) {
        if (out_px[r] && 16 * i + out_row[r] < run)
          *reinterpret_cast<uint4*>(dst_next[r]) = *reinterpret_cast<const uint4*>(s_out + s_off[r]);
        dst_next[r] += out_block;
      }
    }
    // The next run's first stages write slots 0.., its taps s_taps and its
    // first fragments s_out: every warp must be past this run's last reads
    // of all three.
    __syncthreads();
  }
}

}  // namespace detail
}  // namespace dwconv
