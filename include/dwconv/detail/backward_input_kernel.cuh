// dwconv: the dx kernel for strided problems. Stride-1 problems do not come
// here: their dx is a forward convolution of dy with the flipped filter and
// runs the forward kernels (backward_plan.cuh). With a stride, each dx
// element gathers the few taps whose output row and column exist; nothing is
// scattered, so every element is written once and no atomics are needed.
#pragma once

#include <cstdint>

#include "dwconv/detail/launch.cuh"
#include "dwconv/detail/shifted_vector.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// Residues of (h + pad_top) mod stride_h with a precomputed first tap;
/// larger strides find it with a short loop.
inline constexpr int kStridedDxResidues = 8;

/// Geometry of one strided dx launch, computed once on the host.
struct BackwardInputParams {
  int64_t planes;                        // NCHW: n*c; NHWC: n
  int64_t h, w, c, out_h, out_w;         // x (dx) and y (dy) sizes
  int64_t cols;                          // dx elements per row: w (NCHW) or w*c (NHWC)
  int64_t col_vecs;                      // V-element groups per dx row
  int64_t row_groups;                    // groups of kRows dx rows (polyphase: of kRows dy rows) per plane
  int64_t t_lo;                          // polyphase: dy row of dx row 0, (pad_top) / stride_h
  int64_t items;                         // planes * row_groups * col_vecs: one per thread
  int64_t dy_row_pitch, dy_plane_pitch;  // elements
  int k, stride_h, stride_w, dilation_h, pad_top, pad_left;
  int tap_step;      // stride_h / gcd(stride_h, dilation_h): taps between two that land on output rows
  int row_step;      // dilation_h / gcd(stride_h, dilation_h): output rows between those taps
  int dilation_mod;  // dilation_h % stride_h
  int residues;      // stride_h when <= kStridedDxResidues, else 0 (no table)
  // For residue r of (h + pad_top) mod stride_h: the first tap k0 with
  // k0 * dilation_h = r (mod stride_h), or -1, and (k0 * dilation_h - r) /
  // stride_h, the output rows it lies above (h + pad_top) / stride_h.
  int first_tap[kStridedDxResidues];
  int first_back[kStridedDxResidues];
};

/// Where each of V adjacent dx elements of a row reads dy along its row, or
/// -1 where no output column reads that dx column (stride or padding along
/// W), and the channel of lane 0.
template <Layout L, int V>
struct DxColumns {
  int64_t dcol[V];
  int64_t channel;
};
template <Layout L, int V>
__device__ __forceinline__ DxColumns<L, V> dx_columns(const BackwardInputParams& p, int64_t plane, int64_t j) {
  DxColumns<L, V> m;
  if constexpr (L == Layout::NCHW) {
    m.channel = plane % p.c;
    // Lane 0 divides; the others count (a 64-bit division per lane was
    // most of an fp16 item's setup: 16 of them for 8 lanes).
    const int64_t s = j + p.pad_left;  // >= 0
    int64_t col = s / p.stride_w;
    int rem = int(s - col * p.stride_w);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      m.dcol[v] = j + v < p.cols && rem == 0 && col < p.out_w ? col : -1;
      if (++rem == p.stride_w) {
        rem = 0;
        ++col;
      }
    }
  } else {
    const int64_t pixel = j / p.c;
    m.channel = j - pixel * p.c;
    const int64_t s = pixel + p.pad_left;
    const int64_t col = (s % p.stride_w == 0 && s / p.stride_w < p.out_w) ? s / p.stride_w * p.c + m.channel : -1;
#pragma unroll
    for (int v = 0; v < V; ++v) m.dcol[v] = col < 0 ? -1 : col + v;
  }
  return m;
}

