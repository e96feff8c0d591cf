// dwconv: the dw / dbias kernels. Phase one: each block sums dy * x over its
// tile for every tap (and dy alone for the bias) and writes one partial sum
// per (tile slot, channel, tap) into the caller's workspace. Phase two sums
// each (channel, tap) over its slots. Both phases add in an order fixed by
// the problem's geometry, never by timing, so results are bitwise identical
// run to run; no atomics.
#pragma once

#include <cstdint>

#include "dwconv/detail/launch.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// Geometry of the phase-one launch. Row units (R output rows of one plane)
/// of every image are numbered together, n-major, so a tile can span
/// several images when planes are small. A block tile is, in NCHW, one
/// channel and a chunk of those units (every column); in NHWC, a chunk of
/// units, a block of output pixels (pixels_per_thread per thread row) and a
/// group of channels (the vector lanes along the contiguous axis).
struct WeightGradParams {
  int64_t n, h, out_h, w, out_w, c;
  int64_t x_row_pitch, dy_row_pitch;      // elements between rows
  int64_t x_plane_pitch, dy_plane_pitch;  // elements between planes (NCHW: (n, c); NHWC: n)
  int64_t cols;                           // NCHW: out_w columns; NHWC: c channels
  int64_t units_per_plane;                // row units (R rows each) per plane
  int64_t units;                          // n * units_per_plane
  int64_t units_per_chunk;                // row units of one block tile
  int64_t row_chunks;                     // ceil(units / units_per_chunk)
  int64_t col_blocks;                     // NHWC: channel groups; NCHW: 1
  int64_t pixel_blocks;                   // NHWC: blocks of output pixels; NCHW: 1 (rolling: blocks of slots)
  int64_t pixels_per_thread;              // NHWC: output pixels a thread walks; NCHW: 1
  int64_t slots;                          // partial sums per (channel, tap)
  int64_t tiles;
  int k, stride_h, stride_w, dilation_h, pad_top, pad_left;
  int row_step;          // distance between a thread's consecutive output rows
  int col_threads_log2;  // NHWC: log2 of the threads of a block along the channels
  // Workspace: ws[(slot * c + channel) * ws_taps + tap]; this launch writes
  // taps tap_base .. tap_base + K - 1, and the bias sum at ws_taps - 1 when
  // write_bias (the runtime-K path launches once per tap).
  int ws_taps, tap_base;
  bool write_bias;
  // Staged tiling (weight_grad_staged_kernel.cuh): a block tile is a chunk
  // of pieces (NCHW: of one channel); a piece is tile_rows dy rows of one
  // image (NHWC: of piece_pixels output pixels, every channel).
  bool staged;
  int tile_rows;             // dy rows per piece, a multiple of R * row_step
  int smem_x_elems;          // shared elements of the x band
  int64_t bands_per_plane;   // row bands per image
  int64_t pieces_per_chunk;  // pieces of one block tile
  int64_t piece_pixels;      // NHWC: output pixels per piece; rolling: slots an image row (NHWC out_w)
  // Tensor-core NCHW tiling (weight_grad_mma_kernel.cuh): shared row pitch of
  // the x and dy bands, in elements; the row length where a band is staged
  // contiguous.
  int x_band_pitch, dy_band_pitch;
};

