// dwconv benchmarks: what the memory system gives at an op's size. A
// device-to-device copy and a pure read (two tensors, as dw reads x and dy)
// of the bytes the benchmarked problems move, timed as every unit is, so
// that a unit's floor_pct can be read against what any kernel reaches at
// that size: the floor's copy runs over 1 GiB, where launch ramps and tails
// are a small share. Probes, not targets: names start with probe/memory/.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench_context.hpp"
#include "bench_timing.cuh"

namespace dwconv {
namespace bench {
namespace {

constexpr int kReadThreads = 256;
constexpr int kReadVectors = 4;  // 16-byte loads a thread of each tensor, all in flight at once

// Reads n 16-byte vectors of a and of b; the XOR of what it read reaches
// `sink` only in a case that random data never meets, so the loads stay.
__global__ void __launch_bounds__(kReadThreads)
    read_probe_kernel(const uint4* a, const uint4* b, int64_t n, uint32_t* sink) {
  const int64_t base = int64_t(blockIdx.x) * kReadThreads * kReadVectors + threadIdx.x;
  uint4 v[2 * kReadVectors];
#pragma unroll
  for (int k = 0; k < kReadVectors; ++k) {
    const int64_t i = base + int64_t(k) * kReadThreads;
    v[k] = i < n ? a[i] : uint4{};
    v[kReadVectors + k] = i < n ? b[i] : uint4{};
  }
  uint32_t acc = 0;
#pragma unroll
  for (int k = 0; k < 2 * kReadVectors; ++k) acc ^= v[k].x ^ v[k].y ^ v[k].z ^ v[k].w;
  if (acc == 0x9e3779b9u && threadIdx.x == 0) sink[0] = acc;
}

// `bytes` moved in all: the copy reads bytes / 2 and writes as many; the
// read reads two tensors of bytes / 2.
void run_probe(benchmark::State& state, int64_t bytes, bool copy) {
  const int64_t half = bytes / 2;
  DeviceArena<float> arena;  // random floats, read as raw bytes
  const int sets = rotation_sets(double(bytes));
  const std::vector<float*> a = arena.alloc_sets(sets, half / 4, 101u), b = arena.alloc_sets(sets, half / 4, 201u);
  float* sink = arena.alloc(1, 0);
  if (!arena.ok()) {
    state.SkipWithError("allocation failed");
    return;
  }
  const int64_t vectors = half / 16;
  const unsigned grid = unsigned((vectors + kReadThreads * kReadVectors - 1) / (kReadThreads * kReadVectors));
  int turn = 0;
  time_calls(state, double(bytes), [&] {
    const int s = turn++ % sets;
    if (copy) return cudaMemcpyAsync(b[s], a[s], size_t(half), cudaMemcpyDeviceToDevice) == cudaSuccess;
    read_probe_kernel<<<grid, kReadThreads>>>(reinterpret_cast<const uint4*>(a[s]),
                                              reinterpret_cast<const uint4*>(b[s]), vectors,
                                              reinterpret_cast<uint32_t*>(sink));
    return cudaGetLastError() == cudaSuccess;
  });
}

}  // namespace

void register_memory_probes() {
  // Twice |x| of the 2-byte and fp32 56x56 cases (|x| + |y| there), of the
  // 2-byte 512x512 seed (whose y is 2 rows shorter: 0.2 % over its bytes),
  // and the floor's own 1 GiB copy.
  const int64_t sizes[] = {int64_t(32) * 256 * 56 * 56 * 2 * 2, int64_t(32) * 256 * 56 * 56 * 4 * 2,
                           int64_t(64) * 8 * 512 * 512 * 2 * 2, int64_t(2) << 30};
  for (int64_t bytes : sizes)
    for (bool copy : {true, false}) {
      const std::string name = std::string("probe/memory/") + (copy ? "copy/" : "read/") + std::to_string(bytes) + "B";
      benchmark::RegisterBenchmark(name.c_str(), [bytes, copy](benchmark::State& s) { run_probe(s, bytes, copy); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace bench
}  // namespace dwconv
