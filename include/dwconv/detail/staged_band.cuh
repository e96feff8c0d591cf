// dwconv: bands of rows staged in shared memory. For the NCHW kernels whose
// rows 16-byte vectors cannot walk (padding or stride along W, widths off
// the vector), a band of whole rows is one contiguous range of a plane, so
// it moves with aligned vectors whatever the row geometry (stage_band). For
// NHWC dw, a box of pixels by channels per row (stage_box).
#pragma once

#include <cstdint>

#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// Zeroes shared elements [begin, end) of `s` (aligned to V elements) with
/// the block's threads: V-element stores for the aligned body. One element
/// a store took a third of a 2-byte 56x56 tile's staging, whose band has
/// 8-16 padding rows (`2026-11-26-h100-f17.3-dw-sass.txt`).
template <class T, int V>
__device__ __forceinline__ void zero_range(T* s, int begin, int end) {
  using A = typename NumericTraits<T>::Accum;
  using Vec = AlignedVector<T, V>;
  const T zero = NumericTraits<T>::from_accum(A(0));
  const int a = (begin + V - 1) / V, b = end / V;  // whole vectors [a, b)
  if (a >= b) {
    for (int i = begin + int(threadIdx.x); i < end; i += blockDim.x) s[i] = zero;
    return;
  }
  Vec zv;
#pragma unroll
  for (int v = 0; v < V; ++v) zv.e[v] = zero;
  Vec* sv = reinterpret_cast<Vec*>(s);
  for (int i = a + int(threadIdx.x); i < b; i += blockDim.x) sv[i] = zv;
  const int head = a * V - begin;
  for (int i = int(threadIdx.x); i < head + (end - b * V); i += blockDim.x)
    s[i < head ? begin + i : b * V + i - head] = zero;
}

/// Starts copying rows [row0, row0 + rows) of a plane of `h` rows of `w`
/// elements into shared memory at `s`, with the rows outside [0, h) zero-
/// filled, and returns the shared index of band row 0 (below 2 * V). The
/// copies are asynchronous: call copy_async_wait_all() and __syncthreads()
/// before reading. `s` needs rows * w + 2 * V elements.
template <class T, int V>
__device__ __forceinline__ int stage_band(const T* plane, int64_t h, int w, int64_t row0, int rows, T* s) {
  const int64_t last = row0 + rows - 1;
  const int64_t a = row0 > 0 ? row0 : 0;          // first row inside the plane
  const int64_t b = last < h - 1 ? last : h - 1;  // last row inside the plane
  int lead = 0, len = 0;                          // band elements before row a; elements copied
  if (b >= a) {
    lead = int(a - row0) * w;
    len = int(b - a + 1) * w;
  }
  T* g = const_cast<T*>(plane) + (len > 0 ? a : 0) * w;
  const int phase = vector_phase<T, V>(g);
  // g's element lands at s_copy + phase: aligned like g, `lead` elements of
  // room before it.
  const int s_copy = (lead + V - 1) / V * V;
  const int base = s_copy + phase - lead;
  block_copy<true, T, V>(g, s + s_copy, len, phase);
  zero_range<T, V>(s, base, s_copy + phase);
  zero_range<T, V>(s, s_copy + phase + len, base + rows * w);
  return base;
}

/// Starts copying rows [row0, row0 + rows) of a plane as stage_band does,
/// but with band row 0 at shared index `base`, which the caller picks:
/// base in [V, 2 V) and congruent mod V to row0's first element
/// (vector_phase(plane) + row0 * w; band_ring_base), so that every band of
/// a plane whose first rows differ by a multiple of V / gcd(w, V) lands at
/// the same base whatever rows lie in the plane or its padding. `s` needs
/// base + rows * w elements.
template <class T, int V>
__device__ __forceinline__ void stage_band_at(const T* plane, int64_t h, int w, int64_t row0, int rows, T* s,
                                              int base) {
  const int64_t last = row0 + rows - 1;
  const int64_t a = row0 > 0 ? row0 : 0;
  const int64_t b = last < h - 1 ? last : h - 1;
  int lead = 0, len = 0;
  if (b >= a) {
    lead = int(a - row0) * w;
    len = int(b - a + 1) * w;
  }
  T* g = const_cast<T*>(plane) + (len > 0 ? a : 0) * w;
  const int phase = vector_phase<T, V>(g);
  // g's element lands at base + lead: aligned like g, its vector's start at
  // base + lead - phase >= 0 (a multiple of V where len > 0).
  block_copy<true, T, V>(g, s + base + lead - phase, len, phase);
  zero_range<T, V>(s, base, base + lead);
  zero_range<T, V>(s, base + lead + len, base + rows * w);
}

