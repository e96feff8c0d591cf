// dwconv: the forward kernels. One template serves both layouts: a "row" is
// everything at fixed (plane, h) that is contiguous in memory (NCHW: the W
// columns of one channel; NHWC: the W*C elements of one image row), and a
// thread owns V adjacent output elements of a row and R output rows.
#pragma once

#include <cstdint>

#include "dwconv/detail/launch.cuh"
#include "dwconv/detail/shifted_vector.cuh"
#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"
#include "dwconv/policy.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace detail {

/// Geometry of one launch, computed once on the host (forward_plan.cuh).
struct ForwardParams {
  int64_t planes;                           // NCHW: n*c; NHWC: n
  int64_t h, out_h;                         // input / output rows per plane
  int64_t w, c;                             // input width, channels
  int64_t cols;                             // output elements per row
  int64_t in_row_pitch, out_row_pitch;      // elements between rows
  int64_t in_plane_pitch, out_plane_pitch;  // elements between planes
  int64_t units_per_plane;                  // row units (R rows each) per plane
  int64_t row_blocks, col_blocks, tiles;    // block tiles: planes x row_blocks x col_blocks
  int k, stride_h, stride_w, dilation_h, pad_top, pad_left;
  int row_step;          // distance between a thread's consecutive output rows
  int col_threads_log2;  // log2 of the threads of a block that share a row
  int tile_rows;         // staged kernel: output rows per tile (a multiple of R * row_step)
  int smem_in_elems;     // staged kernel: shared elements for the input band
  int run_rows;          // rolling kernel: output rows a thread walks (one residue mod row_step)
  // Staged tiles in column strips (forward_strips_nchw_kernel): output
  // columns a tile (the last strip of a row may hold fewer), the shared row
  // pitches of x's box and of y's strip, in elements, and the consecutive
  // tiles a block takes.
  int strip_cols, strip_in_pitch, strip_out_pitch, strip_run;
  // Reads the taps of w in reverse order: backward_input runs a stride-1 dx
  // as this forward with the flipped filter (backward_input_plan.cuh).
  bool flip_taps;
};

/// Index in w's row of tap k: reversed when the launch flips the filter.
__device__ __forceinline__ int tap_index(const ForwardParams& p, int k) { return p.flip_taps ? p.k - 1 - k : k; }

// Where a thread's first output element reads its input, and which channel
// its lane 0 belongs to.
template <Layout L>
struct ColumnMap {
  int64_t in_offset;  // within an input row
  int64_t channel;
  bool in_bounds;  // false: the column lies in the left/right zero padding
};

template <Layout L>
__device__ __forceinline__ ColumnMap<L> map_column(const ForwardParams& p, int64_t plane, int64_t j) {
  ColumnMap<L> m;
  if constexpr (L == Layout::NCHW) {
    const int64_t wi = j * p.stride_w - p.pad_left;
    m.in_offset = wi;
    m.channel = plane % p.c;
    m.in_bounds = wi >= 0 && wi < p.w;
  } else {
    const int64_t wo = j / p.c;
    const int64_t ch = j - wo * p.c;
    const int64_t wi = wo * p.stride_w - p.pad_left;
    m.in_offset = wi * p.c + ch;
    m.channel = ch;
    m.in_bounds = wi >= 0 && wi < p.w;
  }
  return m;
}

/// Where a thread works in block tile `tile` (planes x row_blocks x
/// col_blocks, column blocks fastest): its plane, its first output element j
/// of the row, and its row unit in the plane. False where it lies past the
/// row or the plane's last unit.
struct ThreadTile {
  int64_t plane, j, unit;
};
template <int Threads, int V>
__device__ __forceinline__ bool thread_tile(const ForwardParams& p, int64_t tile, ThreadTile& t) {
  const int col_thread = threadIdx.x & ((1 << p.col_threads_log2) - 1);
  const int unit_thread = threadIdx.x >> p.col_threads_log2;
  const int64_t col_block = tile % p.col_blocks;
  const int64_t rest = tile / p.col_blocks;
  t.plane = rest / p.row_blocks;
  t.j = ((col_block << p.col_threads_log2) + col_thread) * V;
  t.unit = (rest % p.row_blocks) * (Threads >> p.col_threads_log2) + unit_thread;
  return t.j < p.cols && t.unit < p.units_per_plane;
}

