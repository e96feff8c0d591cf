// dwconv: the dw / dbias phase-one kernel for rows at stride_h 1, each
// thread walking long runs of rows. A thread owns V lanes of one column (NHWC:
// V channels of one output pixel; NCHW: V adjacent output columns of one
// image's plane) and, down a run, adds dy[t] * x[t + k] for every tap k with
// the last K input rows converted in registers and the next U rows of x and
// dy in flight: each row is loaded once a run. The register kernel
// (weight_grad_partial_kernel) loads (R - 1) M + K input rows for R dy rows
// and waits on each unit's loads (fp16 K = 9: 158 registers, 18.75 %
// occupancy, latency-bound under ncu); the staged tile
// (weight_grad_staged_kernel) copies every byte through shared memory and
// waits on each piece's band before its sums.
//
// Balance: the grid is one wave of resident blocks, each taking an equal
// share of the rows (NHWC: of all (block of (image, pixel) slots, row) rows;
// NCHW: of one channel's (block of (image, column) slots, row) rows,
// row_chunks blocks a channel), whole columns side by side first, cut into
// runs where a residue of a column ends; equal tiles in a grid of a few
// waves left the last wave part-empty.
#pragma once

#include <cstdint>
#include <type_traits>

#include "dwconv/detail/backward_weight_kernel.cuh"
#include "dwconv/detail/rolling_steps.cuh"
#include "dwconv/detail/shifted_vector.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// Where a block's share of rows starts a run: the pixel-block column
/// `column` (image * pixel_blocks + pixel block) and the first output row
/// ho0 of the run, which walks rows ho0, ho0 + q, ... (q = dilation_h: the
/// rows whose taps meet the same input rows) for `rows` rows, at most to the
/// end of its residue or of the share.
struct RollingRun {
  int64_t column, ho0;
  int64_t rows;
};

/// Row g of the flattened (column, residue, row) order, and the run from it
/// up to `end`. Residues r < out_h % q hold one row more than the others.
__host__ __device__ inline RollingRun rolling_run(int64_t g, int64_t end, int64_t out_h, int q) {
  RollingRun run;
  run.column = g / out_h;
  const int64_t off = g - run.column * out_h;
  const int64_t small = out_h / q, rem = out_h - small * q, big = small + (rem > 0 ? 1 : 0);
  int64_t residue, t, len;
  if (off < rem * big) {
    residue = off / big;
    t = off - residue * big;
    len = big;
  } else {
    const int64_t o = off - rem * big;
    residue = rem + o / small;
    t = o - (residue - rem) * small;
    len = small;
  }
  run.ho0 = residue + t * q;
  run.rows = len - t < end - g ? len - t : end - g;
  return run;
}

/// Where a thread's V output columns [wo, wo + V) of an NCHW run (output
/// row ho0 on, q rows a step, `steps` input rows) come from when read as
/// shifted vectors: dy from element offset dy_off, dy_row_pitch * q a step;
/// x through xo, element offsets of the x column wo - pad_left unclamped;
/// the lanes that count, dy_mask (inside the row: a row's last vector may
/// run into the next) and x_mask (inside the row and the input).
struct ShiftedColumn {
  RollingColumn<int64_t> xo;
  int64_t dy_off;
  unsigned dy_mask, x_mask;
};

template <int V>
DWCONV_HD_INLINE ShiftedColumn shifted_column(const WeightGradParams& p, int64_t plane, int64_t wo, int64_t ho0,
                                              int steps) {
  ShiftedColumn c;
  const int64_t wi = wo - p.pad_left;
  c.xo = rolling_column(plane * p.x_plane_pitch + wi, p.x_row_pitch, ho0 - p.pad_top, p.h, p.row_step, steps, true);
  c.dy_off = plane * p.dy_plane_pitch + ho0 * p.dy_row_pitch + wo;
  c.dy_mask = c.x_mask = 0;
  for (int v = 0; v < V; ++v) {
    const bool in_row = wo + v < p.out_w;
    c.dy_mask |= unsigned(in_row) << v;
    c.x_mask |= unsigned(in_row && wi + v >= 0 && wi + v < p.w) << v;
  }
  return c;
}

