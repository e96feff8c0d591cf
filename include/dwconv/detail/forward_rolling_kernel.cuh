// dwconv: the forward kernel for tall kernels at stride 1 (and the table's
// other rolling entries, policy.cuh: 2-byte NHWC at K = 7 and 9). A thread
// owns V adjacent output elements of a row (forward_kernel.cuh's "row": NCHW
// columns of one channel, NHWC pixels by channels) and walks a long run of
// output rows, holding one accumulator row per tap: input row u of the walk
// feeds output rows u - k for every tap k, and output row t is finished
// once input row t + K - 1 is in. Each input row is loaded once per run,
// where the register window loads (R - 1 + K) rows for R outputs: at K = 31
// and R = 16, 2.9 loads an output row, and the window's loads all hoisted
// ahead held ~145 registers a thread (12 warps a multiprocessor).
#pragma once

#include <cstdint>

#include "dwconv/detail/forward_kernel.cuh"
#include "dwconv/detail/launch.cuh"
#include "dwconv/detail/rolling_steps.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// Blocks of the rolling kernel a multiprocessor must hold: 16 warps for
/// 2-byte vectors at K <= 7, whose sums, weights and ring fit 128 registers
/// a thread, where ptxas otherwise took bf16 to 136 registers, 12 warps
/// (H100, ncu in `2026-11-26-h100-f25.2-ncu.txt`: bf16 NHWC K = 7 at 80 %
/// of DRAM throughput and 17 % occupancy, fp16 at 85 % and 23 %; with the
/// bound, `-f25.3-ab.txt`: bf16 forward 88.0 -> 91.9 %, dx 89.8 -> 94.3 %).
/// At K = 9 the bound spills 56-68 bytes and lost 6-9 points. 0: ptxas
/// chooses (an explicit 1 took K = 9 from 168 to 198 registers).
template <class T, int Threads, int V, int K>
inline constexpr int kRollingMinBlocks = sizeof(T) == 2 && V > 1 && K <= 7 && Threads <= 512 ? 512 / Threads : 0;

/// Stride 1 along H only (the walk's input rows are its output rows shifted
/// by the padding); dilation d makes a run the output rows of one residue
/// mod d (p.row_step == d), p.run_rows of them. The accumulators form a
/// ring indexed by output row mod K, static because the walk is unrolled K
/// rows at a time. The first K - 1 steps also add into rows before the run
/// (discarded), which costs K (K - 1) / 2 multiply-adds a run: the plan keeps
/// runs long.
template <class T, Layout L, int Threads, int V, int K>
__global__ void __launch_bounds__(Threads, kRollingMinBlocks<T, Threads, V, K>)
    forward_rolling_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w,
                           const T* __restrict__ bias, T* __restrict__ y) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  constexpr int kWLanes = L == Layout::NHWC ? V : 1;
  static_assert(K > 0, "the rolling kernel is for static kernel heights");
  using Vec = AlignedVector<T, V>;

  const int q = p.row_step;
  // Every step checks its load and its store: blocks of K steps that
  // skipped both where they could (NHWC) were 4-5 points slower on fp32
  // K = 31 than the checked code alone (forward NHWC 81.6 -> 85.6 %, dx
  // 83.6 -> 88.9 %, f22), which has half the code to fetch.
  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    ThreadTile tt;
    if (!thread_tile<Threads, V>(p, tile, tt)) continue;
    const int64_t plane = tt.plane, j = tt.j, unit = tt.unit;
    const int64_t ho0 = (unit / q) * (int64_t(p.run_rows) * q) + unit % q;
    const int64_t left = (p.out_h - ho0 + q - 1) / q;
    const int outs = int(left < p.run_rows ? left : p.run_rows);

    const ColumnMap<L> col = map_column<L>(p, plane, j);
    const int64_t hi0 = ho0 - p.pad_top;  // input row of the run's first step
    // Steps [inside.lo, inside.hi) read rows inside the input; the others,
    // and every step of a column in the padding, read zeros.
    const int steps = outs + K - 1;
    const InsideSteps inside = col.in_bounds ? inside_steps(hi0, p.h, q, steps) : InsideSteps{0, 0};
    // The next step's input row (RunningRows) and the output row of the
    // current step (u - (K - 1)), as running byte addresses: outside
    // `inside` and the run they leave the tensors, where the predicated
    // loads and the checked stores touch nothing. Per step: one predicated
    // load, one check a store, two 64-bit adds.
    RunningRows<Vec> x_rows{element_address(x, plane * p.in_plane_pitch + col.in_offset + hi0 * p.in_row_pitch),
                            int64_t(q) * p.in_row_pitch * int64_t(sizeof(T)), inside};
    const int64_t y_step = int64_t(q) * p.out_row_pitch * int64_t(sizeof(T));
    uintptr_t ya = element_address(y, plane * p.out_plane_pitch + j + (ho0 - int64_t(K - 1) * q) * p.out_row_pitch);

    A b[kWLanes];
