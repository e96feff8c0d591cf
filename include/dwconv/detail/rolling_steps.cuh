// dwconv: which steps of a rolling run read real input rows. Both rolling
// kernels (forward_rolling_kernel.cuh, weight_grad_rolling_kernel.cuh) walk
// a column down its rows, step u reading input row hi0 + u * q; the steps
// before the first and after the last input row read zeros.
#pragma once

#include <cstdint>

namespace dwconv {
namespace detail {

/// Steps [lo, hi) of a run of `steps` steps, whose step u reads input row
/// hi0 + u * q of `h`, lie inside the input; none when the column itself is
/// outside it (in_bounds false). 0 <= lo <= hi <= steps.
struct InsideSteps {
  int lo, hi;
};

__host__ __device__ inline InsideSteps inside_steps(int64_t hi0, int64_t h, int q, int steps, bool in_bounds) {
  if (!in_bounds) return {0, 0};
  const int64_t lo = hi0 < 0 ? (-hi0 + q - 1) / q : 0;
  const int64_t hi = (h - hi0 + q - 1) / q;
  const int l = int(lo < steps ? lo : steps);
  return {l, int(hi < l ? l : (hi < steps ? hi : steps))};
}

}  // namespace detail
}  // namespace dwconv
