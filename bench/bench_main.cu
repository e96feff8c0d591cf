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
#ifndef DWCONV_BENCH_NO_FORWARD
  register_forward_float();
  register_forward_half();
  register_forward_bfloat16();
#endif
  register_backward_float();
  register_backward_half();
  register_backward_bfloat16();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