/// The shared base of stage_band_at for a plane's bands that start at row
/// row0 (mod V / gcd(w, V)).
template <class T, int V>
__device__ __forceinline__ int band_ring_base(const T* plane, int w, int64_t row0) {
  const int64_t r = (int64_t(vector_phase<T, V>(plane)) + row0 * w) % V;
  return V + int(r < 0 ? r + V : r);
}

/// A thread's walk over a grid of `vecs` columns (consecutive threads on
/// consecutive columns): its first cell and the block size as whole rows
/// plus a remainder. Made once per kernel where the grid's width is: its two
/// divisions by a runtime width were ~45 instructions a call, a tenth of a
/// 2-byte 56x56 dw tile's instructions per plane (ncu source counters on
/// the H100, `2026-11-26-h100-b18.4-sass.txt`).
struct BoxWalk {
  int r, c;                  // the thread's first cell
  int step_rows, step_vecs;  // blockDim.x = step_rows * vecs + step_vecs
  int vecs;
};

__device__ __forceinline__ BoxWalk box_walk(int vecs) {
  BoxWalk w;
  w.vecs = vecs;
  w.step_rows = int(blockDim.x) / vecs;
  w.step_vecs = int(blockDim.x) - w.step_rows * vecs;
  w.r = int(threadIdx.x) / vecs;
  w.c = int(threadIdx.x) - w.r * vecs;
  return w;
}

/// Calls f(r, c) for this thread's share of a rows x walk.vecs grid. The
/// walk adds the block size as whole rows plus a remainder: a box copy's
/// per-vector divisions and 64-bit address math doubled the instructions of
/// an NHWC dw piece, and a division per vector where rows are shorter than
/// the block took a third of the 2-byte NCHW tensor-core tile's
/// instructions (ncu source counters on the H100,
/// `2026-11-26-h100-f17-sass.txt`).
template <class F>
__device__ __forceinline__ void for_each_box_vector(const BoxWalk& walk, int rows, F&& f) {
  int r = walk.r, c = walk.c;
  while (r < rows) {
    f(r, c);
    r += walk.step_rows;
    c += walk.step_vecs;
    if (c >= walk.vecs) {
      c -= walk.vecs;
      ++r;
    }
  }
}

template <class F>
__device__ __forceinline__ void for_each_box_vector(int rows, int vecs, F&& f) {
  for_each_box_vector(box_walk(vecs), rows, f);
}

/// Starts copying a box of a pitched array of `h` rows of `row_len` elements
/// (`pitch` apart) into shared memory at `s`: rows [row0, row0 + rows) by
/// elements [col0, col0 + len), `len` elements a shared row, with rows
/// outside [0, h) and elements outside [0, row_len) zero-filled. V divides
/// col0, len, row_len and pitch, and `array` is aligned to V elements, so
/// each vector lies wholly inside or wholly outside (NHWC: a row is pixels
/// of C channels, V | C). Asynchronous as stage_band.
/// `walk`: box_walk(len / V), where the caller makes it once.
template <class T, int V>
__device__ __forceinline__ void stage_box(const T* array, int64_t h, int64_t row_len, int64_t pitch, int64_t row0,
                                          int64_t col0, int rows, int len, T* s, const BoxWalk& walk) {
  using A = typename NumericTraits<T>::Accum;
  using Vec = AlignedVector<T, V>;
  Vec zero;
#pragma unroll
  for (int v = 0; v < V; ++v) zero.e[v] = NumericTraits<T>::from_accum(A(0));
  const int vecs = len / V;
  // The box's rows and vectors that lie inside the array, the same for
  // every vector: two compares each, no 64-bit math per vector.
  const int r_lo = int(row0 < 0 ? (-row0 < rows ? -row0 : rows) : 0);
  const int r_hi = int(h - row0 < rows ? (h - row0 > 0 ? h - row0 : 0) : rows);
  const int64_t first = col0 < 0 ? -col0 / V : 0;
  const int64_t end = (row_len - col0) / V;
  const int c_lo = int(first < vecs ? first : vecs);
  const int c_hi = int(end < 0 ? 0 : (end < vecs ? end : vecs));
  // Element (row0, col0): only ever offset to in-bounds rows and vectors.
  const Vec* g = reinterpret_cast<const Vec*>(array + row0 * pitch + col0);
  const int64_t g_pitch = pitch / V;
  Vec* sv = reinterpret_cast<Vec*>(s);
  // for_each_box_vector's walk with the shared index and the 64-bit global
  // offset carried along, not rebuilt per vector: the rebuild and four
  // bounds compares took 29 instructions a vector, 28 % of the dw tensor-
  // core tile's at K = 31 (ncu source counters on the H100,
  // `2026-11-26-h100-b18.2-sass.txt`).
  const int step_rows = walk.step_rows, step_vecs = walk.step_vecs;
  int r = walk.r, c = walk.c;
  int64_t off = r * g_pitch + c;
  const int64_t off_step = step_rows * g_pitch + step_vecs, off_wrap = g_pitch - vecs;
  const unsigned r_span = unsigned(r_hi - r_lo), c_span = unsigned(c_hi - c_lo);
  for (int i = int(threadIdx.x); i < rows * vecs; i += int(blockDim.x)) {
    if (unsigned(r - r_lo) < r_span && unsigned(c - c_lo) < c_span)
      copy_async<int(sizeof(Vec))>(sv + i, g + off);
    else
      sv[i] = zero;
    r += step_rows;
    c += step_vecs;
    off += off_step;
    if (c >= vecs) {
      c -= vecs;
      ++r;
      off += off_wrap;
    }
  }
}

