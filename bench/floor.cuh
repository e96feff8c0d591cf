// dwconv benchmarks: the memory floor. The copy bandwidth is what a 1 GiB
// device-to-device copy reaches on this card, counting bytes read plus bytes
// written; the floor of an op is (bytes it must read + bytes it must write)
// at that bandwidth.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

namespace dwconv {
namespace bench {

/// Median milliseconds of `reps` runs of fn() (after `warmup` runs), timed
/// with CUDA events on `stream`. fn(i) gets the repetition index, so callers
/// can rotate buffers. Returns a negative value on a CUDA error.
template <class F>
double median_ms(F&& fn, int warmup, int reps, cudaStream_t stream = nullptr) {
  for (int i = 0; i < warmup; ++i) fn(i);
  cudaEvent_t start, stop;
  if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) return -1;
  std::vector<float> times;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(start, stream);
    fn(warmup + i);
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    times.push_back(ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (cudaGetLastError() != cudaSuccess) return -1;
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

/// Device-to-device copy bandwidth in bytes/s (read + write) over 1 GiB;
/// 0 on failure.
inline double copy_bandwidth() {
  const size_t bytes = size_t(1) << 30;
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess) return 0;
  if (cudaMalloc(&b, bytes) != cudaSuccess) {
    cudaFree(a);
    return 0;
  }
  cudaMemset(a, 0x3c, bytes);
  const double ms = median_ms([&](int) { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice); }, 3, 20);
  cudaFree(a);
  cudaFree(b);
  return ms > 0 ? 2.0 * double(bytes) / (ms * 1e-3) : 0;
}

}  // namespace bench
}  // namespace dwconv