/// Weights of K taps for kWLanes consecutive channels from `channel`, as
/// accumulators: w is [C, K]. kBeforeBarrier: the loads issue here even
/// where a __syncthreads() follows (load_before_barrier).
template <class T, int K, int kWLanes, bool kBeforeBarrier = false, class A>
__device__ __forceinline__ void load_weights(const ForwardParams& p, const T* __restrict__ w, int64_t channel,
                                             A (&wr)[K][kWLanes]) {
#pragma unroll
  for (int k = 0; k < K; ++k)
#pragma unroll
    for (int v = 0; v < kWLanes; ++v) {
      const T* at = w + (channel + v) * K + tap_index(p, k);
      wr[k][v] = NumericTraits<T>::to_accum(kBeforeBarrier ? load_before_barrier(at) : *at);
    }
}

/// The register window shared by every static-K kernel: R output rows of V
/// lanes, fed by (R-1)*M + K input rows. load(i, xv) fills window row i (zeros
/// where it lies in the padding); store(r, acc) takes finished row r. Lane v
/// uses weight lane v % kWLanes.
///
/// kEarlyStores: a row's sums start at its first tap (bias + w0 x, the same
/// rounding) and are stored at its last, so only the rows whose taps span
/// the current input row hold sums (about K / M, not R); else every row
/// starts at the bias and all are stored after the last input row, which
/// lets ptxas issue all the window's loads ahead. Which one runs is a
/// measured table fact (kWindowEarlyStores, policy.cuh).
template <class A, int R, int V, int K, int M, int kWLanes, bool kEarlyStores, class Load, class Store>
__device__ __forceinline__ void window_rows(const A (&wr)[K][kWLanes], const A (&b)[kWLanes], Load&& load,
                                            Store&& store) {
  A acc[R][V];
  if constexpr (!kEarlyStores) {
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int v = 0; v < V; ++v) acc[r][v] = b[v % kWLanes];
  }
#pragma unroll
  for (int i = 0; i < (R - 1) * M + K; ++i) {
    A xv[V];
    load(i, xv);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int k = i - r * M;
      if (k >= 0 && k < K) {
#pragma unroll
        for (int v = 0; v < V; ++v)
          acc[r][v] = wr[k][v % kWLanes] * xv[v] + (kEarlyStores && k == 0 ? b[v % kWLanes] : acc[r][v]);
        if (kEarlyStores && k == K - 1) store(r, acc[r]);
      }
    }
  }
  if constexpr (!kEarlyStores) {
#pragma unroll
    for (int r = 0; r < R; ++r) store(r, acc[r]);
  }
}