/// How the NCHW rolling dw kernel reads a thread's x columns, which lie
/// pad_left elements off its dy columns (weight_grad_rolling_kernel's Shift):
/// 0: both as aligned vectors (pad_left a multiple of V); S in [1, V): x at
/// the fixed phase S of every row, as the two aligned vectors around it and a
/// funnel by a constant (no selects), dy aligned (x's and dy's rows whole
/// vectors long); kAnyShift: both at any phase per row (shifted_column).
inline constexpr int kAnyShift = -1;

/// Phase one over rows at stride_h 1. Threads per block; U: rows of x and of
/// dy in flight per thread; V: lanes a thread sums; K taps; Shift: above.
/// NHWC: a block's threads are 2^col_threads_log2 channel vectors (C / V of
/// them) by consecutive (image, output pixel) slots, piece_pixels (out_w)
/// pixels a row, pixel_blocks blocks of slots; block b sums rows
/// [b * rows / G, (b + 1) * rows / G) of the pixel_blocks * out_h rows into
/// workspace slot b.
/// NCHW: a block's threads take consecutive (image, column vector) slots of
/// one channel, piece_pixels column vectors a row, pixel_blocks blocks of
/// slots; block b sums channel b / row_chunks, share b % row_chunks (its
/// slot) of that channel's pixel_blocks * out_h rows. V > 1 needs rows whose
/// vectors lie wholly inside or outside x (vectorizable()).
template <class T, Layout L, int Threads, int U, int V, int K, int Shift = 0>
__global__ void __launch_bounds__(Threads)
    weight_grad_rolling_kernel(const WeightGradParams p, const T* __restrict__ x, const T* __restrict__ dy,
                               typename NumericTraits<T>::Accum* __restrict__ ws) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  using Vec = AlignedVector<T, V>;
  static_assert(K >= 1 && U >= 1, "static kernel heights only");
  constexpr bool kNchw = L == Layout::NCHW;
  static_assert(Shift == 0 || (kNchw && V > 1 && Shift >= kAnyShift && Shift < V),
                "shifted vectors are for NCHW rows off the vector");
  constexpr bool kAnyPhase = Shift == kAnyShift, kFixedShift = Shift > 0;
  // Shifted rows: a vector at an element offset off the vector, held as the
  // two aligned vectors around it (shifted_vector.cuh) until its step uses it.
  struct Pair {
    Vec lo, hi;
  };
  using XRaw = std::conditional_t<Shift != 0, Pair, Vec>;
  using DyRaw = std::conditional_t<kAnyPhase, Pair, Vec>;
  __shared__ A scratch[Threads * V];

  const int ct_log2 = p.col_threads_log2;  // NHWC
  const int ct = threadIdx.x & ((1 << ct_log2) - 1);
  const int q = p.row_step;
  const int64_t dy_step = int64_t(q) * p.dy_row_pitch;

  const int64_t channel = kNchw ? blockIdx.x / p.row_chunks : 0;
  const int64_t slot = kNchw ? blockIdx.x - channel * p.row_chunks : blockIdx.x;
  const int64_t shares = kNchw ? p.row_chunks : gridDim.x;
  // Slots (image, column vector or pixel) fit 32 bits nearly always: NCHW
  // takes a 32-bit division a run then (NHWC's 64-bit one: ptxas held 114
  // registers with the 32-bit branch, 91 without, at fp16 K = 3).
  const int64_t col_vecs = p.piece_pixels;
  const bool slots32 = p.n * col_vecs < (int64_t(1) << 31);
  A acc[K][V], acc_b[V];
  zero_sums(acc, acc_b);
  // The block's share of rows [g_begin, g_end) is walked in wave_walk's
  // order: its first `whole` rows are whole columns, column i * shares +
  // slot in round i, side by side with the other blocks' (in order, the
  // blocks at work at once sat at scattered rows: b35 in bench/NOTES.md,
  // dw +0-4 points); the rest are the share's part of the columns past the
  // rounds, in order. Mapped from the share's row g rather than walked with
  // its own state, which took ptxas 17-22 more registers a thread.
  const int64_t rows = p.pixel_blocks * p.out_h;
  const int64_t g_begin = slot * rows / shares, g_end = (slot + 1) * rows / shares;
  const int64_t whole = p.pixel_blocks / shares * p.out_h;
  for (int64_t g = g_begin; g < g_end;) {
    const int64_t o = g - g_begin;
    int64_t row, row_end;  // rolling_run's flattened rows
    if (o < whole) {
      const int64_t i = o / p.out_h, r = o - i * p.out_h;
      row = (i * shares + slot) * p.out_h + r;
      row_end = row - r + p.out_h;
    } else {
      row = whole * shares + g - (slot + 1) * whole;
      row_end = row + (g_end - g);
    }
    const RollingRun run = rolling_run(row, row_end, p.out_h, q);
    g += run.rows;
    // The thread's column: the dy and x offsets of its row 0, x at the
    // nearest inside column (rolling_column), and whether its x column lies
    // inside the input (no barrier inside the walk: idle threads skip the run).
    int64_t wi, dy_col, x_col;
    [[maybe_unused]] int64_t plane_index = 0;  // NCHW: (image, channel)
    // The thread's slot: (image, output pixel) in NHWC, (image, column
    // vector) in NCHW, consecutive slots wrapping from one image's row to the
    // next, so that only the last block of slots idles part of its threads
    // (NHWC rows of 514 pixels in blocks of 64 left 11 % of them idle).
    const int64_t s = run.column * (Threads >> ct_log2) + (threadIdx.x >> ct_log2);
    int64_t img;
    if (kNchw && slots32)
      img = int64_t(unsigned(s) / unsigned(col_vecs));
    else
      img = s / col_vecs;
    if (img >= p.n) continue;
    const int64_t wo = (s - img * col_vecs) * (kNchw ? V : 1);
    wi = wo * p.stride_w - p.pad_left;
    if constexpr (kNchw) {
      const int64_t plane = img * p.c + channel;
      dy_col = plane * p.dy_plane_pitch + wo;
      x_col = plane * p.x_plane_pitch + wi;
      plane_index = plane;
    } else {
      dy_col = img * p.dy_plane_pitch + wo * p.c + ct * V;
      x_col = img * p.x_plane_pitch + wi * p.c + ct * V;
    }
    const int outs = int(run.rows);
    // Input row u of the walk (tap k of step t is u = t + k). Loads come in
    // order of u (and of t for dy), each once: a running address a tensor
    // (RunningRows), x's rows counting inside the input (none for a column
    // in the padding), dy's inside the run.
    // A fixed Shift reads x's aligned vectors at columns wi - Shift and
    // wi - Shift + V, each wholly inside the row or wholly out (zeros).
    [[maybe_unused]] RunningRows<Vec> x_rows{}, x_hi_rows{}, dy_rows{};
    if constexpr (!kAnyPhase) {
      const InsideSteps inside = inside_steps(run.ho0 - p.pad_top, p.h, q, outs + K - 1);
      auto x_column = [&](int64_t col) -> RunningRows<Vec> {
        const bool col_in = col >= 0 && col < p.w;
        return {element_address(x, x_col - wi + col + (run.ho0 - p.pad_top) * p.x_row_pitch),
                int64_t(q) * p.x_row_pitch * int64_t(sizeof(T)),
                {col_in ? inside.lo : 0, col_in ? inside.hi : 0}};
      };
      x_rows = x_column(wi - Shift);
      if constexpr (kFixedShift) x_hi_rows = x_column(wi - Shift + V);
      dy_rows = {element_address(dy, dy_col + run.ho0 * p.dy_row_pitch), dy_step * int64_t(sizeof(T)), {0, outs}};
    }
    // Any phase: element offsets from the tensors' bases, the x column wi
    // unclamped, and masks of the lanes that count: dy's inside the row
    // (a row's last vector may run into the next), x's inside the input too.
    [[maybe_unused]] ShiftedColumn sc{};
    if constexpr (kAnyPhase) sc = shifted_column<V>(p, plane_index, wi + p.pad_left, run.ho0, outs + K - 1);
    const int64_t dy_total = p.n * p.c * p.dy_plane_pitch, x_total = p.n * p.c * p.x_plane_pitch;
    auto pair = [&](const T* base, int64_t first, int64_t total) {
      const ShiftedVector sv = shifted_vector<V>(first, total);
      return Pair{*reinterpret_cast<const Vec*>(base + sv.lo), *reinterpret_cast<const Vec*>(base + sv.hi)};
    };
    auto load_dy = [&](int t) -> DyRaw {
      if constexpr (kAnyPhase) {
        return pair(dy, sc.dy_off + (t < outs ? t : outs - 1) * dy_step, dy_total);
      } else {
        return dy_rows.next(t);
      }
    };
    auto load_x = [&](int u) -> XRaw {
      if constexpr (kAnyPhase) {
        return pair(x, sc.xo.row(u), x_total);
      } else if constexpr (kFixedShift) {
        const Vec lo = x_rows.next(u);
        return Pair{lo, x_hi_rows.next(u)};
      } else {
        return x_rows.next(u);
      }
    };
    auto to_x = [&](const XRaw& raw, int u, A(&out)[V]) {
      if constexpr (kAnyPhase) {
        const int64_t first = sc.xo.row(u);
        const Vec vals = funnel<T, V>(raw.lo, raw.hi, int(first & (V - 1)));
        const unsigned mask = sc.xo.used(u) ? sc.x_mask : 0u;
#pragma unroll
        for (int v = 0; v < V; ++v) out[v] = (mask >> v) & 1u ? Traits::to_accum(vals.e[v]) : A(0);
      } else {
        Vec vals;
        if constexpr (kFixedShift)
          vals = funnel<T, V>(raw.lo, raw.hi, Shift);
        else
          vals = raw;
#pragma unroll
        for (int v = 0; v < V; ++v) out[v] = Traits::to_accum(vals.e[v]);
      }
    };
    auto to_dy = [&](const DyRaw& raw, int t, A(&out)[V]) {
      if constexpr (kAnyPhase) {
        const int64_t first = sc.dy_off + (t < outs ? t : outs - 1) * dy_step;
        const Vec vals = funnel<T, V>(raw.lo, raw.hi, int(first & (V - 1)));
#pragma unroll
        for (int v = 0; v < V; ++v) out[v] = (sc.dy_mask >> v) & 1u ? Traits::to_accum(vals.e[v]) : A(0);
      } else {
#pragma unroll
        for (int v = 0; v < V; ++v) out[v] = Traits::to_accum(raw.e[v]);
      }
    };
    // Slot i of each ring holds the row its step will use, loaded U steps
    // ahead; xw[k] holds input row t + k of step t, as accumulators.
    DyRaw dr[U];
    XRaw xr[U], head[K > 1 ? K - 1 : 1];
#pragma unroll
    for (int i = 0; i < K - 1; ++i) head[i] = load_x(i);
#pragma unroll
    for (int i = 0; i < U; ++i) {
      dr[i] = load_dy(i);
      xr[i] = load_x(K - 1 + i);
    }
    A xw[K][V];
#pragma unroll
    for (int i = 0; i < K - 1; ++i) to_x(head[i], i, xw[i]);

    // Step t from ring slot i: its sums, then the slot's next rows.
    auto step = [&](int i, int t, bool refill) {
      A gv[V];
      to_dy(dr[i], t, gv);
      to_x(xr[i], t + K - 1, xw[K - 1]);
      if (refill) {
        dr[i] = load_dy(t + U);
        xr[i] = load_x(t + K - 1 + U);
      }
#pragma unroll
      for (int v = 0; v < V; ++v) {
        acc_b[v] += gv[v];
#pragma unroll
        for (int k = 0; k < K; ++k) acc[k][v] += gv[v] * xw[k][v];
      }
#pragma unroll
      for (int k = 0; k + 1 < K; ++k)
#pragma unroll
        for (int v = 0; v < V; ++v) xw[k][v] = xw[k + 1][v];
    };
    // Whole blocks of U steps without a branch (ring indices static), then
    // the run's last steps, each guarded: steps past the run must add
    // nothing (0 * inf would turn a sum into NaN).
    const int whole = outs - outs % U;
    for (int t0 = 0; t0 < whole; t0 += U) {
#pragma unroll
      for (int i = 0; i < U; ++i) step(i, t0 + i, true);
    }
#pragma unroll
    for (int i = 0; i + 1 < U; ++i)
      if (whole + i < outs) step(i, whole + i, false);
  }

  // NHWC: per channel, a thread's channel vector being its lane index.
  // NCHW: the whole block into its channel.
  auto write = [&](int tap) {
    return [&, tap](int c_thread, int v, A sum) {
      const int64_t ch = kNchw ? channel : int64_t(c_thread) * V + v;
      ws[(slot * p.c + ch) * p.ws_taps + tap] = sum;
    };
  };
  block_sum_taps<A, Threads, kNchw>(p, acc, acc_b, ct_log2, scratch, write);
}

}  // namespace detail
}  // namespace dwconv
