// dwconv benchmarks: random device data and the timed loop every benchmark
// shares (CUDA events around batches of calls, counters per call against
// the memory floor).
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <dwconv/numeric.cuh>
#include <vector>

#include "bench_context.hpp"

namespace dwconv {
namespace bench {

template <class T>
__global__ void fill_random_kernel(T* p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    // Uniform in [-1, 1), never all zero.
    p[i] = NumericTraits<T>::from_accum(typename NumericTraits<T>::Accum(float(h >> 8) * (2.0f / 16777216.0f) - 1.0f));
  }
}

template <class T>
void fill_random(T* p, int64_t n, uint32_t seed) {
  fill_random_kernel<T><<<1024, 256>>>(p, n, seed);
}

/// Device arrays freed together; alloc() fills with random values when
/// `seed` is not 0. ok() is false once an allocation failed.
template <class T>
class DeviceArena {
 public:
  DeviceArena() = default;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  ~DeviceArena() {
    for (void* p : ptrs_) cudaFree(p);
  }
  T* alloc(int64_t elems, uint32_t seed) {
    void* ptr = nullptr;
    if (!ok_ || cudaMalloc(&ptr, size_t(elems > 0 ? elems : 1) * sizeof(T)) != cudaSuccess) {
      ok_ = false;
      return nullptr;
    }
    ptrs_.push_back(ptr);
    if (seed != 0) fill_random<T>(static_cast<T*>(ptr), elems, seed);
    return static_cast<T*>(ptr);
  }
  /// One array of `elems` per rotation set; set s filled from seed + s
  /// (seed 0: not filled).
  std::vector<T*> alloc_sets(int sets, int64_t elems, uint32_t seed) {
    std::vector<T*> v;
    for (int s = 0; s < sets; ++s) v.push_back(alloc(elems, seed == 0 ? 0 : seed + uint32_t(s)));
    return v;
  }
  /// True when every allocation and fill succeeded (synchronizes).
  bool ok() { return ok_ && cudaDeviceSynchronize() == cudaSuccess; }

 private:
  std::vector<void*> ptrs_;
  bool ok_ = true;
};

/// How many buffer sets of `bytes` each make one pass exceed twice the L2.
inline int rotation_sets(double bytes) {
  return int(std::min<double>(64, std::max<double>(2, 2.0 * context().l2_bytes / bytes + 1)));
}

/// Calls per timed batch so that a batch lasts >= ~200 us at the floor.
inline int batch_calls(double floor_s) { return int(std::max(1.0, 200e-6 / floor_s)); }

/// The benchmark loop: each iteration times `batch` calls of call() (or one
/// launch of `graph`, which holds `batch` calls) with CUDA events on
/// `stream`, and reports the batch time. Sets floor_pct, GBps, us (per call)
/// and copy_GBps. Returns false when a call or the device failed.
template <class Call>
bool time_batches(benchmark::State& state, double bytes, double floor_s, int batch, Call&& call,
                  cudaGraphExec_t graph = nullptr, cudaStream_t stream = nullptr) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  double total_s = 0;
  int64_t calls = 0;
  bool ok = true;
  for (auto _ : state) {
    cudaEventRecord(start, stream);
    if (graph)
      ok = cudaGraphLaunch(graph, stream) == cudaSuccess && ok;
    else
      for (int i = 0; i < batch; ++i) ok = call() && ok;
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms * 1e-3);  // the batch; counters below are per call
    total_s += ms * 1e-3;
    calls += batch;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (!ok || cudaDeviceSynchronize() != cudaSuccess) return false;
  const double per_call = total_s / double(calls);
  state.counters["floor_pct"] = 100.0 * floor_s / per_call;
  state.counters["GBps"] = bytes / per_call / 1e9;
  state.counters["us"] = per_call * 1e6;
  state.counters["copy_GBps"] = context().copy_bandwidth / 1e9;
  return true;
}

/// time_batches for a plain call: three warm-up calls, then batches sized
/// by the floor; the benchmark is marked failed when a call fails.
template <class Call>
void time_calls(benchmark::State& state, double bytes, Call&& call) {
  const double floor_s = bytes / context().copy_bandwidth;
  for (int i = 0; i < 3; ++i) call();
  if (!time_batches(state, bytes, floor_s, batch_calls(floor_s), call)) state.SkipWithError("launch failed");
}

}  // namespace bench
}  // namespace dwconv
