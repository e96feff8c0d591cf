// dwconv: which rows a rolling run's steps read (forward_rolling_kernel.cuh,
// weight_grad_rolling_kernel.cuh). A thread walks a column down its rows,
// step u reading input row hi0 + u * q; steps above the first and below the
// last input row, and every step of a column in the left or right padding,
// read zeros.
#pragma once

#include <cstdint>

#include "dwconv/detail/vector_access.cuh"
#include "dwconv/numeric.cuh"

namespace dwconv {
namespace detail {

/// Steps [lo, hi) of a run of `steps` steps, whose step u reads input row
/// hi0 + u * q of `h`, lie inside the input. 0 <= lo <= hi <= steps.
struct InsideSteps {
  int lo, hi;
};

__host__ __device__ inline InsideSteps inside_steps(int64_t hi0, int64_t h, int q, int steps) {
  const int64_t lo = hi0 < 0 ? (-hi0 + q - 1) / q : 0;
  const int64_t hi = (h - hi0 + q - 1) / q;
  const int l = int(lo < steps ? lo : steps);
  return {l, int(hi < l ? l : (hi < steps ? hi : steps))};
}

/// A run's loads of one tensor, in step order, one row a step: the running
/// byte address of the next step's row, `step` bytes a step, and the steps
/// [inside.lo, inside.hi) whose rows count. Other steps load nothing and
/// read zeros (load_global_if): no valid address and no select at use.
/// Replaced per-step nearest rows and selects that cost ~20-28
/// instructions a step besides the sums (f20, f20.1 in bench/NOTES.md).
template <class Vec>
struct RunningRows {
  uintptr_t at;
  int64_t step;
  InsideSteps inside;

  /// The row of step u (the next one).
  __device__ __forceinline__ Vec next(int u) {
    const Vec r = load_global_if<Vec>(at, unsigned(u - inside.lo) < unsigned(inside.hi - inside.lo));
    at += uintptr_t(step);
    return r;
  }
};

/// A run's loads through the dw kernel's shifted vectors (shifted_column,
/// weight_grad_rolling_kernel.cuh). Every step reads a valid address near its own: the
/// nearest inside row of the column (a column in the padding passes the
/// nearest inside column), so that padding lanes share their neighbours'
/// sectors rather than all reading x itself, one address for the whole GPU
/// (measured no different in b11.1, but it costs nothing here). Whether a
/// step's row counts is used(u).
template <class P>
struct RollingColumn {
  P first;             // the row of step lo (or of the nearest row, none inside)
  int64_t step;        // elements between consecutive steps' rows; 0 when none is inside
  int lo, hi;          // steps [lo, hi) read input rows
  int use_lo, use_hi;  // steps whose rows count: [lo, hi), or none for a padding column

  DWCONV_HD_INLINE P row(int u) const {
    const int j = u < lo ? 0 : (u < hi ? u - lo : hi - 1 - lo);
    return first + j * step;
  }
  DWCONV_HD_INLINE bool used(int u) const { return u >= use_lo && u < use_hi; }
};

/// `column`: row 0 of the column's plane at a valid column (the nearest
/// inside one for a padding column: in_bounds false), as a pointer or as an
/// element offset (P); hi0: the input row of step 0; `row_pitch` elements
/// between input rows, q rows a step.
template <class P>
DWCONV_HD_INLINE RollingColumn<P> rolling_column(P column, int64_t row_pitch, int64_t hi0, int64_t h, int q, int steps,
                                                 bool in_bounds) {
  const InsideSteps s = inside_steps(hi0, h, q, steps);
  RollingColumn<P> c;
  c.lo = s.lo;
  c.hi = s.hi;
  if (s.hi > s.lo) {
    c.first = column + (hi0 + int64_t(s.lo) * q) * row_pitch;
    c.step = int64_t(q) * row_pitch;
  } else {
    c.first = column + (hi0 < 0 ? 0 : h - 1) * row_pitch;
    c.step = 0;
  }
  c.use_lo = in_bounds ? s.lo : 0;
  c.use_hi = in_bounds ? s.hi : 0;
  return c;
}

}  // namespace detail
}  // namespace dwconv
