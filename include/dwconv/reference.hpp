// dwconv: the host reference, oracle of every test: forward and both
// gradients. Straight loops, sums in double, one rounding to T at the end.
#pragma once

#include <cstdint>
#include <vector>

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

/// Host gradient with respect to x: dx = d<y, dy>/dx for y = forward(x).
/// dy: [N, C, Ho, Wo] (or NHWC), w: [C, K], dx: x's shape; every element of dx
/// is written (zero where no output reads it). Precondition: validate(p).ok().
template <class T>
void backward_input(const Problem& p, const T* dy, const T* w, T* dx) {
  using Traits = NumericTraits<T>;
  const int64_t ho_n = p.out_h(), wo_n = p.out_w();
  std::vector<double> acc(size_t(p.x_elements()), 0.0);
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t c = 0; c < p.c; ++c)
      for (int64_t ho = 0; ho < ho_n; ++ho)
        for (int64_t wo = 0; wo < wo_n; ++wo) {
          const int64_t wi = wo * p.stride_w - p.pad_left;
          if (wi < 0 || wi >= p.w) continue;
          const double g = Traits::to_accum(dy[element_offset(p.layout, n, c, ho, wo, p.c, ho_n, wo_n)]);
          for (int k = 0; k < p.k; ++k) {
            const int64_t hi = ho * p.stride_h - p.pad_top + int64_t(k) * p.dilation_h;
            if (hi < 0 || hi >= p.h) continue;
            acc[size_t(element_offset(p.layout, n, c, hi, wi, p.c, p.h, p.w))] +=
                double(Traits::to_accum(w[c * p.k + k])) * g;
          }
        }
  for (size_t i = 0; i < acc.size(); ++i) dx[i] = Traits::from_double(acc[i]);
}

/// Host gradients with respect to w and bias: dw[c, k] = sum over n, ho, wo
/// of dy * x at the tap's input, dbias[c] = sum of dy over n, ho, wo. dbias
/// may be null. Precondition: validate(p).ok().
template <class T>
void backward_weight(const Problem& p, const T* x, const T* dy, T* dw, T* dbias) {
  using Traits = NumericTraits<T>;
  const int64_t ho_n = p.out_h(), wo_n = p.out_w();
  std::vector<double> gw(size_t(p.w_elements()), 0.0), gb(size_t(p.c), 0.0);
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t c = 0; c < p.c; ++c)
      for (int64_t ho = 0; ho < ho_n; ++ho)
        for (int64_t wo = 0; wo < wo_n; ++wo) {
          const double g = Traits::to_accum(dy[element_offset(p.layout, n, c, ho, wo, p.c, ho_n, wo_n)]);
          gb[size_t(c)] += g;
          const int64_t wi = wo * p.stride_w - p.pad_left;
          if (wi < 0 || wi >= p.w) continue;
          for (int k = 0; k < p.k; ++k) {
            const int64_t hi = ho * p.stride_h - p.pad_top + int64_t(k) * p.dilation_h;
            if (hi < 0 || hi >= p.h) continue;
            gw[size_t(c * p.k + k)] +=
                g * double(Traits::to_accum(x[element_offset(p.layout, n, c, hi, wi, p.c, p.h, p.w)]));
          }
        }
  for (size_t i = 0; i < gw.size(); ++i) dw[i] = Traits::from_double(gw[i]);
  if (dbias)
    for (size_t i = 0; i < gb.size(); ++i) dbias[i] = Traits::from_double(gb[i]);
}

}  // namespace reference
}  // namespace dwconv