#pragma unroll
    for (int v = 0; v < kWLanes; ++v) b[v] = bias ? Traits::to_accum(bias[col.channel + v]) : A(0);
    if (__all_sync(__activemask(), !col.in_bounds)) {
      // Only the bias reaches a column in the left or right padding, so a
      // warp of such columns skips the walk of zeros: +2-3 points on every
      // fp32 K = 31 unit (f22.1), also dx's, which has none (why is not
      // known; ptxas's register counts moved both ways since). A warp
      // with inside columns too walks them all, its rows' stores leaving
      // together: padding lanes that stored apart from the others dropped
      // NCHW pad 15 (rows of 542, sectors shared by both) 67.8 -> 55.5 %
      // (f22.2).
      A bv[V];
#pragma unroll
      for (int v = 0; v < V; ++v) bv[v] = b[v % kWLanes];
      ya += uintptr_t(int64_t(K - 1) * y_step);
      for (int t = 0; t < outs; ++t, ya += uintptr_t(y_step)) store_global(ya, to_vector<T, V>(bv));
      continue;
    }

    // A ring of the next K rows, each loaded a whole block of K steps before
    // its use: with one load a step and its use right after, every step
    // waited out a memory latency (v9: 20-38 % of the floor at K = 31).
    Vec ring[K];
#pragma unroll
    for (int i = 0; i < K; ++i) ring[i] = x_rows.next(i);

    A wr[K][kWLanes];
    load_weights<T, K, kWLanes>(p, w, col.channel, wr);
    A acc[K][V] = {};

    // Whole blocks of K steps (the ring's and the accumulators' indices are
    // static); steps past the run read zeros and store nothing.
    for (int u0 = 0; u0 < steps; u0 += K) {
#pragma unroll
      for (int i = 0; i < K; ++i) {
        const int u = u0 + i;
        A xv[V];
#pragma unroll
        for (int v = 0; v < V; ++v) xv[v] = Traits::to_accum(ring[i].e[v]);
        ring[i] = x_rows.next(u + K);
        // Slot i starts output row u with tap 0; tap k adds into row u - k,
        // slot (i - k) mod K. Slot i + 1 then holds row u - (K - 1), done.
#pragma unroll
        for (int v = 0; v < V; ++v) acc[i][v] = b[v % kWLanes] + wr[0][v % kWLanes] * xv[v];
#pragma unroll
        for (int k = 1; k < K; ++k)
#pragma unroll
          for (int v = 0; v < V; ++v) acc[(i - k + K) % K][v] += wr[k][v % kWLanes] * xv[v];
        if (unsigned(u - (K - 1)) < unsigned(outs)) store_global(ya, to_vector<T, V>(acc[(i + 1) % K]));
        ya += y_step;
      }
    }
  }
}

}  // namespace detail
}  // namespace dwconv