template <class T, int V>
__device__ __forceinline__ void stage_box(const T* array, int64_t h, int64_t row_len, int64_t pitch, int64_t row0,
                                          int64_t col0, int rows, int len, T* s) {
  stage_box<T, V>(array, h, row_len, pitch, row0, col0, rows, len, s, box_walk(len / V));
}

/// Copies `rows` rows of `len` elements from shared memory (rows `s_pitch`
/// apart) to global memory at `g` (rows `g_pitch` apart) in V-element
/// vectors: V divides len, s_pitch and g_pitch, and `g` is aligned to V
/// elements.
template <class T, int V>
__device__ __forceinline__ void store_box(const T* s, int s_pitch, T* g, int64_t g_pitch, int rows, int len) {
  using Vec = AlignedVector<T, V>;
  for_each_box_vector(rows, len / V, [&](int r, int c) {
    reinterpret_cast<Vec*>(g + r * g_pitch)[c] = reinterpret_cast<const Vec*>(s + r * s_pitch)[c];
  });
}

/// Copies `rows` rows of `len` elements from shared memory to global memory
/// at `g` (rows `g_pitch` apart), where row r's elements start at shared
/// index phase + r * s_pitch, congruent mod V to their global index
/// (s_pitch = g_pitch mod V, phase = vector_phase(g)): each row goes out as
/// aligned V-element vectors, element by element only in the vectors a
/// row's ends cut. A warp a row, a lane a vector: the row's bounds once a
/// row, no per-vector divisions, and the cut vectors' predicated stores
/// beside the whole ones (a walk of (row, vector) cells with a loop for the
/// cut ones cost ~85 instructions a warp a cell, a fifth of an fp32 K = 31
/// strip tile's, ncu source counters on the H100).
template <class T, int V>
__device__ __forceinline__ void store_rows_aligned(T* g, int64_t g_pitch, const T* s, int s_pitch, int phase, int rows,
                                                   int len) {
  using Vec = AlignedVector<T, V>;
  static_assert((V & (V - 1)) == 0, "a power-of-two vector");
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, warps = int(blockDim.x) >> 5;
  const int slots = (len + 2 * V - 2) / V;  // vectors a row touches, at most, whatever its phase
  for (int j = lane; j < slots; j += 32) {
    int a = phase + warp * s_pitch;  // row r's first element in shared memory (>= 0)
    T* gr = g + warp * g_pitch;      // row r
    for (int r = warp; r < rows; r += warps, a += warps * s_pitch, gr += warps * g_pitch) {
      // The lane's vector: shared elements [e0, e0 + V), row elements
      // [o, o + V) with o = e0 - a.
      const int e0 = (a & ~(V - 1)) + j * V;
      const int o = e0 - a;
      if (o >= 0 && o + V <= len) {
        *reinterpret_cast<Vec*>(gr + o) = *reinterpret_cast<const Vec*>(s + e0);
      } else {
#pragma unroll
        for (int v = 0; v < V; ++v)
          if (unsigned(o + v) < unsigned(len)) gr[o + v] = s[e0 + v];
      }
    }
  }
}