/// Sums `value` (one per lane) over the threads of the block that share a
/// column thread, or over every thread and lane when kAll, in a fixed order;
/// then calls out(ct, v, sum) on the threads that hold the sums (kAll: one
/// call, ct = v = 0). `scratch`: Threads * V accumulators of shared memory.
template <class A, int Threads, int V, bool kAll, class Out>
__device__ __forceinline__ void block_sum(const A (&value)[V], int ct_log2, A* scratch, Out&& out) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  constexpr int kWarps = Threads / 32;
  if constexpr (kAll) {
    A s = value[0];
#pragma unroll
    for (int v = 1; v < V; ++v) s += value[v];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) scratch[warp] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
      A total = scratch[0];
      for (int i = 1; i < kWarps; ++i) total += scratch[i];
      out(0, 0, total);
    }
  } else {
    const int ct_n = 1 << ct_log2;
    A s[V];
#pragma unroll
    for (int v = 0; v < V; ++v) {
      s[v] = value[v];
      for (int off = 16; off >= ct_n; off >>= 1) s[v] += __shfl_xor_sync(0xffffffffu, s[v], off);
    }
    // Partial sums left: one per warp (ct_n < 32) or one per thread row.
    const int parts = ct_n < 32 ? kWarps : Threads >> ct_log2;
    const int part = ct_n < 32 ? warp : int(threadIdx.x) >> ct_log2;
    const int ct = int(threadIdx.x) & (ct_n - 1);
    if (ct_n >= 32 || lane < ct_n)
#pragma unroll
      for (int v = 0; v < V; ++v) scratch[(part * ct_n + ct) * V + v] = s[v];
    __syncthreads();
    for (int e = threadIdx.x; e < ct_n * V; e += Threads) {
      A total = scratch[e];
      for (int i = 1; i < parts; ++i) total += scratch[i * ct_n * V + e];
      out(e / V, e % V, total);
    }
  }
  __syncthreads();  // scratch is reused by the next call
}

/// Zeroes a tile's sums: K taps and the bias, V lanes each.
template <class A, int K, int V>
__device__ __forceinline__ void zero_sums(A (&acc)[K][V], A (&acc_b)[V]) {
#pragma unroll
  for (int v = 0; v < V; ++v) {
    acc_b[v] = A(0);
#pragma unroll
    for (int k = 0; k < K; ++k) acc[k][v] = A(0);
  }
}

/// Sums a tile's per-thread sums over the block (block_sum), tap by tap and
/// then the bias when p.write_bias; write(tap) gives the block_sum output
/// functor that stores a tap's sums in the workspace.
template <class A, int Threads, bool kAll, int K, int V, class Write>
__device__ __forceinline__ void block_sum_taps(const WeightGradParams& p, const A (&acc)[K][V], const A (&acc_b)[V],
                                               int ct_log2, A* scratch, Write&& write) {
#pragma unroll 1
  for (int k = 0; k < K; ++k) {
    A value[V];
#pragma unroll
    for (int v = 0; v < V; ++v) value[v] = acc[k][v];
    block_sum<A, Threads, V, kAll>(value, ct_log2, scratch, write(p.tap_base + k));
  }
  if (p.write_bias) block_sum<A, Threads, V, kAll>(acc_b, ct_log2, scratch, write(p.ws_taps - 1));
}

/// Registers the raw (unconverted) dy and x rows of one unit take.
template <class T, int R, int V, int K, int M>
inline constexpr int kUnitRawRegs = (R + (R - 1) * M + K) * V* int(sizeof(T)) / 4;