/// The V lanes of dy row `row` that dx lanes read, as accumulators (zeros
/// where a lane reads nothing): one vector in NHWC, where the lanes are
/// channels of one pixel, else one element a lane.
template <class T, Layout L, int V, class A>
__device__ __forceinline__ void gather_dy(const T* __restrict__ row, const DxColumns<L, V>& m, A (&g)[V]) {
  if constexpr (L == Layout::NHWC && V > 1) {
    if (m.dcol[0] >= 0) {
      load_vector<T, V>(row + m.dcol[0], g);
    } else {
#pragma unroll
      for (int v = 0; v < V; ++v) g[v] = A(0);
    }
  } else {
#pragma unroll
    for (int v = 0; v < V; ++v) g[v] = m.dcol[v] >= 0 ? NumericTraits<T>::to_accum(row[m.dcol[v]]) : A(0);
  }
}

/// The dy elements of NCHW dx lanes at stride_w 2: the V / 2 lanes of one
/// parity read V / 2 dy elements side by side, from element `first` of dy
/// (`total` elements, a multiple of V / 2, aligned to it), into g[i] for lane
/// 2 i + parity. They come as one shifted vector, two aligned loads and a
/// funnel, instead of V / 2 2-byte loads a row (fp16/bf16 K5 s2 dx: 64 % of
/// the floor with those). Elements past a row's end are whatever lies there:
/// store_dx zeroes the lanes that read no dy column.
template <class T, int V, class A>
__device__ __forceinline__ void gather_dy_pairs(const T* __restrict__ dy, int64_t first, int64_t total, A (&g)[V / 2]) {
  constexpr int D = V / 2;
  const ShiftedVector s = shifted_vector<D>(first, total);
  const AlignedVector<T, D> lo = *reinterpret_cast<const AlignedVector<T, D>*>(dy + s.lo);
  const AlignedVector<T, D> hi = s.shift == 0 ? lo : *reinterpret_cast<const AlignedVector<T, D>*>(dy + s.hi);
  const AlignedVector<T, D> e = funnel<T, D>(lo, hi, s.shift);
#pragma unroll
  for (int i = 0; i < D; ++i) g[i] = NumericTraits<T>::to_accum(e.e[i]);
}

/// Stores V dx lanes; lanes that read no dy column are exact zeros (also
/// when a weight is not finite).
template <class T, Layout L, int V, class A>
__device__ __forceinline__ void store_dx(T* dx, const DxColumns<L, V>& m, const A (&acc)[V]) {
  A out[V];
#pragma unroll
  for (int v = 0; v < V; ++v) out[v] = m.dcol[v] >= 0 ? acc[v] : A(0);
  store_vector<T, V>(dx, out);
}

