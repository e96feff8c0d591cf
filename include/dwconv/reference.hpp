// dwconv: the host reference, oracle of every test. Straight loops, sums in
// double, one rounding to T at the end.
#pragma once

#include <cstdint>

#include "dwconv/numeric.cuh"
#include "dwconv/problem.hpp"

namespace dwconv {
namespace reference {

/// Host forward: same contract as dwconv::forward() with host pointers.
/// Precondition: validate(p).ok(), and x, w, y (and bias if not null) hold
/// the problem's element counts.
template <class T>
void forward(const Problem& p, const T* x, const T* w, const T* bias, T* y) {
  using Traits = NumericTraits<T>;
  const int64_t ho_n = p.out_h(), wo_n = p.out_w();
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t c = 0; c < p.c; ++c)
      for (int64_t ho = 0; ho < ho_n; ++ho)
        for (int64_t wo = 0; wo < wo_n; ++wo) {
          double acc = bias ? double(Traits::to_accum(bias[c])) : 0.0;
          const int64_t wi = wo * p.stride_w - p.pad_left;
          if (wi >= 0 && wi < p.w) {
            for (int k = 0; k < p.k; ++k) {
              const int64_t hi = ho * p.stride_h - p.pad_top + int64_t(k) * p.dilation_h;
              if (hi < 0 || hi >= p.h) continue;
              acc += double(Traits::to_accum(w[c * p.k + k])) *
                     double(Traits::to_accum(x[element_offset(p.layout, n, c, hi, wi, p.c, p.h, p.w)]));
            }
          }
          y[element_offset(p.layout, n, c, ho, wo, p.c, ho_n, wo_n)] = Traits::from_double(acc);
        }
}

}  // namespace reference
}  // namespace dwconv