/// One row unit of one thread: R dy rows of V lanes from dy_p (the unit's
/// first output row ho0) and the (R-1)*M + K input rows they read from x_p,
/// added into acc (per tap) and acc_b (dy alone). x_in false: the column
/// lies in the zero padding, only the bias sums.
///
/// Where the raw rows fit in about 96 registers (2-byte types, scalar
/// rows), every load of the unit is issued before the first product, so a
/// thread has the whole unit in flight: converted to float first, the
/// window did not fit beside the sums, and ncu showed the fp16 warps waiting
/// on one load after another (DRAM at 52 %). Wider fp32 / double windows
/// keep the load-as-you-go order, which holds fewer registers.
template <class T, int R, int V, int K, int M, class A>
__device__ __forceinline__ void accumulate_unit(const WeightGradParams& p, const T* __restrict__ x_p,
                                                const T* __restrict__ dy_p, bool x_in, int64_t ho0, A (&acc)[K][V],
                                                A (&acc_b)[V]) {
  using Traits = NumericTraits<T>;
  const int64_t q = p.row_step;
  const int64_t hi0 = ho0 * p.stride_h - p.pad_top;
  if constexpr (kUnitRawRegs<T, R, V, K, M> <= 96) {
    using Vec = AlignedVector<T, V>;
    constexpr int kX = (R - 1) * M + K;
    Vec zero;
#pragma unroll
    for (int v = 0; v < V; ++v) zero.e[v] = Traits::from_accum(A(0));
    Vec g[R], xr[kX];
#pragma unroll
    for (int r = 0; r < R; ++r)
      g[r] = ho0 + r * q < p.out_h ? *reinterpret_cast<const Vec*>(dy_p + (ho0 + r * q) * p.dy_row_pitch) : zero;
#pragma unroll
    for (int i = 0; i < kX; ++i) {
      const int64_t hi = hi0 + int64_t(i) * p.dilation_h;
      xr[i] = x_in && hi >= 0 && hi < p.h ? *reinterpret_cast<const Vec*>(x_p + hi * p.x_row_pitch) : zero;
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int v = 0; v < V; ++v) acc_b[v] += Traits::to_accum(g[r].e[v]);
#pragma unroll
    for (int i = 0; i < kX; ++i) {
      A xv[V];
#pragma unroll
      for (int v = 0; v < V; ++v) xv[v] = Traits::to_accum(xr[i].e[v]);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int k = i - r * M;
        if (k >= 0 && k < K) {
#pragma unroll
          for (int v = 0; v < V; ++v) acc[k][v] += Traits::to_accum(g[r].e[v]) * xv[v];
        }
      }
    }
  } else {
    A g[R][V];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int64_t ho = ho0 + r * q;
      if (ho < p.out_h) {
        load_vector<T, V>(dy_p + ho * p.dy_row_pitch, g[r]);
      } else {
#pragma unroll
        for (int v = 0; v < V; ++v) g[r][v] = A(0);
      }
#pragma unroll
      for (int v = 0; v < V; ++v) acc_b[v] += g[r][v];
    }
    if (!x_in) return;
#pragma unroll
    for (int i = 0; i < (R - 1) * M + K; ++i) {
      const int64_t hi = hi0 + int64_t(i) * p.dilation_h;
      if (hi < 0 || hi >= p.h) continue;
      A xv[V];
      load_vector<T, V>(x_p + hi * p.x_row_pitch, xv);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int k = i - r * M;
        if (k >= 0 && k < K) {
#pragma unroll
          for (int v = 0; v < V; ++v) acc[k][v] += g[r][v] * xv[v];
        }
      }
    }
  }
}

