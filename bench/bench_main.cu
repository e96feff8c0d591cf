// The benchmark binary (forward and backward): measures the copy bandwidth that defines the
// floor, then runs every registered benchmark.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "bench_context.hpp"
#include "floor.cuh"

int main(int argc, char** argv) {
  using namespace dwconv::bench;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "dwconv_bench: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  context().l2_bytes = prop.l2CacheSize;
  context().copy_bandwidth = copy_bandwidth();
  if (context().copy_bandwidth <= 0) {
    std::fprintf(stderr, "dwconv_bench: copy bandwidth measurement failed\n");
    return 1;
  }
  benchmark::AddCustomContext("device", prop.name);
  benchmark::AddCustomContext("copy_bandwidth_GBps", std::to_string(context().copy_bandwidth / 1e9));
  // The types and directions the build holds (DWCONV_BENCH_TYPES, DWCONV_BENCH_FORWARD).
#ifndef DWCONV_BENCH_NO_FORWARD
#ifdef DWCONV_BENCH_TYPE_float
  register_forward_float();
#endif
#ifdef DWCONV_BENCH_TYPE_half
  register_forward_half();
#endif
#ifdef DWCONV_BENCH_TYPE_bfloat16
  register_forward_bfloat16();
#endif
#endif
#ifdef DWCONV_BENCH_TYPE_float
  register_backward_float();
#endif
#ifdef DWCONV_BENCH_TYPE_half
  register_backward_half();
#endif
#ifdef DWCONV_BENCH_TYPE_bfloat16
  register_backward_bfloat16();
#endif
  register_memory_probes();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