/// One thread per V adjacent dx elements of a row and kRows consecutive
/// rows: the column and index arithmetic is done once per thread, and the
/// row arithmetic steps from row to row without dividing. V > 1 needs whole
/// vectors inside a row and aligned dx (and, in NHWC, aligned dy).
template <class T, Layout L, int Threads, int V, int kRows>
__global__ void __launch_bounds__(Threads)
    backward_input_strided_kernel(const BackwardInputParams p, const T* __restrict__ dy, const T* __restrict__ w,
                                  T* __restrict__ dx) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  for (int64_t item = int64_t(blockIdx.x) * Threads + threadIdx.x; item < p.items;
       item += int64_t(gridDim.x) * Threads) {
    const int64_t cv = item % p.col_vecs;
    const int64_t rest = item / p.col_vecs;
    const int64_t h0 = (rest % p.row_groups) * kRows;
    const int64_t plane = rest / p.row_groups;
    const int64_t j = cv * V;

    const DxColumns<L, V> cols = dx_columns<L, V>(p, plane, j);
    const int64_t channel = cols.channel;
    const T* dy_plane = dy + plane * p.dy_plane_pitch;
    T* dx_row = dx + (plane * p.h + h0) * p.cols + j;

    // (h + pad_top) = q * stride_h + rem, stepped row by row.
    int64_t q = (h0 + p.pad_top) / p.stride_h;
    int rem = int((h0 + p.pad_top) - q * p.stride_h);
    for (int r = 0; r < kRows && h0 + r < p.h; ++r, dx_row += p.cols) {
      A acc[V];
#pragma unroll
      for (int v = 0; v < V; ++v) acc[v] = A(0);
      int k0 = -1, back = 0;
      if (p.residues) {
        k0 = p.first_tap[rem];
        back = p.first_back[rem];
      } else {
        for (int k = 0, m = 0; k < p.tap_step; ++k) {
          if (m == rem) {
            k0 = k;
            back = int((int64_t(k) * p.dilation_h - rem) / p.stride_h);
            break;
          }
          m += p.dilation_mod;
          if (m >= p.stride_h) m -= p.stride_h;
        }
      }
      // Taps k0, k0 + tap_step, ... read output rows q - back, q - back - row_step, ...
      int64_t ho = q - back;
      for (int k = k0; k >= 0 && k < p.k && ho >= 0; k += p.tap_step, ho -= p.row_step) {
        if (ho >= p.out_h) continue;
        A g[V];
        gather_dy<T, L, V>(dy_plane + ho * p.dy_row_pitch, cols, g);
        const A wk = L == Layout::NCHW ? Traits::to_accum(w[channel * p.k + k]) : A(0);
#pragma unroll
        for (int v = 0; v < V; ++v)
          acc[v] += (L == Layout::NCHW ? wk : Traits::to_accum(w[(channel + v) * p.k + k])) * g[v];
      }
      store_dx<T, L, V>(dx_row, cols, acc);
      if (++rem == p.stride_h) {
        rem = 0;
        ++q;
      }
    }
  }
}

/// Blocks of the paired polyphase kernel a multiprocessor must hold: with
/// only its live lanes summed, 4 blocks of 256 fit 64 registers a thread
/// without spills at K <= 5 (fp16 K5: 74 unbounded, 3 blocks), and the
/// latency-bound kernel gained from the fourth (H100, 2-byte NCHW K5 s2 dx,
/// `2026-11-26-h100-b34-ab.txt`: fp16 / bf16 78.5 / 78.3 -> 85.6 / 85.6 %,
/// against 80.5 / 80.4 % at 3 blocks). From K = 7 the bound spills (ptxas,
/// sm_90, fp16: K7 124 bytes, K15 120, K31 1116), as it did on the kernel
/// that summed every lane (b15.1: 312 bytes at K5, -16 points): 0, ptxas
/// chooses.
template <int K>
inline constexpr int kPairedDyMinBlocks = K <= 5 ? 4 : 0;