/// Starts copying a box of a plane of `h` rows of `w` elements into shared
/// memory at `s`: rows [row0, row0 + rows) by `vecs` V-element vectors from
/// column col0, vecs * V elements a shared row, with rows outside [0, h)
/// and vectors outside [0, w) zero-filled. V divides col0 and w, and
/// `plane` is aligned to V elements, so each vector lies wholly inside or
/// outside. Asynchronous as stage_band. A warp a row, a lane a vector: the
/// column bounds once a thread, the row bounds once a row (stage_box's walk
/// of cells cost ~28 instructions a vector).
template <class T, int V>
__device__ __forceinline__ void stage_box_rows(const T* plane, int64_t h, int w, int64_t row0, int col0, int rows,
                                               int vecs, T* s) {
  using A = typename NumericTraits<T>::Accum;
  using Vec = AlignedVector<T, V>;
  Vec zero;
#pragma unroll
  for (int v = 0; v < V; ++v) zero.e[v] = NumericTraits<T>::from_accum(A(0));
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, warps = int(blockDim.x) >> 5;
  // Rows [r_lo, r_hi) of the box lie inside the plane.
  const int r_lo = int(row0 < 0 ? (-row0 < rows ? -row0 : rows) : 0);
  const int r_hi = int(h - row0 < rows ? (h - row0 > r_lo ? h - row0 : r_lo) : rows);
  const int step = warps * vecs;  // shared vectors between a warp's rows
  const int64_t g_step = int64_t(warps) * w * int64_t(sizeof(T));
  for (int c = lane; c < vecs; c += 32) {
    const int col = col0 + c * V;
    Vec* dst = reinterpret_cast<Vec*>(s) + warp * vecs + c;
    int r = warp;
    if (col >= 0 && col < w) {
      // Zeros above the plane, copies inside it, zeros below: no bounds a row.
      for (; r < r_lo; r += warps, dst += step) *dst = zero;
      uintptr_t g = element_address(plane, (row0 + r) * w + col);
      for (; r < r_hi; r += warps, dst += step, g += uintptr_t(g_step))
        copy_async<int(sizeof(Vec))>(dst, reinterpret_cast<const void*>(g));
    }
    for (; r < rows; r += warps, dst += step) *dst = zero;
  }
}

/// The largest multiple of m (> 0) not above v, for negative v too.
__host__ __device__ inline int floor_multiple(int v, int m) { return (v >= 0 ? v / m : -((-v + m - 1) / m)) * m; }

/// Row pitch, in elements, of a shared band of rows of `len` 2-byte elements
/// that ldmatrix reads or mma fragments write in 8-row groups: room for
/// whole 16-column strips, and an odd number of 16-byte units, so the 8 rows
/// of a group fall in 8 different bank quads (a pitch of 2^n bytes puts them
/// all in one: 8-way conflicts).
__host__ __device__ inline int conflict_free_pitch(int64_t len) { return int((len + 15) / 16 * 16 + 8); }

/// Input rows a staged tile of `tile_rows` output rows reads: the band
/// stage_band copies (the plans size shared memory by it).
__host__ __device__ inline int64_t staged_band_rows(int64_t tile_rows, int stride_h, int k, int dilation_h) {
  return (tile_rows - 1) * stride_h + int64_t(k - 1) * dilation_h + 1;
}

/// Deals a staged tile's (unit, column) items to the block's threads in
/// turn (consecutive threads, consecutive columns): `units` units of R rows
/// with row step q (unit u covers rows first + r * q), `cols` columns.
/// Calls f(first, col) for this thread's items whose first row, relative to
/// the tile, is below `rows`. The walk adds the block size: no division per
/// item (ncu on the H100: the divisions and 64-bit bounds of the earlier
/// per-item math made the fp16 forward issue-bound, ~49 instructions per
/// output).
template <int Threads, int R, class F>
__device__ __forceinline__ void for_each_staged_item(int units, int q, int cols, int64_t rows, F&& f) {
  int unit = int(threadIdx.x) / cols;
  int col = int(threadIdx.x) - unit * cols;
  while (unit < units) {
    const int first = q == 1 ? unit * R : (unit / q) * (R * q) + unit % q;
    if (first < rows) f(first, col);
    col += Threads;
    while (col >= cols) {
      col -= cols;
      ++unit;
    }
  }
}

}  // namespace detail
}  // namespace dwconv