/// Forward kernel. T: element type; L: layout; R output rows and V output
/// elements per thread; K: kernel height, or 0 for the runtime-K path; M:
/// (stride_h / gcd(stride_h, dilation_h)), the window step between a
/// thread's output rows in units of dilation_h (used when K > 0). Shift > 0
/// (NCHW, K > 0): x's rows and y's are whole vectors but a thread's x
/// columns sit at phase Shift of the vector (fixed_x_shift), read as the
/// two aligned vectors around them, each wholly inside the row or out, and
/// a funnel by a constant: no selects and no masks.
///
/// With K > 0, input row hi0 + i * dilation_h (i < (R-1)*M + K) is loaded once
/// and feeds every (row r, tap k) with r*M + k == i. With K == 0 each row
/// loops over the taps that land inside the input.
template <class T, Layout L, int Threads, int R, int V, int K, int M, int Shift = 0>
__global__ void __launch_bounds__(Threads)
    forward_kernel(const ForwardParams p, const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                   T* __restrict__ y) {
  follow_previous_grid();
  using Traits = NumericTraits<T>;
  using A = typename Traits::Accum;
  // In NHWC every vector lane is a channel of its own; in NCHW a row is one
  // channel.
  constexpr int kWLanes = L == Layout::NHWC ? V : 1;
  static_assert(K >= 0 && (K == 0 || M >= 1), "static kernels need a window step");
  static_assert(Shift == 0 || (L == Layout::NCHW && K > 0 && Shift > 0 && Shift < V), "a phase inside the vector");

  for (int64_t tile = blockIdx.x; tile < p.tiles; tile += gridDim.x) {
    ThreadTile tt;
    if (!thread_tile<Threads, V>(p, tile, tt)) continue;
    const int64_t plane = tt.plane, j = tt.j, unit = tt.unit;
    const int64_t q = p.row_step;
    const int64_t ho0 = (unit / q) * (R * q) + unit % q;

    const ColumnMap<L> col = map_column<L>(p, plane, j);
    const T* x_col = x + plane * p.in_plane_pitch + col.in_offset;
    T* y_col = y + plane * p.out_plane_pitch + j;
    const int64_t hi0 = ho0 * p.stride_h - p.pad_top;

    A b[kWLanes];
#pragma unroll
    for (int v = 0; v < kWLanes; ++v) b[v] = bias ? Traits::to_accum(bias[col.channel + v]) : A(0);

    if constexpr (K > 0) {
      A wr[K][kWLanes];
      load_weights<T, K, kWLanes>(p, w, col.channel, wr);
      window_rows<A, R, V, K, M, kWLanes, kWindowEarlyStores<T, K, L, M>>(
          wr, b,
          [&](int i, A(&xv)[V]) {
            const int64_t hi = hi0 + int64_t(i) * p.dilation_h;
            if constexpr (Shift > 0) {
              using Vec = AlignedVector<T, V>;
              const int64_t lo_col = col.in_offset - Shift;
              const bool row_in = hi >= 0 && hi < p.h;
              const uintptr_t at = element_address(x, plane * p.in_plane_pitch + lo_col + hi * p.in_row_pitch);
              const Vec lo = load_global_if<Vec>(at, row_in && lo_col >= 0 && lo_col < p.w);
              const Vec up = load_global_if<Vec>(at + V * sizeof(T), row_in && lo_col + V >= 0 && lo_col + V < p.w);
              const Vec vals = funnel<T, V>(lo, up, Shift);
#pragma unroll
              for (int v = 0; v < V; ++v) xv[v] = Traits::to_accum(vals.e[v]);
            } else if (col.in_bounds && hi >= 0 && hi < p.h) {
              load_vector<T, V>(x_col + hi * p.in_row_pitch, xv);
            } else {
#pragma unroll
              for (int v = 0; v < V; ++v) xv[v] = A(0);
            }
          },
          [&](int r, const A(&acc)[V]) {
            const int64_t ho = ho0 + r * q;
            if (ho < p.out_h) store_vector<T, V>(y_col + ho * p.out_row_pitch, acc);
          });
    } else {
      const int64_t dh = p.dilation_h;
      for (int r = 0; r < R; ++r) {
        const int64_t ho = ho0 + r;  // the runtime-K path walks consecutive rows
        if (ho >= p.out_h) break;
        A acc[V];
#pragma unroll
        for (int v = 0; v < V; ++v) acc[v] = b[v % kWLanes];
        const int64_t base = ho * p.stride_h - p.pad_top;
        // Only the taps whose row lies inside the input: K may be huge.
        const int64_t k_lo = base < 0 ? (-base + dh - 1) / dh : 0;
        const int64_t last = p.h - 1 - base;
        const int64_t k_hi = last < 0 ? -1 : (last / dh < p.k - 1 ? last / dh : p.k - 1);
        if (col.in_bounds) {
          for (int64_t k = k_lo; k <= k_hi; ++k) {
            A xv[V];
            load_vector<T, V>(x_col + (base + k * dh) * p.in_row_pitch, xv);
#pragma unroll
            for (int v = 0; v < V; ++v)
              acc[v] += Traits::to_accum(w[(col.channel + v % kWLanes) * p.k + tap_index(p, int(k))]) * xv[v];
          }
        }
        store_vector<T, V>(y_col + ho * p.out_row_pitch, acc);
      }
    }
  }
}

}  // namespace detail
}  // namespace dwconv