/// Strided dx by residue (polyphase) for stride_h == S and dilation 1, K
/// static: the dx rows h with (h + pad_top) = S t + rho take the taps k =
/// rho + S m only, reading dy row t - m. A thread owns the S R dx rows of R
/// consecutive t (every residue) and V lanes, and walks the R + ceil(K / S)
/// - 1 dy rows they read once each, in a register window as the forward's:
/// the gather kernel above loads each dy row once per dx row that reads it.
/// A row's sums start at its first tap and leave at its last, so registers
/// hold about S ceil(K / S) rows of sums, not S R. PairedDy: NCHW at
/// stride_w 2 with dy whole shifted vectors of V / 2 (polyphase_dy_pairs),
/// read through gather_dy_pairs; only the V / 2 lanes of one parity read dy
/// there, so only theirs are summed (lane v in sum v / 2) and the others
/// store zeros: half the multiply-adds and the sums' registers of summing
/// zeros into every lane.
template <class T, Layout L, int Threads, int V, int R, int K, int S, bool PairedDy = false>
__global__ void __launch_bounds__(Threads, PairedDy ? kPairedDyMinBlocks<K> : 0)
    backward_input_polyphase_kernel(const BackwardInputParams p, const T* __restrict__ dy, const T* __restrict__ w,
                                    T* __restrict__ dx) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  constexpr int kWLanes = L == Layout::NHWC ? V : 1;
  constexpr int kMaxTaps = (K + S - 1) / S;    // residue 0's
  constexpr int kSums = PairedDy ? V / 2 : V;  // lanes summed
  for (int64_t item = int64_t(blockIdx.x) * Threads + threadIdx.x; item < p.items;
       item += int64_t(gridDim.x) * Threads) {
    const int64_t cv = item % p.col_vecs;
    const int64_t rest = item / p.col_vecs;
    const int64_t t0 = p.t_lo + (rest % p.row_groups) * R;
    const int64_t plane = rest / p.row_groups;
    const int64_t j = cv * V;

    const DxColumns<L, V> cols = dx_columns<L, V>(p, plane, j);
    A wr[K][kWLanes];
#pragma unroll
    for (int k = 0; k < K; ++k)
#pragma unroll
      for (int v = 0; v < kWLanes; ++v) wr[k][v] = Traits::to_accum(w[(cols.channel + v) * K + k]);
    const T* dy_plane = dy + plane * p.dy_plane_pitch;
    T* dx_col = dx + plane * p.h * p.cols + j;
    // PairedDy: the first dy element a lane reads, column j / 2 + ceil(pad_left / 2) of the plane's row 0.
    const int64_t dy_first = plane * p.dy_plane_pitch + j / 2 + (p.pad_left + 1) / 2;
    // dx row of (t0 + r, rho); rows outside [0, h) belong to no thread.
    auto store = [&](int r, int rho, const A(&acc)[kSums]) {
      const int64_t h = (t0 + r) * S + rho - p.pad_top;
      if (h >= 0 && h < p.h) {
        A out[V];
#pragma unroll
        for (int v = 0; v < V; ++v) out[v] = acc[PairedDy ? v / 2 : v];
        store_dx<T, L, V>(dx_col + h * p.cols, cols, out);
      }
    };

    A acc[S][R][kSums];
    // Window row i is dy row t0 - (kMaxTaps - 1) + i; tap m of row (r, rho)
    // reads window row r + kMaxTaps - 1 - m, so the last tap (m = 0) comes last.
#pragma unroll
    for (int i = 0; i < R + kMaxTaps - 1; ++i) {
      const int64_t ho = t0 - (kMaxTaps - 1) + i;
      A g[kSums];
      if (ho >= 0 && ho < p.out_h) {
        if constexpr (PairedDy)
          gather_dy_pairs<T, V>(dy, dy_first + ho * p.dy_row_pitch, p.planes * p.dy_plane_pitch, g);
        else
          gather_dy<T, L, V>(dy_plane + ho * p.dy_row_pitch, cols, g);
      } else {
#pragma unroll
        for (int v = 0; v < kSums; ++v) g[v] = A(0);
      }
#pragma unroll
      for (int rho = 0; rho < S; ++rho) {
        const int taps = (K - rho + S - 1) / S;
        if (taps == 0) {  // K < S: this residue reads nothing
          const int r = i - (kMaxTaps - 1);
          if (r >= 0 && r < R) {
            A zero[kSums] = {};
            store(r, rho, zero);
          }
        }
#pragma unroll
        for (int m = 0; m < kMaxTaps; ++m) {  // a static bound: taps is one only once rho is unrolled
          const int r = i - (kMaxTaps - 1) + m;
          if (m < taps && r >= 0 && r < R) {
            const int k = rho + S * m;
#pragma unroll
            for (int v = 0; v < kSums; ++v)
              acc[rho][r][v] = wr[k][v % kWLanes] * g[v] + (m == taps - 1 ? A(0) : acc[rho][r][v]);
            if (m == 0) store(r, rho, acc[rho][r]);
          }
        }
      }
    }
  }
}

}  // namespace detail
}  // namespace dwconv