/// Phase one. R rows and V lanes per thread; K taps (static); M: window step
/// between a thread's rows in units of dilation_h, as in forward_kernel.
///
/// NCHW: a tile is (channel, chunk of row units); its (unit, column vector)
/// items are dealt to the threads in turn, consecutive threads taking
/// consecutive columns, so any width keeps every thread busy (one block per
/// row of 134 columns left 122 of 128 threads idle), and the whole block
/// sums into one value per tap. NHWC: a tile is (chunk, pixel block,
/// channel group); a thread keeps its channel vector and walks its pixels
/// through every unit of the chunk, and the block sums per channel.
template <class T, Layout L, int Threads, int R, int V, int K, int M>
__global__ void __launch_bounds__(Threads)
    weight_grad_partial_kernel(const WeightGradParams p, const T* __restrict__ x, const T* __restrict__ dy,
                               typename NumericTraits<T>::Accum* __restrict__ ws) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  static_assert(K >= 1 && M >= 1, "static kernel heights only");
  __shared__ A scratch[Threads * V];
  constexpr bool kNchw = L == Layout::NCHW;
  const int ct_log2 = p.col_threads_log2;
  const int64_t q = p.row_step;

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    A acc[K][V], acc_b[V];
    zero_sums(acc, acc_b);

    int64_t slot, c_base;
    if constexpr (kNchw) {
      const int64_t chunk = tile % p.row_chunks;
      const int64_t channel = tile / p.row_chunks;
      const int64_t u0 = chunk * p.units_per_chunk;
      const int64_t u1 = u0 + p.units_per_chunk < p.units ? u0 + p.units_per_chunk : p.units;
      const int64_t col_vecs = (p.cols + V - 1) / V;
      const int64_t n_units = u1 - u0;
      // Items in column-group-major order: Threads consecutive columns (one
      // coalesced access per warp), then the next unit, so that a thread's
      // next item is the next unit of its own column, whose halo rows it has
      // just read (L1). The last, narrower group deals its columns the same way.
      const int64_t full_groups = col_vecs / Threads;
      const int64_t full_items = full_groups * n_units * Threads;
      const int64_t last_width = col_vecs - full_groups * Threads;
      const int64_t items = n_units * col_vecs;
      for (int64_t item = threadIdx.x; item < items; item += Threads) {
        int64_t unit_in_chunk, cv;
        if (item < full_items) {
          const int64_t group = item / (n_units * Threads);
          const int64_t r = item - group * (n_units * Threads);
          unit_in_chunk = r / Threads;
          cv = group * Threads + (r - unit_in_chunk * Threads);
        } else {
          const int64_t r = item - full_items;
          unit_in_chunk = r / last_width;
          cv = full_groups * Threads + (r - unit_in_chunk * last_width);
        }
        const int64_t g_unit = u0 + unit_in_chunk;
        const int64_t j = cv * V;
        const int64_t img = g_unit / p.units_per_plane;
        const int64_t u = g_unit - img * p.units_per_plane;
        const int64_t plane = img * p.c + channel;
        const int64_t wi = j * p.stride_w - p.pad_left;
        accumulate_unit<T, R, V, K, M>(p, x + plane * p.x_plane_pitch + wi, dy + plane * p.dy_plane_pitch + j,
                                       wi >= 0 && wi < p.w, (u / q) * (R * q) + u % q, acc, acc_b);
      }
      slot = chunk;
      c_base = channel;
    } else {
      const int ct = threadIdx.x & ((1 << ct_log2) - 1);
      const int gt = threadIdx.x >> ct_log2;
      const int64_t row_threads = Threads >> ct_log2;
      const int64_t col_block = tile % p.col_blocks;
      const int64_t rest = tile / p.col_blocks;
      const int64_t chunk = rest / p.pixel_blocks;
      const int64_t pixel_block = rest % p.pixel_blocks;
      const int64_t j = ((col_block << ct_log2) + ct) * V;  // first channel of the thread
      const int64_t u0 = chunk * p.units_per_chunk;
      const int64_t u1 = u0 + p.units_per_chunk < p.units ? u0 + p.units_per_chunk : p.units;
      for (int64_t pix = 0; pix < p.pixels_per_thread && j < p.cols; ++pix) {
        const int64_t wo = (pixel_block * p.pixels_per_thread + pix) * row_threads + gt;
        if (wo >= p.out_w) break;
        const int64_t wi = wo * p.stride_w - p.pad_left;
        for (int64_t g_unit = u0; g_unit < u1; ++g_unit) {
          const int64_t img = g_unit / p.units_per_plane;
          const int64_t u = g_unit - img * p.units_per_plane;
          accumulate_unit<T, R, V, K, M>(p, x + img * p.x_plane_pitch + wi * p.c + j,
                                         dy + img * p.dy_plane_pitch + wo * p.c + j, wi >= 0 && wi < p.w,
                                         (u / q) * (R * q) + u % q, acc, acc_b);
        }
      }
      slot = chunk * p.pixel_blocks + pixel_block;
      c_base = (col_block << ct_log2) * V;
    }

    auto write = [&](int tap) {
      return [&, tap](int c_thread, int v, A sum) {
        const int64_t ch = kNchw ? c_base : c_base + int64_t(c_thread) * V + v;
        if (ch < p.c) ws[(slot * p.c + ch) * p.ws_taps + tap] = sum;
      };
    };
    block_sum_taps<A, Threads, kNchw>(p, acc, acc_b, ct_log2, scratch, write);
  }
}

