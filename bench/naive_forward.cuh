// dwconv benchmarks: the seed's one-thread-per-output kernel, kept as the
// baseline every figure is compared with.
#pragma once

#include <dwconv/numeric.cuh>
#include <dwconv/problem.hpp>

namespace dwconv {
namespace bench {

template <class T>
__global__ void naive_forward_kernel(Problem p, const T* x, const T* w, const T* bias, T* y) {
  using Traits = NumericTraits<T>;
  const int64_t ho_n = p.out_h(), wo_n = p.out_w();
  const int64_t total = p.y_elements();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t n, c, ho, wo;
    if (p.layout == Layout::NCHW) {
      wo = i % wo_n;
      ho = (i / wo_n) % ho_n;
      c = (i / (wo_n * ho_n)) % p.c;
      n = i / (wo_n * ho_n * p.c);
    } else {
      c = i % p.c;
      wo = (i / p.c) % wo_n;
      ho = (i / (p.c * wo_n)) % ho_n;
      n = i / (p.c * wo_n * ho_n);
    }
    typename Traits::Accum acc = bias ? Traits::to_accum(bias[c]) : 0;
    const int64_t wi = wo * p.stride_w - p.pad_left;
    if (wi >= 0 && wi < p.w)
      for (int k = 0; k < p.k; ++k) {
        const int64_t hi = ho * p.stride_h - p.pad_top + int64_t(k) * p.dilation_h;
        if (hi >= 0 && hi < p.h)
          acc += Traits::to_accum(w[c * p.k + k]) *
                 Traits::to_accum(x[element_offset(p.layout, n, c, hi, wi, p.c, p.h, p.w)]);
      }
    y[i] = Traits::from_accum(acc);
  }
}

template <class T>
cudaError_t naive_forward(const Problem& p, const T* x, const T* w, const T* bias, T* y, cudaStream_t stream) {
  const int64_t blocks = (p.y_elements() + 255) / 256;
  naive_forward_kernel<T><<<unsigned(blocks < 1 << 20 ? blocks : 1 << 20), 256, 0, stream>>>(p, x, w, bias, y);
  return cudaGetLastError();
}

}  // namespace bench
}  // namespace dwconv