/// Phase two: sums the `slots` partial sums of each (channel, tap) pair in a
/// fixed order into dw and dbias (tap ws_taps - 1, read only when dbias is
/// not null: phase one leaves it unwritten otherwise). A slot's sums lie
/// pair after pair, so a block takes kReducePairs adjacent pairs (one 32-byte
/// sector of float sums a slot) by Threads / kReducePairs slot lanes: every
/// sector it reads is used whole. A warp a pair with its lanes on 32 slots
/// (the first form) fetched a whole sector for each 4-byte sum.
inline constexpr int kReducePairs = 8;
/// Loads in flight a thread of phase two.
inline constexpr int kReduceAhead = 8;

template <class T, int Threads>
__global__ void __launch_bounds__(Threads)
    weight_grad_reduce_kernel(const typename NumericTraits<T>::Accum* __restrict__ ws, int64_t slots, int64_t c,
                              int ws_taps, T* __restrict__ dw, T* __restrict__ dbias) {
  follow_previous_grid();
  using A = typename NumericTraits<T>::Accum;
  static_assert(Threads % 32 == 0 && 32 % kReducePairs == 0, "whole warps of whole pair rows");
  constexpr int kLanes = Threads / kReducePairs, kWarps = Threads / 32, kAhead = kReduceAhead;
  __shared__ A warp_sums[kWarps][kReducePairs];
  const int col = int(threadIdx.x) % kReducePairs;
  const int lane_slot = int(threadIdx.x) / kReducePairs;
  const int64_t pairs = c * ws_taps;
  for (int64_t first = int64_t(blockIdx.x) * kReducePairs; first < pairs; first += int64_t(gridDim.x) * kReducePairs) {
    const int64_t pair = first + col;
    const int64_t ch = pair / ws_taps;
    const int tap = int(pair - ch * ws_taps);
    const bool bias = tap == ws_taps - 1;
    // kAhead sums a lane, slot s into sum (s / kLanes) % kAhead: a fixed
    // order, with kAhead loads in flight.
    A s[kAhead];
#pragma unroll
    for (int i = 0; i < kAhead; ++i) s[i] = A(0);
    if (pair < pairs && (!bias || dbias != nullptr)) {
      int64_t slot = lane_slot;
      for (; slot + (kAhead - 1) * kLanes < slots; slot += kAhead * kLanes) {
#pragma unroll
        for (int i = 0; i < kAhead; ++i) s[i] += ws[(slot + i * kLanes) * pairs + pair];
      }
#pragma unroll
      for (int i = 0; i < kAhead - 1; ++i)
        if (slot + i * kLanes < slots) s[i] += ws[(slot + i * kLanes) * pairs + pair];
    }
    // The lane's sums, the lanes of its pair in the warp, then the warps, in
    // order.
    A t = s[0];
#pragma unroll
    for (int i = 1; i < kAhead; ++i) t += s[i];
#pragma unroll
    for (int off = kReducePairs; off < 32; off <<= 1) t += __shfl_xor_sync(0xffffffffu, t, off);
    if ((threadIdx.x & 31) < kReducePairs) warp_sums[threadIdx.x / 32][col] = t;
    __syncthreads();
    if (threadIdx.x < kReducePairs && pair < pairs) {
      A sum = warp_sums[0][col];
#pragma unroll
      for (int w = 1; w < kWarps; ++w) sum += warp_sums[w][col];
      const T out = NumericTraits<T>::from_accum(sum);
      if (!bias)
        dw[ch * (ws_taps - 1) + tap] = out;
      else if (dbias != nullptr)
        dbias[ch] = out;
    }
    __syncthreads();
  }
}

}  // namespace detail
}  // namespace dwconv
